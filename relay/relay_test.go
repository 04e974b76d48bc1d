package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// Every test here talks to 127.0.0.x only.

// recvTimeout: loopback delivers in microseconds; a second means lost.
const recvTimeout = time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

func newTestRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	if !cfg.Bind.IsValid() {
		cfg.Bind = loopback
	}
	if cfg.PortMin == 0 {
		// Fixed test ranges stay below the kernel's ephemeral ports
		// (32768-60999 by default), where any socket bound to port 0 on
		// the machine could take one; relay tests use 24xxx, proxy 25xxx-
		// 27xxx, cmd/natdoc 28xxx, so packages tested at once never meet.
		cfg.PortMin, cfg.PortMax = 24000, 24999
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func listen(t testing.TB, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func rtpPacket(seq uint16) []byte {
	p := make([]byte, 172)
	p[0] = 0x80
	p[1] = 0 // PCMU
	p[2], p[3] = byte(seq>>8), byte(seq)
	return p
}

func send(t testing.TB, c *net.UDPConn, to netip.AddrPort, seqs ...uint16) {
	t.Helper()
	for _, s := range seqs {
		if _, err := c.WriteToUDPAddrPort(rtpPacket(s), to); err != nil {
			t.Fatal(err)
		}
	}
}

// receive reads until want packets arrived or recvTimeout passed.
func receive(t testing.TB, c *net.UDPConn, want int) (int, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	var from netip.AddrPort
	got := 0
	for got < want {
		c.SetReadDeadline(time.Now().Add(recvTimeout))
		_, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		from = src
		got++
	}
	return got, from
}

func relayAddr(l *Leg) netip.AddrPort { return netip.AddrPortFrom(loopback, uint16(l.Port())) }

// openSession allocates a session between two loopback parties; the
// callee's SDP names its socket, the caller's address is latched.
func openSession(t *testing.T, r *Relay, callID string) (s *Session, caller, callee *net.UDPConn) {
	t.Helper()
	s, err := r.Allocate(t.Context(), callID)
	if err != nil {
		t.Fatal(err)
	}
	caller, callee = listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	s.B.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
	return s, caller, callee
}

func seqs(from, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(from + i)
	}
	return out
}

func TestForwardsBothWaysWithLatching(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event-loop", true: "goroutines"}[goroutines], func(t *testing.T) {
			testForwardsBothWays(t, Config{Goroutines: goroutines})
		})
	}
}

func testForwardsBothWays(t *testing.T, cfg Config) {
	r := newTestRelay(t, cfg)
	s, err := r.Allocate(t.Context(), "call-1")
	if err != nil {
		t.Fatal(err)
	}
	caller, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	// The caller's SDP names a private address nobody can reach: the relay
	// must learn the real one from the caller's packets.
	s.A.SetSDPAddr(netip.MustParseAddrPort("192.0.2.1:4000"), netip.AddrPort{})
	s.B.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})

	send(t, caller, relayAddr(s.A), seqs(1, 10)...)
	got, from := receive(t, callee, 10)
	if got != 10 || from != relayAddr(s.B) {
		t.Fatalf("callee got %d packets from %v, want 10 from %v", got, from, relayAddr(s.B))
	}
	send(t, callee, relayAddr(s.B), seqs(100, 7)...)
	got, from = receive(t, caller, 7)
	if got != 7 || from != relayAddr(s.A) {
		t.Fatalf("caller got %d packets from %v, want 7 from %v", got, from, relayAddr(s.A))
	}
	// Forwarded is counted after the send returns, which can be after the
	// packet arrived.
	waitFor(t, func() bool { st := s.Stats(); return st.A.RTP.Forwarded >= 10 && st.B.RTP.Forwarded >= 7 })
	st := s.Stats()
	if st.A.RTP.Packets != 10 || st.A.RTP.Forwarded != 10 || st.B.RTP.Packets != 7 || st.B.RTP.Forwarded != 7 {
		t.Errorf("counters: A %+v B %+v", st.A.RTP, st.B.RTP)
	}
	if st.A.Latched != addrOf(caller) || st.B.Latched != addrOf(callee) {
		t.Errorf("latched A %v B %v, want %v %v", st.A.Latched, st.B.Latched, addrOf(caller), addrOf(callee))
	}
}

