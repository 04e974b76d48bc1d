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

// library turns the shared flags into the package's options.
func (o *upnpOptions) library(a *app) (igd.Options, error) {
	opt := igd.Options{URL: o.URL, Interface: o.Interface, SkipPMP: o.NoPMP, Log: a.log}
	if o.Gateway != "" {
		gw, err := netip.ParseAddr(o.Gateway)
		if err != nil {
			return opt, usageErrorf("--gateway: %w", err)
		}
		opt.Gateway = gw
	}
	switch o.Via {
	case igd.ViaAuto, igd.ViaUPnP, igd.ViaNATPMP, igd.ViaPCP:
	default:
		return opt, usageErrorf("--via %q: want auto, upnp, nat-pmp or pcp", o.Via)
	}
	if o.Via == igd.ViaUPnP {
		opt.SkipPMP = true
	}
	return opt, nil
}

func (o *upnpOptions) journal() (*igd.Journal, error) {
	path := o.Journal
	if path == "" {
		p, err := igd.DefaultJournalPath()
		if err != nil {
			return nil, cannotRunErrorf("%w", err)
		}
		path = p
	}
	return igd.OpenJournal(path), nil
}

// discover runs discovery and starts the report; it also reports mappings
// an earlier, crashed run left behind.
func (o *upnpOptions) discover(ctx context.Context, a *app, command string) (*igd.Discovery, igd.Options, *report.Report, error) {
	opt, err := o.library(a)
	if err != nil {
		return nil, opt, nil, err
	}
	rep := newReport(command)
	rep.Started = time.Now()
	a.log.Info("searching for IGDs", "url", o.URL, "interface", o.Interface)
	d, err := igd.Discover(ctx, opt)
	if err != nil {
		return nil, opt, nil, cannotRunErrorf("upnp: %w", err)
	}
	rep.IGD = igd.ReportDiscovery(d)
	if j, jerr := o.journal(); jerr == nil {
		rep.IGD.Journal = j.Path()
		if pending, _, perr := j.Pending(); perr == nil {
			if f := igd.PendingFinding(pending, j.Path()); f != nil {
				rep.Add(*f)
				fmt.Fprintf(a.stderr, "natdoc: %s; run 'natdoc upnp cleanup'\n", f.Title)
			}
		}
	}
	return d, opt, rep, nil
}

func newUpnpDiscoverCmd(a *app, o *upnpOptions) *cobra.Command {
	var stunServer string
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List every IGD that answers, and whether NAT-PMP/PCP answer too",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var server netip.AddrPort
			if stunServer != "" {
				s, err := resolveServer(cmd.Context(), stunServer)
				if err != nil {
					return err
				}
				server = s
			}
			d, opt, rep, err := o.discover(cmd.Context(), a, "upnp discover")
			if err != nil {
				return err
			}
			var mapped netip.Addr
			if server.IsValid() {
				m, err := igd.MappedAddress(cmd.Context(), opt, server)
				if err != nil {
					rep.Checks = append(rep.Checks, report.Check{Name: "stun " + server.String(), Status: report.CheckFailed, Detail: err.Error()})
				} else {
					mapped = m.Addr()
					rep.IGD.STUNMapped = m.String()
				}
			}
			rep.Add(igd.DiscoveryFindings(d, mapped)...)
			rep.Verdict = discoverVerdict(d)
			rep.Finished = time.Now()
			return a.emit(rep)
		},
	}
	cmd.Flags().StringVar(&stunServer, "stun", "", "compare the external address with what this STUN `server` (host:port) sees")
	return cmd
}

func discoverVerdict(d *igd.Discovery) string {
	g := d.Best()
	switch {
	case g != nil:
		return fmt.Sprintf("UPnP IGD found: %s (%s), external address %s.", orUnknown(g.FriendlyName), g.Service, orUnknown(g.ExternalIP.String()))
	case d.PCP.Answered:
		return "No UPnP IGD, but the gateway speaks PCP."
	case d.NATPMP.Answered:
		return "No UPnP IGD, but the gateway speaks NAT-PMP."
	}
	return "No UPnP IGD, NAT-PMP or PCP answered."
}

func orUnknown(s string) string {
	if s == "" || s == "invalid IP" {
		return "unknown"
	}
	return s
}

