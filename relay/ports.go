package relay

import "sync"

// portPool hands out even base ports (RTP; RTCP is base+1) round-robin, so a
// port just freed is not reused at once and late packets of an ended call
// do not land in a new one.
type portPool struct {
	mu      sync.Mutex
	min     int // first even base
	n       int // number of pairs
	next    int // round-robin cursor (pair index)
	used    []bool
	inUse   int
	foreign []bool // held by another program when we tried; retried later
}

func newPortPool(lo, hi int) *portPool {
	if lo%2 == 1 {
		lo++
	}
	n := (hi - lo + 1) / 2
	return &portPool{min: lo, n: n, used: make([]bool, n), foreign: make([]bool, n)}
}

func (p *portPool) size() int { return p.n }

// take returns a free base port, preferring ports not seen foreign.
func (p *portPool) take() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pass := 0; pass < 2; pass++ {
		for i := range p.n {
			idx := (p.next + i) % p.n
			if p.used[idx] || (pass == 0 && p.foreign[idx]) {
				continue
			}
			p.used[idx] = true
			p.inUse++
			p.next = (idx + 1) % p.n
			return p.min + 2*idx, true
		}
	}
	return 0, false
}

func (p *portPool) put(base int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	idx := (base - p.min) / 2
	if idx < 0 || idx >= p.n || !p.used[idx] {
		return
	}
	p.used[idx] = false
	p.inUse--
}

func (p *portPool) markForeign(base int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx := (base - p.min) / 2; idx >= 0 && idx < p.n {
		p.foreign[idx] = true
	}
}

func (p *portPool) free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n - p.inUse
}
