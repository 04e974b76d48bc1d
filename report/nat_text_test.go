package report

import (
	"strings"
	"testing"
	"time"
)

// Every fact of a full NAT section reaches the text (and so Markdown and
// HTML, which embed it).
func TestNATTextShowsEveryFact(t *testing.T) {
	r := New("stun", "test")
	r.NAT = &NATReport{
		Network: "udp4", LocalAddr: "192.168.1.10:5060", MappedAddr: "203.0.113.1:5060",
		Mapping: BehaviourEndpointIndependent, Filtering: BehaviourAddressAndPortDependent, RFC3489Name: "port restricted cone",
		PortPreserved: TriYes, MappingConsistent: TriYes, Hairpinning: TriNo,
		LifetimeMin: 7 * time.Second, LifetimeMax: 8 * time.Second, KeepAlive: 3 * time.Second,
		RFC5780Server: "203.0.113.10:3478", Took: 1003 * time.Millisecond,
		MappingTests:   []NATTest{{Name: "mapping test II: alternate IP, primary port", To: "203.0.113.11:3478", Result: "203.0.113.1:5060", Detail: "same as test I"}},
		FilteringTests: []NATTest{{Name: "filtering test II: CHANGE-REQUEST change IP and port", To: "203.0.113.10:3478", Result: "no-answer"}},
		Servers:        []STUNServerResult{{Server: "dead.example", Error: "no answer"}},
		TCP:            &STUNServerResult{Server: "203.0.113.10:3478", MappedAddr: "203.0.113.1:40000"},
		Anomalies:      []Anomaly{{Kind: "bad-fingerprint", Count: 2, Detail: "from 203.0.113.66:3478"}},
	}
	text := RenderText(r, Options{})
	for _, want := range []string{
		"NAT behaviour (udp4)", "port restricted cone", "between 7s and 8s", "keep-alive at most every:    3s",
		"203.0.113.11:3478 → 203.0.113.1:5060 (same as test I)", "change IP and port: 203.0.113.10:3478 → no-answer",
		"dead.example → no answer", "tcp 203.0.113.10:3478 → 203.0.113.1:40000", "bad-fingerprint ×2", "took:",
	} {
		if !strings.Contains(stripANSI(text), want) {
			t.Errorf("text lacks %q:\n%s", want, stripANSI(text))
		}
	}
}

func TestNATTextUnknownWithReason(t *testing.T) {
	r := New("stun", "test")
	r.NAT = &NATReport{MappedAddr: "203.0.113.1:1", FilteringNote: "no server supports RFC 5780 CHANGE-REQUEST", LifetimeNote: "no RFC 5780 support"}
	text := stripANSI(RenderText(r, Options{}))
	if !strings.Contains(text, "unknown (no server supports RFC 5780 CHANGE-REQUEST)") || !strings.Contains(text, "unknown (no RFC 5780 support)") {
		t.Errorf("unknown behaviour without its reason:\n%s", text)
	}
}
