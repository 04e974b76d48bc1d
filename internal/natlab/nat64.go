//go:build linux

package natlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// NAT64 lab: IPv6 on a router's LAN and a stateful NAT64 (RFC 6146,
// tayga) on the router, as on an IPv6-only mobile network. A LAN host
// given an IPv6 address (LANHostIPv6) reaches IPv4 hosts at the NAT64
// prefix with the IPv4 address in its last 32 bits (RFC 6052):
// 2001:db8:64::203.0.113.20 for 203.0.113.20. tayga gives each IPv6 host
// an address of a private IPv4 pool, which the router's masquerade then
// maps to its WAN address like any LAN host's traffic.

// NAT64Prefix is the network-specific NAT64 prefix the lab uses: the
// well-known 64:ff9b::/96 may not stand for the lab's documentation
// addresses (RFC 6052 §3.1), which tayga enforces.
var NAT64Prefix = netip.MustParsePrefix("2001:db8:64::/96")

// lan6 is the IPv6 prefix of a NAT64 router's LAN, the router at ::1.
var lan6 = netip.MustParsePrefix("2001:db8:1::/64")

// nat64Pool is the private IPv4 pool tayga maps IPv6 hosts to.
const nat64Pool = "192.168.255.0/24"

// NAT64Addr is the address an IPv6-only host reaches IPv4 address v4 at.
func NAT64Addr(v4 netip.Addr) netip.Addr {
	b := NAT64Prefix.Addr().As16()
	a4 := v4.As4()
	copy(b[12:], a4[:])
	return netip.AddrFrom16(b)
}

// StartNAT64 gives the router's LAN IPv6 (2001:db8:1::1/64) and runs
// tayga for NAT64Prefix, its IPv4 side masqueraded out of the WAN; it
// stops with the test.
func (r *Router) StartNAT64(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "tayga.conf")
	body := fmt.Sprintf("tun-device nat64\nipv4-addr 192.168.255.1\nprefix %s\nipv6-addr %s\ndynamic-pool %s\ndata-dir %s\n",
		NAT64Prefix, netip.MustParseAddr("2001:db8:1::64"), nat64Pool, dir)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "0")
	r.Sysctl(t, "net.ipv6.conf.brlan.disable_ipv6", "0")
	r.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	for _, cmd := range [][]string{
		{"ip", "-6", "addr", "add", netip.PrefixFrom(lan6.Addr().Next(), lan6.Bits()).String(), "dev", "brlan", "nodad"},
		{"tayga", "--mktun", "-c", conf},
		{"ip", "link", "set", "nat64", "up"},
		{"ip", "route", "add", nat64Pool, "dev", "nat64"},
		{"ip", "-6", "route", "add", NAT64Prefix.String(), "dev", "nat64"},
		// natlab's table forwards and masquerades only the LAN bridge.
		{"nft", "add", "rule", "ip", natTable, "filter_forward", "iifname", "nat64", "accept"},
		{"nft", "add", "rule", "ip", natTable, "postrouting", "iifname", "nat64", "oifname", "wan0", "masquerade"},
	} {
		r.mustRun(cmd[0], cmd[1:]...)
	}
	r.Start(t, "tayga", "-d", "-c", conf)
}

// LANHostIPv6 adds a host on a NAT64 router's LAN (StartNAT64) with the
// IPv4 address addr and the IPv6 address addr6 (in 2001:db8:1::/64),
// with default routes of both families via the router: a dual-stack
// phone. A program that binds addr6 alone is an IPv6-only one.
func (r *Router) LANHostIPv6(role, addr, addr6 string) *Host {
	h := r.LANHost(role, addr)
	a6 := mustAddr(r.lab.t, addr6)
	if !lan6.Contains(a6) {
		r.lab.t.Fatalf("natlab: %s is not on %s's IPv6 LAN %s", a6, r.name, lan6)
	}
	h.Sysctl(r.lab.t, "net.ipv6.conf.eth0.disable_ipv6", "0")
	h.mustRun("ip", "-6", "addr", "add", netip.PrefixFrom(a6, lan6.Bits()).String(), "dev", "eth0", "nodad")
	h.mustRun("ip", "-6", "route", "add", "default", "via", lan6.Addr().Next().String())
	return h
}
