package igd

import (
	"context"
	"slices"
)

// maxSearchRequests bounds the mappings the search for allowed ports asks
// for (each is released at once): about 20 seeds and a binary search of
// two boundaries per range found.
const maxSearchRequests = 96

// When the seeds find nothing and the router cannot choose a port itself
// (IGDv1 has no AddAnyPortMapping), an allowed range narrower than the
// seeds' spacing (about 4,300 ports) may lie between them: fineSeeds more
// exact requests, midway between evenly spread points, bring the spacing
// down to under 700 ports, and fineBisect leaves room to find both ends of
// a range they hit. About five more seconds on a router that answers a
// SOAP request in 25 ms, only on routers that refused every seed.
const (
	fineSeeds  = 96
	fineBisect = 24
)

// portProber asks the router about single ports for the search; every
// mapping it makes is released before it returns.
type portProber interface {
	// try asks for port exactly. A non-nil end is a refusal that ends the
	// search (full table, lease policy, a timeout).
	try(ctx context.Context, port uint16) (st portState, end *MappingResult)
	// pick lets the router choose a port near port (IGDv2
	// AddAnyPortMapping, PCP or NAT-PMP without a fixed port); ok is false
	// when it cannot or would not, asked when it sent a request anyway.
	pick(ctx context.Context, port uint16) (got uint16, ok, asked bool, end *MappingResult)
	// walksUp: the router's choice is the next port up that it allows
	// (PCP, NAT-PMP), not the nearest either way (AddAnyPortMapping).
	walksUp() bool
}

// portSearch finds the ranges the router's rules allow with few
// requests: seeds spread across the port space (the router's own choice
// where it can make one, exact ports elsewhere), then a binary search for
// each range's ends.
type portSearch struct {
	p     portProber
	known map[uint16]portState
	// skip: ports natdoc must not ask for (another mapping holds them,
	// or natdoc holds them itself).
	skip     func(uint16) bool
	requests int
	budget   int // requests allowed: maxSearchRequests, more for a fine pass
	end      *MappingResult
	// chose: the router picked a port for a seed, so its rules, not
	// natdoc's samples, said where the allowed ports are.
	chose bool
}

func (s *portSearch) spent(ctx context.Context) bool {
	return s.end != nil || ctx.Err() != nil || s.requests >= s.budget
}

// ask tries one port and records the answer.
func (s *portSearch) ask(ctx context.Context, port uint16) portState {
	if st, ok := s.known[port]; ok && st != portUnknown {
		return st
	}
	if s.skip(port) {
		s.known[port] = portTaken
		return portTaken
	}
	s.requests++
	st, end := s.p.try(ctx, port)
	if end != nil {
		s.end = end
		return portUnknown
	}
	s.known[port] = st
	return st
}

// run seeds and widens until every allowed port found lies in a range
// with both ends found, or the budget is spent.
func (s *portSearch) run(ctx context.Context) []PortRange {
	s.budget = maxSearchRequests
	for _, port := range spreadPorts() {
		if s.spent(ctx) {
			break
		}
		s.seed(ctx, port)
	}
	if len(allowedRanges(s.known)) == 0 && !s.chose && !s.spent(ctx) {
		s.budget = s.requests + fineSeeds + fineBisect
		for _, port := range fineSpread(fineSeeds) {
			if s.spent(ctx) {
				break
			}
			s.ask(ctx, port)
		}
	}
	for !s.spent(ctx) {
		lo, hi, ok := s.openEnd()
		if !ok {
			break
		}
		s.bisect(ctx, lo, hi)
	}
	return allowedRanges(s.known)
}

// fineSpread is n ports midway between n+1 evenly spread points of
// searchLow-searchHigh.
func fineSpread(n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(searchLow + (2*i+1)*(searchHigh-searchLow)/(2*n))
	}
	return out
}

// sampledGap is, when the search found no allowed port by exact requests
// alone, the widest run of ports between two it asked about (or an end
// of searchLow-searchHigh): an allowed range narrower than that may have
// been missed. 0 when something was found or the router chose.
func (s *portSearch) sampledGap() int {
	if s.chose || len(allowedRanges(s.known)) > 0 {
		return 0
	}
	asked := []int{searchLow - 1}
	for p, st := range s.known {
		if st != portUnknown && int(p) >= searchLow {
			asked = append(asked, int(p))
		}
	}
	asked = append(asked, searchHigh+1)
	slices.Sort(asked)
	gap := 0
	for i := 1; i < len(asked); i++ {
		gap = max(gap, asked[i]-asked[i-1]-1)
	}
	return gap
}

// seed learns about one spread port: the router's choice near it, or the
// port itself.
func (s *portSearch) seed(ctx context.Context, port uint16) {
	if s.known[port] != portUnknown || s.skip(port) {
		return
	}
	got, ok, asked, end := s.p.pick(ctx, port)
	if asked {
		s.requests++
	}
	switch {
	case end != nil:
		s.end = end
	case ok && got < searchLow:
		// A system port: no use to SIP or RTP, and outside the search.
		s.passedOver(port, port)
	case ok:
		s.chose = true
		s.known[got] = portAllowed
		if got != port {
			s.passedOver(port, got)
		}
	default:
		s.ask(ctx, port)
	}
}

// passedOver records what a router's choice of got for port says: the
// ports between were refused, so the asked port and got's neighbour on
// its side are known refused (a walker went up, perhaps round past
// 65535). Ports another client holds are left as they are.
func (s *portSearch) passedOver(port, got uint16) {
	edge := int(got) - 1
	if !s.p.walksUp() && got < port {
		edge = int(got) + 1
	}
	if got == port {
		edge = int(port) // only the asked port is known
	}
	for _, q := range []int{int(port), edge} {
		if q >= searchLow && q <= searchHigh && !s.skip(uint16(q)) && s.known[uint16(q)] == portUnknown {
			s.known[uint16(q)] = portRefused
		}
	}
}

// openEnd finds an allowed port whose range is not closed on one side:
// it returns the allowed port and the nearest port known refused (or just
// outside searchLow-searchHigh) on that side.
func (s *portSearch) openEnd() (allowed, refused int, ok bool) {
	for _, r := range allowedRanges(s.known) {
		below := int(r.Lo) - 1
		if below >= searchLow && s.known[uint16(below)] != portRefused {
			return int(r.Lo), s.nearestRefused(int(r.Lo), -1), true
		}
		above := int(r.Hi) + 1
		if above <= searchHigh && s.known[uint16(above)] != portRefused {
			return int(r.Hi), s.nearestRefused(int(r.Hi), +1), true
		}
	}
	return 0, 0, false
}

func (s *portSearch) nearestRefused(from, dir int) int {
	for p := from + dir; p >= searchLow && p <= searchHigh; p += dir {
		if s.known[uint16(p)] == portRefused {
			return p
		}
	}
	if dir < 0 {
		return searchLow - 1
	}
	return searchHigh + 1
}

// bisect narrows the boundary between an allowed and a refused port
// until they are neighbours. Outside searchLow-searchHigh the boundary is
// the search's own; it is marked refused there.
func (s *portSearch) bisect(ctx context.Context, allowed, refused int) {
	for !s.spent(ctx) {
		if d := allowed - refused; d == 1 || d == -1 {
			break
		}
		mid := (allowed + refused) / 2
		switch s.ask(ctx, uint16(mid)) {
		case portAllowed, portTaken:
			allowed = mid
		case portRefused:
			refused = mid
		default:
			return
		}
	}
	if refused >= searchLow && refused <= searchHigh && s.end == nil && ctx.Err() == nil {
		s.known[uint16(refused)] = portRefused
	}
}
