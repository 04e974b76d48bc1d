// Package rtpseq counts RTP packet loss from sequence numbers, as RFC 3550
// appendix A.1 and A.3 do, for the relay's counters and the simulated
// phones' reports. It has no probation of new sources: callers feed it one
// latched or expected stream.
package rtpseq

// Tracker follows one stream's sequence numbers. The zero value is ready.
type Tracker struct {
	started  bool
	base     uint32
	maxSeq   uint16
	cycles   uint32 // wraps of the 16-bit sequence number, times 2^16
	received uint64
}

// Add records a packet's sequence number and returns the loss so far:
// expected minus received (negative when duplicates arrived).
func (t *Tracker) Add(seq uint16) int64 {
	if !t.started {
		t.started, t.base, t.maxSeq = true, uint32(seq), seq
	} else if delta := seq - t.maxSeq; delta < 0x8000 && delta != 0 {
		// In order (allowing gaps), possibly across a wrap.
		if seq < t.maxSeq {
			t.cycles += 1 << 16
		}
		t.maxSeq = seq
	}
	t.received++
	expected := uint64(t.cycles) + uint64(t.maxSeq) - uint64(t.base) + 1
	return int64(expected) - int64(t.received)
}
