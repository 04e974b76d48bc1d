package capture

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/rtp"
)

// flowQuality is what a stream's quality figures need beyond RFC 3550's
// counters in rtpFlow: duplicates and late packets, the jitter's mean and
// maximum, the longest gap and the audio level. Its update does not
// allocate.
//
// Mean and maximum jitter and the longest gap ("max delta") follow
// Wireshark's RTP stream analysis, so that natdoc and tshark -z rtp,streams
// can be compared number for number: the running RFC 3550 §6.4.1 jitter is
// sampled at every regular packet, one that is not the stream's first,
// does not start a talk spurt (marker bit, RFC 3551 §4.1), is not comfort
// noise or the first packet after it, and does not step the timestamp
// back. A gap before a talk spurt is the sender's silence suppression,
// not the network's.
type flowQuality struct {
	// seen has bit i set when sequence number top-i arrived; it tells a
	// duplicate from a late packet within the last 256 numbers.
	seen       [4]uint64
	top        uint16
	duplicates uint64
	late       uint64 // arrived after a higher sequence number

	regular   uint64  // regular packets (see above)
	jitterSum float64 // seconds, over regular packets
	jitterMax float64 // seconds
	maxDelta  int64   // nanoseconds between a regular packet and the one before
	// outage is the longest gap across which the sequence numbers jumped
	// (noteGap): packets sent and lost before the capture point.
	outage outageMark
	// vad counts the packets that show the sender suppresses silence (a
	// talk spurt's first, by its marker bit, after the stream's: RFC 3551
	// §4.1; comfort noise: RFC 3389), pauses the gaps of minOutage or more
	// that skipped no sequence number.
	vad, pauses uint32
	prevPT      uint8
	prevTS      uint32

	// eventPT is 1 + the telephone-event payload type (RFC 4733) of the
	// stream's SDP, 0 when it has none: its timestamps stand still during
	// an event, so it takes no part in the jitter.
	eventPT uint8
	// codec names the payload type of the stream's first packet
	// ("PCMU/8000"), from the SDP or RFC 3551's static types.
	codec string
	// encrypted: the SDP asked for SRTP (RTP/SAVP, RFC 3711), whose
	// payload is no audio to measure.
	encrypted bool

	level levelStats
}

// levelStats sums the measured levels of a stream's packets.
type levelStats struct {
	packets    uint64 // packets whose level was measured
	unmeasured uint64 // audio packets of other codecs or headers
	sampled    bool   // only decrypted samples were measured (srtp.go)
	active     uint64 // of them, louder than silentDBov
	comfort    uint64 // comfort-noise packets
	power      float64
	loudest    levelCode // lowest code seen (0: none)
}

// addLevel counts a packet's level; telephone events carry no audio.
func (q *flowQuality) addLevel(h rtpFields) {
	if levelMeasured(h.Seq) && !q.isEvent(h.PT) && !q.encrypted {
		q.level.add(h.PT, h.level())
	}
}

func (l *levelStats) add(pt uint8, c levelCode) {
	if c == 0 {
		l.unmeasured++
		return
	}
	l.packets++
	if pt == ptCN || pt == ptCNReserved {
		l.comfort++
	} else if c.dBov() > silentDBov {
		l.active++
	}
	l.power += levelPower[c]
	if l.loudest == 0 || c < l.loudest {
		l.loudest = c
	}
}

// sequence counts a packet as new, late or duplicated. It runs before
// rtpFlow.updateSeq moves the highest number.
func (q *flowQuality) sequence(seq uint16, first bool) {
	if first {
		q.top, q.seen = seq, [4]uint64{1}
		return
	}
	ahead := seq - q.top
	if ahead != 0 && ahead < 0x8000 {
		q.shift(int(ahead))
		q.top = seq
		q.seen[0] |= 1
		return
	}
	back := int(q.top - seq)
	switch {
	case back >= 256:
		q.late++ // too old to tell; counted late
	case q.seen[back/64]&(1<<(back%64)) != 0:
		q.duplicates++
	default:
		q.seen[back/64] |= 1 << (back % 64)
		q.late++
	}
}

// shift moves the window n numbers forward.
func (q *flowQuality) shift(n int) {
	if n == 1 { // the usual next packet
		w := &q.seen
		w[3] = w[3]<<1 | w[2]>>63
		w[2] = w[2]<<1 | w[1]>>63
		w[1] = w[1]<<1 | w[0]>>63
		w[0] <<= 1
		return
	}
	if n >= 256 {
		q.seen = [4]uint64{}
		return
	}
	words, bits := n/64, n%64
	for i := 3; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = q.seen[j] << bits
			if bits > 0 && j > 0 {
				v |= q.seen[j-1] >> (64 - bits)
			}
		}
		q.seen[i] = v
	}
}

