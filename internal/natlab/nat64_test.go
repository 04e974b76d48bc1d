//go:build linux

package natlab

import (
	"net/netip"
	"testing"
)

// TestLabNAT64: a socket bound to the phone's IPv6 address alone reaches
// an IPv4 host at its NAT64 address, which sees it from the router's WAN
// address; the NAT64 address embeds the IPv4 one (RFC 6052).
func TestLabNAT64(t *testing.T) {
	t.Parallel()
	if got := NAT64Addr(netip.MustParseAddr("203.0.113.20")).String(); got != "2001:db8:64::cb00:7114" {
		t.Errorf("NAT64Addr = %s", got)
	}
	lab := New(t)
	pub := lab.PublicHost("echo", "203.0.113.20")
	r := lab.Router("nat64", RouterConfig{WAN: "203.0.113.64", LAN: "192.168.1.1/24", NAT: NATConfig{Mapping: EndpointIndependent}})
	r.StartNAT64(t)
	phone := r.LANHostIPv6("phone", "192.168.1.10", "2001:db8:1::10")
	startEcho(t, pub, "203.0.113.20:7000")
	c, err := phone.ListenUDP("udp6", "[2001:db8:1::10]:40000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := mappedVia(t, c, netip.AddrPortFrom(NAT64Addr(netip.MustParseAddr("203.0.113.20")), 7000).String())
	t.Logf("IPv6 [2001:db8:1::10]:40000 to [2001:db8:64::cb00:7114]:7000 arrived at 203.0.113.20 from %s", seen)
	if seen.Addr() != r.WAN() {
		t.Errorf("seen from %s, want the router's WAN %s", seen, r.WAN())
	}
}
