package igd

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// LimitOptions configure the limit test.
type LimitOptions struct {
	Proto     string // "UDP" (default) or "TCP"
	StartPort uint16 // first external (and internal) port tried
	Max       int    // stop after this many accepted mappings
	Lease     time.Duration
	// RTP is the SIP server's RTP range the result's advice is about
	// (zero: Max ports from StartPort).
	RTP PortRange
	// VerifyServer, when valid, proves each accepted mapping with an
	// inbound STUN packet (RFC 5780 RESPONSE-PORT).
	VerifyServer netip.AddrPort
	// Progress is called after each attempt (accepted so far, Max).
	Progress func(done, max int)
}

// MappingResult is one mapping asked for, and what came of it.
type MappingResult struct {
	Request
	Via      string
	Accepted bool
	// ErrorCode is the protocol's refusal code (UPnP error code, PCP or
	// NAT-PMP result code); Refusal what it means.
	ErrorCode  int
	Refusal    Refusal
	Err        string
	External   netip.AddrPort
	ReadBack   *Entry // nil: absent on read-back, or not read back
	ReadBackOK Tri    // present and pointing at us
	// Granted is the lease a PCP or NAT-PMP gateway answered with (UPnP:
	// ReadBack's lease).
	Granted time.Duration
	Verify  *VerifyResult
}

// Tri is "not checked" / yes / no.
type Tri int8

const (
	Unknown Tri = iota
	Yes
	No
)

// LimitCause says what limits the mappings the router accepts.
type LimitCause string

const (
	// CauseNone: natdoc's maximum was accepted; no limit found.
	CauseNone LimitCause = ""
	// CauseTableSize: the router's table was full while ports its rules
	// allow were still free.
	CauseTableSize LimitCause = "table-size"
	// CausePermission: every port the router's rules allow (as found) was
	// mapped or held by others.
	CausePermission LimitCause = "permission-rules"
	// CauseLease: the router refused the lease asked, also after the
	// retry a lease quirk gets.
	CauseLease LimitCause = "lease-policy"
	// CauseOther: another refusal (see Refusal).
	CauseOther LimitCause = "other"
)

// LimitResult is what the limit test measured.
type LimitResult struct {
	Via      string
	Client   netip.Addr
	Proto    string
	Max      int
	Asked    int
	Accepted int
	Applied  int // present on read-back (UPnP only)
	ReadBack bool
	Verified int
	Verify   bool
	// Cause is what limits the mappings (CauseNone: Max accepted).
	Cause LimitCause
	// Refusal is the refusal that ended the test (nil when it ended
	// because Max were accepted or the allowed ports ran out without
	// one).
	Refusal *MappingResult
	// Restricted: the router's rules refused some ports; Allowed are the
	// ranges they allow, as found (nil when not Restricted).
	Restricted bool
	Allowed    []PortRange
	// SearchRequests counts the mappings asked (and released at once)
	// to find the allowed ranges.
	SearchRequests int
	// SearchGap: when no allowed port was found by asking for exact ports
	// (the router could not choose one), the widest run of ports between
	// two asked; a narrower allowed range may lie in one.
	SearchGap int
	// RTP is the server's RTP range the advice is about.
	RTP PortRange
	// Skipped are ports already in the router's table for another
	// mapping: natdoc does not touch them.
	Skipped   []uint16
	Conflicts int // another client held the port (UPnP 718)
	Mappings  []MappingResult
	Notes     []string
	Removed   int
	RemoveErr string
	// Interrupted: the context ended before the test did.
	Interrupted bool
}

// Reached reports whether the test found the router's limit (fewer than
// Max accepted).
func (r *LimitResult) Reached() bool { return r.Cause != CauseNone }

// Limits adds mappings one by one from StartPort until the router refuses
// or Max are accepted, reads each back, optionally verifies each with a
// packet, and removes them all (also when ctx is cancelled). A refusal of
// one port by the router's rules is not the limit: natdoc then finds the
// ranges the rules allow and goes on there. Ports other mappings use are
// never asked for.
func Limits(ctx context.Context, s *Session, opt Options, lo LimitOptions) (res *LimitResult, err error) {
	if lo.Proto == "" {
		lo.Proto = "UDP"
	}
	if lo.Max <= 0 || lo.StartPort == 0 {
		return nil, errors.New("limits: need Max > 0 and a start port")
	}
	if lo.RTP.Len() == 0 {
		lo.RTP = PortRange{lo.StartPort, uint16(min(int(lo.StartPort)+lo.Max-1, searchHigh))}
	}
	res = &LimitResult{Via: s.Via(), Client: s.Client(), Proto: upnpProtocol(lo.Proto), Max: lo.Max,
		Verify: lo.VerifyServer.IsValid(), RTP: lo.RTP}
	defer func() {
		n, cerr := s.Close(ctx)
		res.Removed = n
		if cerr != nil {
			res.RemoveErr = cerr.Error()
		}
		res.Notes = s.Notes()
	}()
	l, err := newLimiter(ctx, s, opt, lo, res)
	if err != nil {
		return res, err
	}
	l.fill(ctx, []PortRange{{lo.StartPort, searchHigh}}, true)
	// Search, fill, and search again while that finds more: a fill that
	// meets a gap inside a range the search read as one tells the next
	// search where to look.
	for round := 0; round < maxSearchRounds && l.searchMore(ctx); round++ {
		before := res.Accepted
		ranges := l.search(ctx)
		l.fill(ctx, rangeFrom(ranges, lo.StartPort), false)
		if res.Accepted == before {
			break
		}
	}
	l.finish(ctx)
	return res, nil
}

