//go:build linux

package capture

import (
	"context"
	"fmt"
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
	alice := kamailioPhone(t, r1.LANHost("alice", "192.168.1.10"), "alice", "203.0.113.20", phone.Config{SDPMode: phone.SDPSTUN, STUN: stun.Primary})
	bob := kamailioPhone(t, lab.PublicHost("bob", "203.0.113.11"), "bob", "203.0.113.20", phone.Config{SDPMode: phone.SDPLocal})
	phoneCall(t, alice, bob, dump)
	f := oneWayFinding(t, pcap, "caller")
	if why := f.Evidence[0].Text; !strings.Contains(why, "refused all along (ICMP port unreachable: ") ||
		!strings.Contains(why, "own media leaves its NAT from 203.0.113.1:") || f.Remedy != remedyUnmappedPort {
		t.Errorf("one-way finding: %q, remedy %q; want the NAT's refusal and the unmapped-port remedy", why, f.Remedy)
	}
}

// TestLabNATWithoutHairpin: Alice and Bob share a LAN with their SIP
// server; Alice's phone names in its SDP the public address STUN (a real
// coturn outside) found for it. Bob's RTP goes to the router's public
// address, and the router, which does not hairpin, answers each packet
// with ICMP port unreachable. Captured on the LAN: one-way (Alice cannot
// hear), explained as the NAT not looping the media back in, with the
// remedy for LAN peers (LAN addresses, NAT loopback, a relay).
func TestLabNATWithoutHairpin(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.30", "203.0.113.31"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	startKamailio(t, r1.LANHost("server", "192.168.1.20"), "192.168.1.20", false, netip.AddrPort{})
	pcap := filepath.Join(t.TempDir(), "lan.pcap")
	dump := r1.StartTcpdumpOn(t, "brlan", pcap, "udp or icmp")
	alice := kamailioPhone(t, r1.LANHost("alice", "192.168.1.10"), "alice", "192.168.1.20", phone.Config{SDPMode: phone.SDPSTUN, STUN: stun.Primary})
	bob := kamailioPhone(t, r1.LANHost("bob", "192.168.1.11"), "bob", "192.168.1.20", phone.Config{SDPMode: phone.SDPLocal})
	phoneCall(t, alice, bob, dump)
	f := oneWayFinding(t, pcap, "caller")
	if why := f.Evidence[0].Text; !strings.Contains(why, "to 203.0.113.1, the public address of its NAT, which refuses it instead of looping it back in (no hairpinning)") ||
		f.Remedy != remedyHairpin {
		t.Errorf("one-way finding: %q, remedy %q; want the NAT without hairpinning and its remedy", why, f.Remedy)
	}
}

// oneWayFinding is the one-way-audio finding of the capture's only call,
// which must be one-way with cannotHear the party that cannot hear.
func oneWayFinding(t *testing.T, pcap, cannotHear string) *report.Finding {
	t.Helper()
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	pkts, _ := directionCounts(c)
	t.Logf("%s (%s cannot hear): %s; RTP %v; findings %v", c.Verdict, c.CannotHear, c.Explain, pkts, findingIDs(c))
	if c.Verdict != report.VerdictOneWay || c.CannotHear != cannotHear {
		t.Errorf("want one-way, the %s cannot hear", cannotHear)
	}
	f := findingOf(c, report.IDOneWayAudio)
	if f == nil {
		t.Fatal("no one-way finding")
	}
	return f
}

// phoneCall: alice calls bob, 5 s of media; then the capture stops.
func phoneCall(t *testing.T, alice, bob *phone.Phone, dump *natlab.Proc) {
	t.Helper()
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
}

// kamailioPhone is a natdoc phone on h that registers at the Kamailio of
// startKamailio (server:5060), sending RTP from the port it receives on.
func kamailioPhone(t *testing.T, h *natlab.Host, user, server string, cfg phone.Config) *phone.Phone {
	t.Helper()
	cfg.Symmetric = true
	p, closePhone := hostPhone(t, h, user, server, cfg)
	t.Cleanup(closePhone)
	return p
}

