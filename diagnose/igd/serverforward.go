package igd

import (
	"cmp"
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
	// SIPOutside, when set, is the outside port to forward to SIPPort
	// (the router must give that one); 0 asks for SIPPort, or another the
	// router chooses when it holds that one.
	SIPOutside uint16
	TCP        bool      // SIP over TCP too
	RTP        PortRange // the server's relay range, where RTP pairs go first
	// Pairs are the RTP/RTCP pairs (an even port and the next) forwarded
	// at start; AddPairs forwards more as calls need them.
	Pairs int
	// MaxPairs caps the pairs forwarded at once (0: only the router's
	// limit and the RTP range do).
	MaxPairs int
	// Lease asked for each mapping; the mappings are renewed at half of
	// what is left of it, so a killed server's mappings soon expire.
	Lease   time.Duration
	Via     string // ViaAuto (default), ViaUPnP, ViaNATPMP or ViaPCP
	Journal *Journal
}

// minRenewWait keeps renewals of a router that grants very short leases
// from flooding it.
const minRenewWait = time.Second

// Forwarding is what the router forwards for the server: the SIP port and
// RTP pairs, which AddPairs and ReleasePairs change while it runs. It is
// renewed until Close removes it all.
type Forwarding struct {
	Via string
	// External is the router's external address: the server's public
	// address unless the user names another.
	External netip.Addr
	// SIPExternal is the outside port the SIP port is forwarded from: the
	// SIP port itself unless the router gave another (it holds that one).
	SIPExternal uint16
	// Mapped lists the ports forwarded at start ("5060/UDP", "5061/UDP to
	// 5060").
	Mapped []string
	// RTP is the range of the pairs forwarded at start; zero when none
	// could be.
	RTP   PortRange
	Pairs int // RTP pairs forwarded at start
	// Moved: the pairs forwarded at start lie outside the server's range,
	// whose ports the router's rules refuse.
	Moved bool
	// Findings are those of the start: what is forwarded, and why it is
	// not what was asked. LaterFindings has those of AddPairs after it.
	Findings []report.Finding
	// Discovery is what the router search found, for later questions to
	// the same router (its external address).
	Discovery *Discovery

	s    *Session
	sf   ServerForward
	life context.Context // ends with Close: renewals and growth stop
	stop context.CancelFunc
	done chan struct{}

	// growMu: one AddPairs at a time; it guards grow.
	growMu sync.Mutex
	grow   growth

	mu    sync.Mutex
	pairs map[uint16][2]mapping  // forwarded RTP pairs by even base port
	busy  func(base uint16) bool // SkipBusy
	limit *PairLimit
	found []report.Finding // findings of AddPairs, start included
	// limitsNoted: causes of a limit already told in found.
	limitsNoted map[LimitCause]bool
	atStart     int // len(found) when ForwardForServer returned
	peak        int
	added       int
	released    int
	renewd      int
	rerr        error
}

// ForwardForServer discovers the router, forwards RTP pairs in the
// server's range or, when the router's rules refuse that range, in a range
// they allow, then the SIP port (and TCP), and keeps them renewed. A
// refusal of the SIP port is an error; fewer RTP pairs than wanted are a
// finding, and AddPairs may find more later.
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
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := &Forwarding{Via: s.Via(), Discovery: d, s: s, sf: sf, life: life, stop: stop, done: make(chan struct{}),
		pairs: map[uint16][2]mapping{}, grow: newGrowth(sf.RTP), limitsNoted: map[LimitCause]bool{}}
	// RTP first: while natdoc holds nothing, the search for allowed ports
	// may let the router choose (AddAnyPortMapping could otherwise take
	// the SIP mapping over).
	bases, err := f.AddPairs(ctx, sf.Pairs)
	if err != nil && ctx.Err() == nil {
		opt.log().Warn("upnp: forwarding RTP pairs", "err", err) // the SIP port's answer decides
	}
	if ctx.Err() == nil {
		err = f.forwardSIP(ctx)
	}
	if err = firstErr(ctx.Err(), err); err != nil {
		stop()
		close(f.done)
		f.s.Close(ctx)
		return nil, err
	}
	f.started(bases)
	go f.renew(life, opt)
	return f, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// started fills the start's summary from the pairs forwarded (bases, in
