//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabServeRelaySilentPhone: bob's host firewall drops his outgoing RTP
// (nftables on his host, the RTP and RTCP ports); he calls alice through
// natdoc serve, whose relay gets nothing from him and so sends nothing to
// alice, while alice's audio reaches bob. natdoc analyze on the server's
// capture says where the media stopped, on the leg from bob, and does not
// also blame the relay's host for the silent leg to alice: one one-way
// finding, not two.
func TestLabServeRelaySilentPhone(t *testing.T) {
	natlab.Require(t)
	t.Parallel()
	lab := natlab.New(t)
	srv := lab.PublicHost("srv", "203.0.113.5")
	pcap := filepath.Join(t.TempDir(), "srv.pcap")
	dump := srv.StartTcpdump(t, pcap, "udp")
	serve := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "203.0.113.5:5060", "--rtp-ports", "20000-20099",
		"--allow", "0.0.0.0/0", "--tcp=false", "--echo=false")...)
	waitLog(t, serve, "listening on")
	server := netip.MustParseAddrPort("203.0.113.5:5060")
	bobHost := lab.PublicHost("bob", "198.51.100.21")
	if out, err := bobHost.Run(context.Background(), "nft", "add table ip fw; add chain ip fw out { type filter hook output priority 0; }; "+
		"add rule ip fw out udp sport 10000-10020 drop"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	natlab.StartBaresip(t, lab.PublicHost("alice", "198.51.100.20"), natlab.BaresipConfig{User: "alice", Registrar: server, AutoAnswer: true})
	bob := natlab.StartBaresip(t, bobHost, natlab.BaresipConfig{User: "bob", Registrar: server})
	waitLog(t, serve, "user=alice")
	waitLog(t, serve, "user=bob")
	bob.Command(t, "/dial sip:alice@203.0.113.5")
	time.Sleep(8 * time.Second)
	bob.Command(t, "/hangup")
	time.Sleep(time.Second)
	dump.Stop()
	serve.Stop()

	_, out, stderr := run(t, "analyze", "--json", pcap)
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if len(rep.Calls) != 1 {
		t.Fatalf("%d calls", len(rep.Calls))
	}
	c := rep.Calls[0]
	var oneWay []report.Finding
	for _, f := range c.Findings {
		if f.ID == report.IDOneWayAudio {
			oneWay = append(oneWay, f)
		}
	}
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "callee" || len(oneWay) != 1 ||
		!strings.Contains(oneWay[0].Title, "media does not reach the proxy 203.0.113.5, so the callee cannot hear") {
		t.Errorf("%s (%s cannot hear), one-way findings %+v", c.Verdict, c.CannotHear, oneWay)
	}
}
