package diagnose

import (
	"context"
	"net"
	"net/netip"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// STUNProber adapts stunprobe (natdoc stun's RFC 5780 probe) to NATProber.
type STUNProber struct{ Config stunprobe.Config }

// Probe runs the probe and converts its result.
func (p STUNProber) Probe(ctx context.Context) (*report.NATReport, []report.Finding, error) {
	r, err := stunprobe.Run(ctx, p.Config)
	if err != nil {
		return nil, nil, err
	}
	return stunprobe.NATReport(r), stunprobe.Findings(r), nil
}

// NewSTUNProber builds the NAT probe for the named servers, with its
// sockets and DNS going through env. The probe binds an ephemeral port:
// the SIP port is held by the forwarding and ALG checks running at the
// same time, and mapping behaviour does not depend on the local port on
// the NATs natdoc knows (Linux masquerade, consumer routers).
func NewSTUNProber(servers []string, lifetime bool, env netenv.Env, dns string) STUNProber {
	return STUNProber{Config: stunprobe.Config{
		Servers:   servers,
		Lifetime:  lifetime,
		ListenUDP: env.ListenUDP,
		DialUDP: func(network string, raddr *net.UDPAddr) (*net.UDPConn, error) {
			var c *net.UDPConn
			err := env.Run(func() error {
				var err error
				c, err = net.DialUDP(network, nil, raddr)
				return err
			})
			return c, err
		},
		DialTCP: env.DialContext,
		Resolve: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			ipNet := "ip4"
			if network == "udp6" {
				ipNet = "ip6"
			}
			return env.Resolver(dns).LookupNetIP(ctx, ipNet, host)
		},
	}}
}