// maxSearchRounds bounds the search-and-fill rounds of one limit test.
const maxSearchRounds = 3

// searchMore: the rules refused a port and nothing else ended the test. A
// NAT-PMP gateway already walked past what its rules refuse.
func (l *limiter) searchMore(ctx context.Context) bool {
	return l.permission != nil && l.end == nil && l.res.Accepted < l.lo.Max && ctx.Err() == nil && l.s.Via() != ViaNATPMP
}

// limiter is one limit test's state.
type limiter struct {
	*portAsker
	opt        Options
	lo         LimitOptions
	res        *LimitResult
	known      map[uint16]portState
	permission *MappingResult // the last refusal by the rules
	end        *MappingResult // the refusal that ended the test
}

func newLimiter(ctx context.Context, s *Session, opt Options, lo LimitOptions, res *LimitResult) (*limiter, error) {
	a, err := newPortAsker(ctx, s, res.Proto, lo.Lease)
	if err != nil {
		return nil, err
	}
	return &limiter{portAsker: a, opt: opt, lo: lo, res: res, known: map[uint16]portState{}}, nil
}

// maxRefusedRun: in a range the search found, this many refused ports in
// a row mean the range was read wider than it is (a gap between two ranges
// the binary search could not see); the fill moves on to the next range.
const maxRefusedRun = 8

// fill maps the ports of ranges in order and holds them, until Max are
// accepted, a refusal ends the test or the ranges run out;
// stopAtPermission ends it at the first port the rules refuse too.
func (l *limiter) fill(ctx context.Context, ranges []PortRange, stopAtPermission bool) {
	for _, r := range ranges {
		refusedRun := 0
		for p := int(r.Lo); p <= int(r.Hi) && refusedRun < maxRefusedRun; p++ {
			if l.res.Accepted >= l.lo.Max || l.end != nil {
				return
			}
			if ctx.Err() != nil {
				l.res.Interrupted = true
				return
			}
			if l.skip(uint16(p)) || l.known[uint16(p)] == portRefused {
				l.noteSkipped(uint16(p))
				continue
			}
			switch ref := l.fillOne(ctx, uint16(p)); {
			case ref == RefusalPermission && stopAtPermission:
				return
			case ref == RefusalPermission:
				refusedRun++
			default:
				refusedRun = 0
			}
		}
	}
}

// fillOne asks for one port and books the answer.
func (l *limiter) fillOne(ctx context.Context, p uint16) Refusal {
	mr := attempt(ctx, l.s, l.opt, Request{Proto: l.res.Proto, ExternalPort: p, InternalPort: p, Lease: l.lo.Lease}, l.lo.VerifyServer)
	l.res.Asked++
	l.res.Mappings = append(l.res.Mappings, mr)
	switch {
	case mr.Accepted:
		l.book(mr)
	case mr.Refusal == RefusalPermission:
		l.known[p], l.res.Restricted = portRefused, true
		l.permission = &l.res.Mappings[len(l.res.Mappings)-1]
	case mr.Refusal == RefusalPortTaken:
		l.known[p] = portTaken
		l.res.Conflicts++ // another client holds it: not the limit
	case ctx.Err() != nil:
		l.res.Interrupted = true
	default:
		l.end = &l.res.Mappings[len(l.res.Mappings)-1]
	}
	if l.lo.Progress != nil {
		l.lo.Progress(l.res.Accepted, l.lo.Max)
	}
	return mr.Refusal
}

