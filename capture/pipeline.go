package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pion/rtp"
)

// The pipeline splits the work over two goroutines so both cores of a
// small machine work on a large file: the reader reads records, decodes
// them (link, IP, fragments, UDP/TCP/SCTP) and classifies RTP, handing on
// compact events; the analyser keeps per-stream statistics and SIP state.
// Events travel in recycled batches: nothing is allocated per packet.

// errIdle is returned by a live source when no packet came for a while; the
// pipeline then hands on what it holds, so calls are judged as they end.
var errIdle = errors.New("no packet for a while")

// eventKind says what an event carries.
type eventKind uint8

const (
	evRTP eventKind = iota + 1
	evRTCP
	evPacket // any other transport payload, copied into the batch arena
	evRaw    // a whole record the analyser decodes itself (fragments, SCTP)
)

// event is one decoded packet as the analyser needs it, kept to 64 bytes:
// every RTP packet writes and reads one. Addresses of anything but IPv4 RTP
// live in the batch's side table.
type event struct {
	kind   eventKind
	fast   bool // key holds the IPv4 stream key; no side-table entry
	proto  uint8
	flags  uint8 // packet flags, see flag*
	size   uint32
	rtp    rtpFields
	ssrc   uint32
	info   uint32 // index into eventBatch.infos when !fast
	frame  uint64
	at     int64 // Unix nanoseconds
	offset int64
	key    v4Key
}

// packetInfo is the rest of an event that is not IPv4 RTP.
type packetInfo struct {
	src, dst   netip.AddrPort
	tcpSeq     uint32
	ipID       uint32
	start, end uint32 // payload in the batch arena (evPacket)
}

const (
	flagSYN = 1 << iota
	flagFIN
	flagRST
	flagFragmented
	flagTruncated
	// flagSampled: an RTP event whose whole packet is in the arena, at
	// ev.info when fast, else at its info's start (srtp.go).
	flagSampled
	flagWhole
)

// eventBatch is a slice of events with the arena holding their payloads.
type eventBatch struct {
	events []event
	infos  []packetInfo
	arena  []byte
	last   bool // the last batch made of one raw batch
}

// Batch sizes keep a batch's data in the CPU cache between the goroutine
// that writes it and the one that reads it: measured on the 1 GB benchmark,
// 4,096-event batches were almost twice as slow as 512.
//
// Buffers are sized for the usual packet, not the largest: a batch that
// must take a larger one grows (append) and keeps that size, so memory is
// not reserved up front for records that rarely come.
const (
	batchEvents  = 512
	batchArena   = 64 << 10
	arenaSlack   = 4 << 10 // a SIP message or two past batchArena
	batchesAhead = 4
)

// readerStats is what the reading goroutine counts; merged at the end.
type readerStats struct {
	anomalies
	comments        captureComments
	keyLogs         [][]byte // TLS key logs the files carry (secrets.go)
	packets, bytes  uint64
	firstNs, lastNs int64 // Unix nanoseconds
	haveFirst       bool
}

func (rs *readerStats) tlsKeyLog(keylog []byte) { rs.keyLogs = append(rs.keyLogs, keylog) }

// accountBatch counts n records of bytes in all, stamped from first to
// last, as n calls of account would.
func (r *readerStats) accountBatch(n, bytes uint64, first, last int64) {
	r.packets += n
	r.bytes += bytes
	if !r.haveFirst || first < r.firstNs {
		r.firstNs, r.haveFirst = first, true
	}
	if last > r.lastNs {
		r.lastNs = last
	}
}

func (r *readerStats) account(size int, t int64) {
	r.packets++
	r.bytes += uint64(size)
	if !r.haveFirst || t < r.firstNs {
		r.firstNs, r.haveFirst = t, true
	}
	if t > r.lastNs {
		r.lastNs = t
	}
}

