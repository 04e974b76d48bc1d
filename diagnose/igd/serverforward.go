package igd

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/natdoc/natdoc/report"
)

// ServerForward says what a SIP server behind the router needs forwarded
// (natdoc serve --upnp).
type ServerForward struct {
	SIPPort uint16
	TCP     bool      // SIP over TCP too
	RTP     PortRange // the server's relay range, tried first
	Pairs   int       // RTP/RTCP pairs wanted: an even port and the next
	// Lease asked for each mapping; the mappings are renewed at half of
	// what is left of it, so a killed server's mappings soon expire.
	Lease   time.Duration
	Via     string // ViaAuto (default), ViaUPnP, ViaNATPMP or ViaPCP
	Journal *Journal
}

// minRenewWait keeps renewals of a router that grants very short leases
// from flooding it.
const minRenewWait = time.Second

// Forwarding is what the router forwards for the server; it is renewed
// until Close removes it.
type Forwarding struct {
	Via string
	// External is the router's external address: the server's public
	// address unless the user names another.
	External netip.Addr
	// Mapped lists the ports forwarded ("5060/UDP").
	Mapped []string
	// RTP is the range of the pairs forwarded, which the relay must use;
	// zero when no pair could be forwarded.
	RTP   PortRange
	Pairs int
	// Moved: RTP lies outside the server's range, whose ports the
	// router's rules refuse.
	Moved    bool
	Findings []report.Finding
	// Discovery is what the router search found, for later questions to
	// the same router (its external address).
	Discovery *Discovery

	s      *Session
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	renewd int
	rerr   error
}

// ForwardForServer discovers the router, forwards the SIP port (and
// TCP), then RTP pairs in the server's range or, when the router's rules
// refuse that range, in a range they allow, and keeps them renewed. A
// refusal of the SIP port is an error; fewer RTP pairs than wanted are a
// finding, and the relay uses what was forwarded.
func ForwardForServer(ctx context.Context, opt Options, sf ServerForward) (*Forwarding, error) {
	d, err := Discover(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("upnp: %w", err)
	}
	via := sf.Via
	if via == "" {
		via = ViaAuto
	}
	s, err := NewSession(d, opt, via, sf.Journal)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, DiscoverVerdict(d))
	}
	f := &Forwarding{Via: s.Via(), Discovery: d, s: s, done: make(chan struct{})}
	// RTP first: while natdoc holds nothing, the search for allowed ports
	// may let the router choose (AddAnyPortMapping could otherwise take
	// the SIP mapping over).
	err = f.forwardRTP(ctx, sf)
	if err == nil {
		err = f.forwardSIP(ctx, sf)
	}
	if err != nil {
		f.s.Close(ctx)
		return nil, err
	}
	f.Findings = append(f.Findings, f.forwardedFinding(sf))
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = cancel
	go f.renew(rctx, opt)
	return f, nil
}

func (f *Forwarding) forwardSIP(ctx context.Context, sf ServerForward) error {
	protos := []string{"UDP"}
	if sf.TCP {
		protos = append(protos, "TCP")
	}
	for _, proto := range protos {
		m, err := f.s.Map(ctx, Request{Proto: proto, ExternalPort: sf.SIPPort, InternalPort: sf.SIPPort, Lease: sf.Lease})
		if err != nil {
			if ClassifyRefusal(f.Via, RefusalCode(err)) == RefusalPermission {
				return fmt.Errorf("forward SIP %d/%s: %w; the router's UPnP rules refuse this port: forward it by hand, or run the server on a port they allow", sf.SIPPort, proto, err)
			}
			return fmt.Errorf("forward SIP %d/%s: %w", sf.SIPPort, proto, err)
		}
		f.External = m.External().Addr()
		f.Mapped = append(f.Mapped, fmt.Sprintf("%d/%s", sf.SIPPort, proto))
	}
	return nil
}

// forwardRTP maps pairs from the start of the server's range; when the
// router's rules refuse its first pair, it finds the ranges they allow and
// maps the pairs in the first with room.
func (f *Forwarding) forwardRTP(ctx context.Context, sf ServerForward) error {
	refusal := f.mapPairs(ctx, sf, evenFrom(sf.RTP.Lo), sf.RTP.Hi)
	if f.Pairs == 0 && refusal != nil && refusal.Refusal == RefusalPermission && f.Via != ViaNATPMP {
		a, err := newPortAsker(ctx, f.s, "UDP", sf.Lease)
		if err != nil {
			return err
		}
		a.occupied[sf.SIPPort] = true // mapped next, not a port to try
		ranges, _, _ := a.search(ctx, map[uint16]portState{refusal.ExternalPort: portRefused})
		for _, r := range rangeFrom(ranges, sf.RTP.Lo) {
			if lo := evenFrom(r.Lo); lo != 0 && lo < r.Hi && ctx.Err() == nil {
				if refusal = f.mapPairs(ctx, sf, lo, r.Hi); f.Pairs > 0 {
					f.Moved = true
					f.Findings = append(f.Findings, f.movedFinding(sf, ranges))
					break
				}
			}
		}
	}
	if f.Pairs < sf.Pairs && refusal != nil {
		f.Findings = append(f.Findings, f.fewerPairsFinding(sf, refusal))
	}
	return ctx.Err()
}

