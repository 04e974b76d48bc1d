package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
)

// UPnP forwarding for `natdoc serve --upnp`: the router forwards the SIP
// port and RTP pairs to this host while it runs.
const (
	// upnpLease: the mappings are renewed at half of it while serve runs,
	// so those of a killed server expire within it (`natdoc upnp
	// cleanup` removes them at once, from the journal).
	upnpLease = 30 * time.Minute
	// DefaultUPnPPairs: 10 RTP/RTCP pairs (5 relayed calls with both legs
	// outside) plus SIP stay under the ~30 mappings many routers allow.
	DefaultUPnPPairs = 10
)

// UPnPOptions: which router to ask and how many RTP pairs.
type UPnPOptions struct {
	// URL is the IGD's root description (skips SSDP discovery).
	URL string
	// Pairs of RTP/RTCP ports forwarded.
	Pairs int
	// Journal records every mapping for `natdoc upnp cleanup` (default:
	// natdoc's state directory).
	Journal string
}

// upnpForward is what --upnp set up.
type upnpForward struct {
	fw        *igd.Forwarding
	discovery *igd.Discovery
	external  string // the router's external IP, the default main address
	findings  []report.Finding
	mapped    []string
}

// forwardPorts asks the router for the SIP port and o.UPnP.Pairs RTP pairs
// (igd.ForwardForServer). When the router's rules refuse the --rtp-ports
// range, the pairs lie in a range they allow: the relay's range moves
// there (o.PortMin, o.PortMax), and the user is told.
func forwardPorts(ctx context.Context, o *Options) (*upnpForward, error) {
	path := o.UPnP.Journal
	if path == "" {
		var err error
		if path, err = igd.DefaultJournalPath(); err != nil {
			return nil, fmt.Errorf("upnp: %w", err)
		}
	}
	journal := igd.OpenJournal(path)
	removeLeftovers(ctx, o, journal)
	fw, err := igd.ForwardForServer(ctx, igd.Options{URL: o.UPnP.URL, Log: o.Log}, igd.ServerForward{
		SIPPort: o.Listen.Port(), TCP: o.TCP, RTP: igd.PortRange{Lo: uint16(o.PortMin), Hi: uint16(o.PortMax)},
		Pairs: o.UPnP.Pairs, Lease: upnpLease, Journal: journal})
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	if fw.Moved {
		o.Notify(fmt.Sprintf("the router's rules refuse RTP ports %d-%d; relaying on %s instead", o.PortMin, o.PortMax, fw.RTP))
	}
	if fw.Pairs > 0 {
		o.PortMin, o.PortMax = int(fw.RTP.Lo), int(fw.RTP.Hi)
	}
	return &upnpForward{fw: fw, discovery: fw.Discovery, external: fw.External.String(), findings: fw.Findings, mapped: fw.Mapped}, nil
}

// removeLeftovers removes the mappings an earlier natdoc that is gone
// (killed, crashed, the power cut) left on the router, as `natdoc upnp
// cleanup` would: they would otherwise hold ports until their lease ends.
// Mappings a user asked to keep, and those of a natdoc still running, stay.
func removeLeftovers(ctx context.Context, o *Options, j *igd.Journal) {
	res, err := igd.Cleanup(ctx, igd.Options{URL: o.UPnP.URL, Log: o.Log}, j, func(e igd.JournalEntry) bool { return !e.Kept })
	switch {
	case err != nil:
		o.Notify(fmt.Sprintf("reading the UPnP journal %s: %v", j.Path(), err))
	case len(res.Removed) > 0 || len(res.Failed) > 0:
		o.Notify(fmt.Sprintf("removed %d UPnP mappings an earlier natdoc left on the router (%d could not be removed)", len(res.Removed), len(res.Failed)))
	}
}

// releaseAndReport stops the renewals, removes every mapping (also after
// Ctrl-C) and says so when some are left.
func (f *upnpForward) releaseAndReport(o Options) {
	if n, err := f.fw.Close(); err != nil {
		o.Notify(fmt.Sprintf("removing UPnP mappings: %d removed, %v (run natdoc upnp cleanup)", n, err))
	}
}