// rawBatch carries records from the reading goroutine to a decoding one;
// record bytes are copied into buf (or read straight into it) so the
// reader's buffer can move on.
type rawBatch struct {
	buf        []byte
	recs       []rawRecord
	firstFrame uint64 // frame number of recs[0]
	err        error  // set on the last batch when reading failed
}

type rawRecord struct {
	start, end uint32
	linkType   layers.LinkType
	wireLen    int
	at         int64 // Unix nanoseconds
	offset     int64
}

// record rebuilds the Record r was made of, its bytes in data.
func (r *rawRecord) record(data []byte) Record {
	return Record{Data: data[r.start:r.end], Time: time.Unix(0, r.at).UTC(), WireLen: r.wireLen, LinkType: r.linkType, Offset: r.offset}
}

// newRawRecord keeps what rec says besides its bytes, at data[start:end].
func newRawRecord(rec Record, start, end int) rawRecord {
	return rawRecord{start: uint32(start), end: uint32(end), linkType: rec.LinkType, wireLen: rec.WireLen, at: rec.Time.UnixNano(), offset: rec.Offset}
}

const (
	rawBatchRecords = 2048
	rawBatchBytes   = 256 << 10
	// decoders decode raw batches in parallel, taking turns, so the
	// analyser can put their events back in order.
	decoders = 2
)

// producer is a decoding goroutine's state.
type producer struct {
	anomalies
	// hosts, when not empty, keeps only packets to or from these addresses
	// (natdoc capture --host).
	hosts  map[netip.Addr]bool
	dec    *decoder
	hdr    rtp.Header
	batch  *eventBatch
	full   chan *eventBatch
	free   *batchPool[*eventBatch]
	frames uint64
	// emitFn is p.emit, made once.
	emitFn func(*packet)
	// sink, when set, takes full batches in place of the channels: the
	// analyser's own decoder hands them straight to the analysis.
	sink func(*eventBatch)
}

func newProducer(full chan *eventBatch, free *batchPool[*eventBatch], hosts map[netip.Addr]bool, route bool) *producer {
	p := &producer{full: full, free: free, hosts: hosts}
	p.dec = newDecoder(&p.anomalies)
	p.dec.route = route
	return p
}

// runPipeline reads src to the end (or until ctx ends) into s. Goroutines:
// one reads (I/O and record framing), two decode (layers, RTP
// classification) taking turns batch by batch, and this one analyses,
// consuming the decoders' output in batch order. Decoding that needs
// state across packets (IP fragments, SCTP user messages) is left to the
// analyser, which sees every packet in order. rs must be the statistics src
// reports its anomalies to; only the reading goroutine touches it.
func runPipeline(ctx context.Context, src recordSource, rs *readerStats, s *state, progress func()) error {
	rs.anomalies.observe = s.anomalies.observe
	var rawFull [decoders]chan *rawBatch
	for i := range rawFull {
		rawFull[i] = make(chan *rawBatch, batchesAhead)
	}
	rawFree := newBatchPool(decoders*batchesAhead+1, func() *rawBatch {
		return &rawBatch{buf: make([]byte, 0, rawBatchBytes), recs: make([]rawRecord, 0, rawBatchRecords)}
	})
	free := newBatchPool(decoders*(batchesAhead+1), newEventBatch)
	readErr := make(chan error, 1)
	go func() {
		readErr <- readRecords(ctx, src, rs, rawFull[:], rawFree, progress)
		for _, c := range rawFull {
			close(c)
		}
	}()
	var outs [decoders]chan *eventBatch
	var prods [decoders]*producer
	for i := range outs {
		outs[i] = make(chan *eventBatch, batchesAhead)
		prods[i] = newProducer(outs[i], free, s.hosts, true)
		prods[i].anomalies.observe = s.anomalies.observe
		go func(p *producer, in chan *rawBatch) {
			defer close(p.full)
			p.run(in, rawFree)
		}(prods[i], rawFull[i])
	}
	// The analyser's own decoder handles what the decoders route to it.
	s.side = newProducer(nil, nil, s.hosts, false)
	s.side.dec.maxFragments = s.limits.Fragments
	s.side.anomalies.observe = s.anomalies.observe
	s.side.batch = newEventBatch()
	s.side.sink = s.consume
	for k := 0; ; k = (k + 1) % decoders {
		if !s.consumeRawBatch(outs[k], free) {
			break
		}
	}
	for _, c := range outs { // drain, so no decoder stays blocked
		for range c {
		}
	}
	err := <-readErr
	s.merge(rs, nil, 0)
	for _, p := range prods {
		s.mergeAnomalies(&p.anomalies)
	}
	s.side.dec.endFragments(s.last)
	s.counts.duplicates += s.side.dec.frags.copies
	s.mergeAnomalies(&s.side.anomalies)
	return err
}

