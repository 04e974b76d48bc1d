package capture

import (
	"bytes"
	"hash/maphash"
	"net/netip"
)

// Resent SIP. Over UDP a request is resent until it is answered (RFC 3261
// §17.1.1.2: an INVITE up to seven times in Timer B's 32 s) and a final
// response until it is acknowledged (§17.2.1), so a flood of unanswered
// INVITEs is mostly copies. A resent message is the same bytes as the one
// before, and reads the same: repeats remembers the messages of the calls
// in progress, by their bytes, and hands a repeat the reading of the
// first (its header fields and SDP), for a hash, a compare and a copy
// instead of a parse. The repeat then reaches its call as every message
// does: retransmissions are evidence (request-unanswered counts them) and
// the ladder lists them. A call's messages leave the cache with the call,
// so it holds no more than the calls in progress.

// repeatSets is the number of sets of the cache, two messages each: above
// the 3,200 transactions a flood of 100 unanswered INVITEs a second keeps
// open in Timer B's 32 s.
const repeatSets = 4096

// maxRepeatsPerCall bounds the messages a call keeps in the cache (its
// transactions: INVITE, its final response, BYE, its answer, re-INVITEs).
const maxRepeatsPerCall = 8

// repeatEntry is one message read, with its reading and its call.
type repeatEntry struct {
	data []byte   // the message's bytes (an owned copy)
	info *sipInfo // as filed: its fields per packet are overwritten
	call *sipCall
	// mismatch is the reading's LengthMismatch, which filing may clear;
	// body is where the body lies in data (empty: none).
	mismatch bool
	body     [2]int
	sdp      sdpRead
}

// sdpRead is the SDP a message carries as read: none (sd and err nil), its
// description, or why it could not be read.
type sdpRead struct {
	sd  *sdpInfo
	err error
}

// repeatRead is a message as read, for repeats.put once it is filed.
type repeatRead struct {
	sum      uint64
	hit      bool // read from the cache
	mismatch bool
	body     [2]int
	ok       bool // the reading may be remembered
	sdp      sdpRead
}

// repeats is the cache of messages read. It is owned by the analysing
// goroutine.
type repeats struct {
	seed maphash.Seed
	// sums and used (when last used, to replace the older of a set) are
	// apart from the entries: a lookup reads 16 bytes of a small array
	// and an entry only when the hash matches.
	sums    *[repeatSets * 2]uint64
	used    *[repeatSets * 2]uint64
	entries *[repeatSets * 2]repeatEntry
	// free are the byte buffers of entries forgotten, for the next ones:
	// as many as the calls in progress once used, no more.
	free [][]byte
	tick uint64
	hits uint64 // messages read from the cache
	// A capture whose messages are not resent pays for every message
	// remembered and gains nothing: while fewer than one message in
	// sparseBelow of those remembered is seen again, only one in
	// sparseEvery is (sparse), which still notices resending start.
	window struct{ puts, hits, seen uint64 }
	sparse bool
}

// The cache's sampling: judged every repeatWindow messages remembered.
const (
	repeatWindow = 4096
	sparseBelow  = 64
	sparseEvery  = 8
)

func newRepeats() repeats {
	return repeats{seed: maphash.MakeSeed(), sums: new([repeatSets * 2]uint64), used: new([repeatSets * 2]uint64),
		entries: new([repeatSets * 2]repeatEntry)}
}

// get returns a new copy of the reading of payload when the same bytes
// were read before, its body a slice of payload; rr is for put.
func (r *repeats) get(payload []byte) (info *sipInfo, rr repeatRead) {
	rr.sum = maphash.Bytes(r.seed, payload)
	r.tick++
	set := int(rr.sum%repeatSets) * 2
	for i := set; i < set+2; i++ {
		if r.sums[i] != rr.sum {
			continue
		}
		e := &r.entries[i]
		if e.call == nil || !bytes.Equal(e.data, payload) {
			continue
		}
		r.used[i] = r.tick
		r.hits++
		r.window.hits++
		info = new(sipInfo)
		*info = *e.info
		// What filing set on the first copy is the packet's, not the
		// reading's.
		info.Frame, info.Offset, info.Src, info.Dst = 0, 0, netip.AddrPort{}, netip.AddrPort{}
		info.Transport, info.Fragmented, info.LengthMismatch, info.Body = "", false, e.mismatch, nil
		// The Contact and Via addresses are the reading's: kept.
		if e.body[1] > e.body[0] {
			info.Body = payload[e.body[0]:e.body[1]]
		}
		rr.hit, rr.sdp = true, e.sdp
		return info, rr
	}
	return nil, rr
}

// read notes what put needs of info, just read from payload, before
// filing changes it. A reading whose body is not a slice of payload (a
// message sipgo parsed from a copy) is not remembered.
func (rr *repeatRead) read(payload []byte, info *sipInfo, sd sdpRead) {
	rr.mismatch, rr.sdp, rr.ok = info.LengthMismatch, sd, true
	if len(info.Body) > 0 {
		off := cap(payload) - cap(info.Body)
		if off < 0 || off+len(info.Body) > len(payload) || &payload[off] != &info.Body[0] {
			rr.ok = false
			return
		}
		rr.body = [2]int{off, off + len(info.Body)}
	}
}

// put remembers the reading of payload, filed with c, in place of the
// older message of its set.
func (r *repeats) put(rr repeatRead, payload []byte, info *sipInfo, c *sipCall) {
	if rr.hit || !rr.ok || c == nil || len(c.repeats) >= maxRepeatsPerCall || r.skip() {
		return
	}
	set := int(rr.sum%repeatSets) * 2
	i := set
	if r.used[set+1] < r.used[set] {
		i = set + 1
	}
	e := &r.entries[i]
	if e.call != nil {
		e.call.repeats = removeRepeat(e.call.repeats, uint16(i))
	}
	data := e.data
	if data == nil && len(r.free) > 0 {
		data, r.free = r.free[len(r.free)-1], r.free[:len(r.free)-1]
	}
	*e = repeatEntry{data: append(data[:0], payload...), info: info, call: c, mismatch: rr.mismatch, body: rr.body, sdp: rr.sdp}
	r.sums[i], r.used[i] = rr.sum, r.tick
	c.repeats = append(c.repeats, uint16(i))
}

// skip says whether to leave the next message out of the cache, and
// judges every repeatWindow messages remembered whether to sample.
func (r *repeats) skip() bool {
	r.window.seen++
	if r.sparse && r.window.seen%sparseEvery != 0 {
		return true
	}
	r.window.puts++
	if r.window.puts == repeatWindow {
		r.sparse = r.window.hits*sparseBelow < r.window.puts
		r.window.puts, r.window.hits = 0, 0
	}
	return false
}

// forget drops the messages of calls that are gone.
func (r *repeats) forget(gone map[*sipCall]bool) {
	for c := range gone {
		for _, i := range c.repeats {
			if e := &r.entries[i]; e.call == c {
				r.free = append(r.free, e.data)
				*e = repeatEntry{}
				r.sums[i], r.used[i] = 0, 0
			}
		}
		c.repeats = nil
	}
}

func removeRepeat(list []uint16, i uint16) []uint16 {
	for k, x := range list {
		if x == i {
			return append(list[:k], list[k+1:]...)
		}
	}
	return list
}
