package diagnose

import (
	"context"
	"net/netip"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// STUNProber adapts stunprobe (natdoc stun's RFC 5780 probe) to NATProber.
type STUNProber struct {
	Config stunprobe.Config
	// ExactPort: probe only from Config.LocalPort (the RTP port probe: a
	// result from another port would describe the wrong mapping).
	ExactPort bool
}

// Probe runs the probe and converts its result.
func (p STUNProber) Probe(ctx context.Context) (*report.NATReport, []report.Finding, error) {
	r, err := stunprobe.Run(ctx, p.Config)
	if err != nil && p.Config.LocalPort != 0 && !p.ExactPort && ctx.Err() == nil {
		// The SIP port may be held by a softphone on this host: probe
		// from any port rather than not at all.
		cfg := p.Config
		cfg.LocalPort = 0
		r, err = stunprobe.Run(ctx, cfg)
	}
	if err != nil {
		return nil, nil, err
	}
	return stunprobe.NATReport(r), stunprobe.Findings(r), nil
}

// NewSTUNProber builds the NAT probe for the named servers, with its
// sockets and DNS going through env, from an ephemeral port (set
// Config.LocalPort for another).
func NewSTUNProber(servers []string, lifetime bool, env netenv.Env, dns string) STUNProber {
	return STUNProber{Config: stunprobe.Config{Servers: servers, Lifetime: lifetime, Env: env, DNSServer: dns}}
}

// IGDProber adapts the igd package (natdoc upnp) to RouterProber: it
// discovers the router's UPnP IGD, NAT-PMP and PCP, compares the external
// address with the one STUN sees, and with LimitMax > 0 measures how many
// UDP mappings the router accepts (mappings are journalled and removed
// before Probe returns, also when ctx ends).
type IGDProber struct {
	Options igd.Options
	// STUN, when valid, tells the public address for the double-NAT check.
	STUN netip.AddrPort
	// LimitMax > 0 runs the limit test from LimitStart up to that many;
	// LimitRTP is the phones' RTP range its advice is about.
	LimitMax   int
	LimitStart uint16
	LimitRTP   igd.PortRange
	Journal    *igd.Journal
}

// NewIGDProber makes the igd package's sockets through env.
func NewIGDProber(env netenv.Env) IGDProber {
	return IGDProber{Options: igd.Options{Env: env}}
}

// Probe runs discovery (and the limit test).
func (p IGDProber) Probe(ctx context.Context) (*report.IGDReport, []report.Finding, error) {
	d, err := igd.Discover(ctx, p.Options)
	if err != nil {
		return nil, nil, err
	}
	rep := igd.ReportDiscovery(d)
	var mapped netip.Addr
	if p.STUN.IsValid() {
		if m, err := igd.MappedAddress(ctx, p.Options, p.STUN); err == nil {
			mapped = m.Addr()
		}
	}
	finds := igd.DiscoveryFindings(d, mapped)
	if p.Journal != nil {
		// Mappings an earlier, crashed natdoc run left behind.
		if pending, _, err := p.Journal.Pending(); err == nil {
			if f := igd.PendingFinding(pending, p.Journal.Path()); f != nil {
				finds = append(finds, *f)
			}
		}
	}
	if p.LimitMax <= 0 || (d.Best() == nil && !d.PCP.Answered && !d.NATPMP.Answered) {
		return rep, finds, nil
	}
	s, err := igd.NewSession(d, p.Options, igd.ViaAuto, p.Journal)
	if err != nil {
		return rep, finds, err
	}
	start := p.LimitStart
	if start == 0 {
		start = 10000
	}
	res, err := igd.Limits(ctx, s, p.Options, igd.LimitOptions{Max: p.LimitMax, StartPort: start, RTP: p.LimitRTP})
	if res != nil {
		rep.Limit = igd.ReportLimit(res)
		rep.Notes = append(rep.Notes, res.Notes...)
		finds = append(finds, igd.LimitFindings(res)...)
	}
	return rep, finds, err
}