func TestDropsUnexpectedSource(t *testing.T) {
	r := newTestRelay(t, Config{})
	s, err := r.Allocate(t.Context(), "call-2")
	if err != nil {
		t.Fatal(err)
	}
	phone, stranger, callee := listen(t, "127.0.0.2"), listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(netip.MustParseAddr("127.0.0.2"))
	s.B.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})

	send(t, stranger, relayAddr(s.A), seqs(1, 5)...) // wrong IP: may not latch
	send(t, phone, relayAddr(s.A), seqs(1, 3)...)
	otherPort := listen(t, "127.0.0.2") // right IP, second port while the first is alive
	send(t, otherPort, relayAddr(s.A), seqs(50, 2)...)
	got, _ := receive(t, callee, 3)
	if got != 3 {
		t.Fatalf("callee got %d, want 3", got)
	}
	if extra, _ := receive(t, callee, 1); extra != 0 {
		t.Fatalf("callee got %d packets from unlatched sources", extra)
	}
	st := s.A.Stats()
	if st.RTP.Unexpected != 7 || st.RTP.Packets != 3 || st.Latched != addrOf(phone) {
		t.Errorf("unexpected=%d packets=%d latched=%v", st.RTP.Unexpected, st.RTP.Packets, st.Latched)
	}
}

func TestLatchAnySource(t *testing.T) {
	r := newTestRelay(t, Config{LatchAnySource: true})
	s, err := r.Allocate(t.Context(), "call-3")
	if err != nil {
		t.Fatal(err)
	}
	phone, callee := listen(t, "127.0.0.3"), listen(t, "127.0.0.1")
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
	send(t, phone, relayAddr(s.A), seqs(1, 4)...)
	if got, _ := receive(t, callee, 4); got != 4 {
		t.Fatalf("got %d, want 4", got)
	}
}

func TestCountsNoDestinationAndLoss(t *testing.T) {
	r := newTestRelay(t, Config{})
	s, err := r.Allocate(t.Context(), "call-4")
	if err != nil {
		t.Fatal(err)
	}
	phone := listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	// Callee's address unknown yet; 1,2,3,6,7 arrive: 2 lost.
	send(t, phone, relayAddr(s.A), 1, 2, 3, 6, 7)
	waitFor(t, func() bool { return s.A.Stats().RTP.Packets == 5 })
	st := s.A.Stats().RTP
	if st.NoDestination != 5 || st.Lost != 2 || st.Forwarded != 0 {
		t.Errorf("%+v", st)
	}
}

func TestRTCPGoesToRTCPPort(t *testing.T) {
	r := newTestRelay(t, Config{})
	s, err := r.Allocate(t.Context(), "call-5")
	if err != nil {
		t.Fatal(err)
	}
	phone, calleeRTP, calleeRTCP := listen(t, "127.0.0.1"), listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	s.B.Expect(loopback)
	s.B.SetSDPAddr(addrOf(calleeRTP), addrOf(calleeRTCP))
	rtcpAddr := netip.AddrPortFrom(loopback, uint16(s.A.Port()+1))
	if _, err := phone.WriteToUDPAddrPort([]byte{0x81, 200, 0, 6, 1, 2, 3, 4}, rtcpAddr); err != nil {
		t.Fatal(err)
	}
	got, from := receive(t, calleeRTCP, 1)
	if got != 1 || from.Port() != uint16(s.B.Port()+1) {
		t.Fatalf("rtcp: got %d from %v", got, from)
	}
	if st := s.A.Stats(); st.RTCP.Packets != 1 || st.RTP.Packets != 0 {
		t.Errorf("%+v", st)
	}
}

func TestPortExhaustionAndReuse(t *testing.T) {
	r := newTestRelay(t, Config{PortMin: 24100, PortMax: 24103})
	s, err := r.Allocate(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Allocate(t.Context(), "b"); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("second allocate: %v, want ErrNoPorts", err)
	}
	if r.FreePairs() != 0 {
		t.Fatalf("free pairs %d after failed allocate, want 0", r.FreePairs())
	}
	s.Close()
	s.Wait()
	if r.FreePairs() != 2 {
		t.Fatalf("free pairs %d after close, want 2", r.FreePairs())
	}
	if _, err := r.Allocate(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
}

func TestSkipsPortsHeldElsewhere(t *testing.T) {
	squatter := listenPort(t, 24201) // RTCP port of the first pair
	_ = squatter
	r := newTestRelay(t, Config{PortMin: 24200, PortMax: 24203})
	s, err := r.Allocate(t.Context(), "a")
	if !errors.Is(err, ErrNoPorts) {
		// Only one usable pair: one leg fits, the second does not.
		t.Fatalf("allocate: %v (session %v), want ErrNoPorts", err, s)
	}
	if r.FreePairs() != 2 {
		t.Fatalf("free pairs %d, want 2 (nothing leaked)", r.FreePairs())
	}
}

func listenPort(t *testing.T, port int) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Skipf("port %d busy: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIdleTimeoutFreesPorts(t *testing.T) {
	r := newTestRelay(t, Config{IdleTimeout: 100 * time.Millisecond, PortMin: 24300, PortMax: 24303})
	s, err := r.Allocate(t.Context(), "idle")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("idle session not closed")
	}
	s.Wait()
	if s.Reason() != CloseIdle || r.FreePairs() != 2 {
		t.Fatalf("reason %q free %d", s.Reason(), r.FreePairs())
	}
}