// session discovers and opens a mapping session, or fails with exit 3
// when nothing can map.
func (o *upnpOptions) session(ctx context.Context, a *app, command string) (*igd.Session, *igd.Discovery, igd.Options, *report.Report, error) {
	d, opt, rep, err := o.discover(ctx, a, command)
	if err != nil {
		return nil, nil, opt, nil, err
	}
	j, err := o.journal()
	if err != nil {
		return nil, nil, opt, nil, err
	}
	s, err := igd.NewSession(d, opt, o.Via, j)
	if err != nil {
		return nil, nil, opt, nil, cannotRunErrorf("%w (%s)", err, discoverVerdict(d))
	}
	rep.IGD.Via, rep.IGD.Client = s.Via(), s.Client().String()
	a.log.Info("mapping", "via", s.Via(), "client", s.Client())
	return s, d, opt, rep, nil
}

func newUpnpListCmd(a *app, o *upnpOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Show the router's port-mapping table, marking this host's entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, _, rep, err := o.discover(cmd.Context(), a, "upnp list")
			if err != nil {
				return err
			}
			g := d.Best()
			if g == nil {
				return cannotRunErrorf("upnp list: %s", discoverVerdict(d))
			}
			entries, err := igd.List(cmd.Context(), g)
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			client := igd.LocalAddrToward(g)
			rep.IGD.Client = client.String()
			rep.IGD.Mappings = igd.ReportTable(entries, client)
			mine := 0
			for _, m := range rep.IGD.Mappings {
				if m.ThisHost {
					mine++
				}
			}
			rep.Verdict = fmt.Sprintf("%d mapping(s) on %s, %d for this host (%s).", len(entries), orUnknown(g.FriendlyName), mine, client)
			rep.Finished = time.Now()
			return a.emit(rep)
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
			ports, proto, err := pf.ports()
			if err != nil {
				return err
			}
			if len(ports) == 0 {
				return usageErrorf("map: give --sip and/or --rtp")
			}
			server, err := verifyServer(cmd.Context(), verify, stunAddr)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, _, opt, rep, err := o.session(ctx, a, "upnp map")
			if err != nil {
				return err
			}
			reqs := make([]igd.Request, 0, len(ports))
			for _, p := range ports {
				reqs = append(reqs, igd.Request{Proto: proto, ExternalPort: p, InternalPort: p, Lease: lease})
			}
			results := igd.MapAll(ctx, s, opt, reqs, server)
			rep.IGD.Mappings = igd.ReportMappings(results, s.Client())
			rep.Add(igd.MapFindings(results)...)
			accepted := 0
			for _, r := range results {
				if r.Accepted {
					accepted++
				}
			}
			rep.Verdict = fmt.Sprintf("The router accepted %d of %d mappings via %s.", accepted, len(reqs), igd.ViaName(s.Via()))
			if hold > 0 && ctx.Err() == nil {
				fmt.Fprintf(a.stderr, "natdoc: holding %d mapping(s) for %s (Ctrl-C removes them now)\n", accepted, hold)
				select {
				case <-ctx.Done():
				case <-time.After(hold):
				}
			}
			if hold > 0 || ctx.Err() != nil {
				if _, err := s.Close(ctx); err != nil {
					rep.Add(igd.CleanupFindings(&igd.CleanupResult{Failed: []igd.CleanupFailure{{Err: err.Error()}}})...)
				}
				rep.Verdict += " They were removed again."
			} else {
				if err := s.Keep(); err != nil {
					return cannotRunErrorf("%w", err)
				}
				rep.Verdict += " They stay until 'natdoc upnp unmap' or 'cleanup'."
			}
			rep.IGD.Notes = s.Notes()
			rep.Finished = time.Now()
			return a.emit(rep)
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
	opt, err := o.library(a)
	if err != nil {
		return err
	}
	j, err := o.journal()
	if err != nil {
		return err
	}
	rep := newReport(command)
	rep.Started = time.Now()
	res, err := igd.Cleanup(ctx, opt, j, match)
	if err != nil {
		return cannotRunErrorf("%w", err)
	}
	rep.IGD = &report.IGDReport{Chosen: -1, Journal: j.Path(), Cleanup: igd.ReportCleanup(res)}
	rep.Add(igd.CleanupFindings(res)...)
	c := rep.IGD.Cleanup
	switch {
	case c.Pending == 0:
		rep.Verdict = "The journal holds no mappings: nothing to remove."
	default:
		rep.Verdict = fmt.Sprintf("Removed %d mapping(s) natdoc had made; %d were already gone, %d now belong to someone else (left alone), %d failed, %d held by a running natdoc.",
			c.Removed, c.AlreadyGone, c.NotOurs, len(c.Failed), c.InUse)
	}
	rep.Finished = time.Now()
	return a.emit(rep)
}

