package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

// upnpOptions are the flags every `upnp` subcommand shares.
type upnpOptions struct {
	URL       string
	Interface string
	Gateway   string
	Via       string
	Journal   string
	NoPMP     bool
}

func newUpnpCmd(a *app) *cobra.Command {
	o := &upnpOptions{}
	cmd := &cobra.Command{
		Use:   "upnp",
		Short: "Ask the router's UPnP IGD what it really forwards, and its limits",
		Long: `Finds the router's UPnP IGD (and NAT-PMP/PCP), maps the SIP and RTP ports as a
SIP server would, and measures how many mappings it accepts, leaving the router
as it was.

Every mapping natdoc adds is described as "natdoc" and written to a journal
(in $NATDOC_STATE_DIR, $XDG_STATE_HOME/natdoc or ~/.local/state/natdoc) before
the router is asked; 'natdoc upnp cleanup' removes whatever a crash left.
natdoc never deletes a mapping it did not make.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.URL, "url", "", "root description `URL` of a known IGD (no SSDP search)")
	pf.StringVarP(&o.Interface, "interface", "i", "", "send the SSDP search on this `interface`")
	pf.StringVar(&o.Gateway, "gateway", "", "ask NAT-PMP and PCP at this `address` (default: the IGD's)")
	pf.StringVar(&o.Via, "via", igd.ViaAuto, "mapping protocol: auto, upnp, nat-pmp or pcp")
	pf.StringVar(&o.Journal, "journal", "", "undo journal `file` (default in the state directory; env "+igd.JournalEnv+")")
	pf.BoolVar(&o.NoPMP, "no-pmp", false, "do not probe NAT-PMP and PCP")
	cmd.AddCommand(
		newUpnpDiscoverCmd(a, o),
		newUpnpListCmd(a, o),
		newUpnpMapCmd(a, o),
		newUpnpUnmapCmd(a, o),
		newUpnpLimitsCmd(a, o),
		newUpnpCleanupCmd(a, o),
	)
	return cmd
}

// command turns the shared flags into the package's command. needJournal:
// the command maps (a journal it cannot open is a check that cannot run);
// otherwise the journal only shows what a crashed run left.
func (o *upnpOptions) command(a *app, needJournal bool) (igd.Command, error) {
	c := igd.Command{Options: igd.Options{URL: o.URL, Interface: o.Interface, SkipPMP: o.NoPMP, Log: a.log}, Via: o.Via}
	if o.Gateway != "" {
		gw, err := netip.ParseAddr(o.Gateway)
		if err != nil {
			return c, usageErrorf("--gateway: %w", err)
		}
		c.Options.Gateway = gw
	}
	switch o.Via {
	case igd.ViaAuto, igd.ViaUPnP, igd.ViaNATPMP, igd.ViaPCP:
	default:
		return c, usageErrorf("--via %q: want auto, upnp, nat-pmp or pcp", o.Via)
	}
	if o.Via == igd.ViaUPnP {
		c.Options.SkipPMP = true
	}
	path := o.Journal
	if path == "" {
		p, err := igd.DefaultJournalPath()
		if err != nil && needJournal {
			return c, cannotRunErrorf("%w", err)
		}
		path = p
	}
	if path != "" {
		c.Journal = igd.OpenJournal(path)
	}
	return c, nil
}

// upnpReporter is what every subcommand's result does.
type upnpReporter interface{ Report(rep *report.Report) }

// emitUPnP writes a subcommand's report; started is when it began.
func emitUPnP(a *app, command string, started time.Time, res upnpReporter) error {
	rep := newReport(command)
	rep.Started = started
	res.Report(rep)
	rep.Finished = time.Now()
	return a.emit(rep)
}

// warnLeftBehind tells the user at once about mappings a crashed run left.
func warnLeftBehind(a *app, f *igd.Found) {
	if lb := f.LeftBehind(); lb != nil {
		fmt.Fprintf(a.stderr, "natdoc: %s; run 'natdoc upnp cleanup'\n", lb.Title)
	}
}

func newUpnpDiscoverCmd(a *app, o *upnpOptions) *cobra.Command {
	var stunServer string
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List every IGD that answers, and whether NAT-PMP/PCP answer too",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			c, err := o.command(a, false)
			if err != nil {
				return err
			}
			var server netip.AddrPort
			if stunServer != "" {
				if server, err = resolveServer(cmd.Context(), stunServer); err != nil {
					return err
				}
			}
			res, err := c.Discover(cmd.Context(), server)
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			warnLeftBehind(a, &res.Found)
			return emitUPnP(a, "upnp discover", started, res)
		},
	}
	cmd.Flags().StringVar(&stunServer, "stun", "", "compare the external address with what this STUN `server` (host:port) sees")
	return cmd
}

func newUpnpListCmd(a *app, o *upnpOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Show the router's port-mapping table, marking this host's entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			c, err := o.command(a, false)
			if err != nil {
				return err
			}
			res, err := c.List(cmd.Context())
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			warnLeftBehind(a, &res.Found)
			return emitUPnP(a, "upnp list", started, res)
		},
	}
}

// portFlags are what `map` and `unmap` ask for: the SIP port and an RTP
// range, as a SIP server would.
type portFlags struct {
	SIP   uint16
	RTP   string
	Proto string
}

func (p *portFlags) add(cmd *cobra.Command) {
	cmd.Flags().Uint16Var(&p.SIP, "sip", 0, "SIP `port` to map (e.g. 5060)")
	cmd.Flags().StringVar(&p.RTP, "rtp", "", "RTP port `range` to map, e.g. 10000-10019 (RTCP included)")
	cmd.Flags().StringVar(&p.Proto, "proto", "udp", "transport: udp or tcp")
}

func (p *portFlags) ports() ([]uint16, string, error) {
	proto := strings.ToUpper(p.Proto)
	if proto != "UDP" && proto != "TCP" {
		return nil, "", usageErrorf("--proto %q: want udp or tcp", p.Proto)
	}
	var ports []uint16
	if p.SIP != 0 {
		ports = append(ports, p.SIP)
	}
	if p.RTP != "" {
		lo, hi, err := rtpRange(p.RTP)
		if err != nil {
			return nil, "", usageErrorf("--rtp: %w", err)
		}
		for q := int(lo); q <= int(hi); q++ {
			ports = append(ports, uint16(q))
		}
	}
	return ports, proto, nil
}

// maxRange caps --rtp so a typo does not ask the router for 60000 mappings.
const maxRange = 1024

// rtpRange reads --rtp: a port range of at most maxRange ports.
func rtpRange(s string) (uint16, uint16, error) {
	lo, hi, err := parsePortRange(s)
	if err == nil && hi-lo >= maxRange {
		err = fmt.Errorf("%q spans more than %d ports", s, maxRange)
	}
	return lo, hi, err
}

func newUpnpMapCmd(a *app, o *upnpOptions) *cobra.Command {
	var (
		pf       portFlags
		lease    time.Duration
		hold     time.Duration
		verify   bool
		stunAddr string
	)
	cmd := &cobra.Command{
		Use:   "map --sip 5060 --rtp 10000-10019",
		Short: "Forward the SIP port and an RTP range, and read back what the router granted",
		Long: `Adds one mapping per port (external port = internal port, to this host),
reads each back to show the lease the router really granted, and with --verify
proves each with an inbound STUN packet (RFC 5780 RESPONSE-PORT).

Without --for the mappings stay (remove them with 'natdoc upnp unmap' or
'cleanup'); with --for D they are removed after D, on Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			ports, proto, err := pf.ports()
			if err != nil {
				return err
			}
			if len(ports) == 0 {
				return usageErrorf("map: give --sip and/or --rtp")
			}
			mo := igd.MapOptions{Hold: hold, Holding: func(n int) {
				fmt.Fprintf(a.stderr, "natdoc: holding %d mapping(s) for %s (Ctrl-C removes them now)\n", n, hold)
			}}
			for _, p := range ports {
				mo.Requests = append(mo.Requests, igd.Request{Proto: proto, ExternalPort: p, InternalPort: p, Lease: lease})
			}
			if mo.Verify, err = verifyServer(cmd.Context(), verify, stunAddr); err != nil {
				return err
			}
			c, err := o.command(a, true)
			if err != nil {
				return err
			}
			res, err := c.Map(cmd.Context(), mo)
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			warnLeftBehind(a, &res.Found)
			return emitUPnP(a, "upnp map", started, res)
		},
	}
	pf.add(cmd)
	cmd.Flags().DurationVar(&lease, "lease", time.Hour, "lease to ask for (0 = permanent, as many SIP servers ask)")
	cmd.Flags().DurationVar(&hold, "for", 0, "remove the mappings after this `duration` (and on Ctrl-C)")
	cmd.Flags().BoolVar(&verify, "verify", false, "prove each mapping with an inbound packet (needs --stun)")
	cmd.Flags().StringVar(&stunAddr, "stun", "", "RFC 5780 STUN `server` supporting RESPONSE-PORT, for --verify")
	return cmd
}

