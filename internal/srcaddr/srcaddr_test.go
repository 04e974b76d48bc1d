package srcaddr

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestAnswersFromAddressSentTo: a socket bound to every address, asked at
// 127.0.0.2 by a client at 127.0.0.1, answers from 127.0.0.2 through Conn;
// bare, the kernel answers from 127.0.0.1 (the route's source), which a
// NAT that filters by address would keep out. IPv4-only and dual-stack
// sockets alike.
func TestAnswersFromAddressSentTo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a local address on Linux only")
	}
	for _, bind := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(bind, func(t *testing.T) {
			if got := answerFrom(t, bind, false); got != "127.0.0.1" {
				t.Fatalf("the bare socket answered from %s, not the route's source 127.0.0.1: nothing to mend here", got)
			}
			if got := answerFrom(t, bind, true); got != "127.0.0.2" {
				t.Errorf("answered from %s, want 127.0.0.2", got)
			}
		})
	}
}

// answerFrom sends a datagram from 127.0.0.1 to 127.0.0.2 at a server
// bound to bind, which echoes it, and says where the echo came from.
func answerFrom(t *testing.T, bind string, wrap bool) string {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", bind)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Skipf("bind %s: %v", bind, err)
	}
	defer srv.Close()
	var pc net.PacketConn = srv
	if wrap {
		c, err := Wrap(srv)
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		pc = c
	}
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	port := srv.LocalAddr().(*net.UDPAddr).Port
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(port))
	if _, err := client.WriteToUDPAddrPort([]byte("ping"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo(buf[:n], from); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, src, err := client.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	return src.Addr().Unmap().String()
}

// TestUnknownPeer: a peer never heard from gets the kernel's choice.
func TestUnknownPeer(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Wrap(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := c.WriteTo([]byte("hello"), client.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := client.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}