// batchPool hands out batches, making one only when none is free and
// fewer than max exist: a short capture needs two or three, where making
// every batch a long one keeps in flight zeroed about 4 MB for each file.
type batchPool[T any] struct {
	free  chan T
	made  atomic.Int32
	max   int32
	fresh func() T
}

func newBatchPool[T any](max int, fresh func() T) *batchPool[T] {
	return &batchPool[T]{free: make(chan T, max), max: int32(max), fresh: fresh}
}

// get takes a free batch, or makes one while fewer than max exist, or
// waits for one to come back.
func (p *batchPool[T]) get() T {
	select {
	case b := <-p.free:
		return b
	default:
	}
	for {
		n := p.made.Load()
		if n >= p.max {
			return <-p.free
		}
		if p.made.CompareAndSwap(n, n+1) {
			return p.fresh()
		}
	}
}

// put gives a batch back; it never blocks, as at most max exist.
func (p *batchPool[T]) put(b T) { p.free <- b }

func newEventBatch() *eventBatch {
	return &eventBatch{events: make([]event, 0, batchEvents), infos: make([]packetInfo, 0, 64), arena: make([]byte, 0, batchArena+arenaSlack)}
}

// consumeRawBatch analyses the event batches one decoder made of one raw
// batch, up to the one marked last. It reports false when the decoder is
// done.
func (s *state) consumeRawBatch(in chan *eventBatch, free *batchPool[*eventBatch]) bool {
	for {
		b, ok := <-in
		if !ok {
			return false
		}
		s.consume(b)
		last := b.last
		b.events, b.infos, b.arena, b.last = b.events[:0], b.infos[:0], b.arena[:0], false
		free.put(b)
		if last {
			return true
		}
	}
}

// readRecords is the reading goroutine: it fills raw batches and deals
// them to the decoders in turn. An idle live source sends what it has.
func readRecords(ctx context.Context, src recordSource, rs *readerStats, full []chan *rawBatch, free *batchPool[*rawBatch], progress func()) error {
	var frames, sent uint64
	b := free.get()
	b.firstFrame = 1
	send := func() {
		frames += uint64(len(b.recs))
		full[sent%uint64(len(full))] <- b
		sent++
		b = free.get()
		b.buf, b.recs, b.err, b.firstFrame = b.buf[:0], b.recs[:0], nil, frames+1
		if sent%32 == 0 {
			progress()
		}
	}
	if ps, ok := src.(*pcapSource); ok {
		for {
			more, err := ps.fillBatch(b, rs)
			if errors.Is(err, io.EOF) {
				send()
				return nil
			}
			if !more {
				break // hand over to the record-by-record reader
			}
			send()
			if err := ctx.Err(); err != nil {
				send()
				return err
			}
		}
	}
	for {
		rec, err := src.Next()
		if errors.Is(err, errIdle) {
			if len(b.recs) > 0 {
				send()
			}
			continue
		}
		if err != nil {
			send()
			if !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		}
		rs.record(rec, b.firstFrame+uint64(len(b.recs))) // comments.go
		start := len(b.buf)
		b.buf = append(b.buf, rec.Data...)
		b.recs = append(b.recs, newRawRecord(rec, start, len(b.buf)))
		if len(b.recs) == cap(b.recs) || len(b.buf) >= rawBatchBytes {
			send()
			if err := ctx.Err(); err != nil {
				send()
				return err
			}
		}
	}
}

