package capture

import (
	"cmp"
	"net/netip"
	"slices"
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
	// lost gathers the datagrams whose fragments never all came.
	lost lostFragments
	// recent holds when each datagram was last made whole, for
	// copyOfCompleted (at most maxRecentDatagrams); copies counts the
	// fragments dropped as copies, duplicates like any other.
	recent map[fragKey]time.Time
	copies uint64
	// sipFirsts counts the first fragments of SIP messages seen.
	sipFirsts int
}

// maxRecentDatagrams bounds fragHold.recent; past it, it starts afresh.
const maxRecentDatagrams = 4096

type fragCount struct {
	n    int
	last time.Time
	// frame and offset are the first fragment seen of it; sip the SIP
	// message its first fragment (offset 0) begins, if it does.
	frame  uint64
	offset int64
	sip    *sipFragment
	// cut: the capture's snap length cut one of its fragments, so the
	// datagram cannot be made whole from the capture: not lost.
	cut bool
}

// add counts one more fragment of k kept for later: frame at offset,
// sip the SIP message it begins (nil: none, or not the first fragment).
func (h *fragHold) add(k fragKey, at time.Time, frame uint64, offset int64, sip *sipFragment) {
	c := h.count(k, frame, offset)
	c.n++
	c.last = at
	if sip != nil {
		c.sip = sip
		h.sipFirsts++
	}
	h.held++
}

// addCut notes a fragment of k the capture's snap length cut: not kept
// for reassembly, which it would leave with a gap; its datagram is noted
// cut when it expires.
func (h *fragHold) addCut(k fragKey, at time.Time, frame uint64, offset int64) {
	c := h.count(k, frame, offset)
	c.cut = true
	c.last = at
}

// count is k's entry in pending, made for a first fragment seen at frame.
func (h *fragHold) count(k fragKey, frame uint64, offset int64) *fragCount {
	if h.pending == nil {
		h.pending = map[fragKey]*fragCount{}
	}
	c := h.pending[k]
	if c == nil {
		c = &fragCount{frame: frame, offset: offset}
		h.pending[k] = c
	}
	return c
}

// completed: k's datagram was made whole at at.
func (h *fragHold) completed(k fragKey, at time.Time) {
	h.done(k)
	if h.recent == nil || len(h.recent) >= maxRecentDatagrams {
		h.recent = map[fragKey]time.Time{}
	}
	h.recent[k] = at
}

// copyOfCompleted says whether a fragment of k at at is a copy of one of
// a datagram made whole less than fragmentGap before: a SPAN port's
// second copy, or the same file read twice, interleaved with the first.
// Reassembled again on its own it would never complete, and be counted
// lost.
func (h *fragHold) copyOfCompleted(k fragKey, at time.Time) bool {
	done, ok := h.recent[k]
	return ok && at.Sub(done) < fragmentGap && !at.Before(done.Add(-fragmentGap))
}

// done: k's datagram is whole, or its fragments were dropped.
func (h *fragHold) done(k fragKey) {
	if c := h.pending[k]; c != nil {
		h.held -= c.n
		delete(h.pending, k)
	}
}

// expire forgets IPv4 datagrams without a fragment since cutoff, as the
// IPv4 defragmenter does by capture time (all datagrams: ipv6 too, at the
// capture's end), noting them lost, and returns how many fragments they
// had. IPv6 ones stay otherwise: that defragmenter times by the wall
// clock, so only its reset (at the limit) forgets them.
func (h *fragHold) expire(cutoff time.Time, ipv6 bool, sink anomalySink) int {
	var gone []*fragCount
	for k, c := range h.pending {
		if (ipv6 || k.src.Is4()) && c.last.Before(cutoff) {
			gone = append(gone, c)
			delete(h.pending, k)
		}
	}
	// In the order they began, so the report does not follow the map's.
	slices.SortFunc(gone, func(a, b *fragCount) int { return cmp.Compare(a.frame, b.frame) })
	n := 0
	for _, c := range gone {
		n += c.n
		if c.cut {
			sink.anomaly("truncated-ip-fragment", c.offset, c.frame, truncatedFragment)
			continue
		}
		h.lost.note(c, sink)
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

// truncatedFragment says what the snap length did to a fragmented datagram.
const truncatedFragment = "an IP datagram one of whose fragments the capture's snap length cut: it cannot be put together " +
	"(not lost on the way); capture whole packets (tcpdump -s 0)"
