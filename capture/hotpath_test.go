package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// rtpPathAllocations sends one RTP record through decoding and the stream
// update and checks neither allocates once the stream exists.
func rtpPathAllocations(t *testing.T, rtpRec []byte, detail bool) {
	s := newState()
	s.setDetail(detail)
	p := &producer{full: make(chan *eventBatch, 1), free: newBatchPool(1, newEventBatch)}
	p.dec = newDecoder(&p.anomalies)
	p.batch = &eventBatch{events: make([]event, 0, batchEvents), arena: make([]byte, 0, batchArena)}
	rec := Record{Data: rtpRec, Time: time.Unix(1, 0), WireLen: len(rtpRec), LinkType: layers.LinkTypeEthernet}
	raw := newRawRecord(rec, 0, len(rtpRec))
	// One packet through both stages: decode and classify, then the
	// stream update; by the pipeline's path (decodeRecord: the
	// fixed-offset walk straight to an event) and by the decoder's.
	for _, path := range []struct {
		name   string
		decode func(frame uint64)
	}{
		{"decodeRecord", func(frame uint64) { p.decodeRecord(rtpRec, &raw, frame) }},
		{"decoder", func(frame uint64) { p.dec.decode(rec, frame, p.emit) }},
	} {
		step := func(frame uint64) {
			path.decode(frame)
			s.consume(p.batch)
			p.batch.events, p.batch.infos, p.batch.arena = p.batch.events[:0], p.batch.infos[:0], p.batch.arena[:0]
		}
		step(1) // creates the stream
		frame := uint64(2)
		allocs := testing.AllocsPerRun(1000, func() {
			rec.Time = rec.Time.Add(20 * time.Millisecond)
			raw.at = rec.Time.UnixNano()
			nextRTP(rtpRec)
			step(frame)
			frame++
		})
		if allocs != 0 {
			t.Errorf("%s (detail %v): %.1f allocations per RTP packet, want 0", path.name, detail, allocs)
		}
	}
	if s.counts.rtp < 1000 {
		t.Errorf("RTP not recognised: %d", s.counts.rtp)
	}
	for _, f := range s.flows {
		if got := len(f.activity) > 0; got != detail {
			t.Errorf("detail %v: stream keeps a timeline: %v", detail, got)
		}
	}
}

// nextRTP turns an Ethernet/IPv4/UDP/RTP record into the stream's next
// packet: sequence number + 1, timestamp + 160 (20 ms at 8 kHz), so it is
// no copy of the one before.
func nextRTP(rec []byte) {
	const rtpAt = 14 + 20 + 8
	seq := binary.BigEndian.Uint16(rec[rtpAt+2:])
	binary.BigEndian.PutUint16(rec[rtpAt+2:], seq+1)
	ts := binary.BigEndian.Uint32(rec[rtpAt+4:])
	binary.BigEndian.PutUint32(rec[rtpAt+4:], ts+160)
}

// TestHostFilter: with hosts set, only packets to or from them are analysed.
func TestHostFilter(t *testing.T) {
	p := &producer{hosts: map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true}}
	p.batch = &eventBatch{events: make([]event, 0, batchEvents), arena: make([]byte, 0, batchArena)}
	rtpPayload := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xff, 0xff}
	for _, tc := range []struct {
		src, dst string
		kept     bool
	}{
		{"10.0.0.1:4000", "10.0.0.2:4000", true},
		{"10.0.0.3:4000", "10.0.0.1:4000", true},
		{"10.0.0.3:4000", "10.0.0.4:4000", false},
	} {
		before := len(p.batch.events)
		p.emit(&packet{Src: netip.MustParseAddrPort(tc.src), Dst: netip.MustParseAddrPort(tc.dst), Proto: protoUDP, Payload: rtpPayload})
		if kept := len(p.batch.events) > before; kept != tc.kept {
			t.Errorf("%s → %s kept %v, want %v", tc.src, tc.dst, kept, tc.kept)
		}
	}
}
