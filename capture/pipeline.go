package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// The pipeline splits the work over two goroutines so both cores of a
// small machine work on a large file: the reader reads records, decodes
// them (link, IP, fragments, UDP/TCP/SCTP) and classifies RTP, handing on
// compact events; the analyser keeps per-stream statistics and SIP state.
// Events travel in recycled batches: nothing is allocated per packet.

// eventKind says what an event carries.
type eventKind uint8

const (
	evRTP eventKind = iota + 1
	evRTCP
	evPacket // any other transport payload, copied into the batch arena
)

// event is one decoded packet as the analyser needs it.
type event struct {
	kind   eventKind
	fast   bool // key holds the IPv4 stream key; src/dst unset
	proto  uint8
	flags  uint8 // packet flags, see flag*
	rtp    rtpFields
	size   uint32
	frame  uint64
	at     int64 // Unix nanoseconds
	offset int64
	key    v4Key
	ssrc   uint32
	src    netip.AddrPort
	dst    netip.AddrPort
	tcpSeq uint32
	start  uint32 // payload in the batch arena (evPacket)
	end    uint32
}

const (
	flagSYN = 1 << iota
	flagFIN
	flagRST
	flagFragmented
	flagTruncated
)

// eventBatch is a slice of events with the arena holding their payloads.
type eventBatch struct {
	events []event
	arena  []byte
}

const (
	batchEvents  = 1024
	batchArena   = 1 << 20
	batchesAhead = 8
)

// readerStats is what the reading goroutine counts; merged at the end.
type readerStats struct {
	anomalies
	packets, bytes uint64
	first, last    time.Time
}

func (r *readerStats) account(rec Record) {
	r.packets++
	r.bytes += uint64(len(rec.Data))
	if r.first.IsZero() || rec.Time.Before(r.first) {
		r.first = rec.Time
	}
	if rec.Time.After(r.last) {
		r.last = rec.Time
	}
}

// producer is the reading goroutine's state.
type producer struct {
	stats  readerStats
	dec    *decoder
	hdr    rtp.Header
	batch  *eventBatch
	full   chan *eventBatch
	free   chan *eventBatch
	frames uint64
}

// runPipeline reads src to the end (or until ctx ends) into s.
func runPipeline(ctx context.Context, src recordSource, s *state, progress func()) error {
	full := make(chan *eventBatch, batchesAhead)
	free := make(chan *eventBatch, batchesAhead+1)
	for i := 0; i < batchesAhead+1; i++ {
		free <- &eventBatch{events: make([]event, 0, batchEvents), arena: make([]byte, 0, batchArena+MaxRecordLen)}
	}
	p := &producer{full: full, free: free} // frames count per file, as Wireshark does
	p.dec = newDecoder(&p.stats.anomalies)
	done := make(chan error, 1)
	go func() {
		defer close(full)
		done <- p.run(ctx, src, progress)
	}()
	for b := range full {
		s.consume(b)
		b.events, b.arena = b.events[:0], b.arena[:0]
		free <- b
	}
	err := <-done
	s.merge(&p.stats, p.frames)
	return err
}

