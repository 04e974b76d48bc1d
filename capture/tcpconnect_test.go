package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestTCPConnects: connections tried to one address are counted per
// client host whatever their source ports; a SYN resent is one try; a
// SYN-ACK opens one, a reset or an ICMP error quoting the SYN refuses
// it; the evidence says what refused them.
func TestTCPConnects(t *testing.T) {
	proxy, contact := netip.MustParseAddr("203.0.113.20"), netip.MustParseAddrPort("192.168.1.10:33780")
	nat, trunk := netip.MustParseAddrPort("203.0.113.1:47612"), netip.MustParseAddrPort("198.51.100.5:5060")
	t0 := time.Unix(1000, 0)
	var u unreachables
	frame := uint64(0)
	seg := func(at time.Duration, src, dst netip.AddrPort, syn, rst bool) {
		frame++
		u.tcp.observe(&packet{Frame: frame, Time: t0.Add(at), Src: src, Dst: dst, Proto: protoTCP, SYN: syn, RST: rst})
	}
	from := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(proxy, port) }
	// Two tries to the private Contact, each refused by a router's ICMP
	// network unreachable; the second's SYN resent once.
	for i, port := range []uint16{45853, 40217} {
		at := time.Duration(i) * time.Second
		seg(at, from(port), contact, true, false)
		b := icmpUnreachable(t, from(port), contact, 0)
		b[8+9] = protoTCP // quoting the SYN, not a datagram
		frame++
		u.observe(&packet{Frame: frame, Time: t0.Add(at), Src: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.254"), 0), Proto: protoICMP, Payload: b})
	}
	seg(3*time.Second, from(40217), contact, true, false)
	seg(4*time.Second, from(33177), nat, true, false) // reset by the NAT
	seg(4*time.Second, nat, from(33177), false, true)
	seg(5*time.Second, from(35000), trunk, true, false) // opened
	seg(5*time.Second, trunk, from(35000), true, false)
	seg(5*time.Second, from(35000), trunk, false, true) // its reset later is no refusal

	client, tries := u.tcp.failedTo(contact, t0, t0.Add(10*time.Second))
	if client != proxy || tries == nil || tries.tried != 2 {
		t.Fatalf("tries to the Contact: %s %+v", client, tries)
	}
	if ev := tries.evidence(client, contact, "to pass the ACK on"); !strings.Contains(ev.Text, "tried 2 times to open a TCP connection to 192.168.1.10:33780 to pass the ACK on, and none opened: "+
		"ICMP destination unreachable came back from 203.0.113.254 2 times for packets to 192.168.1.10:33780: network unreachable") {
		t.Errorf("evidence %q", ev.Text)
	}
	if _, late := u.tcp.failedTo(contact, t0.Add(time.Minute), t0.Add(2*time.Minute)); late != nil {
		t.Error("tries outside the window")
	}
	server, reset := u.tcp.failedFrom(proxy, t0.Add(4*time.Second), t0.Add(10*time.Second))
	if server != nat || reset == nil || reset.reset != 1 || !strings.Contains(reset.evidence(proxy, nat, "").Text, "203.0.113.1 refused it with a reset") {
		t.Errorf("reset: %s %+v", server, reset)
	}
	if _, opened := u.tcp.failedTo(trunk, t0, t0.Add(10*time.Second)); opened != nil {
		t.Errorf("an opened connection counted as failed: %+v", opened)
	}
}

// TestTCPConnectsBounded: a SYN flood keeps at most maxPendingConnects
// connections waiting and maxConnectTargets addresses.
func TestTCPConnectsBounded(t *testing.T) {
	var c tcpConnects
	at := time.Unix(1000, 0)
	for i := range maxPendingConnects + 100 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 40000)
		c.observe(&packet{Time: at, Src: src, Dst: netip.MustParseAddrPort("203.0.113.20:5060"), SYN: true})
	}
	if len(c.pending) > maxPendingConnects || len(c.byKey) > maxConnectTargets {
		t.Errorf("%d pending, %d addresses", len(c.pending), len(c.byKey))
	}
}

// TestSIPConnectionReset: a reset answering data on a SIP connection is
// kept for the direction it refused, once, and only within Timer B of
// a request sent then; a reset of a connection carrying no SIP is not.
func TestSIPConnectionReset(t *testing.T) {
	s := newState()
	phone, server := netip.MustParseAddrPort("203.0.113.1:43006"), netip.MustParseAddrPort("203.0.113.20:5060")
	t0 := time.Unix(1000, 0)
	register := "REGISTER sip:203.0.113.20 SIP/2.0\r\nVia: SIP/2.0/TCP 192.168.1.10:5060;branch=z9hG4bK-1\r\nFrom: <sip:100@203.0.113.20>;tag=1\r\n" +
		"To: <sip:100@203.0.113.20>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.10:5060;transport=tcp>\r\nContent-Length: 0\r\n\r\n"
	ok := "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 192.168.1.10:5060;branch=z9hG4bK-1\r\nFrom: <sip:100@203.0.113.20>;tag=1\r\n" +
		"To: <sip:100@203.0.113.20>;tag=2\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
	s.handle(&packet{Frame: 1, Time: t0, Src: phone, Dst: server, Proto: protoTCP, Seq: 1, Payload: []byte(register)})
	s.handle(&packet{Frame: 2, Time: t0, Src: server, Dst: phone, Proto: protoTCP, Seq: 1, Payload: []byte(ok)})
	s.handle(&packet{Frame: 3, Time: t0.Add(3 * time.Second), Src: phone, Dst: server, Proto: protoTCP, RST: true})
	s.handle(&packet{Frame: 4, Time: t0.Add(4 * time.Second), Src: phone, Dst: server, Proto: protoTCP, RST: true})
	r, found := s.unreach.tcp.resetAfter(server, phone, t0.Add(3*time.Second))
	if !found || r.frame != 3 {
		t.Errorf("reset %+v %v, want frame 3", r, found)
	}
	if _, found := s.unreach.tcp.resetAfter(server, phone, t0.Add(4*time.Second)); found {
		t.Error("a reset before the request counted")
	}
	if _, found := s.unreach.tcp.resetAfter(phone, server, t0); found {
		t.Error("the phone's own direction was not refused")
	}
	web := netip.MustParseAddrPort("198.51.100.80:443")
	s.handle(&packet{Frame: 5, Time: t0, Src: web, Dst: server, Proto: protoTCP, RST: true})
	if len(s.unreach.tcp.resets) != 1 {
		t.Errorf("resets %v: one of a connection carrying no SIP kept", s.unreach.tcp.resets)
	}
}

