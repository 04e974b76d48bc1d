package proxy

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
)

// UPnP forwarding for `natdoc serve --upnp`: the router forwards the SIP
// port and, with the built-in relay, RTP pairs as calls need them.
const (
	// upnpLease: the mappings are renewed at half of it while serve runs,
	// so those of a killed server expire within it (`natdoc upnp
	// cleanup` removes them at once, from the journal).
	upnpLease = 30 * time.Minute
	// DefaultUPnPPairs: without the relay (--fix=false) nothing knows when
	// calls start, so this many pairs are forwarded at start: 10 RTP/RTCP
	// pairs plus SIP stay under the ~30 mappings many routers allow.
	DefaultUPnPPairs = 10
	// DefaultUPnPIdleRelease: a forwarded pair beyond the spare that no
	// call used for this long goes back to the router. Calls in a busy
	// spell end and start within a minute or two, so their pairs are
	// reused rather than asked for again; a table shared with other
	// devices gets its entries back within minutes of the spell's end.
	DefaultUPnPIdleRelease = 2 * time.Minute
)

// UPnPOptions: which router to ask and how many RTP pairs.
type UPnPOptions struct {
	// URL is the IGD's root description (skips SSDP discovery).
	URL string
	// Pairs: with the built-in relay, the most RTP/RTCP pairs forwarded
	// at once (0: as many as calls need, up to what the router accepts);
	// with --fix=false, the pairs forwarded at start (0:
	// DefaultUPnPPairs). With rtpengine only the SIP port is forwarded.
	Pairs int
	// IdleRelease: how long a forwarded pair beyond the spare stays
	// unused before it goes back to the router (0:
	// DefaultUPnPIdleRelease).
	IdleRelease time.Duration
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
	// onDemand: the relay's pairs are forwarded as calls need them
	// (pairDemand); asked is what the start asked for.
	onDemand bool
	asked    int
}

// forwardPorts asks the router for the SIP port and RTP pairs
// (igd.ForwardForServer): with the built-in relay a few spare pairs,
// more later as calls need them; with --fix=false a fixed set, in whose
// range the server then takes its ports (o.PortMin, o.PortMax); with
// rtpengine none. When the router's rules refuse the --rtp-ports range,
// the pairs lie in a range they allow, and the user is told.
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
	sf := igd.ServerForward{SIPPort: o.Listen.Port(), SIPOutside: uint16(o.PublicPort), TCP: o.TCP, RTP: igd.PortRange{Lo: uint16(o.PortMin), Hi: uint16(o.PortMax)},
		Lease: upnpLease, Journal: journal}
	f := &upnpForward{}
	switch {
	case len(o.Engines) > 0:
		// The engine's ports are its own: SIP only.
	case o.Fix:
		f.onDemand, sf.MaxPairs = true, o.UPnP.Pairs
		sf.Pairs = upnpSparePairs
		if sf.MaxPairs > 0 {
			sf.Pairs = min(sf.Pairs, sf.MaxPairs)
		}
	default:
		sf.Pairs = cmp.Or(o.UPnP.Pairs, DefaultUPnPPairs)
	}
	f.asked = sf.Pairs
	fw, err := igd.ForwardForServer(ctx, igd.Options{URL: o.UPnP.URL, Log: o.Log}, sf)
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	if fw.Moved {
		o.Notify(fmt.Sprintf("the router's rules refuse RTP ports %d-%d; RTP pairs are forwarded from %s instead", o.PortMin, o.PortMax, fw.RTP))
	}
	if fw.Pairs > 0 && !f.onDemand {
		o.PortMin, o.PortMax = int(fw.RTP.Lo), int(fw.RTP.Hi)
	}
	f.fw, f.discovery, f.external, f.findings, f.mapped = fw, fw.Discovery, fw.External.String(), fw.Findings, fw.Mapped
	if fw.SIPExternal != 0 && fw.SIPExternal != o.Listen.Port() && int(fw.SIPExternal) != o.PublicPort {
		// The router holds the SIP port for another client or itself:
		// peers outside get the port it gave (portFor).
		o.PublicPort = int(fw.SIPExternal)
		o.Notify(fmt.Sprintf("the router holds outside port %d for another device or itself and forwards %d to this server's %d instead: phones outside are given %d",
			o.Listen.Port(), fw.SIPExternal, o.Listen.Port(), fw.SIPExternal))
	}
	return f, nil
}

// laterFindings: what the forwarding learned while serving, and with
// pairs forwarded on demand, how many it took.
func (f *upnpForward) laterFindings() []report.Finding {
	out := f.fw.LaterFindings()
	if f.onDemand {
		out = append(out, f.fw.PairsFinding())
	}
	return out
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
