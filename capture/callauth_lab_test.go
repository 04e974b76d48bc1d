//go:build linux

package capture

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabCallAuthFailed: a Kamailio that asks every caller for a
// password (407) and refuses a wrong one (403). Bob's phone (sipp) has
// no credentials, Carol's baresip a wrong password; both call Alice. Bob's call ends on
// the challenge he never answers, Carol's on the 403 after her
// credentials: call-auth-failed tells each, with its remedy.
func TestLabCallAuthFailed(t *testing.T) {
	t.Parallel() // it waits on the phones
	l := newKamailioLab(t, natKamailio{invitePassword: "right"})
	alice := natlab.StartBaresip(t, l.lab.PublicHost("alice", "203.0.113.10"), natlab.BaresipConfig{User: "100", Registrar: l.registrar, AutoAnswer: true})
	time.Sleep(time.Second)
	// Bob's caller is sipp: a baresip without a password still answers
	// the challenge (with an empty one).
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "nocreds-uac.xml"))
	if err != nil {
		t.Fatal(err)
	}
	bob := l.lab.PublicHost("bob", "203.0.113.11").Start(t, "sipp", "-sf", scenario, "203.0.113.20:5060", "-i", "203.0.113.11", "-p", "5060",
		"-m", "1", "-nostdin", "-timeout", "10s")
	carol := natlab.StartBaresip(t, l.lab.PublicHost("carol", "203.0.113.12"), natlab.BaresipConfig{User: "300", Registrar: l.registrar, Password: "wrong",
		Dial: "sip:100@203.0.113.20"})
	time.Sleep(5 * time.Second)
	if err := bob.Wait(); err != nil {
		t.Logf("sipp: %v\n%s", err, bob.Log())
	}
	for _, p := range []*natlab.Baresip{alice, carol} {
		p.Proc.Stop()
	}
	res := l.analyze(t, "call-auth-failed.pcap")
	want := map[string]struct{ title, remedy string }{
		"203.0.113.11:5060": {"The server 203.0.113.20 asked the caller for credentials (407 Proxy Authentication Required) and the caller never sent any", remedyCallNoCredentials},
		"203.0.113.12:5060": {"The server 203.0.113.20 refused the call after the caller sent its credentials (403 Wrong password): they are wrong, or the account may not call 100", remedyCallCredentials},
	}
	for _, c := range res.Calls {
		w, ok := want[c.Caller.SignalAddr]
		if !ok {
			continue
		}
		delete(want, c.Caller.SignalAddr)
		f := findingOf(c, IDCallAuthFailed)
		if f == nil || !strings.HasPrefix(f.Title, w.title) || f.Remedy != w.remedy || f.Severity != report.SeverityWarning {
			t.Errorf("call from %s: %+v; findings %v", c.Caller.SignalAddr, f, findingIDs(c))
		}
	}
	if len(want) > 0 {
		t.Errorf("calls not in the capture: %v", want)
	}
}