// run is a decoding goroutine: every raw batch becomes one or more event
// batches, the last of them marked so the analyser knows to switch.
func (p *producer) run(in chan *rawBatch, recycle *batchPool[*rawBatch]) {
	p.batch = p.free.get()
	p.emitFn = p.emit // one method value, not one per record
	for rb := range in {
		for i := range rb.recs {
			p.decodeRecord(rb.buf, &rb.recs[i], rb.firstFrame+uint64(i))
		}
		rb.buf, rb.recs, rb.err = rb.buf[:0], rb.recs[:0], nil
		recycle.put(rb)
		p.batch.last = true
		p.full <- p.batch
		p.batch = p.free.get()
	}
}

func (p *producer) flush() {
	if len(p.batch.events) == 0 {
		return
	}
	if p.sink != nil {
		p.sink(p.batch)
		b := p.batch
		b.events, b.infos, b.arena = b.events[:0], b.infos[:0], b.arena[:0]
		return
	}
	p.full <- p.batch
	p.batch = p.free.get()
}

// emit turns a decoded packet into an event. RTP and RTCP on dynamic ports
// become compact events; everything else carries a copy of its payload.
func (p *producer) emit(pkt *packet) {
	b := p.batch
	if len(b.events) == cap(b.events) || len(b.arena) >= batchArena {
		p.flush()
		b = p.batch
	}
	if pkt.Raw != nil { // a fragment or SCTP: the analyser decodes it
		start := uint32(len(b.arena))
		b.arena = append(b.arena, pkt.Raw...)
		b.infos = append(b.infos, packetInfo{start: start, end: uint32(len(b.arena)), tcpSeq: uint32(pkt.RawLink)})
		b.events = append(b.events, event{kind: evRaw, frame: pkt.Frame, at: pkt.Time.UnixNano(), offset: pkt.Offset,
			info: uint32(len(b.infos) - 1), size: uint32(pkt.WireLen)})
		return
	}
	if len(p.hosts) > 0 && !p.hosts[pkt.Src.Addr()] && !p.hosts[pkt.Dst.Addr()] {
		return
	}
	ev := event{frame: pkt.Frame, at: pkt.Time.UnixNano(), offset: pkt.Offset, proto: pkt.Proto}
	if pkt.Proto == protoUDP && pkt.Src.Port() >= 1024 && pkt.Dst.Port() >= 1024 && !looksLikeSIP(pkt.Payload) {
		switch classifyMedia(pkt.Payload, &p.hdr) {
		case kindRTP:
			ev.kind, ev.ssrc = evRTP, p.hdr.SSRC
			ev.rtp = rtpFieldsOf(&p.hdr, pkt.Payload)
		case kindRTCP:
			ev.kind, ev.ssrc = evRTCP, binary.BigEndian.Uint32(pkt.Payload[4:8])
		}
		if ev.kind != 0 {
			ev.size = uint32(len(pkt.Payload))
			if ev.kind == evRTP && sampled(ev.rtp.Seq) {
				ev.flags = flagSampled
			}
			if ev.kind == evRTP && pkt.Src.Addr().Is4() && pkt.Dst.Addr().Is4() {
				ev.fast, ev.key = true, fastKey(pkt.Src, pkt.Dst, ev.ssrc)
				if ev.flags == flagSampled {
					ev.info = uint32(len(b.arena))
					b.arena = append(b.arena, pkt.Payload...)
				}
			} else {
				ev.info = uint32(len(b.infos))
				in := packetInfo{src: pkt.Src, dst: pkt.Dst}
				if ev.kind == evRTCP || sampled(ev.rtp.Seq) { // reports are read (rtcp.go), samples decrypted (srtp.go)
					in.start = uint32(len(b.arena))
					b.arena = append(b.arena, pkt.Payload...)
					in.end = uint32(len(b.arena))
				}
				b.infos = append(b.infos, in)
			}
			b.events = append(b.events, ev)
			return
		}
	}
	ev.kind, ev.flags, ev.info = evPacket, packetFlags(pkt), uint32(len(b.infos))
	start := uint32(len(b.arena))
	b.arena = append(b.arena, pkt.Payload...)
	b.infos = append(b.infos, packetInfo{src: pkt.Src, dst: pkt.Dst, tcpSeq: pkt.Seq, ipID: pkt.IPID, start: start, end: uint32(len(b.arena))})
	b.events = append(b.events, ev)
}

