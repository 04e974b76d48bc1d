package igd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Why AddPairs forwards no more pairs, besides the router's own limits
// (CauseTableSize, CausePermission, CauseLease, CauseOther).
const (
	// CauseRTPRange: every pair of the server's RTP range (and of the
	// ranges the router's rules allow) is forwarded.
	CauseRTPRange LimitCause = "rtp-range"
	// CauseMaxPairs: ServerForward.MaxPairs are forwarded.
	CauseMaxPairs LimitCause = "max-pairs"
)

// limitRetry: after a full table (UPnP 728, PCP NO_RESOURCES) natdoc asks
// for more than it then held only this long after, since another device
// may have given entries back meanwhile; asking sooner would only draw
// the same refusal.
const limitRetry = 5 * time.Minute

// PairLimit is why AddPairs forwards no more RTP pairs.
type PairLimit struct {
	// At: the pairs held when the limit was met; below it natdoc asks
	// again (the router took that many before).
	At      int
	Cause   LimitCause
	Refusal *MappingResult // the refusal that ended growth, if one did
	When    time.Time
	// Allowed are the ranges the router's rules allow, as found (nil
	// when no search was needed).
	Allowed []PortRange
}

// PairStats are the RTP pairs forwarded so far.
type PairStats struct {
	Held, Peak, Added, Released int
	// Ranges are the pairs held now, as port ranges.
	Ranges []PortRange
	Limit  *PairLimit // nil: nothing stopped growth
}

// growth is where AddPairs places pairs and what it learned about ports.
type growth struct {
	known  map[uint16]portState // refused by the rules, or held by others
	ranges []PortRange          // where pairs go, in order
	// searched: the ranges the rules allow were looked for (or, NAT-PMP,
	// the gateway's offered port added).
	searched   bool
	allowed    []PortRange
	permission *MappingResult // the last refusal by the rules
	refusedRun int            // permission refusals in a row
	movedNoted bool
}

func newGrowth(rtp PortRange) growth {
	return growth{known: map[uint16]portState{}, ranges: []PortRange{rtp}}
}

// AddPairs forwards up to n more RTP/RTCP pairs (an even port and the
// next, external port = internal port) and returns their base ports. It
// stops early when the router accepts no more, the ranges have no pair
// left or MaxPairs are held (Stats().Limit says why, and a finding what
// to do); err is a failure to reach the router, worth another try later,
// or ctx's end. A port another mapping holds is never asked for.
func (f *Forwarding) AddPairs(ctx context.Context, n int) (added []uint16, err error) {
	f.growMu.Lock()
	defer f.growMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.life, cancel)()
	for len(added) < n && f.mayGrow() {
		if err := ctx.Err(); err != nil {
			return added, err
		}
		base, ok := f.nextBase(ctx)
		if !ok {
			break
		}
		ok, err := f.forwardPair(ctx, base)
		if err != nil {
			return added, err
		}
		if ok {
			added = append(added, base)
		}
	}
	return added, nil
}

// mayGrow: below the cap, and below the limit met (or a full table's
// retry is due).
func (f *Forwarding) mayGrow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	held := len(f.pairs)
	if f.sf.MaxPairs > 0 && held >= f.sf.MaxPairs {
		f.setLimitLocked(&PairLimit{At: held, Cause: CauseMaxPairs})
		return false
	}
	l := f.limit
	return l == nil || held < l.At || (l.Cause == CauseTableSize && time.Since(l.When) >= limitRetry)
}

// nextBase is the first free pair of the ranges; when there is none and
// the rules refused a port, it looks for the ranges they allow first.
func (f *Forwarding) nextBase(ctx context.Context) (uint16, bool) {
	b, ok, busy := f.firstFree()
	if ok {
		return b, true
	}
	if f.grow.permission != nil && !f.grow.searched {
		f.widen(ctx)
		if b, ok, busy = f.firstFree(); ok {
			return b, true
		}
	}
	if ctx.Err() != nil || busy {
		return 0, false // pairs the server uses may be free later: no limit
	}
	cause := CauseRTPRange
	if f.grow.permission != nil {
		cause = CausePermission
	}
	f.setLimit(&PairLimit{Cause: cause, Refusal: f.grow.permission, Allowed: f.grow.allowed})
	return 0, false
}

// firstFree is the first free pair of the ranges; busy: pairs the server
// uses now (SkipBusy) were passed over.
func (f *Forwarding) firstFree() (base uint16, ok, busy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.grow.ranges {
		for b := int(max(evenFrom(r.Lo), searchLow)); b+1 <= int(r.Hi); b += 2 {
			if !f.freeLocked(uint16(b)) {
				continue
			}
			if f.busy != nil && f.busy(uint16(b)) {
				busy = true
				continue
			}
			return uint16(b), true, busy
		}
	}
	return 0, false, busy
}