func newUpnpLimitsCmd(a *app, o *upnpOptions) *cobra.Command {
	var (
		lo       igd.LimitOptions
		proto    string
		start    uint16
		verify   bool
		stunAddr string
	)
	cmd := &cobra.Command{
		Use:   "limits [--max N] [--proto udp] [--verify --stun SERVER]",
		Short: "Measure how many mappings the router accepts and really applies",
		Long: `Adds mappings one by one (external port = internal port, from --port up) until
the router refuses or --max is reached, reads each back, optionally proves each
with an inbound packet, and removes them all again (also on Ctrl-C). Ports that
already hold a mapping are skipped, never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lo.Proto = strings.ToUpper(proto)
			if lo.Proto != "UDP" && lo.Proto != "TCP" {
				return usageErrorf("--proto %q: want udp or tcp", proto)
			}
			if lo.Max < 1 || lo.Max > maxRange {
				return usageErrorf("--max %d: want 1 to %d", lo.Max, maxRange)
			}
			lo.StartPort = start
			server, err := verifyServer(cmd.Context(), verify, stunAddr)
			if err != nil {
				return err
			}
			lo.VerifyServer = server
			ctx := cmd.Context()
			s, _, opt, rep, err := o.session(ctx, a, "upnp limits")
			if err != nil {
				return err
			}
			bar := newProgressBar(a.stderr, "mapping", 0)
			lo.Progress = func(done, max int) { bar.update(int64(done), int64(max)) }
			res, err := igd.Limits(ctx, s, opt, lo)
			bar.done()
			if err != nil {
				return cannotRunErrorf("%w", err)
			}
			rep.IGD.Limit = igd.ReportLimit(res)
			rep.IGD.Mappings = igd.ReportMappings(res.Mappings, s.Client())
			rep.IGD.Notes = res.Notes
			rep.Add(igd.LimitFindings(res)...)
			rep.Verdict = limitsVerdict(res)
			rep.Finished = time.Now()
			if res.Interrupted {
				rep.Checks = append(rep.Checks, report.Check{Name: "upnp limits", Status: report.CheckFailed, Detail: "interrupted; mappings removed"})
			}
			err = a.emit(rep)
			if res.Interrupted && err == nil {
				return cannotRunErrorf("interrupted")
			}
			return err
		},
	}
	cmd.Flags().IntVar(&lo.Max, "max", 64, "stop after this many accepted mappings")
	cmd.Flags().StringVar(&proto, "proto", "udp", "transport: udp or tcp")
	cmd.Flags().Uint16Var(&start, "port", 10000, "first external `port` to try")
	cmd.Flags().DurationVar(&lo.Lease, "lease", time.Hour, "lease to ask for (a finite lease expires even if natdoc is killed)")
	cmd.Flags().BoolVar(&verify, "verify", false, "prove each mapping with an inbound packet (needs --stun)")
	cmd.Flags().StringVar(&stunAddr, "stun", "", "RFC 5780 STUN `server` supporting RESPONSE-PORT, for --verify")
	return cmd
}

func limitsVerdict(r *igd.LimitResult) string {
	if r.Reached() {
		return fmt.Sprintf("The router accepted %d %s mappings via %s, then refused (%d): at most %d simultaneous calls through %s; beyond that forward ports by hand.",
			r.Accepted, r.Proto, igd.ViaName(r.Via), r.Refusal.ErrorCode, igd.CallsFor(r.Accepted), igd.ViaName(r.Via))
	}
	return fmt.Sprintf("The router accepted all %d %s mappings asked via %s (no limit reached): at least %d simultaneous calls.",
		r.Accepted, r.Proto, igd.ViaName(r.Via), igd.CallsFor(r.Accepted))
}
