//go:build linux

package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/diagnose"
	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

// TestLabDiagnoseAgainstServe: one public host runs natdoc serve (fix mode,
// digest users only, the mirror on); natdoc diagnose on a PC behind a
// router with the kernel SIP ALG points --mirror at it and finds the ALG,
// and its port-forwarding check gets the serve's callbacks. The server
// registers nothing, starts no call and takes no relay port for it.
func TestLabDiagnoseAgainstServe(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	pub := lab.PublicHost("serve", serverIP)
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{SIPALG: true}})
	pc := r.LANHost("pc", "192.168.1.10")

	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr(serverIP), PortMin: 10000, PortMax: 10199, ListenUDP: pub.ListenUDP})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	callback, err := pub.ListenUDP("udp4", serverIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer callback.Close()
	srv, err := New(Config{PublicAddr: serverIP, Fix: true, Relay: rl, Users: map[string]string{"alice": "secret"},
		Mirror: sipalg.NewAnswerer(sipalg.DefaultRateLimit, callback), ListenUDP: pub.ListenUDP})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := pub.ListenUDP("udp4", serverIP+":5060")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := pub.ListenTCP("tcp4", serverIP+":5060")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, udp, tcp) }()
	defer func() { stop(); <-done }()

	opt := diagnose.Options{Mirror: serverIP + ":5060", SIPPort: 5060, RTPLow: 10000, RTPHigh: 10100, CheckForwarding: true,
		NoRouter: true, Env: netenv.Env{Do: pc.Do}}
	res := diagnose.Run(context.Background(), opt)
	rep := report.New("diagnose", "test")
	diagnose.Build(rep, res)
	var b strings.Builder
	_ = report.Render(&b, rep, report.Options{Format: report.FormatText, Color: report.ColorNever})
	t.Logf("report:\n%s", b.String())

	if res.ALG == nil || res.ALG.UDP.Outcome != sipalg.Rewritten || res.ALG.TCP.Outcome != sipalg.Unchanged {
		t.Fatalf("ALG result %+v", res.ALG)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || (f.ID == diagnose.IDSIPALG && f.Subject == "UDP")
	}
	if !found {
		t.Errorf("no %s/UDP finding", diagnose.IDSIPALG)
	}
	if res.Forward == nil || res.Forward.Via != "mirror" || len(res.Forward.Ports) == 0 {
		t.Errorf("forwarding check did not use the serve's callbacks: %+v", res.Forward)
	}
	c := &srv.Counters
	if c.Mirror.Load() == 0 || c.Invites.Load() != 0 || c.AuthChallenges.Load() != 0 || len(srv.Registrations()) != 0 || rl.FreePairs() != 100 {
		t.Errorf("mirror %d, invites %d, challenges %d, registrations %d, free pairs %d: the diagnose run reached the proxy",
			c.Mirror.Load(), c.Invites.Load(), c.AuthChallenges.Load(), len(srv.Registrations()), rl.FreePairs())
	}
}
