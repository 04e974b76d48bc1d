package proxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

func TestServeFindings(t *testing.T) {
	latched := relay.LegStats{SDPAddr: netip.MustParseAddrPort("192.168.1.10:4000"), Latched: netip.MustParseAddrPort("203.0.113.1:4000"),
		RTP: relay.StreamStats{Packets: 100}}
	silent := relay.LegStats{Expected: netip.MustParseAddr("198.51.100.20"), RTP: relay.StreamStats{Unexpected: 7}}
	calls := []CallRecord{{CallID: "c1", Caller: "alice", Callee: "bob", Answer: time.Now(), Relay: &relay.SessionStats{A: latched, B: silent}}}
	got := map[report.FindingID]bool{}
	for _, f := range ServeFindings(calls, []report.KeyValue{{Key: "malformed", Value: "3"}}, netip.MustParseAddr("203.0.113.10")) {
		got[f.ID] = true
	}
	for _, id := range []report.FindingID{IDMediaLatchedNATAddress, IDRelayNoMediaFromParty, IDRelayUnexpectedSource, IDSIPInputRejected} {
		if !got[id] {
			t.Errorf("missing %s in %v", id, got)
		}
	}
	if len(ServeFindings(nil, nil, netip.Addr{})) != 0 {
		t.Error("findings from nothing")
	}
}

// TestNoMediaFinding: a party that sent nothing gets the hairpin finding
// only when it is on a private network, was given a public address, and
// the server itself is on a private network (behind the same router).
func TestNoMediaFinding(t *testing.T) {
	lan, outside := netip.MustParseAddrPort("192.168.1.10:5060"), netip.MustParseAddrPort("198.51.100.20:5060")
	public, private := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("192.168.1.2")
	for _, tt := range []struct {
		name       string
		signalling netip.AddrPort
		given      netip.Addr
		server     netip.Addr
		want       report.FindingID
	}{
		{"lan phone given the public address", lan, public, private, IDLANPhoneGivenPublicAddr},
		{"lan phone given the lan address", lan, private, private, IDRelayNoMediaFromParty},
		{"outside phone", outside, public, private, IDRelayNoMediaFromParty},
		{"server on a public address", lan, public, public, IDRelayNoMediaFromParty},
		{"address unknown", lan, netip.Addr{}, private, IDRelayNoMediaFromParty},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := noMediaFinding(CallRecord{CallID: "c1"}, party{name: "alice", signalling: tt.signalling, given: tt.given}, tt.server)
			if f.ID != tt.want || f.Remedy == "" || !f.Severity.IsProblem() {
				t.Errorf("got %s (%s), want %s", f.ID, f.Title, tt.want)
			}
		})
	}
}

// FuzzReadUsers: the users file is user input.
func FuzzReadUsers(f *testing.F) {
	f.Add("alice:secret\n# comment\n\nbob:pw\n")
	f.Add("nocolon\n")
	f.Fuzz(func(t *testing.T, s string) {
		users, err := ReadUsers(stringsReader(s))
		if err == nil {
			for u, p := range users {
				if u == "" || p == "" {
					t.Fatalf("empty user or password accepted: %q:%q", u, p)
				}
			}
		}
	})
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestStatusLine(t *testing.T) {
	calls := []CallRecord{{Caller: "alice", Callee: "bob", Relay: &relay.SessionStats{A: relay.LegStats{RTP: relay.StreamStats{Forwarded: 10}}, B: relay.LegStats{RTP: relay.StreamStats{Forwarded: 7}}}}}
	if got, want := StatusLine(2, calls), "2 registered, 1 calls | alice→bob 10→ ←7 pkts"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	many := make([]CallRecord, 5)
	if got := StatusLine(0, many); !strings.Contains(got, "(+2 more)") {
		t.Errorf("got %q", got)
	}
}

func TestRelayLegKernelLossNotMeasured(t *testing.T) {
	own := relay.LegStats{RTP: relay.StreamStats{Packets: 500, Lost: 0, Kernel: 480, LossNotMeasured: true}}
	other := relay.LegStats{RTP: relay.StreamStats{Forwarded: 400, Kernel: 390, LossNotMeasured: true}}
	got := relayLeg("alice", own, other)
	if got.Received != 500 || got.Kernel != 480 || !got.LossNotMeasured || got.Packets != 400 {
		t.Errorf("relayLeg = %+v: want 500 received, 480 of them in the kernel, loss not measured", got)
	}
	if got := relayLeg("bob", relay.LegStats{RTP: relay.StreamStats{Packets: 10, Lost: 2}}, other); got.LossNotMeasured || got.Lost != 2 {
		t.Errorf("user-space leg: %+v, want loss 2 measured", got)
	}
}
