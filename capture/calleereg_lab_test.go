//go:build linux

package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// TestLabCalleeRegistrationRanOut: Alice's baresip registers at a
// Kamailio that grants 5 s, then dies without removing it (a phone
// unplugged). Bob calls her 8 s later; Kamailio finds no contact and
// answers 404. The call's callee-not-registered finding says her
// registration had run out, with her last 200 OK.
func TestLabCalleeRegistrationRanOut(t *testing.T) {
	t.Parallel() // it waits on the registration
	l := newKamailioLab(t, natKamailio{maxExpires: 5 * time.Second})
	r1 := l.homeRouter()
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100", Registrar: l.registrar})
	alice.Proc.WaitLog(t, 5*time.Second, "200 OK")
	alice.Proc.Kill()
	time.Sleep(8 * time.Second)
	bob := natlab.StartBaresip(t, l.lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: l.registrar,
		Dial: "sip:100@203.0.113.20"})
	bob.Proc.WaitLog(t, 5*time.Second, "404")
	bob.Proc.Stop()
	res := l.analyze(t, "callee-registration-ran-out.pcap")
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	f := findingOf(res.Calls[0], IDCalleeNotRegistered)
	if f == nil || !strings.HasPrefix(f.Title, "The callee 100 was not registered at 203.0.113.20 when called (404 Not Found): its registration had run out ") ||
		!strings.HasSuffix(f.Title, " before, not renewed") || len(f.Evidence) != 2 || !strings.Contains(f.Evidence[1].Text, "granted 5s") {
		t.Errorf("finding %+v; findings %v", f, findingIDs(res.Calls[0]))
	}
}
