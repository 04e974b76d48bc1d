package udptcp

import (
	"net"
	"strconv"
	"testing"
)

// TestListenOnePort: with port 0, UDP and TCP share the port the kernel
// picked, even while the TCP twins of some UDP ports are taken.
func TestListenOnePort(t *testing.T) {
	taken := holdTCPPorts(t, 400)
	for i := 0; i < 400; i++ {
		udp, tcp, err := Listen("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		up, tp := udp.LocalAddr().(*net.UDPAddr).Port, tcp.Addr().(*net.TCPAddr).Port
		if up != tp {
			t.Fatalf("udp port %d, tcp port %d", up, tp)
		}
		if taken[up] {
			t.Fatalf("port %d is held by another TCP listener", up)
		}
		udp.Close()
		tcp.Close()
	}
}

// TestListenFixedPortTaken: a fixed port whose TCP side is taken is an
// error that names the port, and the UDP socket is not left open.
func TestListenFixedPortTaken(t *testing.T) {
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	if _, _, err := Listen("udp4", "127.0.0.1:"+port); err == nil {
		t.Fatal("listened on a port whose TCP side is taken")
	}
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: held.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatalf("the UDP side was left open: %v", err)
	}
	u.Close()
}

// holdTCPPorts listens on n kernel-picked TCP ports until the test ends.
func holdTCPPorts(t *testing.T, n int) map[int]bool {
	ports := map[int]bool{}
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ports[l.Addr().(*net.TCPAddr).Port] = true
	}
	return ports
}
