package relay_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/natdoc/natdoc/relay"
)

// Benchmarks of the relay's hot path over loopback (127.0.0.1 only). The
// load-level comparison with rtpengine is bench/relay.sh; these measure the
// cost of one relayed packet and guard "no allocation per packet".

// benchRecvTimeout: loopback delivers in microseconds; a relayed packet that
// has not arrived after this long is lost and fails the benchmark.
const benchRecvTimeout = 2 * time.Second

// g711Packet is a 172-byte RTP packet (12-byte header + 160 bytes of PCMU,
// 20 ms at 8 kHz) as a phone sends 50 times a second.
func g711Packet(seq uint16) []byte {
	p := make([]byte, 172)
	p[0], p[1] = 0x80, 0 // RTP v2, PT 0 (PCMU)
	p[2], p[3] = byte(seq>>8), byte(seq)
	return p
}

// benchCall is one relayed call with a UDP socket per party.
type benchCall struct {
	caller, callee *net.UDPConn
	toA, toB       netip.AddrPort // the relay's leg facing the caller / the callee
}

func newBenchCall(b *testing.B, r *relay.Relay, id string) *benchCall {
	b.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	s, err := r.Allocate(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(); s.Wait() })
	c := &benchCall{caller: benchListen(b), callee: benchListen(b)}
	s.A.Expect(lo)
	s.B.Expect(lo)
	s.A.SetSDPAddr(c.caller.LocalAddr().(*net.UDPAddr).AddrPort(), netip.AddrPort{})
	s.B.SetSDPAddr(c.callee.LocalAddr().(*net.UDPAddr).AddrPort(), netip.AddrPort{})
	c.toA = netip.AddrPortFrom(lo, uint16(s.A.Port()))
	c.toB = netip.AddrPortFrom(lo, uint16(s.B.Port()))
	// Latch both legs so every timed packet takes the steady-state path.
	c.roundTrip(b, g711Packet(0), make([]byte, 2048))
	return c
}

func benchListen(b *testing.B) *net.UDPConn {
	b.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends pkt from the caller and from the callee and waits for
// both to come out of the relay on the other side.
func (c *benchCall) roundTrip(b *testing.B, pkt, buf []byte) {
	if _, err := c.caller.WriteToUDPAddrPort(pkt, c.toA); err != nil {
		b.Fatal(err)
	}
	if _, err := c.callee.WriteToUDPAddrPort(pkt, c.toB); err != nil {
		b.Fatal(err)
	}
	for _, dst := range []*net.UDPConn{c.callee, c.caller} {
		dst.SetReadDeadline(time.Now().Add(benchRecvTimeout))
		n, _, err := dst.ReadFromUDPAddrPort(buf)
		if err != nil {
			b.Fatalf("relayed packet lost: %v", err)
		}
		if n != len(pkt) {
			b.Fatalf("relayed %d bytes, sent %d", n, len(pkt))
		}
	}
}

func newBenchRelay(b *testing.B) *relay.Relay {
	b.Helper()
	r, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 22000, PortMax: 22999})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// BenchmarkRelayForward: one call, one packet each way per iteration,
// sequentially, so ns/op is the round of two relayed packets including the
// benchmark's own send and receive system calls. allocs/op covers the
// benchmark's sockets too (ReadFromUDPAddrPort and WriteToUDPAddrPort do
// not allocate); the relay must add none.
func BenchmarkRelayForward(b *testing.B) {
	r := newBenchRelay(b)
	c := newBenchCall(b, r, "bench-forward")
	pkt, buf := g711Packet(1), make([]byte, 2048)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(pkt)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		c.roundTrip(b, pkt, buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/packet")
}

// BenchmarkRelayForwardCalls: many calls at once, a burst of one packet per
// stream per iteration (what 20 ms of a loaded relay looks like, compressed),
// so the relay's goroutines wake together as under real load.
func BenchmarkRelayForwardCalls(b *testing.B) {
	for _, calls := range []int{10, 100} {
		b.Run(strconv.Itoa(calls)+"calls", func(b *testing.B) {
			r := newBenchRelay(b)
			cs := make([]*benchCall, calls)
			for i := range cs {
				cs[i] = newBenchCall(b, r, "bench-calls-"+strconv.Itoa(i))
			}
			pkt, buf := g711Packet(1), make([]byte, 2048)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				pkt[2], pkt[3] = byte(i>>8), byte(i)
				burst(b, cs, pkt, buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*calls*b.N), "ns/packet")
		})
	}
}

// burst sends one packet on every stream of every call, then reads them all.
func burst(b *testing.B, cs []*benchCall, pkt, buf []byte) {
	for _, c := range cs {
		if _, err := c.caller.WriteToUDPAddrPort(pkt, c.toA); err != nil {
			b.Fatal(err)
		}
		if _, err := c.callee.WriteToUDPAddrPort(pkt, c.toB); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range cs {
		for _, dst := range []*net.UDPConn{c.callee, c.caller} {
			dst.SetReadDeadline(time.Now().Add(benchRecvTimeout))
			if _, _, err := dst.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatalf("relayed packet lost: %v", err)
			}
		}
	}
}