// TestIdleOneSide: the callee sent media and fell silent while the caller
// goes on sending (the callee's phone is gone): the session closes as
// idle, naming the callee's side, and its ports return.
func TestIdleOneSide(t *testing.T) {
	r := newTestRelay(t, Config{IdleTimeout: 300 * time.Millisecond, PortMin: 24320, PortMax: 24323})
	s, err := r.Allocate(t.Context(), "one-side")
	if err != nil {
		t.Fatal(err)
	}
	caller, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	s.B.Expect(loopback)
	send(t, callee, relayAddr(s.B), 1)
	deadline := time.Now().Add(5 * time.Second)
	for seq := uint16(1); ; seq++ {
		select {
		case <-s.Done():
			s.Wait()
			if st := s.Stats(); st.Reason != CloseIdle || st.Idle != IdleB || r.FreePairs() != 2 {
				t.Fatalf("closed %q, idle side %q, free pairs %d; want idle, B, 2", st.Reason, st.Idle, r.FreePairs())
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a session whose callee fell silent was not closed")
		}
		send(t, caller, relayAddr(s.A), seq)
	}
}

func TestManySessionsNoLeaks(t *testing.T) {
	r := newTestRelay(t, Config{PortMin: 24400, PortMax: 24499})
	freeBefore, goBefore := r.FreePairs(), runtime.NumGoroutine()
	phone, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	for i := range 200 {
		s, err := r.Allocate(context.Background(), "soak")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		s.A.Expect(loopback)
		s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
		send(t, phone, relayAddr(s.A), 1)
		if got, _ := receive(t, callee, 1); got != 1 {
			t.Fatalf("call %d: not forwarded", i)
		}
		s.Close()
		s.Wait()
	}
	if r.FreePairs() != freeBefore {
		t.Errorf("free pairs %d, want %d", r.FreePairs(), freeBefore)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= goBefore })
}