// the order forwarded).
func (f *Forwarding) started(bases []uint16) {
	for i, b := range bases {
		if i == 0 || b < f.RTP.Lo {
			f.RTP.Lo = b
		}
		f.RTP.Hi = max(f.RTP.Hi, b+1)
		f.Moved = f.Moved || !f.sf.RTP.Contains(b)
		f.Mapped = append(f.Mapped, fmt.Sprintf("%d/UDP", b), fmt.Sprintf("%d/UDP", b+1))
	}
	f.Pairs = len(bases)
	f.mu.Lock()
	f.atStart = len(f.found)
	f.Findings = append(append([]report.Finding(nil), f.found...), f.forwardedFinding())
	f.mu.Unlock()
}

// forwardSIP maps the SIP port over UDP, from SIPOutside when set, else
// letting the router choose another outside port when it holds that one
// for another client or itself (IGDv2 AddAnyPortMapping, NAT-PMP, PCP),
// and over TCP at the outside port UDP got: SIPExternal.
func (f *Forwarding) forwardSIP(ctx context.Context) error {
	sf := f.sf
	protos := []string{"UDP"}
	if sf.TCP {
		protos = append(protos, "TCP")
	}
	f.SIPExternal = cmp.Or(sf.SIPOutside, sf.SIPPort)
	for _, proto := range protos {
		m, err := f.s.Map(ctx, Request{Proto: proto, ExternalPort: f.SIPExternal, InternalPort: sf.SIPPort, Lease: sf.Lease,
			AnyPort: proto == "UDP" && sf.SIPOutside == 0})
		if err != nil {
			if ClassifyRefusal(f.Via, RefusalCode(err)) == RefusalPermission {
				return fmt.Errorf("forward SIP %d/%s: %w; the router's UPnP rules refuse this port: forward it by hand, or run the server on a port they allow", f.SIPExternal, proto, err)
			}
			return fmt.Errorf("forward SIP %d/%s: %w", f.SIPExternal, proto, err)
		}
		f.External = m.External().Addr()
		if got := m.External().Port(); got != 0 && got != f.SIPExternal {
			if proto == "TCP" || sf.SIPOutside != 0 {
				// One outside port for both transports, or peers would
				// be given one that does not lead here for one of them
				// (the session releases what it mapped).
				return fmt.Errorf("forward SIP %d/%s: the router gave outside port %d, not %d", f.SIPExternal, proto, got, f.SIPExternal)
			}
			f.SIPExternal = got
		}
		name := fmt.Sprintf("%d/%s", f.SIPExternal, proto)
		if f.SIPExternal != sf.SIPPort {
			name = fmt.Sprintf("%d/%s to %d", f.SIPExternal, proto, sf.SIPPort)
		}
		f.Mapped = append([]string{name}, f.Mapped...)
	}
	return nil
}

func evenFrom(p uint16) uint16 {
	if p%2 == 1 && p < 65535 {
		return p + 1
	}
	return p
}

