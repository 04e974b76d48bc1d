package capture

import (
	"net/netip"
	"time"
)

// fragKey names one datagram being reassembled (RFC 791: source,
// destination, protocol and identification; RFC 8200 §4.5 for IPv6).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// fragHold counts the fragments the defragmenters keep, per datagram.
// gopacket's defragmenters keep every datagram's fragments until it is
// whole or older than the reassembly timeout; a capture of fragments whose
// rest never comes would grow them without limit within that time.
type fragHold struct {
	pending map[fragKey]*fragCount
	held    int
}

type fragCount struct {
	n    int
	last time.Time
}

// add counts one more fragment of k kept for later.
func (h *fragHold) add(k fragKey, at time.Time) {
	if h.pending == nil {
		h.pending = map[fragKey]*fragCount{}
	}
	c := h.pending[k]
	if c == nil {
		c = &fragCount{}
		h.pending[k] = c
	}
	c.n++
	c.last = at
	h.held++
}

// done: k's datagram is whole, or its fragments were dropped.
func (h *fragHold) done(k fragKey) {
	if c := h.pending[k]; c != nil {
		h.held -= c.n
		delete(h.pending, k)
	}
}

// expire forgets IPv4 datagrams without a fragment since cutoff, as the
// IPv4 defragmenter does by capture time, and returns how many fragments
// they had. IPv6 ones stay: that defragmenter times by the wall clock, so
// only its reset (at the limit) forgets them.
func (h *fragHold) expire(cutoff time.Time) int {
	n := 0
	for k, c := range h.pending {
		if k.src.Is4() && c.last.Before(cutoff) {
			n += c.n
			delete(h.pending, k)
		}
	}
	h.held -= n
	return n
}

// reset forgets everything and returns how many fragments were held.
func (h *fragHold) reset() int {
	n := h.held
	clear(h.pending)
	h.held = 0
	return n
}
