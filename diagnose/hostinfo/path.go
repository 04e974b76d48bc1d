package hostinfo

import (
	"net/netip"
	"time"
)

// Hop is one router on the path, as a TTL-limited probe found it.
type Hop struct {
	TTL int
	// Addr is the router that answered "time exceeded" (RFC 792), or the
	// destination itself when Reached; invalid when nothing answered.
	Addr    netip.Addr
	Reached bool
	RTT     time.Duration
}

// Path is the start of the route towards a destination.
type Path struct {
	Dest netip.AddrPort
	Hops []Hop
	// Err says why probing was impossible (platform, permissions).
	Err string
}

// PrivateHopsBeforePublic counts the routers with private or shared
// (RFC 6598) addresses before the first public one or the destination. One
// is the home router; two or more mean a second NAT (a router behind
// another router, or the provider's carrier-grade NAT). ok is false when the
// probes did not show enough of the path to tell (no public hop, no
// destination reached, a hop that did not answer in between).
func (p *Path) PrivateHopsBeforePublic() (n int, ok bool) {
	for _, h := range p.Hops {
		if !h.Addr.IsValid() {
			return n, false
		}
		if h.Reached || IsPublic(h.Addr) {
			return n, true
		}
		n++
	}
	return n, false
}
