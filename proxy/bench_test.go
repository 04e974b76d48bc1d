package proxy

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRegister: one REGISTER (a new user each) and its 200 OK over
// loopback through the whole server. bench/signalling.sh measures rates with sipp against Kamailio.
func BenchmarkRegister(b *testing.B) {
	ts := startServerB(b)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp4", ts)
	la := c.LocalAddr().String()
	buf := make([]byte, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		n := strconv.Itoa(i)
		msg := "REGISTER sip:" + ts + " SIP/2.0\r\nVia: SIP/2.0/UDP " + la + ";branch=z9hG4bK-" + n + ";rport\r\nFrom: <sip:u" + n + "@127.0.0.1>;tag=t" + n +
			"\r\nTo: <sip:u" + n + "@127.0.0.1>\r\nCall-ID: c" + n + "\r\nCSeq: 1 REGISTER\r\nContact: <sip:u" + n + "@" + la + ">\r\nExpires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
		c.WriteToUDP([]byte(msg), dst)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func startServerB(b *testing.B) string {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Rate: 1e9, Burst: 1e9, MaxBindings: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, udp, nil) }()
	b.Cleanup(func() { cancel(); <-done })
	time.Sleep(50 * time.Millisecond)
	return udp.LocalAddr().String()
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