func evenFrom(p uint16) uint16 {
	if p%2 == 1 && p < 65535 {
		return p + 1
	}
	return p
}

// mapPairs maps pairs from lo on (lo even) until enough, hi, or a refusal,
// which it returns. Pairs stay contiguous: the relay takes one range.
func (f *Forwarding) mapPairs(ctx context.Context, sf ServerForward, lo, hi uint16) *MappingResult {
	for base := int(lo); f.Pairs < sf.Pairs && base+1 <= int(hi); base += 2 {
		for _, p := range []uint16{uint16(base), uint16(base + 1)} {
			r := Request{Proto: "UDP", ExternalPort: p, InternalPort: p, Lease: sf.Lease}
			m, err := f.s.Map(ctx, r)
			if err == nil && m.External().Port() != p {
				// A NAT-PMP gateway placed it elsewhere: useless to a
				// relay that announces its own port.
				f.s.Release(ctx, m)
				err = &NATPMPError{Code: NATPMPNotAuthorized}
			}
			if err != nil {
				code := RefusalCode(err)
				return &MappingResult{Request: r, Via: f.Via, ErrorCode: code, Refusal: ClassifyRefusal(f.Via, code), Err: err.Error()}
			}
			f.Mapped = append(f.Mapped, fmt.Sprintf("%d/UDP", p))
		}
		if f.Pairs == 0 {
			f.RTP.Lo = uint16(base)
		}
		f.RTP.Hi = uint16(base + 1)
		f.Pairs++
	}
	return nil
}

// renew asks for every mapping again at half of the time left on the
// first lease to run out, until Close.
func (f *Forwarding) renew(ctx context.Context, opt Options) {
	defer close(f.done)
	for {
		next := f.s.NextExpiry()
		if next.IsZero() {
			return // permanent leases: nothing to renew
		}
		wait := max(time.Until(next)/2, minRenewWait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := f.s.Renew(ctx)
		f.mu.Lock()
		f.renewd++
		f.rerr = err
		f.mu.Unlock()
		if err != nil {
			opt.log().Warn("upnp: renewing the server's mappings", "err", err)
		}
	}
}

// Renewals says how often the mappings were renewed, and the last
// renewal's error.
func (f *Forwarding) Renewals() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renewd, f.rerr
}

// Close stops the renewals and removes every mapping, with a deadline of
// its own (it runs after Ctrl-C).
func (f *Forwarding) Close() (removed int, err error) {
	if f.stop != nil {
		f.stop()
		<-f.done
	}
	return f.s.Close(context.Background())
}

func (f *Forwarding) forwardedFinding(sf ServerForward) report.Finding {
	what := []report.KeyValue{{Key: "ports", Value: strings.Join(f.Mapped, ", ")}, {Key: "external address", Value: f.External.String()}}
	if f.Pairs > 0 {
		what = append(what, report.KeyValue{Key: "RTP range", Value: f.RTP.String()})
	}
	return report.Finding{ID: FindingForwarded, Severity: report.SeverityInfo,
		Title:    fmt.Sprintf("The router forwards %d ports to this server via %s; they are renewed while it runs and removed on exit", len(f.Mapped), ViaName(f.Via)),
		Evidence: []report.Evidence{{Text: "forwarded ports", Values: what}}}
}

func (f *Forwarding) movedFinding(sf ServerForward, allowed []PortRange) report.Finding {
	return report.Finding{ID: FindingRTPMoved, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("The router's UPnP rules refuse RTP ports %s; the relay uses %s instead, which they allow", sf.RTP, f.RTP),
		Evidence: []report.Evidence{{Text: "ports the router's rules allow, as found", Values: []report.KeyValue{
			{Key: "allowed", Value: rangesText(allowed)}, {Key: "relay range", Value: f.RTP.String()}}}},
		Remedy: fmt.Sprintf("Calls work as they are. To keep %s, forward it by hand and run natdoc serve without --upnp.", sf.RTP)}
}

func (f *Forwarding) fewerPairsFinding(sf ServerForward, refusal *MappingResult) report.Finding {
	return report.Finding{ID: FindingMappingLimit, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("The router refused mapping %d/UDP after %d mappings: the relay uses the %d RTP pairs it got", refusal.ExternalPort, len(f.Mapped), f.Pairs),
		Evidence: []report.Evidence{{Text: refusal.Err, Values: []report.KeyValue{
			{Key: "error", Value: fmt.Sprintf("%d %s", refusal.ErrorCode, errorText(f.Via, refusal.ErrorCode, refusal.Err))},
			{Key: "refusal", Value: string(refusal.Refusal)}}}},
		Remedy: fmt.Sprintf("Forward UDP %d and the RTP range %s to this host by hand, and run natdoc serve without --upnp.", sf.SIPPort, sf.RTP)}
}
