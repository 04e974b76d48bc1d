//go:build linux

package natlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// echoTimeout bounds one request/response inside the lab: one hop through a
// router on veths answers in well under a millisecond.
const echoTimeout = 2 * time.Second

// startEcho answers every UDP datagram with the sender's address as seen by
// the receiver, i.e. the NAT mapping.
func startEcho(t *testing.T, h *Host, addr string) {
	t.Helper()
	ServeUDP(t, h, addr, func(_ []byte, from netip.AddrPort) []byte { return []byte(from.String()) })
}

// mappedVia sends from c to dst and returns the source address dst saw.
func mappedVia(t *testing.T, c *net.UDPConn, dst string) netip.AddrPort {
	t.Helper()
	to := netip.MustParseAddrPort(dst)
	buf := make([]byte, 100)
	for try := 0; try < 3; try++ {
		if _, err := c.WriteToUDPAddrPort([]byte("ping"), to); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(echoTimeout))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err == nil {
			return netip.MustParseAddrPort(string(buf[:n]))
		}
	}
	t.Fatalf("no echo from %s", dst)
	return netip.AddrPort{}
}

func TestLabMappingBehaviour(t *testing.T) {
	for _, tc := range []struct {
		mapping  Mapping
		samePort bool
	}{
		{EndpointIndependent, true},
		{AddressAndPortDependent, false},
	} {
		t.Run(tc.mapping.String(), func(t *testing.T) {
			t.Parallel()
			lab := New(t)
			pub := lab.PublicHost("echo", "203.0.113.10", "203.0.113.11")
			r := lab.Router("r1", RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: NATConfig{Mapping: tc.mapping}})
			phone := r.LANHost("phone", "192.168.1.10")
			// Bound per address: a wildcard socket would answer from the
			// primary address, which the NAT filters as a stranger.
			startEcho(t, pub, "203.0.113.10:7000")
			startEcho(t, pub, "203.0.113.11:7000")
			startEcho(t, pub, "203.0.113.10:7001")

			c, err := phone.ListenUDP("udp4", "0.0.0.0:40000")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a := mappedVia(t, c, "203.0.113.10:7000")
			b := mappedVia(t, c, "203.0.113.11:7000")
			d := mappedVia(t, c, "203.0.113.10:7001")
			t.Logf("%s NAT: local 192.168.1.10:40000 mapped to %s (to .10:7000), %s (to .11:7000), %s (to .10:7001)", tc.mapping, a, b, d)
			if a.Addr() != r.WAN() {
				t.Errorf("mapped address %s, want the router's WAN %s", a.Addr(), r.WAN())
			}
			same := a == b && a == d
			if same != tc.samePort {
				t.Errorf("same mapping to all destinations = %v, want %v", same, tc.samePort)
			}
			if tc.mapping == EndpointIndependent && a.Port() != 40000 {
				t.Errorf("plain masquerade should keep the free port 40000, got %d", a.Port())
			}
		})
	}
}

func TestLabPortForward(t *testing.T) {
	t.Parallel()
	lab := New(t)
	pub := lab.PublicHost("carrier", "203.0.113.20")
	r := lab.Router("r1", RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: NATConfig{
		Forwards: []Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.10"}, {Proto: "udp", Ports: "10000-10100", To: "192.168.1.10"}},
	}})
	pbx := r.LANHost("pbx", "192.168.1.10")

	received := func(port int) bool {
		c, err := pbx.ListenUDP("udp4", "0.0.0.0:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		out, err := pub.DialUDP("udp4", "203.0.113.1:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		buf := make([]byte, 64)
		for try := 0; try < 3; try++ {
			_, _ = out.Write([]byte("unsolicited"))
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, from, err := c.ReadFromUDPAddrPort(buf); err == nil {
				t.Logf("port %d: %q arrived at 192.168.1.10 from %s", port, buf[:n], from)
				return true
			}
		}
		return false
	}
	if !received(5060) {
		t.Error("unsolicited packet to forwarded UDP 5060 did not reach the LAN host")
	}
	if !received(10050) {
		t.Error("unsolicited packet to forwarded UDP 10050 (RTP range) did not reach the LAN host")
	}
	if received(7000) {
		t.Error("unsolicited packet to unforwarded UDP 7000 reached the LAN host; the router should drop it")
	} else {
		t.Log("port 7000 (not forwarded): dropped, as a home router does")
	}
}

func TestLabDoubleNATAndDropUDP(t *testing.T) {
	t.Parallel()
	lab := New(t)
	pub := lab.PublicHost("echo", "198.51.100.10")
	isp := lab.Router("cgnat", RouterConfig{WAN: "198.51.100.1", LAN: "100.64.0.1/24"})
	home := lab.Router("home", RouterConfig{WAN: "100.64.0.2", LAN: "192.168.1.1/24", Upstream: isp})
	phone := home.LANHost("phone", "192.168.1.10")
	startEcho(t, pub, "0.0.0.0:7000")
	c, err := phone.ListenUDP("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := mappedVia(t, c, "198.51.100.10:7000")
	t.Logf("double NAT: the public side sees %s", m)
	if m.Addr() != isp.WAN() {
		t.Errorf("mapped %s, want the outer router's WAN %s", m.Addr(), isp.WAN())
	}

	home.SetNAT(t, NATConfig{DropUDP: true})
	_, _ = c.WriteToUDPAddrPort([]byte("ping"), netip.MustParseAddrPort("198.51.100.10:7000"))
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("with DropUDP the echo still answered (err %v)", err)
	}
}

