package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/sipalg"
)

// TestServerNeverDialsOut: requests over TCP whose connection closes
// before the answer, with a Via naming another host (here a loopback
// listener of the test's): the server must not connect to it.
func TestServerNeverDialsOut(t *testing.T) {
	ts := startTortureServer(t, Config{})
	victim, err := net.Listen("tcp4", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	dialled := make(chan struct{}, 1)
	go func() {
		if c, err := victim.Accept(); err == nil {
			c.Close()
			dialled <- struct{}{}
		}
	}()
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp4", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		// Requests in one write, then gone (a reset): the last ones are
		// answered after the connection closed.
		var msgs string
		for n := 1; n <= 10; n++ {
			msgs += optionsVia(victim.Addr().String(), i, n)
		}
		c.Write([]byte(msgs))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	select {
	case <-dialled:
		t.Fatal("the server connected to the address in a Via")
	case <-time.After(time.Second):
	}
	if !ts.ping(t) {
		t.Error("the server did not answer the next request")
	}
}

func optionsVia(via string, i, n int) string {
	return fmt.Sprintf("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-dial%d-%d\r\n"+
		"From: <sip:probe@127.0.0.9>;tag=d%d\r\nTo: <sip:127.0.0.1>\r\nCall-ID: dial-%d-%d\r\nCSeq: %d OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", via, i, n, i, i, n, n)
}

// TestTCPMalformedCounted: a message sipgo cannot parse over TCP is a
// malformed message in the counters, as over UDP; one it can is not.
func TestTCPMalformedCounted(t *testing.T) {
	ts := startTortureServer(t, Config{})
	for _, tt := range []struct {
		msg  string
		want uint64
	}{
		{optionsVia("127.0.0.9:5060", 0, 1), 0},
		{"INVITE sip:x SIP/2.0\r\nVia: garbage\r\nFrom x\r\nContent-Length: 0\r\n\r\n", 1},
		{"NOT SIP AT ALL\r\n\r\n", 1},
	} {
		before := ts.srv.Counters.Malformed.Load()
		c, err := net.Dial("tcp4", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tt.msg))
		if tt.want > 0 {
			waitFor(t, func() bool { return ts.srv.Counters.Malformed.Load() >= before+tt.want })
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		c.Close()
		if got := ts.srv.Counters.Malformed.Load() - before; got != tt.want {
			t.Errorf("%q: %d malformed, want %d", tt.msg, got, tt.want)
		}
	}
	ts.srv.tcpStreams.mu.Lock()
	defer ts.srv.tcpStreams.mu.Unlock()
	if n := len(ts.srv.tcpStreams.open); n > 1 { // the last ping's may still be open
		t.Errorf("%d TCP streams still followed after their connections closed", n)
	}
}

// tcpPhone is a phone on one TCP connection to the server.
type tcpPhone struct {
	t    *testing.T
	conn *net.TCPConn
	rd   *bufio.Reader
	addr string
}

func dialTCPPhone(t *testing.T, ip, server string) *tcpPhone {
	c, err := net.DialTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(ip)}, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(server)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPhone{t: t, conn: c, rd: bufio.NewReader(c), addr: c.LocalAddr().String()}
}

func (p *tcpPhone) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next message whose first line starts with prefix,
// skipping others (provisional responses, keepalives).
func (p *tcpPhone) next(prefix string) string {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		raw, err := sipalg.ReadStreamMessage(p.rd)
		if err != nil {
			p.t.Fatalf("%s: waiting for %q: %v", p.addr, prefix, err)
		}
		if strings.HasPrefix(string(raw), prefix) {
			return string(raw)
		}
	}
}

