//go:build linux

package capture

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/report"
)

// TestLabSTUNBehindSymmetricNAT: Alice's phone sits behind a NAT whose
// mapping depends on the destination (nftables masquerade random) and
// names in its SDP the address STUN (a real coturn) found. That mapping
// is for the STUN server only: Bob's RTP to it meets no mapping, and the
// router answers each packet with ICMP port unreachable. Captured on the
// internet's switch, Bob's RTP is seen reaching the router and Alice's
// own media leaves from another port: the call is one-way (Alice cannot
// hear), refused by her NAT, with the remedy for a NAT port nothing
// forwards (symmetric RTP on the server, a relay), not the one for a
// receiver's firewall.
func TestLabSTUNBehindSymmetricNAT(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.30", "203.0.113.31"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	startKamailio(t, server, "203.0.113.20", false, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	alice := kamailioPhone(t, r1.LANHost("alice", "192.168.1.10"), "alice", phone.Config{SDPMode: phone.SDPSTUN, STUN: stun.Primary})
	bob := kamailioPhone(t, lab.PublicHost("bob", "203.0.113.11"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, p := range []*phone.Phone{alice, bob} {
		if err := p.Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := bob.Answer(ctx, 15*time.Second); err != nil {
			t.Errorf("bob answers: %v", err)
		}
	})
	ra, err := alice.Call(ctx, "bob", 5*time.Second)
	wg.Wait()
	if err != nil {
		t.Fatalf("alice calls: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the last packets into the capture
	dump.Stop()
	t.Logf("alice's SDP %s; she received %d packets", ra.SDPAddr, ra.Received.Packets)

	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	t.Logf("%s (%s cannot hear): %s; findings %v", c.Verdict, c.CannotHear, c.Explain, findingIDs(c))
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" {
		t.Errorf("want one-way, the caller cannot hear")
	}
	f := findingOf(c, report.IDOneWayAudio)
	if f == nil {
		t.Fatal("no one-way finding")
	}
	if why := f.Evidence[0].Text; !strings.Contains(why, "refused all along (ICMP port unreachable: ") ||
		!strings.Contains(why, "own media leaves its NAT from 203.0.113.1:") || f.Remedy != remedyUnmappedPort {
		t.Errorf("one-way finding: %q, remedy %q; want the NAT's refusal and the unmapped-port remedy", why, f.Remedy)
	}
}

// kamailioPhone is a natdoc phone on h that registers at the Kamailio of
// startKamailio (203.0.113.20).
func kamailioPhone(t *testing.T, h *natlab.Host, user string, cfg phone.Config) *phone.Phone {
	t.Helper()
	conn, err := h.ListenUDP("udp4", netip.AddrPortFrom(h.Addr(), 5060).String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Server, cfg.Conn, cfg.LocalIP, cfg.ListenUDP = user, "203.0.113.20:5060", conn, h.Addr(), h.ListenUDP
	cfg.Symmetric = true
	p, err := phone.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
