//go:build linux

package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabForkedCall: Alice's number rings on two phones (her desk phone
// behind her home router, her softphone on the internet); Kamailio forks
// Bob's INVITE to both, the softphone answers, Kamailio cancels the desk
// phone's branch (487). One call, two-way, judged on the answered
// branch; the desk phone's branch is a leg that another phone's answer
// ended, not a failed call.
func TestLabForkedCall(t *testing.T) {
	t.Parallel()
	l := newKamailioLab(t, natKamailio{})
	r1 := l.homeRouter()
	desk := natlab.StartBaresip(t, r1.LANHost("desk", "192.168.1.10"), natlab.BaresipConfig{User: "100", Registrar: l.registrar})
	desk.Proc.WaitLog(t, 5*time.Second, "200 OK")
	soft := natlab.StartBaresip(t, l.lab.PublicHost("soft", "203.0.113.12"), natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true})
	soft.Proc.WaitLog(t, 5*time.Second, "200 OK")
	bob := natlab.StartBaresip(t, l.lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: l.registrar,
		Dial: "sip:100@203.0.113.20"})
	bob.Proc.WaitLog(t, 10*time.Second, "established")
	time.Sleep(3 * time.Second)
	bob.Proc.Stop()
	time.Sleep(time.Second)
	res := l.analyze(t, "forked-call.pcap")
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("calls %+v, want one two-way", res.Calls)
	}
	var cancelled, answered int
	for _, leg := range res.Calls[0].Legs {
		switch {
		case strings.Contains(leg.Explain, "another phone answered the call"):
			cancelled++
		case leg.Verdict == report.VerdictTwoWay:
			answered++
		}
	}
	if cancelled != 1 || answered != 2 {
		t.Errorf("legs %+v: want the caller's and the softphone's two-way, the desk phone's ended by the other's answer", res.Calls[0].Legs)
	}
}