// SkipBusy names the pairs the server uses without the router forwarding
// them (a relay leg facing the LAN holds one): AddPairs passes over them,
// as forwarding one would serve nobody outside until its call ends.
// busy runs with the Forwarding's lock held: it must not call back.
func (f *Forwarding) SkipBusy(busy func(base uint16) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = busy
}

// freeLocked: natdoc neither holds the pair nor learned that the rules
// refuse or another mapping holds one of its ports.
func (f *Forwarding) freeLocked(b uint16) bool {
	if _, held := f.pairs[b]; held || b == f.sf.SIPPort || b+1 == f.sf.SIPPort {
		return false
	}
	for _, p := range []uint16{b, b + 1} {
		if st := f.grow.known[p]; st == portRefused || st == portTaken {
			return false
		}
	}
	return true
}

// forwardPair maps base and base+1; a refusal of either leaves neither.
func (f *Forwarding) forwardPair(ctx context.Context, base uint16) (bool, error) {
	var got [2]mapping
	for i, p := range []uint16{base, base + 1} {
		m, mr, err := f.mapOne(ctx, p)
		if m == nil {
			if i == 1 {
				f.s.Release(ctx, got[0]) // a failure leaves it to Close
			}
			if err != nil {
				return false, err
			}
			f.refused(ctx, mr)
			return false, nil
		}
		got[i] = m
	}
	f.grow.refusedRun = 0
	f.mu.Lock()
	f.pairs[base] = got
	f.added++
	f.peak = max(f.peak, len(f.pairs))
	if f.limit != nil && len(f.pairs) > f.limit.At {
		f.limit = nil // the router took more than before
	}
	f.mu.Unlock()
	if !f.sf.RTP.Contains(base) && !f.grow.movedNoted {
		f.grow.movedNoted = true
		f.addFinding(f.movedFinding(base))
	}
	return true, nil
}

// mapOne asks for p (external = internal). A port another mapping holds,
// as read back, is not asked for: UPnP lets this host overwrite its own
// mappings, and natdoc would later delete what it overwrote. err is a
// failure that is no refusal (timeout, router gone).
func (f *Forwarding) mapOne(ctx context.Context, p uint16) (mapping, *MappingResult, error) {
	r := Request{Proto: "UDP", ExternalPort: p, InternalPort: p, Lease: f.sf.Lease}
	mr := &MappingResult{Request: r, Via: f.Via}
	e, _, err := f.s.ReadBack(ctx, "UDP", p)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("upnp: read back %d/UDP: %w", p, err)
	case e != nil:
		mr.Refusal, mr.Err = RefusalPortTaken, fmt.Sprintf("held by %s:%d (%s)", e.InternalClient, e.InternalPort, e.Description)
		return nil, mr, nil
	}
	m, err := f.s.Map(ctx, r)
	if err != nil {
		if RefusalCode(err) == 0 {
			return nil, nil, err
		}
		*mr = refusalOf(ctx, f.s, r, err)
		return nil, mr, nil
	}
	if q := m.External().Port(); q != p {
		// A NAT-PMP or PCP gateway placed it elsewhere: useless to a relay
		// that announces its own port, but a hint where the rules allow.
		f.s.Release(ctx, m)
		mr.Refusal, mr.External = RefusalPermission, m.External()
		mr.Err = fmt.Sprintf("the gateway offered external port %d instead", q)
		return nil, mr, nil
	}
	return m, nil, nil
}

// refused books a refusal: a port the rules refuse sends growth to other
// ports (after a search for the ranges they allow), a port another client
// holds is passed over, anything else ends growth.
func (f *Forwarding) refused(ctx context.Context, mr *MappingResult) {
	g := &f.grow
	p := mr.ExternalPort
	switch mr.Refusal {
	case RefusalPermission:
		f.markRefused(p, mr.External.Port())
		g.permission = mr
		if g.refusedRun++; g.searched && g.refusedRun >= maxRefusedRun {
			g.cutRange(p)
		}
		if !g.searched {
			f.widen(ctx)
		}
	case RefusalPortTaken:
		g.known[p] = portTaken
	default:
		f.setLimit(&PairLimit{Cause: causeOf(mr.Refusal, false), Refusal: mr, Allowed: g.allowed})
	}
}

// markRefused records p as refused; a gateway that walked up to offered
// (NAT-PMP, PCP) refuses the ports between too.
func (f *Forwarding) markRefused(p, offered uint16) {
	f.grow.known[p] = portRefused
	for q := int(p) + 1; offered > p && q < int(offered); q++ {
		f.grow.known[uint16(q)] = portRefused
	}
}

