package igd

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Command is what every `natdoc upnp` subcommand shares: how to find the
// router, which protocol to map with, and the undo journal. Each
// subcommand is one method that does the work and returns a plain result,
// whose Report method fills the report.
type Command struct {
	Options Options
	Via     string   // ViaAuto (default), ViaUPnP, ViaNATPMP or ViaPCP
	Journal *Journal // the undo journal; nil only for commands that map nothing
}

// Found is what discovery found, and what an earlier, crashed run left
// in the journal.
type Found struct {
	Discovery   *Discovery
	JournalPath string
	Pending     []JournalEntry
}

func (c Command) find(ctx context.Context) (*Found, error) {
	d, err := Discover(ctx, c.Options)
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	f := &Found{Discovery: d}
	if c.Journal != nil {
		f.JournalPath = c.Journal.Path()
		f.Pending, _, _ = c.Journal.Pending()
	}
	return f, nil
}

// LeftBehind is the finding about mappings a crashed run left on the
// router (nil: none), for the command to tell the user at once.
func (f *Found) LeftBehind() *report.Finding { return PendingFinding(f.Pending, f.JournalPath) }

// report starts the router section with discovery and the leftovers.
func (f *Found) report(rep *report.Report) {
	rep.IGD = ReportDiscovery(f.Discovery)
	rep.IGD.Journal = f.JournalPath
	if lb := f.LeftBehind(); lb != nil {
		rep.Add(*lb)
	}
}

// session discovers and opens a mapping session.
func (c Command) session(ctx context.Context) (*Session, *Found, error) {
	f, err := c.find(ctx)
	if err != nil {
		return nil, nil, err
	}
	via := c.Via
	if via == "" {
		via = ViaAuto
	}
	s, err := NewSession(f.Discovery, c.Options, via, c.Journal)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%s)", err, DiscoverVerdict(f.Discovery))
	}
	c.Options.log().Info("mapping", "via", s.Via(), "client", s.Client())
	return s, f, nil
}

