package relay

import (
	"net"
	"net/netip"
	"testing"
)

// TestForwardsIPv6: a relay bound to ::1 latches and forwards both ways
// between IPv6 phones, in both I/O modes (the batch reader decodes
// sockaddr_in6, the writer sends to an IPv6 destination).
func TestForwardsIPv6(t *testing.T) {
	lo6 := netip.IPv6Loopback()
	probe, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	probe.Close()
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "event-loop", true: "goroutines"}[goroutines], func(t *testing.T) {
			r := newTestRelay(t, Config{Bind: lo6, PortMin: 42000, PortMax: 42999, Goroutines: goroutines})
			s, err := r.Allocate(t.Context(), "call-v6")
			if err != nil {
				t.Fatal(err)
			}
			caller, callee := listen6(t), listen6(t)
			s.A.Expect(lo6)
			s.A.SetSDPAddr(netip.MustParseAddrPort("[fd00::10]:4000"), netip.AddrPort{}) // a ULA nobody routes
			s.B.Expect(lo6)
			s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
			relayA := netip.AddrPortFrom(lo6, uint16(s.A.Port()))
			relayB := netip.AddrPortFrom(lo6, uint16(s.B.Port()))

			send(t, caller, relayA, seqs(1, 10)...)
			if got, from := receive(t, callee, 10); got != 10 || from != relayB {
				t.Fatalf("callee got %d packets from %v, want 10 from %v", got, from, relayB)
			}
			send(t, callee, relayB, seqs(100, 6)...)
			if got, from := receive(t, caller, 6); got != 6 || from != relayA {
				t.Fatalf("caller got %d packets from %v, want 6 from %v", got, from, relayA)
			}
			st := s.Stats()
			if st.A.Latched != addrOf(caller) || st.B.Latched != addrOf(callee) {
				t.Errorf("latched A %v B %v, want %v %v", st.A.Latched, st.B.Latched, addrOf(caller), addrOf(callee))
			}
			// The forwarded counter moves after the send returns, which
			// may be after the phone already read the packet.
			waitFor(t, func() bool { st := s.Stats(); return st.A.RTP.Forwarded == 10 && st.B.RTP.Forwarded == 6 })
		})
	}
}

func listen6(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