// hostPhone is a natdoc phone on h at port 5060 whose outbound proxy is
// server:5060, and what closes it and its SIP socket.
func hostPhone(t *testing.T, h *natlab.Host, user, server string, cfg phone.Config) (*phone.Phone, func()) {
	t.Helper()
	conn, err := h.ListenUDP("udp4", netip.AddrPortFrom(h.Addr(), 5060).String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Server, cfg.Conn, cfg.LocalIP, cfg.ListenUDP = user, server+":5060", conn, h.Addr(), h.ListenUDP
	p, err := phone.New(cfg)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return p, func() { p.Close(); conn.Close() }
}

// TestLabServerNamesPublicToLAN: a PBX (a natdoc phone) behind its router
// has an external address set: its SDP names the router's public address,
// as it should toward the trunk outside, but also toward a phone on its
// own LAN (Asterisk without localnet). Captured on the PBX's host, where
// the phone's RTP to the public address never shows. Without NAT loopback
// the router refuses that RTP: one-way, the PBX cannot hear, with the
// public address named to a LAN peer as the cause and the LAN-peers
// remedy. With NAT loopback it arrives, from the router's LAN address:
// two-way, the same address named only as a note.
func TestLabServerNamesPublicToLAN(t *testing.T) {
	natlab.Require(t)
	for _, hairpin := range []bool{false, true} {
		t.Run(fmt.Sprintf("hairpin=%v", hairpin), func(t *testing.T) {
			lab := natlab.New(t)
			r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
				Mapping: natlab.EndpointIndependent, Hairpin: hairpin,
				Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.20"}, {Proto: "udp", Ports: "20000-20100", To: "192.168.1.20"}},
			}})
			pbxHost, phoneHost := r1.LANHost("pbx", "192.168.1.20"), r1.LANHost("phone", "192.168.1.11")
			pcap := filepath.Join(t.TempDir(), "pbx.pcap")
			dump := pbxHost.StartTcpdump(t, pcap, "udp or icmp")
			pbx, closePBX := hostPhone(t, pbxHost, "pbx", "192.168.1.11",
				phone.Config{SDPMode: phone.SDPExplicit, SDPAddr: netip.MustParseAddr("203.0.113.1"), RTPPort: 20000, Symmetric: true})
			defer closePBX()
			ph, closePhone := hostPhone(t, phoneHost, "phone", "192.168.1.20", phone.Config{SDPMode: phone.SDPLocal})
			defer closePhone()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := ph.Answer(ctx, 10*time.Second); err != nil {
					t.Errorf("the phone answers: %v", err)
				}
			})
			if _, err := pbx.Call(ctx, "phone", 4*time.Second); err != nil {
				t.Errorf("the PBX calls: %v", err)
			}
			wg.Wait()
			time.Sleep(300 * time.Millisecond) // the last packets into the capture
			dump.Stop()

			res := analyzePath(t, pcap)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls, want 1", len(res.Calls))
			}
			c := res.Calls[0]
			named := findingOf(c, IDLANMediaViaPublicAddress)
			if named == nil || !strings.Contains(named.Title, "asks for media at 203.0.113.1, a public address, though the party that sends it is on its own LAN (192.168.1.11)") {
				t.Fatalf("findings %v, want %s naming 203.0.113.1 to 192.168.1.11", findingIDs(c), IDLANMediaViaPublicAddress)
			}
			if hairpin {
				if c.Verdict != report.VerdictTwoWay || named.Severity != report.SeverityInfo {
					t.Errorf("%s, %s %s; want two-way, the address named as a note", c.Verdict, IDLANMediaViaPublicAddress, named.Severity)
				}
				return
			}
			f := oneWayFinding(t, pcap, "caller")
			if len(f.Evidence) < 2 || !strings.Contains(f.Evidence[1].Text, "the caller's SDP names 203.0.113.1:20000, a public address, to the callee on its own LAN (192.168.1.11)") ||
				f.Remedy != remedyHairpin || named.Severity != report.SeverityWarning {
				t.Errorf("one-way finding %+v, %s %s; want the public address named to the LAN and the hairpin remedy", f, IDLANMediaViaPublicAddress, named.Severity)
			}
		})
	}
}