func TestLabCoturnAndMiniupnpd(t *testing.T) {
	t.Parallel()
	lab := New(t)
	stunHost := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
	r := lab.Router("r1", RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
	pc := r.LANHost("pc", "192.168.1.10")
	srv := StartCoturn(t, stunHost)

	c, err := pc.ListenUDP("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	var resp *stun.Message
	for try := 0; try < 3 && resp == nil; try++ {
		_, _ = c.WriteToUDPAddrPort(req.Raw, srv.Primary)
		_ = c.SetReadDeadline(time.Now().Add(echoTimeout))
		buf := make([]byte, 1500)
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		resp = &stun.Message{Raw: buf[:n]}
		if err := resp.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	if resp == nil {
		t.Fatal("coturn did not answer")
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(resp); err != nil {
		t.Fatal(err)
	}
	var other stun.OtherAddress
	if err := other.GetFrom(resp); err != nil {
		t.Fatalf("coturn gave no OTHER-ADDRESS (RFC 5780 off?): %v", err)
	}
	t.Logf("coturn: mapped %s, OTHER-ADDRESS %s", xor, other)
	if xor.IP.String() != "203.0.113.1" {
		t.Errorf("mapped %s, want the router's WAN", xor.IP)
	}

	igd := StartMiniupnpd(t, r, MiniupnpdConfig{STUN: srv.Primary})
	var body []byte
	err = pc.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), echoTimeout)
		defer cancel()
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.Split(igd.RootURL, "/rootDesc")[0], "http://"), echoTimeout)
		if err != nil {
			return err
		}
		tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
		req, _ := http.NewRequestWithContext(ctx, "GET", igd.RootURL, nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return err
	})
	if err != nil {
		t.Fatalf("fetch %s from the LAN: %v", igd.RootURL, err)
	}
	if !strings.Contains(string(body), "urn:schemas-upnp-org:device:InternetGatewayDevice") {
		t.Errorf("root description is no IGD:\n%s", body)
	}
	t.Logf("miniupnpd answers at %s (%d bytes of root description)", igd.RootURL, len(body))
}

func itoa(i int) string { return strconv.Itoa(i) }

// The two public networks route to each other through the core (.254).
func TestLabPublicNetworksRoute(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.PublicHost("a", "203.0.113.30")
	b := lab.PublicHost("b", "198.51.100.30")
	startEcho(t, b, "198.51.100.30:7000")
	c, err := a.ListenUDP("udp4", "203.0.113.30:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := mappedVia(t, c, "198.51.100.30:7000"); m.Addr().String() != "203.0.113.30" {
		t.Errorf("198.51.100.30 saw %s, want 203.0.113.30 (no NAT between public hosts)", m)
	}
}

// TestLabHostsJoinLater: hosts plugged into a running lab leave the paths
// already in use alone. A bridge takes the lowest MAC of its ports unless
// given one, so a newcomer could change it under neighbours that cached the
// old one; their packets then vanished for half a minute.
func TestLabHostsJoinLater(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.PublicHost("a", "203.0.113.30")
	b := lab.PublicHost("b", "198.51.100.30")
	r := lab.Router("r1", RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: NATConfig{Mapping: EndpointIndependent}})
	l := r.LANHost("l1", "192.168.1.10")
	startEcho(t, a, "203.0.113.30:7000")
	startEcho(t, b, "198.51.100.30:7000")
	senders := map[string]*net.UDPConn{}
	for name, s := range map[string]struct {
		h   *Host
		dst string
	}{"a": {a, "198.51.100.30:7000"}, "b": {b, "203.0.113.30:7000"}, "l1": {l, "198.51.100.30:7000"}} {
		c, err := s.h.ListenUDP("udp4", s.h.Addr().String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		senders[name] = c
		mappedVia(t, c, s.dst) // fills the neighbour caches
	}
	macs := bridgeMACs(t, lab.Core(), r)
	for i := range 6 {
		lab.PublicHost(fmt.Sprintf("p%d", i), fmt.Sprintf("198.51.100.%d", 40+i))
		r.LANHost(fmt.Sprintf("l%d", i+2), fmt.Sprintf("192.168.1.%d", 20+i))
	}
	if now := bridgeMACs(t, lab.Core(), r); now != macs {
		t.Errorf("bridge addresses changed from %s to %s as hosts joined", macs, now)
	}
	mappedVia(t, senders["a"], "198.51.100.30:7000")
	mappedVia(t, senders["b"], "203.0.113.30:7000")
	mappedVia(t, senders["l1"], "198.51.100.30:7000")
}

// bridgeMACs returns the MAC addresses of the core's bridge and r's LAN
// bridge.
func bridgeMACs(t *testing.T, core *Host, r *Router) string {
	t.Helper()
	var macs []string
	for _, b := range []struct {
		h    *Host
		name string
	}{{core, "br0"}, {r.Host, "brlan"}} {
		out, err := b.h.Run(context.Background(), "cat", "/sys/class/net/"+b.name+"/address")
		if err != nil {
			t.Fatal(err)
		}
		macs = append(macs, strings.TrimSpace(string(out)))
	}
	return strings.Join(macs, " ")
}
