package sipsim

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

func TestJudge(t *testing.T) {
	tests := []struct {
		name       string
		rx         uint64
		peerRx     int64
		verdict    report.Verdict
		cannotHear string
	}{
		{"both heard", 100, 90, report.VerdictTwoWay, ""},
		{"peer heard nothing", 100, 0, report.VerdictOneWay, "remote"},
		{"we heard nothing", 0, 80, report.VerdictOneWay, "local"},
		{"nobody heard", 0, 0, report.VerdictNoWay, ""},
		{"peer count unknown, we heard", 50, -1, report.VerdictOneWay, "remote"},
		{"peer count unknown, silence", 0, -1, report.VerdictNoWay, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, who, explain := Judge(tt.rx, tt.peerRx, 100)
			if v != tt.verdict || who != tt.cannotHear || explain == "" {
				t.Errorf("got %s %q %q", v, who, explain)
			}
		})
	}
}

func TestCallFindings(t *testing.T) {
	for _, tt := range []struct {
		verdict report.Verdict
		who     string
		id      string
		problem bool
	}{
		{report.VerdictTwoWay, "", "two-way-audio", false},
		{report.VerdictOneWay, "local", "one-way-audio", true},
		{report.VerdictOneWay, "remote", "one-way-audio", true},
		{report.VerdictNoWay, "", "no-way-audio", true},
	} {
		r := &CallResult{Verdict: tt.verdict, CannotHear: tt.who, SDPAddr: netip.MustParseAddrPort("192.168.1.10:4000"),
			RemoteSDP: netip.MustParseAddrPort("198.51.100.20:5000"), Received: DirStats{From: netip.MustParseAddrPort("198.51.100.20:5000")}}
		f := CallFindings(r)
		if len(f) != 1 || string(f[0].ID) != tt.id || f[0].Severity.IsProblem() != tt.problem {
			t.Errorf("%s/%s: %+v", tt.verdict, tt.who, f)
		}
		if tt.problem && f[0].Remedy == "" {
			t.Errorf("%s: no remedy", tt.id)
		}
	}
}

func TestServeFindings(t *testing.T) {
	latched := relay.LegStats{SDPAddr: netip.MustParseAddrPort("192.168.1.10:4000"), Latched: netip.MustParseAddrPort("203.0.113.1:4000"),
		RTP: relay.StreamStats{Packets: 100}}
	silent := relay.LegStats{Expected: netip.MustParseAddr("198.51.100.20"), RTP: relay.StreamStats{Unexpected: 7}}
	calls := []CallRecord{{CallID: "c1", Caller: "alice", Callee: "bob", Answer: time.Now(), Relay: &relay.SessionStats{A: latched, B: silent}}}
	got := map[report.FindingID]bool{}
	for _, f := range ServeFindings(calls, []report.KeyValue{{Key: "malformed", Value: "3"}}) {
		got[f.ID] = true
	}
	for _, id := range []report.FindingID{"media-latched-nat-address", "relay-no-media-from-party", "relay-unexpected-source", "sip-input-rejected"} {
		if !got[id] {
			t.Errorf("missing %s in %v", id, got)
		}
	}
	if len(ServeFindings(nil, nil)) != 0 {
		t.Error("findings from nothing")
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123)
	p := buildPayload(nil, "alice", 42, now, toneFrame())
	if len(p) != frameSamples {
		t.Fatalf("payload %d bytes, want %d", len(p), frameSamples)
	}
	label, rx, sent, ok := parsePayload(p)
	if !ok || label != "alice" || rx != 42 || !sent.Equal(now) {
		t.Fatalf("%q %d %v %v", label, rx, sent, ok)
	}
}

// FuzzParsePayload: RTP payloads come from the network.
func FuzzParsePayload(f *testing.F) {
	f.Add(buildPayload(nil, "bob", 7, time.Unix(1, 0), toneFrame())) // a real payload
	f.Add([]byte("NATDOC\xff"))                                      // label length beyond the data
	f.Add([]byte("NATDOC\x10short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		label, _, _, ok := parsePayload(b)
		if ok && len(label) > maxLabel {
			t.Fatalf("label %d bytes", len(label))
		}
	})
}

// FuzzParseStats: INFO bodies come from the other phone.
func FuzzParseStats(f *testing.F) {
	f.Add([]byte("received=12\r\n"))
	f.Add([]byte("received=-1"))
	f.Add([]byte("received=99999999999999999999"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, ok := parseStats(b); ok && n < 0 {
			t.Fatalf("negative count %d accepted", n)
		}
	})
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
