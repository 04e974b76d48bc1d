package main

import (
	"context"
	"fmt"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
)

// UPnP forwarding for `natdoc serve --upnp`.
const (
	// upnpLease: the mappings are renewed at half of it while serve runs,
	// so those of a killed server expire within it (`natdoc upnp
	// cleanup` removes them at once, from the journal).
	upnpLease = 30 * time.Minute
	// defaultUPnPPairs: 10 RTP/RTCP pairs (5 relayed calls with both legs
	// outside) plus SIP stay under the ~30 mappings many routers allow.
	defaultUPnPPairs = 10
)

// upnpForward is what --upnp set up.
type upnpForward struct {
	fw       *igd.Forwarding
	external string // the router's external IP, the default main address
	pairs    int    // RTP/RTCP pairs forwarded, from o.portMin on
	findings []report.Finding
	mapped   []string
}

// forwardPorts asks the router for the SIP port and o.UPnPPairs RTP pairs
// (igd.ForwardForServer). When the router's rules refuse the --rtp-ports
// range, the pairs lie in a range they allow: o.portMin moves there, and
// the relay uses the pairs forwarded.
func (o *serveOptions) forwardPorts(ctx context.Context, a *app) (*upnpForward, error) {
	path := o.UPnPJournal
	if path == "" {
		var err error
		if path, err = igd.DefaultJournalPath(); err != nil {
			return nil, cannotRunErrorf("--upnp: %w", err)
		}
	}
	fw, err := igd.ForwardForServer(ctx, igd.Options{URL: o.UPnPURL, Log: a.log}, igd.ServerForward{
		SIPPort: o.listen.Port(), TCP: o.TCP, RTP: igd.PortRange{Lo: uint16(o.portMin), Hi: uint16(o.portMax)},
		Pairs: o.UPnPPairs, Lease: upnpLease, Journal: igd.OpenJournal(path)})
	if err != nil {
		return nil, cannotRunErrorf("--upnp: %w", err)
	}
	if fw.Moved {
		fmt.Fprintf(a.stderr, "natdoc serve: the router's rules refuse RTP ports %d-%d; relaying on %s instead\n", o.portMin, o.portMax, fw.RTP)
	}
	if fw.Pairs > 0 {
		o.portMin, o.portMax = int(fw.RTP.Lo), int(fw.RTP.Hi)
	}
	return &upnpForward{fw: fw, external: fw.External.String(), pairs: fw.Pairs, findings: fw.Findings, mapped: fw.Mapped}, nil
}

// release stops the renewals and removes every mapping, also after
// Ctrl-C.
func (f *upnpForward) release() (int, error) { return f.fw.Close() }