func TestCloseFreesEverything(t *testing.T) {
	r, err := New(Config{Bind: loopback, PortMin: 24500, PortMax: 24599})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := r.Allocate(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	if r.FreePairs() != 50 || len(r.Sessions()) != 0 {
		t.Fatalf("free %d sessions %d", r.FreePairs(), len(r.Sessions()))
	}
	if _, err := r.Allocate(t.Context(), "y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("allocate after close: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{{PortMin: 10, PortMax: 11}, {PortMin: 0, PortMax: 70000}, {PortMin: 20000, PortMax: 10000}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestNoAllocationPerPacket measures the whole path, sender to receiver
// through the relay's goroutine: AllocsPerRun counts every goroutine's
// allocations, and the test's own sockets calls do not allocate.
// goroutinesForAllocTest is flipped by TestNoAllocationPerPacketGoroutines.
var goroutinesForAllocTest bool

func TestNoAllocationPerPacketGoroutines(t *testing.T) {
	goroutinesForAllocTest = true
	defer func() { goroutinesForAllocTest = false }()
	TestNoAllocationPerPacket(t)
}

func TestNoAllocationPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newTestRelay(t, Config{Goroutines: goroutinesForAllocTest})
	s, err := r.Allocate(t.Context(), "allocs")
	if err != nil {
		t.Fatal(err)
	}
	phone, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
	pkt, buf, to := rtpPacket(1), make([]byte, 2048), relayAddr(s.A)
	callee.SetReadDeadline(time.Now().Add(time.Minute))
	roundTrip := func() {
		phone.WriteToUDPAddrPort(pkt, to)
		callee.ReadFromUDPAddrPort(buf)
	}
	roundTrip() // latch
	if avg := testing.AllocsPerRun(500, roundTrip); avg >= 0.5 {
		t.Errorf("%.2f allocations per relayed packet, want 0", avg)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkForward pushes 172-byte RTP through one relayed stream on
// loopback; the figure that matters is allocs/op (0) and ns/op per packet.
func BenchmarkForward(b *testing.B) {
	r, err := New(Config{Bind: loopback, PortMin: 24600, PortMax: 24699})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	s, err := r.Allocate(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	phone, callee := listen(b, "127.0.0.1"), listen(b, "127.0.0.1")
	callee.SetReadBuffer(4 << 20)
	s.A.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
	pkt, buf, to := rtpPacket(1), make([]byte, 2048), relayAddr(s.A)
	callee.SetReadDeadline(time.Now().Add(time.Hour))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		phone.WriteToUDPAddrPort(pkt, to)
		callee.ReadFromUDPAddrPort(buf)
	}
}

// TestOddDatagrams: an empty datagram is legal UDP and is relayed as one
// (the send path must not index its first byte); one longer than maxPacket
// is cut by the kernel, counted as truncated and not forwarded; a burst
// longer than one batch arrives whole (the reader reuses its headers across
// batches of different sizes).
func TestOddDatagrams(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event-loop", true: "goroutines"}[goroutines], func(t *testing.T) {
			r := newTestRelay(t, Config{Goroutines: goroutines})
			s, err := r.Allocate(t.Context(), "odd")
			if err != nil {
				t.Fatal(err)
			}
			caller, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
			s.A.Expect(loopback)
			s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
			to := relayAddr(s.A)
			for _, size := range []int{0, maxPacket + 100} {
				if _, err := caller.WriteToUDPAddrPort(make([]byte, size), to); err != nil {
					t.Fatal(err)
				}
			}
			burst := 3*r.cfg.Batch + 5 // several full batches, then a partial one
			send(t, caller, to, seqs(1, burst)...)
			buf := make([]byte, 2048)
			callee.SetReadDeadline(time.Now().Add(recvTimeout))
			n, _, err := callee.ReadFromUDPAddrPort(buf)
			if err != nil || n != 0 {
				t.Fatalf("first relayed datagram: %d bytes, %v; want the empty one", n, err)
			}
			if got, _ := receive(t, callee, burst); got != burst {
				t.Fatalf("callee got %d of the %d-packet burst", got, burst)
			}
			waitFor(t, func() bool { return s.A.Stats().RTP.Forwarded == uint64(burst+1) })
			if st := s.A.Stats().RTP; st.Truncated != 1 || st.Packets != uint64(burst+1) || st.SendErrors != 0 {
				t.Errorf("counters %+v: want 1 truncated, %d accepted, no send errors", st, burst+1)
			}
		})
	}
}

// TestIPv6: a relay bound to ::1 relays between IPv6 parties (the send path
// encodes sockaddr_in6 itself).
func TestIPv6(t *testing.T) {
	lo6 := netip.IPv6Loopback()
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	probe.Close()
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event-loop", true: "goroutines"}[goroutines], func(t *testing.T) {
			r := newTestRelay(t, Config{Bind: lo6, Goroutines: goroutines})
			s, err := r.Allocate(t.Context(), "v6")
			if err != nil {
				t.Fatal(err)
			}
			caller, callee := listen6(t), listen6(t)
			s.A.Expect(lo6)
			s.B.Expect(lo6)
			s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
			toA, toB := netip.AddrPortFrom(lo6, uint16(s.A.Port())), netip.AddrPortFrom(lo6, uint16(s.B.Port()))
			send(t, caller, toA, seqs(1, 5)...)
			if got, from := receive(t, callee, 5); got != 5 || from != toB {
				t.Fatalf("callee got %d packets from %v, want 5 from %v", got, from, toB)
			}
			send(t, callee, toB, seqs(1, 3)...)
			if got, from := receive(t, caller, 3); got != 3 || from != toA {
				t.Fatalf("caller got %d packets from %v, want 3 from %v", got, from, toA)
			}
		})
	}
}

func listen6(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOnReleaseHearsFinalCounters: every session's final counters reach
// OnRelease once, after it left Sessions, whether it was closed, timed
// out or ended with the relay.
func TestOnReleaseHearsFinalCounters(t *testing.T) {
	released := make(chan SessionStats, 4)
	var r *Relay
	r = newTestRelay(t, Config{PortMin: 24600, PortMax: 24699, OnRelease: func(st SessionStats) {
		for _, s := range r.Sessions() {
			if s.CallID == st.CallID {
				t.Errorf("%s still in Sessions when released", st.CallID)
			}
		}
		released <- st
	}})
	s, caller, callee := openSession(t, r, "closed")
	send(t, caller, relayAddr(s.A), seqs(1, 5)...)
	if got, _ := receive(t, callee, 5); got != 5 {
		t.Fatalf("callee got %d packets", got)
	}
	waitFor(t, func() bool { return s.Stats().A.RTP.Packets == 5 })
	s.Close()
	s.Wait()
	if st := <-released; st.CallID != "closed" || st.A.RTP.Packets != 5 {
		t.Errorf("released %+v, want call closed with 5 packets from A", st)
	}
	if _, err := r.Allocate(t.Context(), "with-relay"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if st := <-released; st.CallID != "with-relay" {
		t.Errorf("released %q, want with-relay", st.CallID)
	}
	if len(released) != 0 {
		t.Errorf("%d more releases", len(released))
	}
}
