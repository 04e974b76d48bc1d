package proxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/internal/udptcp"
	"github.com/natdoc/natdoc/relay"
)

// startMirrorServer runs a fix-mode server with digest users (so nothing
// is open without credentials) on UDP and TCP at one loopback port, with
// the mirror on.
func startMirrorServer(t *testing.T, limit sipalg.RateLimit) (*Server, *relay.Relay, netip.AddrPort) {
	t.Helper()
	udp, tcp, err := udptcp.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 27800, PortMax: 27999})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Fix: true, Relay: rl, Users: map[string]string{"alice": "secret"}, Mirror: sipalg.NewAnswerer(limit, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, udp, tcp) }()
	t.Cleanup(func() { cancel(); <-done; rl.Close() })
	time.Sleep(50 * time.Millisecond)
	return srv, rl, addr
}

// mirrorAnswerWait: loopback answers take microseconds; a rate-limited
// request gets none, and this is how long the test listens for it.
const mirrorAnswerWait = 500 * time.Millisecond

func askUDP(t *testing.T, c *net.UDPConn, to netip.AddrPort, req []byte) *sipalg.Echo {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, sipalg.MaxMessage*2)
	c.SetReadDeadline(time.Now().Add(mirrorAnswerWait))
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	e, err := sipalg.DecodeEcho(buf[:n])
	if err != nil {
		t.Fatalf("answer is no echo: %v: %q", err, buf[:n])
	}
	return e
}

// TestServeAnswersMirror: the mirror request of natdoc diagnose's ALG test
// is answered over UDP and TCP before authentication, with the exact bytes,
// and opens nothing: no registration, no call, no relay port.
func TestServeAnswersMirror(t *testing.T) {
	srv, rl, addr := startMirrorServer(t, sipalg.DefaultRateLimit)
	cfg := sipalg.Config{Mirror: addr, LocalAddr: netip.MustParseAddr("192.168.1.10"), RTPPort: 10000}

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	inv := sipalg.BuildInvite(cfg, "UDP", local, "mirrortestudp1234")
	e := askUDP(t, c, addr, inv)
	if e == nil {
		t.Fatal("udp: no answer to the mirror INVITE")
	}
	if !bytes.Equal(e.Received, inv) || e.Status != 488 || e.Source != local.String() || e.Transport != "udp" {
		t.Errorf("udp echo: status %d source %s transport %s, same bytes %v", e.Status, e.Source, e.Transport, bytes.Equal(e.Received, inv))
	}

	tc, err := net.DialTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tinv := sipalg.BuildInvite(cfg, "TCP", tc.LocalAddr().(*net.TCPAddr).AddrPort(), "mirrortesttcp1234")
	tc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := tc.Write(tinv); err != nil {
		t.Fatal(err)
	}
	raw, err := sipalg.ReadStreamMessage(bufio.NewReader(tc))
	if err != nil {
		t.Fatalf("tcp: no answer: %v", err)
	}
	if e, err := sipalg.DecodeEcho(raw); err != nil || !bytes.Equal(e.Received, tinv) || e.Transport != "tcp" {
		t.Errorf("tcp echo %+v: %v", e, err)
	}

	if n := srv.Counters.Mirror.Load(); n != 2 {
		t.Errorf("mirror requests counted %d, want 2", n)
	}
	c2 := &srv.Counters
	if c2.Invites.Load() != 0 || c2.AuthChallenges.Load() != 0 || len(srv.Registrations()) != 0 || rl.FreePairs() != 100 {
		t.Errorf("the mirror request reached the proxy: invites %d, challenges %d, registrations %d, free pairs %d",
			c2.Invites.Load(), c2.AuthChallenges.Load(), len(srv.Registrations()), rl.FreePairs())
	}
	if active, ended := srv.Calls(); len(active)+len(ended) != 0 {
		t.Errorf("calls %v %v", active, ended)
	}
}

// TestServeTCPStillSIP: a TCP connection that opens with an ordinary
// request goes to the SIP server, with its first bytes intact.
func TestServeTCPStillSIP(t *testing.T) {
	srv, _, addr := startMirrorServer(t, sipalg.DefaultRateLimit)
	tc, err := net.DialTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	la := tc.LocalAddr().String()
	reg := "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP " + la + ";branch=z9hG4bK-tcpreg1\r\nMax-Forwards: 70\r\n" +
		"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: tcpreg1\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:alice@" + la + ";transport=tcp>\r\nContent-Length: 0\r\n\r\n"
	tc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := tc.Write([]byte(reg)); err != nil {
		t.Fatal(err)
	}
	raw, err := sipalg.ReadStreamMessage(bufio.NewReader(tc))
	if err != nil {
		t.Fatalf("no answer to REGISTER over TCP: %v", err)
	}
	if !bytes.HasPrefix(raw, []byte("SIP/2.0 401")) {
		t.Errorf("REGISTER without credentials: %q, want a 401 challenge", raw)
	}
	if srv.Counters.Mirror.Load() != 0 || srv.Counters.AuthChallenges.Load() != 1 {
		t.Errorf("mirror %d challenges %d", srv.Counters.Mirror.Load(), srv.Counters.AuthChallenges.Load())
	}
}

// TestServeMirrorRateLimit: the mirror's own per-source budget applies.
func TestServeMirrorRateLimit(t *testing.T) {
	srv, _, addr := startMirrorServer(t, sipalg.RateLimit{Burst: 3, Per: time.Minute})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 4)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := 0
	for range 5 {
		if askUDP(t, c, addr, sipalg.BuildOptions(addr)) != nil {
			answered++
		}
	}
	if answered != 3 || srv.Counters.Mirror.Load() != 5 {
		t.Errorf("answered %d of 5 (want the burst, 3); counted %d", answered, srv.Counters.Mirror.Load())
	}
}