// TestLabSIPFragmentsDropped: a phone behind a router that drops IP
// fragments (all but the first, before reassembly, as some firewalls
// do) sends an INVITE too big for one packet (sipp, 31 codecs) to a
// server outside, which never gets it whole. Captured at the phone: the
// INVITE went in fragments and nothing answered, named as the cause with
// the TCP/smaller-INVITE remedy. Captured at the server: only first
// fragments arrived, no call can be followed, and the capture names the
// SIP messages that came in part.
func TestLabSIPFragmentsDropped(t *testing.T) {
	natlab.Require(t)
	t.Parallel() // it waits on SIP timers
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	// After the NAT, which reassembles and fragments again: on the way
	// out of its WAN (the egress hook sees the fragments), fragments past
	// the first are dropped.
	r1.Nft(t, "add table netdev fragdrop\n"+
		"add chain netdev fragdrop out { type filter hook egress device \"wan0\" priority 0; }\n"+
		"add rule netdev fragdrop out ip frag-off & 0x1fff != 0 drop")
	phoneHost, server := r1.LANHost("phone", "192.168.1.10"), lab.PublicHost("server", "198.51.100.20")
	dir := t.TempDir()
	atPhone, atServer := filepath.Join(dir, "phone.pcap"), filepath.Join(dir, "server.pcap")
	dumpPhone, dumpServer := phoneHost.StartTcpdump(t, atPhone, "udp or icmp"), server.StartTcpdump(t, atServer, "udp or icmp or (ip[6:2] & 0x1fff != 0)")
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "big-invite-uac.xml"))
	if err != nil {
		t.Fatal(err)
	}
	uas := server.Start(t, "sipp", "-sn", "uas", "-i", "198.51.100.20", "-p", "5060", "-m", "1", "-nostdin")
	time.Sleep(300 * time.Millisecond)
	uac := phoneHost.Start(t, "sipp", "-sf", scenario, "198.51.100.20:5060", "-i", "192.168.1.10", "-p", "5060", "-m", "1", "-nostdin", "-timeout", "10s")
	if err := uac.Wait(); err == nil {
		t.Errorf("sipp's INVITE was answered through a router dropping fragments:\n%s", uac.Log())
	}
	time.Sleep(1500 * time.Millisecond) // past fragmentGap, so the last transmission counts too
	uas.Stop()
	dumpPhone.Stop()
	dumpServer.Stop()

	keepLabFile(t, atPhone, "natlab-fragments-phone.pcap")
	keepLabFile(t, atServer, "natlab-fragments-server.pcap")
	sent := analyzePath(t, atPhone)
	if len(sent.Calls) != 1 {
		t.Fatalf("at the phone: %d calls, want 1", len(sent.Calls))
	}
	f := findingOf(sent.Calls[0], IDRequestUnanswered)
	if f == nil || !strings.Contains(f.Title, "sent in IP fragments") || f.Remedy != remedyFragmentsLost {
		t.Errorf("at the phone: %s, findings %v; want request-unanswered naming the fragments", sent.Calls[0].Verdict, findingIDs(sent.Calls[0]))
	}
	received := analyzePath(t, atServer)
	lost := findingByID(received.Findings, IDSIPFragmentsLost)
	// One INVITE, resent by sipp until it gave up: one message, its
	// transmissions counted apart.
	if len(received.Calls) != 0 || lost == nil || !strings.HasPrefix(lost.Title, "1 SIP message(s) over UDP (") ||
		!strings.Contains(lost.Title, `(the first: "INVITE sip:callee@198.51.100.20:5060 SIP/2.0" from 203.0.113.1:`) {
		t.Errorf("at the server: %d calls, findings %+v; want none, and %s", len(received.Calls), received.Findings, IDSIPFragmentsLost)
	}
}
