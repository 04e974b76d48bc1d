package forward

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/natdoc/natdoc/diagnose/sipalg"
)

// loopbackEnv binds the check's sockets on 127.0.0.1.
type loopbackEnv struct{}

func (loopbackEnv) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	return net.ListenUDP(network, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: laddr.Port})
}

// loopbackMirror runs a natdoc mirror's answerer, callbacks and all, on
// 127.0.0.1 until the test ends.
func loopbackMirror(t *testing.T) netip.AddrPort {
	t.Helper()
	sock := listenLoopback(t, 0)
	callback := listenLoopback(t, 0)
	a := sipalg.NewAnswerer(sipalg.RateLimit{}, callback)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := sock.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if ans := a.Answer(buf[:n], from, "udp"); ans != nil {
				_, _ = sock.WriteToUDPAddrPort(ans, from)
			}
		}
	}()
	return sock.LocalAddr().(*net.UDPAddr).AddrPort()
}

// portForward passes what reaches 127.0.0.1:outside on to 127.0.0.1:to,
// as a router's forward from one port to another does.
func portForward(t *testing.T, outside, to int) {
	t.Helper()
	in := listenLoopback(t, outside)
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(to))
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := in.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = in.WriteToUDPAddrPort(buf[:n], dst)
		}
	}()
}

func listenLoopback(t *testing.T, port int) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestMirrorChecksForwardThatChangesPort: the mirror calls back the
// outside port; a forward from it to another port of this host arrives
// there (reached, with the local port named), and an outside port that
// nothing forwards is not reached, though the local port listens.
func TestMirrorChecksForwardThatChangesPort(t *testing.T) {
	mirror := loopbackMirror(t)
	forwarded, local := freePort(t), freePort(t)
	portForward(t, forwarded, local)
	unforwarded, local2 := freePort(t), freePort(t)
	res := CheckForwardsViaMirror(context.Background(), mirror, []Forward{{Outside: forwarded, Local: local}, {Outside: unforwarded, Local: local2}}, loopbackEnv{})
	if p := res.Ports[0]; p.Outcome != Reached || p.Port != forwarded || p.Local != local {
		t.Errorf("forwarded port: %+v, want reached at %d for outside %d", p, local, forwarded)
	}
	if p := res.Ports[1]; p.Outcome != NotReached || p.Port != unforwarded || p.Local != local2 {
		t.Errorf("unforwarded port: %+v, want not reached", p)
	}
	// The same port inside and out: the plain check, Local left 0.
	same := freePort(t)
	if p := CheckViaMirror(context.Background(), mirror, []int{same}, loopbackEnv{}).Ports[0]; p.Outcome != Reached || p.Local != 0 {
		t.Errorf("plain port: %+v, want reached", p)
	}
}