func verifyServer(ctx context.Context, verify bool, addr string) (netip.AddrPort, error) {
	if !verify {
		return netip.AddrPort{}, nil
	}
	if addr == "" {
		return netip.AddrPort{}, usageErrorf("--verify needs --stun SERVER (an RFC 5780 server that honours RESPONSE-PORT)")
	}
	return resolveServer(ctx, addr)
}

// resolveServer turns host[:port] into an address (default port 3478).
func resolveServer(ctx context.Context, s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, "3478"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, usageErrorf("--stun %q: bad port", s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, cannotRunErrorf("--stun %q: %v", s, err)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}

func newUpnpUnmapCmd(a *app, o *upnpOptions) *cobra.Command {
	var pf portFlags
	cmd := &cobra.Command{
		Use:   "unmap [--sip 5060] [--rtp 10000-10019]",
		Short: "Remove mappings natdoc made (all of them without --sip/--rtp)",
		Long: `Removes mappings natdoc made, as recorded in its journal, after checking each
is still natdoc's on the router. Mappings natdoc did not make are never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports, proto, err := pf.ports()
			if err != nil {
				return err
			}
			want := map[uint16]bool{}
			for _, p := range ports {
				want[p] = true
			}
			match := func(e igd.JournalEntry) bool {
				return len(want) == 0 || (want[e.ExternalPort] && e.Proto == proto)
			}
			return o.runCleanup(cmd.Context(), a, "upnp unmap", match)
		},
	}
	pf.add(cmd)
	return cmd
}

func newUpnpCleanupCmd(a *app, o *upnpOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cleanup",
		Short: "Remove every mapping natdoc made, from its journal (after a crash)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.runCleanup(cmd.Context(), a, "upnp cleanup", nil)
		},
	}
}

func (o *upnpOptions) runCleanup(ctx context.Context, a *app, command string, match func(igd.JournalEntry) bool) error {
	started := time.Now()
	c, err := o.command(a, true)
	if err != nil {
		return err
	}
	res, err := c.Cleanup(ctx, match)
	if err != nil {
		return cannotRunErrorf("%w", err)
	}
	return emitUPnP(a, command, started, res)
}

// limitsFlags are `upnp limits`' own flags.
type limitsFlags struct {
	lo       igd.LimitOptions
	proto    string
	rtp      string
	verify   bool
	stunAddr string
}

// options validates the flags into the package's options.
func (f *limitsFlags) options(ctx context.Context) (igd.LimitOptions, error) {
	lo := f.lo
	lo.Proto = strings.ToUpper(f.proto)
	if lo.Proto != "UDP" && lo.Proto != "TCP" {
		return lo, usageErrorf("--proto %q: want udp or tcp", f.proto)
	}
	if lo.Max < 1 || lo.Max > maxRange {
		return lo, usageErrorf("--max %d: want 1 to %d", lo.Max, maxRange)
	}
	if f.rtp != "" {
		l, h, err := parsePortRange(f.rtp)
		if err != nil {
			return lo, usageErrorf("--rtp-ports: %w", err)
		}
		lo.RTP = igd.PortRange{Lo: l, Hi: h}
	}
	var err error
	lo.VerifyServer, err = verifyServer(ctx, f.verify, f.stunAddr)
	return lo, err
}

func newUpnpLimitsCmd(a *app, o *upnpOptions) *cobra.Command {
	var lf limitsFlags
	cmd := &cobra.Command{
		Use:   "limits [--max N] [--proto udp] [--verify --stun SERVER]",
		Short: "Measure how many mappings the router accepts and really applies",
		Long: `Adds mappings one by one (external port = internal port, from --port up) until
the router refuses or --max is reached, reads each back, optionally proves each
with an inbound packet, and removes them all again (also on Ctrl-C). Ports that
already hold a mapping are skipped, never touched.

A refusal of one port by the router's rules (UPnP 606, PCP NOT_AUTHORIZED, ...)
is no limit: natdoc then finds the port ranges the rules allow, with few
requests (the router's own choice where it offers one: IGDv2
AddAnyPortMapping, PCP, NAT-PMP), maps there, and says what that means for the
SIP server's RTP range (--rtp-ports).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started := time.Now()
			lo, err := lf.options(cmd.Context())
			if err != nil {
				return err
			}
			c, err := o.command(a, true)
			if err != nil {
				return err
			}
			bar := newProgressBar(a.stderr, "mapping", 0)
			lo.Progress = func(done, max int) { bar.update(int64(done), int64(max)) }
			res, err := c.Limits(cmd.Context(), lo)
			bar.done()
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			warnLeftBehind(a, &res.Found)
			if err := emitUPnP(a, "upnp limits", started, res); err != nil || !res.Limit.Interrupted {
				return err
			}
			return cannotRunErrorf("interrupted")
		},
	}
	f := cmd.Flags()
	f.IntVar(&lf.lo.Max, "max", 64, "stop after this many accepted mappings")
	f.StringVar(&lf.proto, "proto", "udp", "transport: udp or tcp")
	f.Uint16Var(&lf.lo.StartPort, "port", 10000, "first external `port` to try")
	f.StringVar(&lf.rtp, "rtp-ports", "", "the SIP server's RTP range `LO-HI`, for the advice when the router's rules refuse ports (default: --max ports from --port)")
	f.DurationVar(&lf.lo.Lease, "lease", time.Hour, "lease to ask for (a finite lease expires even if natdoc is killed)")
	f.BoolVar(&lf.verify, "verify", false, "prove each mapping with an inbound packet (needs --stun)")
	f.StringVar(&lf.stunAddr, "stun", "", "RFC 5780 STUN `server` supporting RESPONSE-PORT, for --verify")
	return cmd
}