// TestClosedRegistration: who closed the connection the callee last
// registered over is told only of a closing after that REGISTER, not of
// an earlier connection between the same two ports.
func TestClosedRegistration(t *testing.T) {
	phone, server := netip.MustParseAddrPort("203.0.113.1:47612"), netip.MustParseAddrPort("203.0.113.20:5060")
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name        string
		closeFrame  uint64
		closedBy    netip.AddrPort
		wantInTitle string
	}{
		{"server closed it after the REGISTER", 20, server, "; 203.0.113.20 itself closed the TCP connection 100 registered over, 10s before the call"},
		{"phone's side closed it", 20, phone, "; the phone's side closed the TCP connection 100 registered over"},
		{"an earlier connection's closing", 5, server, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u unreachables
			other := server
			if tc.closedBy == server {
				other = phone
			}
			u.tcp.closed(tc.closedBy, other, tc.closeFrame, t0)
			cb := &callBuild{call: &sipCall{}, unreach: &u}
			cb.call.setup.sentAt = t0.Add(10 * time.Second)
			reg := &registration{aor: "100", src: phone, registrar: server, frame: 10}
			var f report.Finding
			closedRegistration(cb, reg, &f)
			if tc.wantInTitle == "" && f.Title != "" || !strings.Contains(f.Title, tc.wantInTitle) {
				t.Errorf("title %q, want %q", f.Title, tc.wantInTitle)
			}
		})
	}
}

// TestSIPConnectFindings: a phone's connections to a SIP port that never
// opened are a finding of their own: refused by a reset at once, dropped
// once the SYN went unanswered for dropsAfter (twice resent); not a SYN
// resent once, not a port no SIP uses, not tries a call's finding told,
// and information only when the phone registered there another way.
func TestSIPConnectFindings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	phone := netip.MustParseAddrPort("192.168.1.10:40000")
	tests := []struct {
		name      string
		server    string
		resets    bool
		resentFor time.Duration
		told      bool
		registers bool
		want      report.Severity // "": no finding
	}{
		{"reset", "203.0.113.20:5060", true, 0, false, false, report.SeverityWarning},
		{"TLS reset", "203.0.113.20:5061", true, 0, false, false, report.SeverityWarning},
		{"dropped", "203.0.113.20:5060", false, 4 * time.Second, false, false, report.SeverityWarning},
		{"SYN resent once", "203.0.113.20:5060", false, time.Second, false, false, ""},
		{"not a SIP port", "203.0.113.20:443", true, 0, false, false, ""},
		{"told by a call", "203.0.113.20:5060", true, 0, true, false, ""},
		{"registered over UDP instead", "203.0.113.20:5060", true, 0, false, true, report.SeverityInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := netip.MustParseAddrPort(tt.server)
			var c tcpConnects
			c.observe(&packet{Frame: 1, Time: t0, Src: phone, Dst: server, Proto: protoTCP, SYN: true})
			if tt.resets {
				c.observe(&packet{Frame: 2, Time: t0, Src: server, Dst: phone, Proto: protoTCP, RST: true})
			}
			for at := time.Second; at <= tt.resentFor; at *= 2 {
				c.observe(&packet{Frame: 3, Time: t0.Add(at), Src: phone, Dst: server, Proto: protoTCP, SYN: true})
			}
			if tt.told {
				c.byKey[connectKey{phone.Addr(), server}].evidence(phone.Addr(), server, "to pass the INVITE on")
			}
			regs := newRegistrations()
			if tt.registers {
				udp := netip.AddrPortFrom(server.Addr(), 5060)
				regs.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: phone, Expires: 60, ToUser: "100", CallID: "a", CSeq: 1}, Src: phone, Dst: udp, Frame: 4, Transport: "UDP"}, t0.Add(time.Second))
				regs.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: 60, CallID: "a", CSeq: 1}, Src: udp, Dst: phone, Frame: 5}, t0.Add(time.Second))
			}
			fs := c.sipFindings(regs)
			switch {
			case tt.want == "" && len(fs) > 0:
				t.Errorf("unexpected finding %+v", fs[0])
			case tt.want != "" && (len(fs) != 1 || fs[0].Severity != tt.want || fs[0].ID != IDTCPConnectFailed || fs[0].Subject != tt.server):
				t.Errorf("findings %+v, want one %s", fs, tt.want)
			}
		})
	}
}
