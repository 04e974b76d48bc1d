package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/natdoc/natdoc/diagnose"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
)

// diagnoseOptions are natdoc diagnose's flags.
type diagnoseOptions struct {
	STUN      []string
	Mirror    string
	Server    string
	SIPPort   int
	SIPPublic int
	RTPPorts  string
	Lifetime  bool
	Timeout   time.Duration
	UPnPLimit int
	NoUPnP    bool
	NoSTUN    bool
}

// lifetimeTimeout bounds a run with --lifetime: the binding-lifetime search
// waits idle periods of up to a few minutes.
const lifetimeTimeout = 10 * time.Minute

func newDiagnoseCmd(a *app) *cobra.Command {
	var o diagnoseOptions
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Run every check on this network and say whether calls will have two-way audio",
		Long: `Runs the checks an experienced VoIP engineer would, at once, from a PC in the
same network as the phones (or the SIP server), and prints one report: a
verdict, the findings with evidence, and the remedies in order.

Checks: this host (addresses, gateway, the first routers: double NAT), the
NAT's behaviour (--stun), the router's UPnP/NAT-PMP/PCP, an active SIP ALG test
against a mirror outside (--mirror, a 'natdoc mirror' on a public host) and,
with it, whether SIP too big for one packet (IP fragments) passes each way, port
forwarding of --sip-port and --rtp-ports (RFC 5780 RESPONSE-PORT, needs an RFC
5780 --stun server), and the SIP server (--server: DNS, OPTIONS, rport, private
addresses in its answers). A check without what it needs is listed as not
run, never as passed. It talks only to the servers named here and, without
--stun, natdoc's default public STUN servers: ` + strings.Join(stunprobe.DefaultServers, ", ") + `.`,
		Example: `  natdoc diagnose --stun stun.example.net:3478 --mirror mirror.example.net:5060
  natdoc diagnose --stun 203.0.113.10:3478 --sip-port 5060 --rtp-ports 10000-20000 --server sip.example.org
  natdoc diagnose --mirror 203.0.113.20:5060 --sip-port 5060 --sip-public-port 5080 --rtp-ports 10000-10999
  natdoc diagnose --mirror 203.0.113.20:5060 --format html -o network.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt, err := o.options(cmd.Flags().Changed("sip-port") || cmd.Flags().Changed("sip-public-port"))
			if err != nil {
				return err
			}
			opt.Log = a.log
			return runDiagnose(cmd.Context(), a, opt)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.STUN, "stun", nil, "STUN server `HOST:PORT` (repeatable; an RFC 5780 server enables the port-forwarding check)")
	f.StringVar(&o.Mirror, "mirror", "", "a natdoc mirror outside this network, `HOST:PORT` (UDP and TCP; port 5060 shows SIP ALGs)")
	f.StringVar(&o.Server, "server", "", "the phones' SIP server, `HOST[:PORT]`")
	f.IntVar(&o.SIPPort, "sip-port", 5060, "the phones' SIP port; given, its forwarding is checked")
	f.IntVar(&o.SIPPublic, "sip-public-port", 0, "the outside `PORT` the router forwards to --sip-port, when it forwards another (5080 to 5060); its forwarding is checked")
	f.StringVar(&o.RTPPorts, "rtp-ports", "", "the phones' RTP range `LO-HI`; given, its forwarding is checked")
	f.BoolVar(&o.Lifetime, "lifetime", false, "also measure the NAT binding lifetime (takes minutes)")
	f.DurationVar(&o.Timeout, "timeout", 0, "total deadline (default 10s, or 10m with --lifetime)")
	f.IntVar(&o.UPnPLimit, "upnp-limit", 0, "also measure how many UDP mappings the router's UPnP/PCP/NAT-PMP accepts, up to `N` (adds and removes them; give a longer --timeout)")
	f.BoolVar(&o.NoSTUN, "no-stun", false, "ask no STUN server (without --stun natdoc asks its default public servers)")
	f.BoolVar(&o.NoUPnP, "no-upnp", false, "do not search for the router's UPnP IGD, NAT-PMP or PCP")
	return cmd
}

// runDiagnose runs every check and writes the report.
func runDiagnose(ctx context.Context, a *app, opt diagnose.Options) error {
	// The journal records the limit test's mappings, and shows mappings a
	// crashed earlier run left behind.
	path, err := igd.DefaultJournalPath()
	switch {
	case err == nil:
		opt.Journal = igd.OpenJournal(path)
	case opt.UPnPLimit > 0:
		return cannotRunErrorf("upnp journal: %w", err)
	}
	rep := newReport("diagnose")
	rep.Started = time.Now()
	res := diagnose.Run(ctx, opt)
	if err := ctx.Err(); err != nil {
		return cannotRunErrorf("diagnose interrupted: %w", err)
	}
	diagnose.Build(rep, res)
	rep.Finished = time.Now()
	if err := a.emit(rep); err != nil || diagnose.RanAny(res) {
		return err
	}
	return cannotRunErrorf("diagnose: no network check could run (see Checks)")
}

// options validates the flags.
func (o diagnoseOptions) options(sipPortGiven bool) (diagnose.Options, error) {
	opt := diagnose.Options{STUN: o.STUN, Mirror: o.Mirror, Server: o.Server, SIPPort: o.SIPPort, Timeout: o.Timeout,
		UPnPLimit: o.UPnPLimit, NoRouter: o.NoUPnP, Lifetime: o.Lifetime}
	if o.UPnPLimit < 0 || o.UPnPLimit > 1000 {
		return opt, usageErrorf("--upnp-limit %d: want 0 to 1000", o.UPnPLimit)
	}
	if o.UPnPLimit > 0 && o.NoUPnP {
		return opt, usageErrorf("--upnp-limit and --no-upnp disagree")
	}
	switch {
	case o.NoSTUN && len(o.STUN) > 0:
		return opt, usageErrorf("--stun and --no-stun disagree")
	case o.NoSTUN:
		opt.STUN = nil
	case len(o.STUN) == 0:
		// The documented defaults, for users' real runs; they support no
		// RESPONSE-PORT, so the forwarding check needs an RFC 5780 --stun.
		opt.STUN = stunprobe.DefaultServers
	}
	if o.SIPPort <= 0 || o.SIPPort > 65535 {
		return opt, usageErrorf("--sip-port %d: want 1-65535", o.SIPPort)
	}
	if o.SIPPublic < 0 || o.SIPPublic > 65535 {
		return opt, usageErrorf("--sip-public-port %d: want 1-65535", o.SIPPublic)
	}
	opt.SIPPublicPort = o.SIPPublic
	for _, s := range append(append([]string(nil), o.STUN...), o.Mirror) {
		if s != "" && !strings.Contains(s, ":") {
			return opt, usageErrorf("%q: want HOST:PORT", s)
		}
	}
	if o.RTPPorts != "" {
		lo, hi, err := parsePortRange(o.RTPPorts)
		if err != nil {
			return opt, usageErrorf("--rtp-ports: %w", err)
		}
		opt.RTPLow, opt.RTPHigh = int(lo), int(hi)
	}
	opt.CheckForwarding = sipPortGiven || o.RTPPorts != ""
	if opt.Timeout == 0 {
		opt.Timeout = diagnose.DefaultTimeout
		if o.Lifetime {
			opt.Timeout = lifetimeTimeout
		}
	}
	if opt.Timeout < time.Second {
		return opt, usageErrorf("--timeout %s: want at least 1s", opt.Timeout)
	}
	return opt, nil
}