// cutRange ends the range holding p at p: a run of refusals inside a
// range the search read as one means it is narrower than it looked.
func (g *growth) cutRange(p uint16) {
	for i, r := range g.ranges {
		if r.Contains(p) {
			g.ranges[i].Hi = p
		}
	}
	g.refusedRun = 0
}

// widen looks beyond the ranges tried once the router's rules refused a
// port there: a search for the ranges they allow, or the port a NAT-PMP
// gateway offered instead (it answers no exact questions). Refusals on
// the way are learned; the ranges allowed come in filling order from the
// server's range on.
func (f *Forwarding) widen(ctx context.Context) {
	g := &f.grow
	g.searched = true
	if f.Via == ViaNATPMP {
		if q := g.permission.External.Port(); q > g.permission.ExternalPort {
			g.ranges = append(g.ranges, PortRange{evenFrom(q), searchHigh})
		}
		return
	}
	a, err := newPortAsker(ctx, f.s, "UDP", f.sf.Lease)
	if err != nil {
		return // the ports refused so far stay refused; the range goes on
	}
	a.occupied[f.sf.SIPPort] = true
	known := maps.Clone(g.known)
	f.mu.Lock()
	for b := range f.pairs {
		// Held: not to be asked for, but allowed, where the search widens.
		a.held[b], a.held[b+1] = true, true
		known[b], known[b+1] = portAllowed, portAllowed
	}
	f.mu.Unlock()
	ranges, ps := a.search(ctx, known)
	end := ps.end
	for p, st := range known {
		if st == portRefused {
			g.known[p] = st
		}
	}
	if end != nil && ctx.Err() == nil && end.Refusal != RefusalNone {
		f.setLimit(&PairLimit{Cause: causeOf(end.Refusal, false), Refusal: end})
	}
	g.allowed = ranges
	g.ranges = rangeFrom(ranges, f.sf.RTP.Lo)
}

// setLimit records why growth stopped, with a finding the first time for
// each cause.
func (f *Forwarding) setLimit(l *PairLimit) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setLimitLocked(l)
}

func (f *Forwarding) setLimitLocked(l *PairLimit) {
	l.At, l.When = len(f.pairs), time.Now()
	f.limit = l
	if !f.limitsNoted[l.Cause] {
		f.limitsNoted[l.Cause] = true
		f.found = append(f.found, f.limitFinding(l))
	}
}

func (f *Forwarding) addFinding(fd report.Finding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.found = append(f.found, fd)
}

// LaterFindings are the findings AddPairs made after the start: the
// router's limit met, pairs moved to ports its rules allow.
func (f *Forwarding) LaterFindings() []report.Finding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]report.Finding(nil), f.found[f.atStart:]...)
}

// ReleasePairs removes the pairs at bases from the router. A pair whose
// removal failed stays in the journal and is tried again by Close.
func (f *Forwarding) ReleasePairs(ctx context.Context, bases ...uint16) error {
	var errs []error
	for _, b := range bases {
		f.mu.Lock()
		ms, ok := f.pairs[b]
		delete(f.pairs, b)
		if ok {
			f.released++
		}
		f.mu.Unlock()
		for _, m := range ms {
			if m == nil {
				continue
			}
			if err := f.s.Release(ctx, m); err != nil && !errors.Is(err, errNotOurs) && !errors.Is(err, errAlreadyGone) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Bases are the base ports of the pairs forwarded now, lowest first.
func (f *Forwarding) Bases() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.pairs))
}

// Stats are the RTP pairs forwarded now and so far.
func (f *Forwarding) Stats() PairStats {
	bases := f.Bases()
	f.mu.Lock()
	defer f.mu.Unlock()
	var ranges []PortRange
	for _, b := range bases {
		if n := len(ranges); n > 0 && ranges[n-1].Hi+1 == b {
			ranges[n-1].Hi = b + 1
			continue
		}
		ranges = append(ranges, PortRange{b, b + 1})
	}
	st := PairStats{Held: len(f.pairs), Peak: f.peak, Added: f.added, Released: f.released, Ranges: ranges}
	if f.limit != nil {
		l := *f.limit
		st.Limit = &l
	}
	return st
}

// refusalOf describes a refused mapping: the protocol's code, what it
// means, and (UPnP 718) whether anyone holds the port at all.
func refusalOf(ctx context.Context, s *Session, r Request, err error) MappingResult {
	mr := MappingResult{Request: r, Via: s.Via(), Err: err.Error(), ErrorCode: RefusalCode(err)}
	mr.Refusal = refine(ctx, s, r, ClassifyRefusal(mr.Via, mr.ErrorCode))
	return mr
}