// TestTCPCallOverPhonesConnections: calls between two phones on TCP go
// both ways over the connections the phones opened, the server opening
// none (it may not: noDialOut), from INVITE to BYE. The second call, once
// the first one's transactions are over, shows the server kept the
// phones' connections open (sipgo counts their users and closes one whose
// count reaches zero).
func TestTCPCallOverPhonesConnections(t *testing.T) {
	ts := startTortureServer(t, Config{})
	bob := dialTCPPhone(t, "127.0.0.3", ts.addr)
	bob.send(tcpRequest("REGISTER", "sip:127.0.0.1", bob.addr, "bob", "<sip:bob@127.0.0.1>", "reg-bob", 1, ""))
	bob.next("SIP/2.0 200")
	alice := dialTCPPhone(t, "127.0.0.2", ts.addr)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
	for i, callID := range []string{"call-tcp-1", "call-tcp-2"} {
		if i > 0 {
			time.Sleep(time.Second) // past the end of the first call's transactions
		}
		alice.send(tcpRequest("INVITE", "sip:bob@127.0.0.1", alice.addr, "alice", "<sip:bob@127.0.0.1>", callID, 1, sdp))
		inv := bob.next("INVITE ")
		if !strings.Contains(inv, "m=audio 270") { // the relay's range in startTortureServer
			t.Errorf("the INVITE bob got does not offer the relay:\n%s", inv)
		}
		bob.send(tcpAnswer(inv, "200 OK", bob.addr, strings.ReplaceAll(sdp, "127.0.0.2", "127.0.0.3")))
		ok := alice.next("SIP/2.0 200")
		to := "<sip:bob@127.0.0.1>;tag=" + headerParam(ok, "To", "tag")
		bobURI := "sip:bob@" + bob.addr + ";transport=tcp"
		alice.send(tcpRequest("ACK", bobURI, alice.addr, "alice", to, callID, 1, ""))
		bob.next("ACK ")
		alice.send(tcpRequest("BYE", bobURI, alice.addr, "alice", to, callID, 2, ""))
		bye := bob.next("BYE ")
		bob.send(tcpAnswer(bye, "200 OK", bob.addr, ""))
		alice.next("SIP/2.0 200")
	}
}

// tcpRequest builds a request from user at addr over TCP to to (a
// name-addr with its tag, if any); ACK takes the INVITE's CSeq number.
func tcpRequest(method, uri, addr, user, to, callID string, cseq int, sdp string) string {
	return phoneRequest("TCP", method, uri, addr, user, to, callID, cseq, sdp)
}

// phoneRequest is tcpRequest over transport ("UDP", "TCP").
func phoneRequest(transport, method, uri, addr, user, to, callID string, cseq int, sdp string) string {
	var body string
	if sdp != "" {
		body = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-%s-%s-%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%s@127.0.0.1>;tag=%s-tag\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:%s@%s%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, uri, transport, addr, callID, method, cseq, user, user, to, callID, cseq, method, user, addr, uriTransport(transport), body, len(sdp), sdp)
}

// uriTransport is the transport parameter of a Contact over transport.
func uriTransport(transport string) string {
	if transport == "UDP" {
		return ""
	}
	return ";transport=" + strings.ToLower(transport)
}

// tcpAnswer answers req (as read from the stream) with status, copying
// Via, From, To (with a tag), Call-ID, CSeq and Record-Route.
func tcpAnswer(req, status, addr, sdp string) string {
	return phoneAnswer("TCP", req, status, addr, sdp)
}

// phoneAnswer is tcpAnswer over transport.
func phoneAnswer(transport, req, status, addr, sdp string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq", "record-route":
			b.WriteString(line + "\r\n")
		case "to", "t":
			if !strings.Contains(line, "tag=") {
				line += ";tag=bob-tag"
			}
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Contact: <sip:bob@" + addr + uriTransport(transport) + ">\r\n")
	if sdp != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(sdp), sdp)
	return b.String()
}