func (p *producer) run(ctx context.Context, src recordSource, progress func()) error {
	p.batch = <-p.free
	emit := p.emit
	var n uint64
	for {
		rec, err := src.Next()
		if err != nil {
			p.flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		p.frames++
		p.stats.account(rec)
		p.dec.decode(rec, p.frames, emit)
		if n++; n%65536 == 0 {
			p.dec.flushFragments(rec.Time)
			progress()
			if ctx.Err() != nil {
				p.flush()
				return ctx.Err()
			}
		}
	}
}

func (p *producer) flush() {
	if len(p.batch.events) > 0 {
		p.full <- p.batch
		p.batch = <-p.free
	}
}

// emit turns a decoded packet into an event. RTP and RTCP on dynamic ports
// become compact events; everything else carries a copy of its payload.
func (p *producer) emit(pkt *packet) {
	b := p.batch
	if len(b.events) == cap(b.events) || len(b.arena) >= batchArena {
		p.flush()
		b = p.batch
	}
	ev := event{frame: pkt.Frame, at: pkt.Time.UnixNano(), offset: pkt.Offset, proto: pkt.Proto}
	if pkt.Proto == protoUDP && pkt.Src.Port() >= 1024 && pkt.Dst.Port() >= 1024 && !looksLikeSIP(pkt.Payload) {
		switch classifyMedia(pkt.Payload, &p.hdr) {
		case kindRTP:
			ev.kind, ev.ssrc = evRTP, p.hdr.SSRC
			ev.rtp = rtpFields{PT: p.hdr.PayloadType, Seq: p.hdr.SequenceNumber, Timestamp: p.hdr.Timestamp}
		case kindRTCP:
			ev.kind, ev.ssrc = evRTCP, binary.BigEndian.Uint32(pkt.Payload[4:8])
		}
		if ev.kind != 0 {
			ev.size = uint32(len(pkt.Payload))
			if ev.kind == evRTP && pkt.Src.Addr().Is4() && pkt.Dst.Addr().Is4() {
				ev.fast, ev.key = true, fastKey(pkt.Src, pkt.Dst, ev.ssrc)
			} else {
				ev.src, ev.dst = pkt.Src, pkt.Dst
			}
			b.events = append(b.events, ev)
			return
		}
	}
	ev.kind, ev.src, ev.dst, ev.tcpSeq = evPacket, pkt.Src, pkt.Dst, pkt.Seq
	ev.flags = packetFlags(pkt)
	ev.start = uint32(len(b.arena))
	b.arena = append(b.arena, pkt.Payload...)
	ev.end = uint32(len(b.arena))
	b.events = append(b.events, ev)
}

func packetFlags(pkt *packet) uint8 {
	var f uint8
	for _, x := range []struct {
		on   bool
		flag uint8
	}{{pkt.SYN, flagSYN}, {pkt.FIN, flagFIN}, {pkt.RST, flagRST}, {pkt.Fragmented, flagFragmented}, {pkt.Truncated, flagTruncated}} {
		if x.on {
			f |= x.flag
		}
	}
	return f
}

// fastKey packs an IPv4 stream's addresses, ports and SSRC in 16 bytes.
func fastKey(src, dst netip.AddrPort, ssrc uint32) v4Key {
	a, b := src.Addr().As4(), dst.Addr().As4()
	return v4Key{
		uint64(binary.BigEndian.Uint32(a[:]))<<32 | uint64(binary.BigEndian.Uint32(b[:])),
		uint64(src.Port())<<48 | uint64(dst.Port())<<32 | uint64(ssrc),
	}
}

// fromFastKey recovers the addresses of a fast key.
func fromFastKey(k v4Key) (src, dst netip.AddrPort, ssrc uint32) {
	var a, b [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(k[0]>>32))
	binary.BigEndian.PutUint32(b[:], uint32(k[0]))
	src = netip.AddrPortFrom(netip.AddrFrom4(a), uint16(k[1]>>48))
	dst = netip.AddrPortFrom(netip.AddrFrom4(b), uint16(k[1]>>32))
	return src, dst, uint32(k[1])
}

// consume analyses one batch on the analysing goroutine.
func (s *state) consume(b *eventBatch) {
	for i := range b.events {
		ev := &b.events[i]
		switch ev.kind {
		case evRTP:
			s.counts.rtp++
			s.mediaEvent(ev)
		case evRTCP:
			s.counts.rtcp++
			s.mediaEvent(ev)
		case evPacket:
			pkt := packet{
				Frame: ev.frame, Time: time.Unix(0, ev.at).UTC(), Offset: ev.offset,
				Src: ev.src, Dst: ev.dst, Proto: ev.proto, Payload: b.arena[ev.start:ev.end], Seq: ev.tcpSeq,
				SYN: ev.flags&flagSYN != 0, FIN: ev.flags&flagFIN != 0, RST: ev.flags&flagRST != 0,
				Fragmented: ev.flags&flagFragmented != 0, Truncated: ev.flags&flagTruncated != 0,
			}
			s.handle(&pkt)
		}
	}
}

// mediaEvent updates one stream: the hot path, free of allocations once
// the stream exists.
func (s *state) mediaEvent(ev *event) {
	var f *rtpFlow
	if ev.fast {
		f = s.fast[ev.key]
	} else {
		f = s.flows[flowKey{Src: ev.src, Dst: ev.dst, SSRC: ev.ssrc, RTCP: ev.kind == evRTCP}]
	}
	if f == nil {
		f = s.newFlow(ev)
		if f == nil {
			return
		}
	}
	f.update(ev.rtp, int(ev.size), time.Unix(0, ev.at), ev.frame)
}

func (s *state) newFlow(ev *event) *rtpFlow {
	if len(s.flows) >= maxFlows {
		s.anomaly("too-many-media-flows", ev.offset, ev.frame, "too many RTP/RTCP streams; later ones ignored")
		return nil
	}
	k := flowKey{Src: ev.src, Dst: ev.dst, SSRC: ev.ssrc, RTCP: ev.kind == evRTCP}
	if ev.fast {
		k.Src, k.Dst, k.SSRC = fromFastKey(ev.key)
	}
	f := &rtpFlow{Key: k}
	s.flows[k] = f
	if ev.fast {
		s.fast[ev.key] = f
	}
	return f
}

// merge adds what the reading goroutine counted.
func (s *state) merge(r *readerStats, frames uint64) {
	s.packets += r.packets
	s.bytes += r.bytes
	if !r.first.IsZero() && (s.first.IsZero() || r.first.Before(s.first)) {
		s.first = r.first
	}
	if r.last.After(s.last) {
		s.last = r.last
	}
	for _, k := range r.order {
		a := r.byKind[k]
		for i := uint64(0); i < a.Count; i++ {
			off, fr := int64(0), uint64(0)
			if int(i) < len(a.Offsets) {
				off, fr = a.Offsets[i], a.Frames[i]
			}
			s.addAnomaly(a.Kind, off, fr, a.Detail, int(i) < len(a.Offsets))
		}
	}
	s.frames = frames
}