// book counts an accepted mapping. A NAT-PMP gateway may have placed it
// on a later port than asked, past ports its rules refuse.
func (l *limiter) book(mr MappingResult) {
	ext := mr.External.Port()
	if ext == 0 {
		ext = mr.ExternalPort
	}
	l.known[ext], l.held[ext] = portAllowed, true
	if ext != mr.ExternalPort && l.known[mr.ExternalPort] == portUnknown {
		l.known[mr.ExternalPort], l.res.Restricted = portRefused, true
	}
	l.res.Accepted++
	l.res.ReadBack = l.res.ReadBack || mr.ReadBackOK != Unknown
	if mr.ReadBackOK == Yes {
		l.res.Applied++
	}
	if mr.Verify != nil && mr.Verify.Arrived {
		l.res.Verified++
	}
}

func (l *limiter) noteSkipped(p uint16) {
	if !l.occupied[p] {
		return
	}
	for _, q := range l.res.Skipped {
		if q == p {
			return
		}
	}
	l.res.Skipped = append(l.res.Skipped, p)
}

// search finds the ranges the router's rules allow.
func (l *limiter) search(ctx context.Context) []PortRange {
	ranges, ps := l.portAsker.search(ctx, l.known)
	end := ps.end
	l.res.SearchRequests += ps.requests
	l.res.SearchGap = ps.sampledGap()
	l.res.Restricted = l.res.Restricted || l.restricted
	if end != nil && ctx.Err() == nil {
		l.end = end
	}
	return ranges
}

// finish names the cause and the allowed ranges.
func (l *limiter) finish(ctx context.Context) {
	r := l.res
	if ctx.Err() != nil {
		r.Interrupted = true
	}
	if r.Restricted {
		r.Allowed = allowedRanges(l.known)
	}
	switch {
	case r.Accepted >= r.Max || r.Interrupted:
		r.Cause = CauseNone
	case l.end == nil && l.permission != nil:
		r.Cause, r.Refusal = CausePermission, l.permission
	case l.end == nil:
		r.Cause = CauseNone // the port space ran out first
	default:
		r.Refusal = l.end
		r.Cause = causeOf(l.end.Refusal, r.Restricted && l.freeAllowed() == 0)
	}
}

func causeOf(ref Refusal, allowedUsedUp bool) LimitCause {
	switch ref {
	case RefusalTableFull:
		if allowedUsedUp {
			return CausePermission
		}
		return CauseTableSize
	case RefusalLease:
		return CauseLease
	}
	return CauseOther
}

// freeAllowed counts the ports in the allowed ranges natdoc neither holds
// nor saw refused or held by others.
func (l *limiter) freeAllowed() int {
	n := 0
	for _, rg := range allowedRanges(l.known) {
		for p := int(rg.Lo); p <= int(rg.Hi); p++ {
			if !l.skip(uint16(p)) && l.known[uint16(p)] != portRefused {
				n++
			}
		}
	}
	return n
}

// refine tells a port another client holds from a port the rules refuse
// when a router answers 718 for both (IGDv1 miniupnpd, and the spec's
// "conflict" reads either way): only a mapping on read-back is a holder.
func refine(ctx context.Context, s *Session, r Request, ref Refusal) Refusal {
	if ref != RefusalPortTaken {
		return ref
	}
	e, can, err := s.ReadBack(ctx, r.Proto, r.ExternalPort)
	if can && err == nil && e == nil {
		return RefusalPermission
	}
	return ref
}

// attempt adds one mapping, reads it back and optionally verifies it.
func attempt(ctx context.Context, s *Session, opt Options, r Request, verify netip.AddrPort) MappingResult {
	mr := MappingResult{Request: r, Via: s.Via()}
	m, err := s.Map(ctx, r)
	if err != nil {
		return refusalOf(ctx, s, r, err)
	}
	mr.Accepted, mr.External = true, m.External()
	if u := m.GoodUntil(); !u.IsZero() && s.gateway == nil {
		mr.Granted = time.Until(u).Round(time.Second)
	}
	mr.ReadBackOK = checkReadBack(ctx, s, &mr)
	if mr.ReadBack != nil {
		mr.Granted = mr.ReadBack.Lease
	}
	if verify.IsValid() {
		v := Verify(ctx, opt, verify, m.External().Port(), r.InternalPort)
		mr.Verify = &v
	}
	return mr
}

// checkReadBack fills mr.ReadBack and says whether the router really
// holds the mapping as asked.
func checkReadBack(ctx context.Context, s *Session, mr *MappingResult) Tri {
	e, can, err := s.ReadBack(ctx, mr.Proto, mr.ExternalPort)
	switch {
	case !can:
		return Unknown
	case err != nil:
		mr.Err = err.Error()
		return Unknown
	case e == nil:
		return No
	}
	mr.ReadBack = e
	if e.InternalClient != s.Client().String() || e.InternalPort != mr.InternalPort {
		return No
	}
	return Yes
}
