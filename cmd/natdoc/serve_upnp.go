package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
)

// UPnP forwarding for `natdoc serve --upnp`, as the seed's server does.
const (
	// upnpLease: mappings outlive no crash by long; a clean exit removes
	// them at once, `natdoc upnp cleanup` after a crash (journal).
	upnpLease = 2 * time.Hour
	// upnpReleaseTimeout bounds removing the mappings on exit: one HTTP
	// round trip per mapping on a LAN.
	upnpReleaseTimeout = 15 * time.Second
	// defaultUPnPPairs: 10 RTP/RTCP pairs (5 relayed calls with both legs
	// outside) plus SIP stay under the ~30 mappings many routers allow.
	defaultUPnPPairs = 10
)

// upnpForward is what --upnp set up.
type upnpForward struct {
	session  *igd.Session
	external string // the router's external IP, the default main address
	pairs    int    // RTP/RTCP pairs forwarded from the start of --rtp-ports
	findings []report.Finding
	mapped   []string
}

// forwardPorts maps the SIP port and up to o.UPnPPairs RTP pairs. A router
// refusing some RTP pairs is a finding, not an error: the relay then uses
// the pairs it got.
func (o *serveOptions) forwardPorts(ctx context.Context, a *app) (*upnpForward, error) {
	opt := igd.Options{URL: o.UPnPURL, Log: a.log}
	d, err := igd.Discover(ctx, opt)
	if err != nil {
		return nil, cannotRunErrorf("--upnp: %w", err)
	}
	path := o.UPnPJournal
	if path == "" {
		if path, err = igd.DefaultJournalPath(); err != nil {
			return nil, cannotRunErrorf("--upnp: %w", err)
		}
	}
	s, err := igd.NewSession(d, opt, igd.ViaAuto, igd.OpenJournal(path))
	if err != nil {
		return nil, cannotRunErrorf("--upnp: %w", err)
	}
	f := &upnpForward{session: s}
	sip := []string{"UDP"}
	if o.TCP {
		sip = append(sip, "TCP")
	}
	for _, proto := range sip {
		m, err := s.Map(ctx, igd.Request{Proto: proto, ExternalPort: o.listen.Port(), InternalPort: o.listen.Port(), Lease: upnpLease})
		if err != nil {
			f.release()
			return nil, cannotRunErrorf("--upnp: forward SIP %d/%s: %w", o.listen.Port(), proto, err)
		}
		f.external = m.External().Addr().String()
		f.mapped = append(f.mapped, fmt.Sprintf("%d/%s", o.listen.Port(), proto))
	}
	for i := range o.UPnPPairs {
		base := uint16(o.portMin + 2*i)
		if int(base)+1 > o.portMax {
			break
		}
		if err := f.mapPair(ctx, base); err != nil {
			f.findings = append(f.findings, limitFinding(len(f.mapped), base, err, i))
			break
		}
		f.pairs++
	}
	f.findings = append(f.findings, report.Finding{ID: igd.FindingForwarded, Severity: report.SeverityInfo,
		Title:  fmt.Sprintf("The router forwards %d ports to this server via %s; they are removed on exit", len(f.mapped), s.Via()),
		Remedy: "", Evidence: []report.Evidence{{Text: "forwarded ports", Values: []report.KeyValue{{Key: "ports", Value: strings.Join(f.mapped, ", ")}, {Key: "external address", Value: f.external}}}}})
	return f, nil
}

func (f *upnpForward) mapPair(ctx context.Context, base uint16) error {
	for _, p := range []uint16{base, base + 1} {
		if _, err := f.session.Map(ctx, igd.Request{Proto: "UDP", ExternalPort: p, InternalPort: p, Lease: upnpLease}); err != nil {
			return err
		}
		f.mapped = append(f.mapped, fmt.Sprintf("%d/UDP", p))
	}
	return nil
}

// limitFinding: the router stopped taking mappings; the relay is limited
// to what was forwarded.
func limitFinding(held int, port uint16, err error, pairs int) report.Finding {
	return report.Finding{ID: igd.FindingMappingLimit, Severity: report.SeverityWarning,
		Title:    fmt.Sprintf("The router refused mapping %d/UDP after %d mappings: the relay uses the %d RTP pairs it got", port, held, pairs),
		Evidence: []report.Evidence{{Text: err.Error(), Values: []report.KeyValue{{Key: "UPnP error", Value: fmt.Sprint(igd.ErrorCode(err))}}}},
		Remedy:   "Many routers allow fewer than 30 UPnP mappings. Forward UDP 5060 and the RTP range to this host by hand, and run natdoc serve without --upnp."}
}

// release removes every mapping, also after Ctrl-C (its own context).
func (f *upnpForward) release() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), upnpReleaseTimeout)
	defer cancel()
	return f.session.Close(ctx)
}
