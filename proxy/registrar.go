package proxy

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Registration limits, each with its reason.
const (
	// defaultExpires when a REGISTER names none (RFC 3261 §10.2.1.1 lets
	// the registrar choose); 3600 s is what most phones ask for.
	defaultExpires = 3600 * time.Second
	// maxExpires caps what a phone may ask; NAT keepalive does the rest.
	maxExpires = 3600 * time.Second
	// minExpires: below this a phone re-registers so often it floods us
	// (RFC 3261 §10.3 step 7 allows 423 Interval Too Brief).
	minExpires = 60 * time.Second
)

// Binding is one registered user: where its Contact says it is and where
// its REGISTER really came from. Requests go to Source (RFC 3581 §4: the
// NAT's public mapping), not to a private Contact.
type Binding struct {
	User      string
	Contact   sip.Uri
	Source    netip.AddrPort
	Transport string
	UserAgent string
	Expires   time.Time
	// LAN: the source is inside a --lan prefix, so the additional (local)
	// address is the one to give this peer.
	LAN bool
}

// registrar holds bindings, bounded in number.
type registrar struct {
	mu       sync.Mutex
	bindings map[string]*Binding
	max      int
}

func newRegistrar(max int) *registrar {
	return &registrar{bindings: make(map[string]*Binding), max: max}
}

// put stores b, replacing the user's old binding (no forking). It reports
// false when the table is full.
func (r *registrar) put(b *Binding) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bindings[b.User]; !ok && len(r.bindings) >= r.max {
		return false
	}
	r.bindings[b.User] = b
	return true
}

func (r *registrar) remove(user string) {
	r.mu.Lock()
	delete(r.bindings, user)
	r.mu.Unlock()
}

func (r *registrar) lookup(user string, now time.Time) (Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bindings[user]
	if !ok || now.After(b.Expires) {
		return Binding{}, false
	}
	return *b, true
}

// expire drops bindings past their expiry and returns the rest.
func (r *registrar) expire(now time.Time) []Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Binding, 0, len(r.bindings))
	for u, b := range r.bindings {
		if now.After(b.Expires) {
			delete(r.bindings, u)
			continue
		}
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

func (r *registrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bindings)
}

// requestedExpiry reads the expiry a REGISTER asks for: the Contact's
// expires parameter, else the Expires header, else the default (RFC 3261
// §10.3 step 6).
func requestedExpiry(req *sip.Request, c *sip.ContactHeader) (time.Duration, bool) {
	if v, ok := c.Params.Get("expires"); ok {
		return parseSeconds(v)
	}
	if h := req.GetHeader("Expires"); h != nil {
		return parseSeconds(h.Value())
	}
	return defaultExpires, true
}

func parseSeconds(v string) (time.Duration, bool) {
	n := 0
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return time.Duration(n) * time.Second, true
}