// headerParam returns the value of param in the first header name of msg
// that has it.
func headerParam(msg, name, param string) string {
	for _, v := range headerValues(msg, name) {
		if _, after, ok := strings.Cut(v, param+"="); ok {
			val, _, _ := strings.Cut(after, ";")
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// TestMixedTransportCalls: a phone on UDP calls one registered over TCP,
// and the other way round. Each side's messages reach it over its own
// transport, in both directions, from the INVITE to the callee's BYE.
func TestMixedTransportCalls(t *testing.T) {
	for _, tc := range []struct{ caller, callee string }{{"UDP", "TCP"}, {"TCP", "UDP"}} {
		t.Run(tc.caller+"-calls-"+tc.callee, func(t *testing.T) {
			ts := startTortureServer(t, Config{})
			bob := newRawPhone(t, tc.callee, "127.0.0.3", ts.addr)
			bob.send(phoneRequest(tc.callee, "REGISTER", "sip:127.0.0.1", bob.address(), "bob", "<sip:bob@127.0.0.1>", "reg-bob", 1, ""))
			bob.next("SIP/2.0 200")
			alice := newRawPhone(t, tc.caller, "127.0.0.2", ts.addr)
			callID := "mixed-" + tc.caller
			sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
			alice.send(phoneRequest(tc.caller, "INVITE", "sip:bob@127.0.0.1", alice.address(), "alice", "<sip:bob@127.0.0.1>", callID, 1, sdp))
			inv := bob.next("INVITE ")
			if !strings.Contains(inv, "Via: SIP/2.0/"+tc.callee+" ") {
				t.Errorf("the server's Via does not name the callee's transport %s:\n%s", tc.callee, inv)
			}
			// RFC 5658: one Record-Route per side, each with its transport.
			if rr := headerValues(inv, "Record-Route"); len(rr) != 2 || strings.Contains(rr[0], ";transport=") != (tc.callee == "TCP") ||
				strings.Contains(rr[1], ";transport=") != (tc.caller == "TCP") {
				t.Errorf("Record-Route %q, want the callee's transport on top and the caller's below", rr)
			}
			bob.send(phoneAnswer(tc.callee, inv, "200 OK", bob.address(), strings.ReplaceAll(sdp, "127.0.0.2", "127.0.0.3")))
			ok := alice.next("SIP/2.0 200")
			to := "<sip:bob@127.0.0.1>;tag=" + headerParam(ok, "To", "tag")
			alice.send(phoneRequest(tc.caller, "ACK", "sip:bob@"+bob.address()+uriTransport(tc.callee), alice.address(), "alice", to, callID, 1, ""))
			bob.next("ACK ")
			aliceURI := "sip:alice@" + alice.address() + uriTransport(tc.caller)
			bob.send(phoneRequest(tc.callee, "BYE", aliceURI, bob.address(), "bob", "<sip:alice@127.0.0.1>;tag=alice-tag", callID, 1, ""))
			bye := alice.next("BYE ")
			alice.send(phoneAnswer(tc.caller, bye, "200 OK", alice.address(), ""))
			bob.next("SIP/2.0 200")
		})
	}
}

// rawPhone is a phone a test drives message by message.
type rawPhone interface {
	send(msg string)
	next(prefix string) string
	address() string
}

// newRawPhone is a phone at ip talking to server over transport.
func newRawPhone(t *testing.T, transport, ip, server string) rawPhone {
	if transport == "TCP" {
		return dialTCPPhone(t, ip, server)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPhone{t: t, conn: c, server: net.UDPAddrFromAddrPort(netip.MustParseAddrPort(server))}
}

func (p *tcpPhone) address() string { return p.addr }

// udpPhone is a rawPhone on UDP.
type udpPhone struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr
}

func (p *udpPhone) address() string { return p.conn.LocalAddr().String() }

func (p *udpPhone) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.server); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next datagram whose first line starts with prefix,
// skipping others (provisional responses, retransmissions).
func (p *udpPhone) next(prefix string) string {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			p.t.Fatalf("%s: waiting for %q: %v", p.address(), prefix, err)
		}
		if strings.HasPrefix(string(buf[:n]), prefix) {
			return string(buf[:n])
		}
	}
}

// headerValues lists the values of every header name in msg, in order.
func headerValues(msg, name string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\r\n") {
		if h, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(h), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}
