package relay

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Reach says who must be able to send to a leg's ports.
type Reach uint8

const (
	// ReachAny: any pair (the only kind when no router forwards for the
	// relay).
	ReachAny Reach = iota
	// ReachLAN: a party that reaches this host directly (on its LAN, or
	// this host itself): pairs the router does not forward go first, so
	// the forwarded ones stay for parties outside.
	ReachLAN
	// ReachOutside: a party beyond the router, which reaches only the
	// pairs it forwards (Config.RouterForwards).
	ReachOutside
)

// pairSlot is one RTP/RTCP pair the pool may hand out.
type pairSlot struct {
	base      int
	inRange   bool // in PortMin-PortMax
	forwarded bool // the router forwards it (Relay.AddForwarded)
	used      bool
	foreign   bool      // held by another program when we tried; tried last
	freedAt   time.Time // when it was last freed, or forwarded
	// forwardingUntil: the router is being asked to forward the pair
	// (HoldForForwarding); until then no leg facing the LAN takes it.
	forwardingUntil time.Time
}

func (s *pairSlot) usable() bool { return s.inRange || s.forwarded }

// portPool hands out even base ports (RTP; RTCP is base+1) round-robin, so a
// port just freed is not reused at once and late packets of an ended call
// do not land in a new one. Its slots are the configured range and, when a
// router forwards only some pairs, the forwarded pairs outside it.
type portPool struct {
	mu    sync.Mutex
	min   int // first even base of the range
	n     int // pairs in the range: slots[:n]
	slots []pairSlot
	extra map[int]int // base → slot, for pairs outside the range
	next  int         // round-robin cursor (slot index)
	gated bool        // Config.RouterForwards
	// Counts kept as slots change, so free() costs nothing per INVITE.
	usable, used, fwd, fwdUsed int
}

func newPortPool(lo, hi int, gated bool) *portPool {
	if lo%2 == 1 {
		lo++
	}
	n := (hi - lo + 1) / 2
	p := &portPool{min: lo, n: n, slots: make([]pairSlot, n), extra: map[int]int{}, gated: gated, usable: n}
	for i := range p.slots {
		p.slots[i] = pairSlot{base: lo + 2*i, inRange: true}
	}
	return p
}

func (p *portPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.slots)
}

// lookup is base's slot index, -1 when the pool has none.
func (p *portPool) lookup(base int) int {
	if i := (base - p.min) / 2; base >= p.min && base%2 == p.min%2 && i < p.n {
		return i
	}
	if i, ok := p.extra[base]; ok {
		return i
	}
	return -1
}

// slotKind picks the slots one preference of take may use.
type slotKind uint8

const (
	kindUsable    slotKind = iota // the range and forwarded pairs
	kindLocal                     // the range's pairs no router forwards
	kindForwarded                 // pairs the router forwards
)

func (k slotKind) fits(s *pairSlot, now time.Time) bool {
	switch k {
	case kindLocal:
		return s.inRange && !s.forwarded && !s.forwardingUntil.After(now)
	case kindForwarded:
		return s.forwarded
	}
	return s.usable()
}

// preferences are the kinds of slot a leg of reach may take, best first.
func (p *portPool) preferences(reach Reach) []slotKind {
	switch {
	case !p.gated:
		return []slotKind{kindUsable}
	case reach == ReachOutside:
		return []slotKind{kindForwarded}
	}
	return []slotKind{kindLocal, kindForwarded}
}

// take returns a free base port for a leg of reach, preferring ports not
// seen foreign.
func (p *portPool) take(reach Reach, now time.Time) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefs := p.preferences(reach)
	for _, foreignOK := range [2]bool{false, true} {
		for _, kind := range prefs {
			if i, ok := p.scan(kind, foreignOK, now); ok {
				s := &p.slots[i]
				s.used = true
				p.used++
				if s.forwarded {
					p.fwdUsed++
				}
				p.next = (i + 1) % len(p.slots)
				return s.base, true
			}
		}
	}
	return 0, false
}

func (p *portPool) scan(kind slotKind, foreignOK bool, now time.Time) (int, bool) {
	n := len(p.slots)
	for k := range n {
		i := (p.next + k) % n
		s := &p.slots[i]
		if !s.used && kind.fits(s, now) && (foreignOK || !s.foreign) {
			return i, true
		}
	}
	return 0, false
}

func (p *portPool) put(base int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.lookup(base)
	if i < 0 || !p.slots[i].used {
		return
	}
	s := &p.slots[i]
	s.used, s.freedAt = false, now
	p.used--
	if s.forwarded {
		p.fwdUsed--
	}
}

func (p *portPool) markForeign(base int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.lookup(base); i >= 0 {
		p.slots[i].foreign = true
	}
}

func (p *portPool) free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usable - p.used
}

func (p *portPool) freeForwarded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fwd - p.fwdUsed
}

// forward adds base as a pair the router forwards.
func (p *portPool) forward(base int, now time.Time) error {
	if base%2 != 0 || base < 1024 || base > 65534 {
		return fmt.Errorf("relay: forwarded pair %d: want an even port within 1024-65534", base)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.lookup(base)
	if i < 0 {
		i = len(p.slots)
		p.slots = append(p.slots, pairSlot{base: base})
		p.extra[base] = i
	}
	s := &p.slots[i]
	if s.forwarded {
		return nil
	}
	if !s.usable() {
		p.usable++
	}
	s.forwarded, s.forwardingUntil = true, time.Time{}
	p.fwd++
	if s.used {
		p.fwdUsed++
	} else {
		s.freedAt = now
	}
	return nil
}

// holdForForwarding keeps base from legs facing the LAN until until,
// unless a leg holds it already (busy).
func (p *portPool) holdForForwarding(base int, until time.Time) (busy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.lookup(base)
	if i < 0 {
		return false
	}
	s := &p.slots[i]
	if s.used {
		return true
	}
	if !s.forwarded {
		s.forwardingUntil = until
	}
	return false
}

// unforward takes base off the forwarded pairs unless a leg holds it.
func (p *portPool) unforward(base int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.lookup(base)
	if i < 0 || !p.slots[i].forwarded || p.slots[i].used {
		return false
	}
	s := &p.slots[i]
	s.forwarded = false
	p.fwd--
	if !s.usable() {
		p.usable--
	}
	return true
}

// idleForwarded lists the free forwarded pairs freed at or before since,
// longest idle first.
func (p *portPool) idleForwarded(since time.Time) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	type idle struct {
		base int
		at   time.Time
	}
	var out []idle
	for i := range p.slots {
		if s := &p.slots[i]; s.forwarded && !s.used && !s.freedAt.After(since) {
			out = append(out, idle{s.base, s.freedAt})
		}
	}
	slices.SortFunc(out, func(a, b idle) int { return a.at.Compare(b.at) })
	bases := make([]int, len(out))
	for i, o := range out {
		bases[i] = o.base
	}
	return bases
}