func packetFlags(pkt *packet) uint8 {
	var f uint8
	for _, x := range []struct {
		on   bool
		flag uint8
	}{{pkt.SYN, flagSYN}, {pkt.FIN, flagFIN}, {pkt.RST, flagRST}, {pkt.Fragmented, flagFragmented}, {pkt.Truncated, flagTruncated}, {pkt.Whole, flagWhole}} {
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
		s.steadyClock(ev) // clock.go
		if !s.sweepClock || ev.at-s.lastSweepNs >= int64(sweepEvery) {
			s.sweepBefore(ev.at)
		}
		switch ev.kind {
		case evRTP, evRTCP:
			s.mediaEvent(b, ev)
		case evPacket:
			in := &b.infos[ev.info]
			pkt := packet{
				Frame: ev.frame, Time: time.Unix(0, ev.at).UTC(), Offset: ev.offset,
				Src: in.src, Dst: in.dst, Proto: ev.proto, Payload: b.arena[in.start:in.end], Seq: in.tcpSeq, IPID: in.ipID,
				SYN: ev.flags&flagSYN != 0, FIN: ev.flags&flagFIN != 0, RST: ev.flags&flagRST != 0,
				Fragmented: ev.flags&flagFragmented != 0, Truncated: ev.flags&flagTruncated != 0,
				Whole: ev.flags&flagWhole != 0,
			}
			s.host.observe(in.src.Addr(), in.dst.Addr())
			if s.dedup.duplicate(&pkt) {
				s.counts.duplicates++
				continue
			}
			s.handle(&pkt)
		case evRaw:
			in := &b.infos[ev.info]
			// The side decoder's events come back through consume, which
			// shifts their time again: hand it the time as read.
			rec := Record{Data: b.arena[in.start:in.end], Time: time.Unix(0, ev.at+s.clock.shift).UTC(), WireLen: int(ev.size),
				LinkType: layers.LinkType(in.tcpSeq), Offset: ev.offset}
			s.side.dec.decode(rec, ev.frame, s.side.emit)
			s.side.flush()
		}
	}
}

// sweepBefore finalises ended calls every sweepEvery of capture time. It
// runs between two packets, before the first one at least sweepEvery after
// the previous sweep, so which calls are judged when, with which packets,
// depends on the packets' times alone and not on how the pipeline happened
// to batch them.
func (s *state) sweepBefore(at int64) {
	if !s.sweepClock {
		s.lastSweepNs, s.sweepClock = at, true
		return
	}
	s.lastSweepNs = at
	now := time.Unix(0, at)
	if s.side != nil {
		s.side.dec.flushFragments(now)
	}
	if len(s.ice.pairs) > 0 {
		s.ice.prune(now.Add(-iceIdle))
	}
	if len(s.ice.mappings.sockets) > 0 {
		s.ice.mappings.prune(now.Add(-stunVariesWithin))
	}
	if len(s.pings.pending) > 0 {
		s.pings.expire(now, inviteTimeout)
	}
	s.peakCalls = max(s.peakCalls, len(s.calls.order))
	s.peakFlows = max(s.peakFlows, len(s.flows))
	s.sweep(now, false)
}

