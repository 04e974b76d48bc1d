//go:build linux

package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Mapping is how the router's NAT chooses public ports (RFC 4787 §4.1).
type Mapping int

const (
	// EndpointIndependent is plain `masquerade`: one public port per local
	// socket whatever the destination, the local port kept when free.
	EndpointIndependent Mapping = iota
	// AddressAndPortDependent is `masquerade random`: a new random public
	// port per destination address and port ("symmetric NAT").
	AddressAndPortDependent
	// NoNAT routes without translation (the LAN must then be routable).
	NoNAT
)

func (m Mapping) String() string {
	switch m {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return "no-nat"
}

// Forward is a static port forward (DNAT) on the router's WAN address.
type Forward struct {
	Proto string // "udp" or "tcp"
	Ports string // "5060" or "10000-10100"
	To    string // LAN address
}

// NATConfig is the router's NAT and filtering.
type NATConfig struct {
	Mapping  Mapping
	Forwards []Forward
	// SIPALG assigns the kernel's SIP helper (nf_conntrack_sip/nf_nat_sip)
	// to UDP 5060, as consumer routers do.
	SIPALG bool
	// UDPTimeout and UDPStreamTimeout set conntrack's UDP binding lifetimes
	// (unreplied and replied flows); zero keeps the kernel's 30 s and 120 s.
	UDPTimeout, UDPStreamTimeout time.Duration
	// DropUDP makes the router drop all forwarded UDP: a network without UDP.
	DropUDP bool
	// LossPercent drops that share of forwarded UDP packets at random, both
	// ways.
	LossPercent int
	// Hairpin applies the forwards to LAN hosts' packets to the router's
	// own addresses too, and masquerades them to its LAN address (NAT
	// loopback): a LAN host that sends to the public address reaches the
	// forwarded host. Without it such packets are the router's own, and
	// refused (ICMP port unreachable) like any to a closed port.
	Hairpin bool
	// DropInput drops unsolicited packets from the WAN to the router
	// itself, as a home router's firewall does (OpenWrt's wan zone): they
	// leave no conntrack entry behind. Without it they reach the router's
	// UDP stack, which answers ICMP port unreachable, and their entry
	// holds the port pair for that peer (a later packet from the LAN to
	// it gets another port).
	DropInput bool
}

// RouterConfig places a router.
type RouterConfig struct {
	// WAN is the router's outside address: public (203.0.113.x,
	// 198.51.100.x), or an address on Upstream's LAN.
	WAN string
	// LAN is the router's inside address with its prefix, e.g. 192.168.1.1/24.
	LAN string
	NAT NATConfig
	// Upstream, when set, puts this router's WAN on that router's LAN: a
	// double NAT.
	Upstream *Router
}

// Router is a namespace that routes between a LAN bridge ("brlan") and a WAN
// interface ("wan0") and runs nftables NAT.
type Router struct {
	*Host
	cfg RouterConfig
	lan netip.Prefix
}

// Router adds a NAT router.
func (l *Lab) Router(role string, cfg RouterConfig) *Router {
	l.t.Helper()
	lan, err := netip.ParsePrefix(cfg.LAN)
	if err != nil {
		l.t.Fatalf("natlab: router %s LAN: %v", role, err)
	}
	wan := mustAddr(l.t, cfg.WAN)
	r := &Router{Host: l.newHost(role), cfg: cfg, lan: lan}
	r.addrs = []netip.Addr{wan, lan.Addr()}

	var wanBits int
	var gw netip.Addr
	if up := cfg.Upstream; up != nil {
		if !up.lan.Contains(wan) {
			l.t.Fatalf("natlab: router %s WAN %s is not on %s's LAN %s", role, wan, up.name, up.lan)
		}
		l.plug(r.Host, "wan0", up.Host, "brlan")
		wanBits, gw = up.lan.Bits(), up.lan.Addr()
	} else {
		pfx, g, err := publicGateway(wan)
		if err != nil {
			l.t.Fatalf("natlab: router %s: %v", role, err)
		}
		l.plug(r.Host, "wan0", l.core, "br0")
		wanBits, gw = pfx.Bits(), g
	}
	r.mustRun("ip", "addr", "add", fmt.Sprintf("%s/%d", wan, wanBits), "dev", "wan0")
	r.mustRun("ip", "route", "add", "default", "via", gw.String())
	l.addBridge(r.Host, "brlan")
	r.mustRun("ip", "addr", "add", lan.String(), "dev", "brlan")
	r.mustRun("ip", "link", "set", "brlan", "up")
	r.sysctl("net.ipv4.ip_forward", "1")
	// br_netfilter is built into this kernel and on by default: it would
	// pass frames bridged between two LAN ports through the nft forward
	// chain, firewalling LAN-to-LAN traffic (and hairpinned, DNAT-ed
	// packets) as no home router's switch does.
	r.sysctl("net.bridge.bridge-nf-call-iptables", "0")
	r.SetNAT(l.t, cfg.NAT)
	return r
}

// WAN returns the router's outside address.
func (r *Router) WAN() netip.Addr { return r.addrs[0] }

// LANAddr returns the router's inside address.
func (r *Router) LANAddr() netip.Addr { return r.lan.Addr() }

// LANPrefix returns the router's LAN.
func (r *Router) LANPrefix() netip.Prefix { return r.lan }

// LANHost adds a host on the router's LAN with its default route via the
// router.
func (r *Router) LANHost(role, addr string) *Host {
	l := r.lab
	l.t.Helper()
	a := mustAddr(l.t, addr)
	if !r.lan.Contains(a) {
		l.t.Fatalf("natlab: %s is not on %s's LAN %s", a, r.name, r.lan)
	}
	h := l.newHost(role)
	l.plug(h, "eth0", r.Host, "brlan")
	h.mustRun("ip", "addr", "add", fmt.Sprintf("%s/%d", a, r.lan.Bits()), "dev", "eth0")
	h.mustRun("ip", "route", "add", "default", "via", r.lan.Addr().String())
	h.addrs = []netip.Addr{a}
	return h
}

// natTable is the nftables table natlab owns in a router; other tools
// (miniupnpd) keep their own tables.
const natTable = "natlab"

// SetNAT replaces the router's NAT and filtering rules and UDP timeouts.
func (r *Router) SetNAT(t testing.TB, cfg NATConfig) {
	t.Helper()
	r.cfg.NAT = cfg
	_, _ = r.Run(context.Background(), "nft", "delete", "table", "ip", natTable)
	if err := r.applyNft(natRuleset(cfg)); err != nil {
		t.Fatal(err)
	}
	udp, stream := cfg.UDPTimeout, cfg.UDPStreamTimeout
	if udp == 0 {
		udp = 30 * time.Second
	}
	if stream == 0 {
		stream = 120 * time.Second
	}
	r.Sysctl(t, "net.netfilter.nf_conntrack_udp_timeout", fmt.Sprint(int(udp.Seconds())))
	r.Sysctl(t, "net.netfilter.nf_conntrack_udp_timeout_stream", fmt.Sprint(int(stream.Seconds())))
	// Old conntrack entries would keep old mappings alive across a change.
	_, _ = r.Run(context.Background(), "conntrack", "-F")
}

// natRuleset renders cfg as one nftables table. The forward chain drops
// unsolicited inbound traffic like a home router: only replies, related
// flows and port-forwarded (DNAT-ed) packets get in.
func natRuleset(cfg NATConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", natTable)
	if cfg.SIPALG {
		b.WriteString("  ct helper sip5060 {\n    type \"sip\" protocol udp;\n  }\n")
		b.WriteString("  chain helpers {\n    type filter hook prerouting priority filter; policy accept;\n")
		b.WriteString("    udp dport 5060 ct helper set \"sip5060\"\n  }\n")
	}
	b.WriteString("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n")
	for _, f := range cfg.Forwards {
		fmt.Fprintf(&b, "    iifname \"wan0\" %s dport %s dnat to %s\n", f.Proto, f.Ports, f.To)
		if cfg.Hairpin {
			fmt.Fprintf(&b, "    iifname \"brlan\" fib daddr type local %s dport %s dnat to %s\n", f.Proto, f.Ports, f.To)
		}
	}
	b.WriteString("  }\n")
	b.WriteString("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n")
	if cfg.Hairpin {
		b.WriteString("    iifname \"brlan\" oifname \"brlan\" ct status dnat masquerade\n")
	}
	// Only traffic from the LAN is translated: the router's own packets
	// already leave from its WAN address, and a home router does not give
	// them random ports (miniupnpd's STUN self-test would otherwise see a
	// symmetric NAT in front of itself and refuse to forward anything).
	switch cfg.Mapping {
	case EndpointIndependent:
		b.WriteString("    iifname \"brlan\" oifname \"wan0\" masquerade\n")
	case AddressAndPortDependent:
		b.WriteString("    iifname \"brlan\" oifname \"wan0\" masquerade random\n")
	}
	b.WriteString("  }\n")
	b.WriteString("  chain filter_forward {\n    type filter hook forward priority filter; policy drop;\n")
	if cfg.DropUDP {
		b.WriteString("    meta l4proto udp drop\n")
	}
	if cfg.LossPercent > 0 {
		fmt.Fprintf(&b, "    meta l4proto udp numgen random mod 100 < %d drop\n", cfg.LossPercent)
	}
	b.WriteString("    ct state established,related accept\n")
	b.WriteString("    ct status dnat accept\n")
	b.WriteString("    iifname \"brlan\" accept\n")
	if cfg.Mapping == NoNAT {
		b.WriteString("    accept\n")
	}
	b.WriteString("  }\n")
	if cfg.DropInput {
		b.WriteString("  chain filter_input {\n    type filter hook input priority filter; policy accept;\n")
		b.WriteString("    iifname \"wan0\" ct state established,related accept\n")
		b.WriteString("    iifname \"wan0\" drop\n  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}
