package forward

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/diagnose/stunserver"
)

func TestResponsePortAttribute(t *testing.T) {
	m, err := stunprobe.NewBindingRequest(stunprobe.ResponsePort(5060))
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Get(stun.AttrResponsePort)
	if err != nil || len(v) != 4 || v[0] != 0x13 || v[1] != 0xc4 || v[2] != 0 || v[3] != 0 {
		t.Errorf("RESPONSE-PORT value %x (%v), want 13c40000", v, err)
	}
}

// freePort finds a UDP port free on loopback for the target socket.
func freePort(t *testing.T) int {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// loopbackSTUN runs natdoc's STUN server on 127.0.0.1 until the test ends.
func loopbackSTUN(t *testing.T) netip.AddrPort {
	t.Helper()
	srv, err := stunserver.Listen(stunserver.Config{Primary: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return srv.Addrs()[0]
}

// TestLoopbackNatdocSTUNServer: against natdoc's own STUN server on
// loopback (no NAT in between), the answer to RESPONSE-PORT arrives.
func TestLoopbackNatdocSTUNServer(t *testing.T) {
	server := loopbackSTUN(t)
	port := freePort(t)
	res := Check(context.Background(), Config{STUN: server, Ports: []int{port}})
	if p := res.Ports[0]; p.Outcome != Reached || !p.Public.IsValid() {
		t.Errorf("port result %+v", p)
	}
}

// fakeServer answers every Binding request with answer(req), from
// loopback, to the sender.
func fakeServer(t *testing.T, answer func(req *stun.Message) *stun.Message) netip.AddrPort {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil {
				continue
			}
			if resp := answer(req); resp != nil {
				_, _ = c.WriteToUDPAddrPort(resp.Raw, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestUnsupportedAndSilentServers(t *testing.T) {
	success := func(req *stun.Message) *stun.Message {
		return stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
	}
	for _, tc := range []struct {
		name   string
		answer func(req *stun.Message) *stun.Message
		want   Outcome
	}{
		{"ignores RESPONSE-PORT", success, Unsupported},
		{"420 unknown attribute", func(req *stun.Message) *stun.Message {
			if req.Contains(stun.AttrResponsePort) {
				return stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingError, stun.CodeUnknownAttribute)
			}
			return success(req)
		}, Unsupported},
		{"silent", func(*stun.Message) *stun.Message { return nil }, ServerSilent},
		{"answers plain requests only", func(req *stun.Message) *stun.Message {
			if req.Contains(stun.AttrResponsePort) {
				return nil // as if the answer to the port were dropped
			}
			return success(req)
		}, NotReached},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := fakeServer(t, tc.answer)
			start := time.Now()
			res := Check(context.Background(), Config{STUN: server, Ports: []int{freePort(t)}})
			if got := res.Ports[0].Outcome; got != tc.want {
				t.Errorf("outcome %s (%s), want %s", got, res.Ports[0].Err, tc.want)
			}
			t.Logf("%s: %s after %d sends in %s", tc.name, res.Ports[0].Outcome, res.Ports[0].Sends, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestPortBusy(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res := Check(context.Background(), Config{STUN: netip.MustParseAddrPort("127.0.0.1:9"), Ports: []int{c.LocalAddr().(*net.UDPAddr).Port}})
	if res.Ports[0].Outcome != PortBusy {
		t.Errorf("outcome %s", res.Ports[0].Outcome)
	}
}

// TestResponsePortThroughForwardThatChangesPort: RESPONSE-PORT asks for
// the outside port, and the answer arrives at the local port a forward
// leads it to; without the forward it does not.
func TestResponsePortThroughForwardThatChangesPort(t *testing.T) {
	server := loopbackSTUN(t)
	forwarded, local := freePort(t), freePort(t)
	portForward(t, forwarded, local)
	unforwarded, local2 := freePort(t), freePort(t)
	res := Check(context.Background(), Config{STUN: server, Forwards: []Forward{{Outside: forwarded, Local: local}, {Outside: unforwarded, Local: local2}}})
	if p := res.Ports[0]; p.Outcome != Reached || p.Port != forwarded || p.Local != local {
		t.Errorf("forwarded: %+v", p)
	}
	if p := res.Ports[1]; p.Outcome != NotReached || p.Port != unforwarded || p.Local != local2 {
		t.Errorf("not forwarded: %+v", p)
	}
}