// mediaEvent updates one stream: the hot path, free of allocations once
// the stream exists.
func (s *state) mediaEvent(b *eventBatch, ev *event) {
	var f *rtpFlow
	var k flowKey
	if ev.fast {
		slot := &s.recent[recentSlot(ev.key)]
		if slot.f != nil && slot.key == ev.key {
			f = slot.f
		} else if f = s.fast[ev.key]; f != nil {
			slot.key, slot.f = ev.key, f
		}
	} else {
		in := &b.infos[ev.info]
		k = flowKey{Src: in.src, Dst: in.dst, SSRC: ev.ssrc, RTCP: ev.kind == evRTCP}
		f = s.flows[k]
	}
	if f == nil {
		f = s.newFlow(ev, k)
		if f == nil {
			return
		}
	}
	if f.clockGuessed && ev.kind == evRTP && ev.rtp.PT != f.clockPT && (ev.rtp.PT > maxStaticPT || staticVoice(ev.rtp.PT)) {
		s.adoptClock(f, ev.rtp.PT) // clockrate.go
	}
	if f.isDuplicate(ev.rtp, int(ev.size), ev.at) {
		s.counts.duplicates++
		return
	}
	if ev.kind == evRTP {
		s.counts.rtp++
	} else {
		s.counts.rtcp++
	}
	f.update(ev.rtp, int(ev.size), ev.at, ev.frame)
	switch {
	case ev.kind == evRTCP:
		in := &b.infos[ev.info]
		s.rtcpPacket(f, b.arena[in.start:in.end], ev.at, ev.offset, ev.frame)
	case ev.flags == flagSampled && f.srtp != nil:
		f.srtp.sample(sampledPacket(b, ev), &f.q)
	}
}

// sampledPacket is the copy of a sampled RTP packet in the batch arena.
func sampledPacket(b *eventBatch, ev *event) []byte {
	if ev.fast {
		return b.arena[ev.info : ev.info+ev.size]
	}
	in := &b.infos[ev.info]
	return b.arena[in.start:in.end]
}

func (s *state) newFlow(ev *event, k flowKey) *rtpFlow {
	if ev.fast {
		k.Src, k.Dst, k.SSRC = fromFastKey(ev.key)
	}
	s.host.observe(k.Src.Addr(), k.Dst.Addr())
	if len(s.flows) >= s.limits.Streams {
		s.anomaly("too-many-media-flows", ev.offset, ev.frame, "too many RTP/RTCP streams; later ones ignored")
		return nil
	}
	f := &rtpFlow{Key: k, timeline: s.detail}
	if s.side != nil {
		f.turn, _ = s.side.dec.turn.relayOf(k)
	}
	if ev.kind == evRTP {
		f.clockRate, f.clockGuessed = s.clockRate(k.Src, k.Dst, ev.rtp.PT)
		f.clockPT = ev.rtp.PT
		s.describeFlow(f, ev.rtp.PT)
	}
	s.flows[k] = f
	if ev.fast {
		s.fast[ev.key] = f
		s.recent[recentSlot(ev.key)] = recentFlow{ev.key, f}
	}
	return f
}

// merge adds what the reading and decoding goroutines counted.
func (s *state) merge(r *readerStats, _ *anomalies, frames uint64) {
	s.mergeAnomalies(&r.anomalies)
	s.comments.merge(&r.comments)
	s.packets += r.packets
	s.bytes += r.bytes
	if r.haveFirst {
		first, last := time.Unix(0, r.firstNs).UTC(), time.Unix(0, r.lastNs).UTC()
		if s.first.IsZero() || first.Before(s.first) {
			s.first = first
		}
		if last.After(s.last) {
			s.last = last
		}
	}
	s.frames = frames
}

func (s *state) mergeAnomalies(r *anomalies) {
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
}
