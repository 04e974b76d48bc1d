package hostinfo

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/report"
)

// Info is what the host showed about itself. Each field is one fact.
type Info struct {
	Hostname   string
	Interfaces []Interface
	// Gateway is the IPv4 default gateway; invalid when unknown (no
	// /proc/net/route: not Linux).
	Gateway netip.Addr
	// GatewayIface is the interface the default route leaves by.
	GatewayIface string
	// SourceAddr is the address the host uses towards Towards (set by
	// Gather when Towards is given); invalid when unknown.
	SourceAddr netip.Addr
}

// Interface is one up, non-loopback interface.
type Interface struct {
	Name  string
	Addrs []netip.Prefix
}

// Gather reads interfaces, gateway and hostname inside env. towards, when
// valid, is a destination the checks will talk to: the source address the
// kernel would use for it is recorded (a connected UDP socket sends
// nothing).
func Gather(ctx context.Context, env netenv.Env, towards netip.AddrPort) (*Info, error) {
	info := &Info{}
	info.Hostname, _ = os.Hostname()
	err := env.Run(func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("hostinfo: list interfaces: %w", err)
		}
		info.Interfaces = upInterfaces(ifaces)
		info.Gateway, info.GatewayIface = defaultGateway()
		return nil
	})
	if err != nil {
		return info, err
	}
	if towards.IsValid() {
		info.SourceAddr = sourceAddrFor(ctx, env, towards)
	}
	return info, nil
}

func upInterfaces(ifaces []net.Interface) []Interface {
	var out []Interface
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		var pfx []netip.Prefix
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			bits, _ := ipn.Mask.Size()
			pfx = append(pfx, netip.PrefixFrom(ip.Unmap(), bits))
		}
		out = append(out, Interface{Name: ifc.Name, Addrs: pfx})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// sourceAddrFor asks the kernel which local address routes to dst. Connecting
// a UDP socket only selects a route; no packet leaves.
func sourceAddrFor(ctx context.Context, env netenv.Env, dst netip.AddrPort) netip.Addr {
	c, err := env.DialContext(ctx, "udp", dst.String())
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return ua.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Addrs returns every interface address (without prefix), IPv4 first.
func (i *Info) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, ifc := range i.Interfaces {
		for _, p := range ifc.Addrs {
			out = append(out, p.Addr())
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Is4() && !out[b].Is4() })
	return out
}

// HasPublicAddress reports whether an interface holds a public address, i.e.
// there is no NAT between this host and the internet on that interface.
func (i *Info) HasPublicAddress() bool {
	for _, a := range i.Addrs() {
		if IsPublic(a) {
			return true
		}
	}
	return false
}

// PrimaryAddr is the address the checks put in SIP (Via, Contact, SDP): the
// source address towards the servers, else the first IPv4 address.
func (i *Info) PrimaryAddr() netip.Addr {
	if i.SourceAddr.IsValid() {
		return i.SourceAddr
	}
	for _, a := range i.Addrs() {
		if a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space

// IsCGNAT reports whether a is in the carrier-grade NAT range (RFC 6598).
func IsCGNAT(a netip.Addr) bool { return cgnat.Contains(a.Unmap()) }

// IsPublic reports whether a is routable on the internet as far as a host
// can tell: global unicast, not RFC 1918 / RFC 4193 private, not RFC 6598
// shared. Documentation ranges count as public (natlab's internet uses them).
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !IsCGNAT(a)
}

// Report converts the facts to the report's host section. publicSeen is the
// public address checks saw this network use (STUN, mirror); when valid and
// held by an interface, the host has no NAT in front of it.
func (i *Info) Report(publicSeen netip.Addr) *report.HostReport {
	h := &report.HostReport{Hostname: i.Hostname, PublicAddress: report.TriNo}
	if i.Gateway.IsValid() {
		h.Gateway = i.Gateway.String()
		if i.GatewayIface != "" {
			h.Gateway += " via " + i.GatewayIface
		}
	}
	for _, ifc := range i.Interfaces {
		hi := report.HostInterface{Name: ifc.Name}
		for _, p := range ifc.Addrs {
			hi.Addrs = append(hi.Addrs, p.String())
		}
		h.Interfaces = append(h.Interfaces, hi)
	}
	if i.HasPublicAddress() {
		h.PublicAddress = report.TriYes
	}
	if publicSeen.IsValid() {
		for _, a := range i.Addrs() {
			if a == publicSeen.Unmap() {
				h.PublicAddress = report.TriYes
			}
		}
	}
	return h
}