// DiscoverVerdict is the one-sentence summary of discovery.
func DiscoverVerdict(d *Discovery) string {
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

// DiscoverResult is `upnp discover`: the devices, and the public address
// a STUN server saw, for the double-NAT comparison.
type DiscoverResult struct {
	Found
	STUN       netip.AddrPort // the server asked; zero: none
	STUNMapped netip.AddrPort
	STUNErr    string
}

// Discover runs `upnp discover`: discovery, and with stun valid the
// public address that server sees.
func (c Command) Discover(ctx context.Context, stun netip.AddrPort) (*DiscoverResult, error) {
	f, err := c.find(ctx)
	if err != nil {
		return nil, err
	}
	r := &DiscoverResult{Found: *f, STUN: stun}
	if stun.IsValid() {
		if m, err := MappedAddress(ctx, c.Options, stun); err != nil {
			r.STUNErr = err.Error()
		} else {
			r.STUNMapped = m
		}
	}
	return r, nil
}

// Report fills rep with the devices, the findings and the verdict.
func (r *DiscoverResult) Report(rep *report.Report) {
	r.report(rep)
	if r.STUNErr != "" {
		rep.Checks = append(rep.Checks, report.Check{Name: "stun " + r.STUN.String(), Status: report.CheckFailed, Detail: r.STUNErr})
	}
	if r.STUNMapped.IsValid() {
		rep.IGD.STUNMapped = r.STUNMapped.String()
	}
	rep.Add(DiscoveryFindings(r.Discovery, r.STUNMapped.Addr())...)
	rep.Verdict = DiscoverVerdict(r.Discovery)
}

// ListResult is `upnp list`: the router's whole table.
type ListResult struct {
	Found
	Client  netip.Addr // this host, to mark its entries
	Entries []Entry
}

// List runs `upnp list`; it needs a UPnP IGD (NAT-PMP and PCP cannot
// list).
func (c Command) List(ctx context.Context) (*ListResult, error) {
	f, err := c.find(ctx)
	if err != nil {
		return nil, err
	}
	g := f.Discovery.Best()
	if g == nil {
		return nil, fmt.Errorf("upnp list: %w (%s)", ErrNoMapper, DiscoverVerdict(f.Discovery))
	}
	entries, err := List(ctx, g)
	if err != nil {
		return nil, err
	}
	return &ListResult{Found: *f, Client: LocalAddrToward(g), Entries: entries}, nil
}

// Report fills rep with the table, this host's entries marked.
func (r *ListResult) Report(rep *report.Report) {
	r.report(rep)
	rep.IGD.Client = r.Client.String()
	rep.IGD.Mappings = ReportTable(r.Entries, r.Client)
	mine := 0
	for _, m := range rep.IGD.Mappings {
		if m.ThisHost {
			mine++
		}
	}
	rep.Verdict = fmt.Sprintf("%d mapping(s) on %s, %d for this host (%s).", len(r.Entries), orUnknown(r.Discovery.Best().FriendlyName), mine, r.Client)
}

// MapOptions are `upnp map`'s.
type MapOptions struct {
	Requests []Request
	// Verify, when valid, proves each mapping with an inbound packet.
	Verify netip.AddrPort
	// Hold > 0 removes the mappings after Hold, or when ctx ends first;
	// 0 keeps them (journalled as kept, for `unmap` and `cleanup`).
	Hold time.Duration
	// Holding is told how many mappings are held before the wait.
	Holding func(accepted int)
}

// MapResult is `upnp map`.
type MapResult struct {
	Found
	Via, Client string
	Results     []MappingResult
	// Removed: the mappings were removed again (Hold, or interrupted).
	Removed   bool
	RemoveErr string
	Notes     []string
}

// Map runs `upnp map`: every request is asked (a refusal does not stop
// the others), read back and optionally verified; then the mappings are
// held and removed, or kept.
func (c Command) Map(ctx context.Context, o MapOptions) (*MapResult, error) {
	s, f, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	r := &MapResult{Found: *f, Via: s.Via(), Client: s.Client().String()}
	r.Results = MapAll(ctx, s, c.Options, o.Requests, o.Verify)
	if o.Hold > 0 && ctx.Err() == nil {
		if o.Holding != nil {
			o.Holding(accepted(r.Results))
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.Hold):
		}
	}
	if o.Hold > 0 || ctx.Err() != nil {
		r.Removed = true
		if _, err := s.Close(ctx); err != nil {
			r.RemoveErr = err.Error()
		}
	} else if err := s.Keep(); err != nil {
		return nil, err
	}
	r.Notes = s.Notes()
	return r, nil
}

func accepted(ms []MappingResult) int {
	n := 0
	for _, m := range ms {
		if m.Accepted {
			n++
		}
	}
	return n
}

// Report fills rep with the mappings, the findings and the verdict.
func (r *MapResult) Report(rep *report.Report) {
	r.report(rep)
	rep.IGD.Via, rep.IGD.Client = r.Via, r.Client
	client, _ := netip.ParseAddr(r.Client)
	rep.IGD.Mappings = ReportMappings(r.Results, client)
	rep.Add(MapFindings(r.Results)...)
	if r.RemoveErr != "" {
		rep.Add(cleanupFailed(r.RemoveErr))
	}
	rep.Verdict = fmt.Sprintf("The router accepted %d of %d mappings via %s.", accepted(r.Results), len(r.Results), ViaName(r.Via))
	if r.Removed {
		rep.Verdict += " They were removed again."
	} else {
		rep.Verdict += " They stay until 'natdoc upnp unmap' or 'cleanup'."
	}
	rep.IGD.Notes = r.Notes
}

// LimitsResult is `upnp limits`.
type LimitsResult struct {
	Found
	Limit *LimitResult
}