// outageMark is a gap in a stream: from the packet before it to the one
// after, and the packets missing in between.
type outageMark struct {
	fromNs, toNs       int64
	fromFrame, toFrame uint64
	missing            uint16
}

// An outage is a gap of at least minOutage whose missing packets, at up to
// maxOutagePtime each, fill at least half of it: a sender that pauses
// (silence suppression, hold without re-INVITE) sends no packets and
// leaves no numbers out, while one whose packets are all dropped does. At
// minOutagePtime each they must not fill more than twice the gap: a
// sequence that leaps further was renumbered, not lost.
const (
	minOutage      = 2 * time.Second
	maxOutagePtime = 60 * time.Millisecond
	minOutagePtime = 10 * time.Millisecond
)

// noteGap keeps the gap before a packet numbered seq, at, after the packet
// numbered prevSeq at prevNs, when it is an outage longer than the one
// kept. Called only for gaps of minOutage or more.
func (q *flowQuality) noteGap(prevSeq, seq uint16, prevNs, at int64, prevFrame, frame uint64) {
	missing := seq - prevSeq - 1
	gap := at - prevNs
	if missing == 0 {
		q.pauses++
	}
	if missing == 0 || missing >= 0x8000 || gap <= q.outage.toNs-q.outage.fromNs ||
		2*int64(missing)*int64(maxOutagePtime) < gap || int64(missing)*int64(minOutagePtime) > 2*gap {
		return
	}
	q.outage = outageMark{fromNs: prevNs, toNs: at, fromFrame: prevFrame, toFrame: frame, missing: missing}
}

// outageReport is the stream's longest outage, nil when it had none.
func (q *flowQuality) outageReport() *report.RTPOutage {
	o := q.outage
	if o.missing == 0 {
		return nil
	}
	return &report.RTPOutage{From: time.Unix(0, o.fromNs).UTC(), To: time.Unix(0, o.toNs).UTC(), FromFrame: o.fromFrame, ToFrame: o.toFrame, Missing: uint64(o.missing)}
}

// isComfortNoise: RFC 3389's payload type and the older reserved one.
func isComfortNoise(pt uint8) bool { return pt == ptCN || pt == ptCNReserved }

// sample takes a packet's jitter and gap into the figures when it is
// regular; f holds the running jitter after this packet, prevNs the
// previous packet's time; timed says the packet took part in the jitter
// (rtpFlow.timedByClock).
func (q *flowQuality) sample(f *rtpFlow, h rtpFields, at, prevNs int64, timed bool) {
	prevPT, prevTS := q.prevPT, q.prevTS
	q.prevPT, q.prevTS = h.PT, h.Timestamp
	if f.Packets == 1 || h.marker() || isComfortNoise(h.PT) || isComfortNoise(prevPT) || int32(h.Timestamp-prevTS) < 0 {
		if f.Packets > 1 && (h.marker() && !q.isEvent(h.PT) || isComfortNoise(h.PT)) {
			q.vad++
		}
		return
	}
	q.maxDelta = max(q.maxDelta, at-prevNs)
	if !timed {
		return // no clock: no jitter
	}
	q.regular++
	q.jitterSum += f.jitter
	q.jitterMax = max(q.jitterMax, f.jitter)
}

// JitterMeanMs and JitterMaxMs are over the regular packets.
func (q *flowQuality) JitterMeanMs() float64 {
	if q.regular == 0 {
		return 0
	}
	return q.jitterSum / float64(q.regular) * 1000
}

func (q *flowQuality) JitterMaxMs() float64 { return q.jitterMax * 1000 }

// MaxDelta is the longest time between a regular packet and the one
// before it.
func (q *flowQuality) MaxDelta() time.Duration { return time.Duration(q.maxDelta) }

// infoMarker is rtpFields.Info's marker bit; the rest is the levelCode.
const infoMarker = 0x80

func (h rtpFields) marker() bool     { return h.Info&infoMarker != 0 }
func (h rtpFields) level() levelCode { return levelCode(h.Info &^ infoMarker) }

// rtpFieldsOf is what an RTP event carries of the header the producer
// just read and its payload b (the whole UDP payload).
func rtpFieldsOf(hdr *rtp.Header, b []byte) rtpFields {
	f := rtpFields{PT: hdr.PayloadType, Seq: hdr.SequenceNumber, Timestamp: hdr.Timestamp}
	if hdr.Marker {
		f.Info = infoMarker
	}
	// The level is measured on plain headers (no CSRC, extension or
	// padding), as nearly every phone sends them.
	if levelMeasured(hdr.SequenceNumber) && b[0]&0x3f == 0 && len(b) > 12 {
		f.Info |= uint8(payloadLevel(hdr.PayloadType, b[12:]))
	}
	return f
}