// renew asks for every mapping again at half of the time left on the
// first lease to run out, until Close.
func (f *Forwarding) renew(ctx context.Context, opt Options) {
	defer close(f.done)
	for {
		wait := time.Minute // nothing held yet, or permanent leases: look again later
		if next := f.s.NextExpiry(); !next.IsZero() {
			wait = max(time.Until(next)/2, minRenewWait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if f.s.NextExpiry().IsZero() {
			continue
		}
		err := f.s.Renew(ctx)
		f.mu.Lock()
		f.renewd++
		f.rerr = err
		f.mu.Unlock()
		if err != nil && ctx.Err() == nil {
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

// Close stops the renewals and any growth, and removes every mapping,
// with a deadline of its own (it runs after Ctrl-C).
func (f *Forwarding) Close() (removed int, err error) {
	f.stop()
	f.growMu.Lock() // an AddPairs in flight ends with f.life
	defer f.growMu.Unlock()
	<-f.done
	return f.s.Close(context.Background())
}

func (f *Forwarding) forwardedFinding() report.Finding {
	what := []report.KeyValue{{Key: "ports", Value: strings.Join(f.Mapped, ", ")}, {Key: "external address", Value: f.External.String()}}
	if f.Pairs > 0 {
		what = append(what, report.KeyValue{Key: "RTP range", Value: f.RTP.String()})
	}
	return report.Finding{ID: FindingForwarded, Severity: report.SeverityInfo,
		Title:    fmt.Sprintf("The router forwards %d ports to this server via %s; they are renewed while it runs and removed on exit", len(f.Mapped), ViaName(f.Via)),
		Evidence: []report.Evidence{{Text: "forwarded ports", Values: what}}}
}

func (f *Forwarding) movedFinding(base uint16) report.Finding {
	where := rangesText(f.grow.allowed)
	if where == "" {
		where = fmt.Sprintf("%d up", base)
	}
	return report.Finding{ID: FindingRTPMoved, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("The router's UPnP rules refuse RTP ports in %s; the relay takes forwarded pairs from %s instead, which they allow", f.sf.RTP, where),
		Evidence: []report.Evidence{{Text: "ports the router's rules allow, as found", Values: []report.KeyValue{
			{Key: "allowed", Value: where}, {Key: "first pair there", Value: PortRange{base, base + 1}.String()}}}},
		Remedy: fmt.Sprintf("Calls work as they are. To keep %s, forward it by hand and run natdoc serve without --upnp.", f.sf.RTP)}
}

// limitFinding says why no more RTP pairs are forwarded and what that
// means for calls: a pair carries the leg of one party outside the LAN.
func (f *Forwarding) limitFinding(l *PairLimit) report.Finding {
	carries := fmt.Sprintf("%d RTP pairs carry %d calls at once with one party outside the LAN, %d with both", l.At, l.At, l.At/2)
	fd := report.Finding{ID: FindingMappingLimit, Severity: report.SeverityWarning,
		Remedy: fmt.Sprintf("Forward UDP %d and the RTP range %s to this host by hand in the router's port-forwarding page, and run natdoc serve without --upnp.", f.sf.SIPPort, f.sf.RTP)}
	ev := report.Evidence{Text: "why no more RTP pairs are forwarded", Values: []report.KeyValue{
		{Key: "cause", Value: string(l.Cause)}, {Key: "RTP pairs held", Value: fmt.Sprint(l.At)}, {Key: "via", Value: f.Via}}}
	if r := l.Refusal; r != nil {
		ev.Values = append(ev.Values, report.KeyValue{Key: "refused", Value: fmt.Sprintf("%d/UDP: %d %s", r.ExternalPort, r.ErrorCode, errorText(f.Via, r.ErrorCode, r.Err))})
	}
	switch l.Cause {
	case CauseTableSize:
		fd.Title = fmt.Sprintf("The router's table is full after %d RTP pairs and the SIP port: %s; calls beyond are refused until some end", l.At, carries)
	case CausePermission:
		fd.Title = fmt.Sprintf("The router's UPnP rules allow no more ports after %d RTP pairs: %s; calls beyond are refused until some end", l.At, carries)
		if len(l.Allowed) > 0 {
			ev.Values = append(ev.Values, report.KeyValue{Key: "allowed", Value: rangesText(l.Allowed)})
		}
	case CauseRTPRange:
		fd.ID = FindingRTPPairsUsedUp
		fd.Title = fmt.Sprintf("Every pair of the RTP range %s is forwarded (%d): %s; calls beyond are refused until some end", f.sf.RTP, l.At, carries)
		fd.Remedy = "Give the server a wider RTP range (natdoc serve --rtp-ports)."
	case CauseMaxPairs:
		fd.ID, fd.Severity = FindingRTPPairsUsedUp, report.SeverityInfo
		fd.Title = fmt.Sprintf("natdoc forwards at most the %d RTP pairs asked for: %s", l.At, carries)
		fd.Remedy = "Raise the cap (natdoc serve --upnp-rtp-pairs) if more calls at once are needed."
	default:
		fd.Title = fmt.Sprintf("The router refused a mapping after %d RTP pairs (%s): %s; calls beyond are refused until some end", l.At, l.Cause, carries)
	}
	fd.Evidence = []report.Evidence{ev}
	return fd
}

// PairsFinding sums up the RTP pairs forwarded as calls needed them.
func (f *Forwarding) PairsFinding() report.Finding {
	st := f.Stats()
	vals := []report.KeyValue{{Key: "most at once", Value: fmt.Sprint(st.Peak)}, {Key: "added", Value: fmt.Sprint(st.Added)},
		{Key: "released", Value: fmt.Sprint(st.Released)}, {Key: "held at the end", Value: fmt.Sprint(st.Held)}}
	if len(st.Ranges) > 0 {
		vals = append(vals, report.KeyValue{Key: "ports held at the end", Value: rangesText(st.Ranges)})
	}
	return report.Finding{ID: FindingRTPPairs, Severity: report.SeverityInfo,
		Title:    fmt.Sprintf("The router forwarded RTP pairs as calls needed them: at most %d at once, %d added and %d released while serving", st.Peak, st.Added, st.Released),
		Evidence: []report.Evidence{{Text: "RTP/RTCP pairs forwarded via " + ViaName(f.Via), Values: vals}}}
}