// Limits runs `upnp limits` (Limits on a fresh session).
func (c Command) Limits(ctx context.Context, lo LimitOptions) (*LimitsResult, error) {
	s, f, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	l, err := Limits(ctx, s, c.Options, lo)
	if err != nil {
		return nil, err
	}
	return &LimitsResult{Found: *f, Limit: l}, nil
}

// Report fills rep with the limit, the mappings tried, the findings and
// the verdict.
func (r *LimitsResult) Report(rep *report.Report) {
	r.report(rep)
	l := r.Limit
	rep.IGD.Via, rep.IGD.Client = l.Via, l.Client.String()
	rep.IGD.Limit = ReportLimit(l)
	rep.IGD.Mappings = ReportMappings(l.Mappings, l.Client)
	rep.IGD.Notes = l.Notes
	rep.Add(LimitFindings(l)...)
	rep.Verdict = LimitsVerdict(l)
	if l.Interrupted {
		rep.Checks = append(rep.Checks, report.Check{Name: "upnp limits", Status: report.CheckFailed, Detail: "interrupted; mappings removed"})
	}
}

// LimitsVerdict is the one-sentence summary of the limit test.
func LimitsVerdict(r *LimitResult) string {
	via := ViaName(r.Via)
	rules := ""
	if r.Restricted && len(r.Allowed) > 0 {
		rules = fmt.Sprintf("The router's rules allow only ports %s. ", rangesText(r.Allowed))
	}
	switch {
	case r.Restricted && len(r.Allowed) == 0 && r.SearchGap > 0:
		return fmt.Sprintf("The router's rules refused all %d %s ports natdoc asked for via %s, at most %d apart: UPnP opens nothing here unless the router allows a narrower range between them; forward ports by hand.",
			r.SearchRequests, r.Proto, via, r.SearchGap)
	case r.Restricted && len(r.Allowed) == 0:
		return fmt.Sprintf("The router's rules refused every %s port natdoc asked for via %s: UPnP opens nothing here; forward ports by hand.", r.Proto, via)
	case r.Cause == CausePermission:
		return rules + fmt.Sprintf("It accepted all %d %s mappings there via %s: at most %d simultaneous calls through %s.",
			r.Accepted, r.Proto, via, CallsFor(r.Accepted), via)
	case r.Reached():
		return rules + fmt.Sprintf("The router accepted %d %s mappings via %s, then refused (%d %s): at most %d simultaneous calls through %s; beyond that forward ports by hand.",
			r.Accepted, r.Proto, via, r.Refusal.ErrorCode, errorText(r.Via, r.Refusal.ErrorCode, r.Refusal.Err), CallsFor(r.Accepted), via)
	}
	return rules + fmt.Sprintf("The router accepted all %d %s mappings asked via %s (no limit reached): at least %d simultaneous calls.",
		r.Accepted, r.Proto, via, CallsFor(r.Accepted))
}

// Cleanup runs `upnp cleanup` and `unmap`: the journal's mappings that
// match (nil: all) are removed, after checking each is still natdoc's.
func (c Command) Cleanup(ctx context.Context, match func(JournalEntry) bool) (*CleanupResult, error) {
	return Cleanup(ctx, c.Options, c.Journal, match)
}

// Report fills rep with what the cleanup did and its verdict.
func (c *CleanupResult) Report(rep *report.Report) {
	rep.IGD = &report.IGDReport{Chosen: -1, Journal: c.JournalPath, Cleanup: ReportCleanup(c)}
	rep.Add(CleanupFindings(c)...)
	rc := rep.IGD.Cleanup
	if rc.Pending == 0 {
		rep.Verdict = "The journal holds no mappings: nothing to remove."
		return
	}
	rep.Verdict = fmt.Sprintf("Removed %d mapping(s) natdoc had made; %d were already gone, %d now belong to someone else (left alone), %d failed, %d held by a running natdoc.",
		rc.Removed, rc.AlreadyGone, rc.NotOurs, len(rc.Failed), rc.InUse)
}
