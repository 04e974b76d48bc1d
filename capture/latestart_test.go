package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestLateStartProblem(t *testing.T) {
	for _, tc := range []struct {
		f  LateStartFacts
		ok bool
	}{
		{LateStartFacts{LateBy: 500 * time.Millisecond}, false},
		{LateStartFacts{LateBy: lateStartAfter - time.Millisecond}, false},
		{LateStartFacts{LateBy: lateStartAfter}, true},
		{LateStartFacts{LateBy: 10 * time.Second, SuppressesSilence: true}, false},
		{LateStartFacts{LateBy: 3 * time.Second, SenderIsMediaServer: true}, false},
		{LateStartFacts{LateBy: 3 * time.Second, SenderIsMediaServer: true, SentElsewhereFirst: true}, true},
		{LateStartFacts{LateBy: 3 * time.Second, SentElsewhereFirst: true}, true},
	} {
		sev, ok := LateStartProblem(tc.f)
		if ok != tc.ok || (ok && sev != report.SeverityWarning) {
			t.Errorf("LateStartProblem(%+v) = %q, %v; want reported %v", tc.f, sev, ok, tc.ok)
		}
	}
}

func TestLateStartFindings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// A call answered at t0 whose callee's RTP began 3 s later.
	call := func() report.Call {
		return report.Call{CallID: "cid", Verdict: report.VerdictTwoWay, Answer: t0, Streams: []report.MediaStream{{Media: "audio", Flows: []report.RTPFlow{
			{Direction: "caller->callee", Src: "203.0.113.1:10000", Dst: "198.51.100.20:30000", Packets: 500,
				First: t0.Add(40 * time.Millisecond), Last: t0.Add(10 * time.Second), FirstFrame: 6},
			{Direction: "callee->caller", Src: "198.51.100.20:30000", Dst: "203.0.113.1:10000", Packets: 350,
				First: t0.Add(3 * time.Second), Last: t0.Add(10 * time.Second), FirstFrame: 160},
		}}}}
	}
	offer := sdpAt(caller, "INVITE", t0.Add(-3*time.Second), "audio", "sendrecv")
	for _, tc := range []struct {
		name   string
		change func(c *report.Call) []sdpEvent
		title  string // "" for no finding
	}{
		{"the callee began 3 s late", func(*report.Call) []sdpEvent {
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, "The callee's RTP began 3s after the answer"},
		{"early media let it flow before the answer", func(*report.Call) []sdpEvent {
			return []sdpEvent{offer, sdpAt(callee, "183 Session Progress", t0.Add(-2*time.Second), "audio", "sendrecv")}
		}, "The callee's RTP began 3s after the answer"},
		{"a late offer: the ACK carried the answer", func(*report.Call) []sdpEvent {
			return []sdpEvent{sdpAt(callee, "200 OK", t0, "audio", "sendrecv"), sdpAt(caller, "ACK", t0.Add(2500*time.Millisecond), "audio", "sendrecv")}
		}, ""},
		{"it suppresses silence", func(c *report.Call) []sdpEvent {
			c.Streams[0].Flows[1].Quality = &report.StreamQuality{SilenceSuppression: true}
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, ""},
		{"at first sent where it cannot arrive", func(c *report.Call) []sdpEvent {
			c.Streams[0].Flows = append(c.Streams[0].Flows, report.RTPFlow{Direction: "callee->caller", Src: "198.51.100.20:30000",
				Dst: "192.168.1.10:10000", Packets: 150, Unreachable: true, First: t0.Add(30 * time.Millisecond), Last: t0.Add(3 * time.Second)})
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, "The callee's RTP began 3s after the answer"},
		{"at first sent where it cannot arrive, refused", func(c *report.Call) []sdpEvent {
			c.Streams[0].Flows = append(c.Streams[0].Flows, report.RTPFlow{Direction: "callee->caller", Src: "198.51.100.20:30000",
				Dst: "203.0.113.1:49796", Packets: 150, Unreachable: true, Refused: "port unreachable", First: t0.Add(30 * time.Millisecond), Last: t0.Add(3 * time.Second)})
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, "The callee's RTP began 3s after the answer"},
		{"the callee is an IVR that waited before its prompt", func(c *report.Call) []sdpEvent {
			c.Callee.UserAgent = "Asterisk PBX 20.5.0"
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, ""},
		{"the caller is a PBX: the callee's start is its own", func(c *report.Call) []sdpEvent {
			c.Caller.UserAgent = "Asterisk PBX 20.5.0"
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, "The callee's RTP began 3s after the answer"},
		{"a call judged one-way", func(c *report.Call) []sdpEvent {
			c.Verdict = report.VerdictOneWay
			return []sdpEvent{offer, sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
		}, ""},
	} {
		c := call()
		events := tc.change(&c)
		fs := lateStartFindings(&c, &callBuild{}, replay(events))
		switch {
		case tc.title == "" && len(fs) != 0:
			t.Errorf("%s: %+v, want none", tc.name, fs)
		case tc.title != "" && (len(fs) != 1 || fs[0].ID != IDMediaStartedLate || !strings.HasPrefix(fs[0].Title, tc.title)):
			t.Errorf("%s: %+v, want one %s %q", tc.name, fs, IDMediaStartedLate, tc.title)
		case tc.title != "" && c.Verdict != report.VerdictTwoWay:
			t.Errorf("%s: verdict %s", tc.name, c.Verdict)
		}
		if strings.Contains(tc.name, "cannot arrive") && len(fs) == 1 && len(fs[0].Evidence) != 4 {
			t.Errorf("%s: evidence %+v, want the stray flow last", tc.name, fs[0].Evidence)
		}
		if strings.HasSuffix(tc.name, "refused") && len(fs) == 1 && !strings.HasSuffix(fs[0].Evidence[len(fs[0].Evidence)-1].Text, "refused all along (ICMP port unreachable)") {
			t.Errorf("%s: evidence %+v, want the ICMP errors named", tc.name, fs[0].Evidence)
		}
	}
}

// TestLateStartAfterHairpin: the caller named its public (STUN) address
// to a callee on its own LAN; the callee's RTP went to the router, which
// did not loop it back in, until it sent to where the caller's media came
// from: the late start names that, with the hairpin remedy (xmacala MTAA:
// 13 s of the callee's words lost).
func TestLateStartAfterHairpin(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := report.Call{CallID: "cid", Verdict: report.VerdictTwoWay, Answer: t0, Streams: []report.MediaStream{{Media: "audio", Flows: []report.RTPFlow{
		{Direction: "caller->callee", Src: "10.54.1.106:7078", Dst: "10.54.1.115:7078", Packets: 650, First: t0.Add(250 * time.Millisecond), Last: t0.Add(30 * time.Second)},
		{Direction: "callee->caller", Src: "10.54.1.115:7078", Dst: "10.54.1.106:7078", Packets: 850, First: t0.Add(13 * time.Second), Last: t0.Add(30 * time.Second)},
	}}}}
	events := []sdpEvent{sdpAt(caller, "INVITE", t0.Add(-3*time.Second), "audio", "sendrecv"), sdpAt(callee, "200 OK", t0, "audio", "sendrecv")}
	cb := &callBuild{}
	cb.lanPublic[caller] = netip.MustParseAddrPort("195.168.8.62:7078")
	fs := lateStartFindings(&c, cb, replay(events))
	if len(fs) != 1 || fs[0].Remedy != remedyHairpin || !strings.Contains(fs[0].Evidence[len(fs[0].Evidence)-1].Text, "did not loop it back in") {
		t.Errorf("%+v, want the late start with the hairpin remedy", fs)
	}
	if fs := lateStartFindings(&c, &callBuild{}, replay(events)); len(fs) != 1 || fs[0].Remedy != remedyStartedLate {
		t.Errorf("no public address named: %+v, want the late start's own remedy", fs)
	}
}
