package proxy

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/report"
)

// rawSIP sends one datagram to the server from 127.0.0.5 and returns the
// first answer line ("" when none came within 500 ms).
func rawSIP(t *testing.T, server string, msg []byte) string {
	t.Helper()
	line, _, _ := strings.Cut(exchangeUDP(t, "127.0.0.5", server, msg), "\r\n")
	return line
}

// exchangeUDP sends one datagram from ip to server and returns the first
// answer ("" when none came within 500 ms).
func exchangeUDP(t *testing.T, ip, server string, msg []byte) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp4", server)
	if _, err := c.WriteToUDP(msg, dst); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 65536)
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func invite(user, sdp string) []byte {
	return []byte("INVITE sip:" + user + "@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5:5060;branch=z9hG4bK-" + user + ";rport\r\n" +
		"From: <sip:eve@127.0.0.1>;tag=e1\r\nTo: <sip:" + user + "@127.0.0.1>\r\nCall-ID: bad-" + user + "\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:eve@127.0.0.5:5060>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: " + itoa(uint64(len(sdp))) + "\r\n\r\n" + sdp)
}

func TestBadInputIsCountedNotFatal(t *testing.T) {
	ts := startServer(t, Config{Fix: true, MaxMessage: 2048}, 25800)
	bob := newTestPhone(t, "bob", "127.0.0.3", ts.addr, phone.SDPLocal)
	if err := bob.Register(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Garbage, a truncated request line and a huge message: dropped, counted.
	for _, m := range [][]byte{[]byte("\x00\x01garbage\r\n\r\n"), []byte("INVITE sip:bob SIP/2.0\r\nVia: x\r\n\r\n"),
		append([]byte("OPTIONS sip:x SIP/2.0\r\n"), make([]byte, 4000)...)} {
		if got := rawSIP(t, ts.addr, m); got != "" {
			t.Errorf("answer %q to bad input", got)
		}
	}
	if ts.srv.Counters.Oversize.Load() != 1 || ts.srv.Counters.Malformed.Load() < 1 {
		t.Errorf("oversize %d malformed %d", ts.srv.Counters.Oversize.Load(), ts.srv.Counters.Malformed.Load())
	}
	// Max-Forwards exhausted: 483 (RFC 3261 §16.3).
	hops := strings.NewReplacer("Max-Forwards: 70", "Max-Forwards: 1", "bad-bob", "hops-bob", "z9hG4bK-bob", "z9hG4bK-hops").Replace(string(invite("bob", "")))
	if got := rawSIP(t, ts.addr, []byte(hops)); !strings.Contains(got, "483") {
		t.Errorf("Max-Forwards 1: %q, want 483", got)
	}
	// Absurd port count: refused with 488, relay ports back in the pool.
	absurd := "v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000/65000 RTP/AVP 0\r\n"
	if got := rawSIP(t, ts.addr, invite("bob", absurd)); !strings.Contains(got, "488") {
		t.Errorf("absurd SDP: %q, want 488", got)
	}
	waitFor(t, func() bool { return ts.relay.FreePairs() == 100 })
	// The server still works.
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	ra, rb := callPair(t, alice, bob, "bob")
	if ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Fatalf("after bad input: %s / %s", ra.Explain, rb.Explain)
	}
}

func TestRateLimitPerSource(t *testing.T) {
	ts := startServer(t, Config{Rate: 5, Burst: 5}, 26000)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 6)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp4", ts.addr)
	for i := range 50 {
		msg := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.6:5060;branch=z9hG4bK-f" + itoa(uint64(i)) + "\r\nFrom: <sip:f@x>;tag=1\r\nTo: <sip:x@x>\r\nCall-ID: flood" + itoa(uint64(i)) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		c.WriteToUDP([]byte(msg), dst)
	}
	waitFor(t, func() bool { return ts.srv.Counters.RateLimited.Load() >= 40 })
}

// TestSoakManyShortCalls: many calls end with as many free relay ports and
// goroutines as before.
func TestSoakManyShortCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	ts := startServer(t, Config{Fix: true}, 26200)
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	bob := newTestPhone(t, "bob", "127.0.0.3", ts.addr, phone.SDPLocal)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	registerAll(ctx, t, alice, bob)
	oneCall := func() {
		errc := make(chan error, 1)
		go func() { _, err := bob.Answer(ctx, 5*time.Second); errc <- err }()
		if _, err := alice.Call(ctx, "bob", 60*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	oneCall() // warm up sipgo's pools
	waitFor(t, func() bool { return ts.relay.FreePairs() == 100 })
	time.Sleep(200 * time.Millisecond)
	goBefore := runtime.NumGoroutine()
	const calls = 30
	for range calls {
		oneCall()
	}
	// endCall frees the relay ports before it records the call: wait for
	// both.
	waitFor(t, func() bool { _, e := ts.srv.Calls(); return ts.relay.FreePairs() == 100 && len(e) >= calls+1 })
	_, ended := ts.srv.Calls()
	if len(ended) != calls+1 {
		t.Errorf("%d calls recorded, want %d", len(ended), calls+1)
	}
	// sipgo keeps terminated transactions for Timer K/J (up to 32 s for
	// UDP, RFC 3261 §17); wait for them rather than counting them as leaks.
	deadline := time.Now().Add(40 * time.Second)
	for runtime.NumGoroutine() > goBefore+2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goBefore+2 {
		t.Errorf("goroutines %d after %d calls, %d before", n, calls, goBefore)
	}
}

var _ = netip.Addr{}