func (q *flowQuality) isEvent(pt uint8) bool { return q.eventPT == pt+1 }

// describeFlow names a new stream's codec and its telephone-event type
// from the SDP of the call it flows in (the rtpmap at its destination or
// source, as clockRate looks it up).
func (s *state) describeFlow(f *rtpFlow, pt uint8) {
	f.q.codec = staticCodecName[strconv.Itoa(int(pt))]
	for _, a := range [2]netip.AddrPort{f.Key.Dst, f.Key.Src} {
		e, ok := s.rtpmaps[a]
		if !ok {
			continue
		}
		s.describeWith(f, pt, e)
		return
	}
	if e, ok := s.rtpmapOnPort(f.Key.Src, f.Key.Dst, pt); ok {
		s.describeWith(f, pt, e)
	}
}

// describeWith names the stream's codec and telephone-event type, and
// whether it is SRTP, from the rtpmap e of its SDP.
func (s *state) describeWith(f *rtpFlow, pt uint8, e rtpmapEntry) {
	f.q.encrypted = strings.Contains(e.proto, "SAVP") && !s.senderSaysPlain(f, e.call)
	if f.q.encrypted {
		f.srtp = s.newSRTPCheck(f)
	}
	for _, c := range e.codecs {
		num, name, _ := strings.Cut(c, " ")
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 127 {
			continue
		}
		if strings.HasPrefix(strings.ToLower(name), "telephone-event/") {
			f.q.eventPT = uint8(n) + 1
		}
		if n == int(pt) && name != "" {
			f.q.codec = strings.Clone(name)
		}
	}
}

// senderSaysPlain says whether the SDP of call c that its sender wrote on
// f's source host offers or answers plain RTP (RTP/AVP) where the other
// side's asked for SRTP: an answerer that takes an RTP/SAVP offer with
// RTP/AVP (a Zultys PBX does) sends plain RTP, which no SRTP key
// authenticates; the stream is not SRTP. Only streams the other side's SDP
// calls SRTP ask, so the walk over the SDPs in progress is rare.
func (s *state) senderSaysPlain(f *rtpFlow, c *sipCall) bool {
	if c == nil {
		return false
	}
	for a, e := range s.rtpmaps {
		if e.call == c && a.Addr() == f.Key.Src.Addr() && e.proto != "" && !strings.Contains(e.proto, "SAVP") && !e.udptl {
			return true
		}
	}
	return false
}

// minPacketsForMOS: a MOS needs some audio to be about (10 packets, 200
// ms at 20 ms a packet); of a stream that stopped after a packet or two it
// would say 4.4 about nothing.
const minPacketsForMOS = 10

// qualityReport turns an RTP stream's figures into its report entry.
func (f *rtpFlow) qualityReport() *report.StreamQuality {
	q := &f.q
	expected := f.Expected()
	r := &report.StreamQuality{
		Codec: q.codec, Expected: expected,
		OutOfOrder: q.late, Duplicates: q.duplicates,
		JitterMeanMs: round2(q.JitterMeanMs()), JitterMaxMs: round2(q.JitterMaxMs()),
	}
	if expected > 0 {
		r.LossPct = round2(max(float64(f.Lost()), 0) / float64(expected) * 100)
	}
	if rf, mos, ok := eModel(q.codec, r.LossPct, r.JitterMeanMs); ok && expected >= minPacketsForMOS {
		r.RFactor, r.MOS = round1(rf), round2(mos)
	}
	r.Level = q.level.report()
	r.SRTP = f.srtp.report()
	r.Outage = q.outageReport()
	r.SilenceSuppression = q.vad > 0 || q.pauses > 0
	return r
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// minSilentPackets: a stream must carry this many measured packets (with
// one in levelEvery measured, two seconds of 20 ms packets) before it is
// called silent.
const minSilentPackets = 25

// report is the level summary, nil when no packet was measured.
func (l *levelStats) report() *report.AudioLevel {
	if l.packets == 0 {
		return nil
	}
	a := &report.AudioLevel{
		Packets: l.packets, Active: l.active, ComfortNoise: l.comfort,
		MeanDBov:   round1(10 * math.Log10(l.power/float64(l.packets))),
		PeakDBov:   l.loudest.dBov(),
		SilentDBov: silentDBov,
	}
	// Every audio packet measured, none louder than silence: the packets
	// flow but carry nothing to hear.
	enough := l.packets >= minSilentPackets || (l.sampled && l.packets >= minSilentPackets/2)
	a.Silent = l.active == 0 && enough && l.unmeasured == 0
	return a
}
