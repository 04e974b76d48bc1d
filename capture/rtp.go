package capture

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/rtp"
)

// mediaKind classifies a UDP payload.
type mediaKind uint8

const (
	notMedia mediaKind = iota
	kindRTP
	kindRTCP
)

// classifyMedia says whether a UDP payload looks like RTP or RTCP (RFC 3550
// §5.1 and §6.4; RFC 5761 §4 for telling them apart when multiplexed). It
// reads the header into h, which the caller reuses, so it does not allocate.
func classifyMedia(b []byte, h *rtp.Header) mediaKind {
	if len(b) < 8 || b[0]>>6 != 2 {
		return notMedia
	}
	// RFC 5761 §4: RTCP packet types 192-223 collide with RTP payload types
	// 64-95 with the marker bit; RTP avoids them, so they mean RTCP.
	if b[1] >= 192 && b[1] <= 223 {
		if b[1] < 200 || b[1] > 207 {
			return notMedia
		}
		// RTCP length is in 32-bit words minus one (RFC 3550 §6.4.1).
		if words := int(binary.BigEndian.Uint16(b[2:4])); (words+1)*4 > len(b) {
			return notMedia
		}
		return kindRTCP
	}
	if len(b) < 12 {
		return notMedia
	}
	pt := b[1] & 0x7f
	if pt >= 72 && pt <= 76 {
		return notMedia
	}
	if b[0]&0x1f == 0 {
		// No header extension and no CSRCs, as nearly every phone sends:
		// the 12 fixed bytes are the whole header, and reading them here
		// gives what pion's Unmarshal would (fuzz_test.go holds them
		// equal) without its call per packet.
		fixedHeader(b, h)
		return kindRTP
	}
	if _, err := h.Unmarshal(b); err != nil {
		return notMedia
	}
	return kindRTP
}

// fixedHeader reads an RTP header without extension or CSRCs (RFC 3550
// §5.1) from b, at least 12 bytes, into h as rtp.Header.Unmarshal does.
func fixedHeader(b []byte, h *rtp.Header) {
	h.Version = b[0] >> 6
	h.Padding = b[0]&0x20 != 0
	h.Extension = false
	h.CSRC = h.CSRC[:0]
	h.Marker = b[1]&0x80 != 0
	h.PayloadType = b[1] & 0x7f
	h.SequenceNumber = binary.BigEndian.Uint16(b[2:4])
	h.Timestamp = binary.BigEndian.Uint32(b[4:8])
	h.SSRC = binary.BigEndian.Uint32(b[8:12])
	h.Extensions = h.Extensions[:0]
}

// flowKey names one RTP or RTCP stream: a transport 5-tuple (UDP implied)
// and the SSRC, as Wireshark's RTP streams do.
type flowKey struct {
	Src, Dst netip.AddrPort
	SSRC     uint32
	RTCP     bool
	// sealed numbers a stream a new call took its addresses from
	// (sealFlows): the same addresses and SSRC then start a new stream.
	sealed uint32
}

// rtpFlow accumulates RFC 3550 statistics for one stream. Its update path
// does not allocate.
type rtpFlow struct {
	Key        flowKey
	Packets    uint64
	Bytes      uint64
	firstNs    int64 // Unix nanoseconds: cheaper than time.Time per packet
	lastNs     int64
	FirstFrame uint64
	LastFrame  uint64

	// turn: the flow was relayed by a TURN server, seen in ChannelData or
	// Send and Data indications between this client and server.
	turn         turnKey
	payloadTypes [4]uint8
	nPT          int

	// Sequence state (RFC 3550 Appendix A.1).
	baseSeq uint32
	maxSeq  uint16
	cycles  uint32

	// Interarrival jitter (RFC 3550 §6.4.1, Appendix A.8) in seconds.
	jitter      float64
	lastTransit float64
	haveTransit bool
	clockRate   float64
	span        float64 // seconds the timestamp takes to wrap (2^32 units)
	// clockPT is the payload type clockRate belongs to (the first packet's).
	// Another dynamic type in the same stream (Cisco's NSE on 100 beside
	// PCMA, a type no rtpmap names) runs its own timestamps: it takes no
	// part in the jitter, as Wireshark leaves out a type whose clock it
	// does not know.
	clockPT uint8
	// clockGuessed: no SDP named clockPT, a dynamic type, so clockRate is
	// RFC 3551's 8 kHz guess, which a later type an SDP names replaces
	// (adoptClock).
	clockGuessed bool

	maxGap time.Duration
	// udptl: a T.38 fax stream (UDPTL, no RTP header): counted, its
	// 16-bit sequence number followed for loss, no jitter.
	udptl bool
	// The last packet's sequence number, timestamp and size, to know a
	// captured copy of it (dedup.go).
	lastSeq  uint16
	lastTS   uint32
	lastSize int
	// Activity: packets per step since First; the step doubles when the
	// buckets run out, so the array never grows past its first allocation.
	// Counted only when timeline is set (Options.Detail): only the
	// detailed views draw it.
	timeline   bool
	activity   []uint32
	step       time.Duration
	lastBucket int64 // start of the newest bucket, Unix nanoseconds

	q    flowQuality // quality.go
	rtcp *rtcpState  // what an RTCP stream reported (rtcp.go)
	srtp *srtpCheck  // decrypts samples of SDES-SRTP (srtp.go)
}

// staticClockRate gives RFC 3551 §6 clock rates of static payload types.
// Dynamic types default to 8 kHz (telephony) when no SDP names them
// (clockrate.go looks for the SDP's a=rtpmap first).
func staticClockRate(pt uint8) float64 {
	switch pt {
	case 10, 11:
		return 44100
	case 14, 25, 26, 28, 31, 32, 33, 34:
		return 90000
	case 6:
		return 16000
	case 16:
		return 11025
	case 17:
		return 22050
	}
	return 8000
}

func (f *rtpFlow) addPT(pt uint8) {
	for i := 0; i < f.nPT; i++ {
		if f.payloadTypes[i] == pt {
			return
		}
	}
	if f.nPT < len(f.payloadTypes) {
		f.payloadTypes[f.nPT] = pt
		f.nPT++
	}
}

// onlyEvents says whether every packet of the flow was a telephone event
// (RFC 4733) of its SDP: DTMF, no audio.
func (f *rtpFlow) onlyEvents() bool {
	if f.nPT == 0 {
		return false
	}
	for _, pt := range f.payloadTypes[:f.nPT] {
		if !f.q.isEvent(pt) {
			return false
		}
	}
	return true
}

// PayloadTypes returns the distinct payload types seen (at most four).
func (f *rtpFlow) PayloadTypes() []uint8 { return append([]uint8(nil), f.payloadTypes[:f.nPT]...) }

// update adds one packet. h is the parsed RTP header (ignored for RTCP).
// rtpFields are the RTP header fields the statistics need.
type rtpFields struct {
	PT uint8
	// Info holds the marker bit (infoMarker) and the payload's level
	// (levelCode, 0 when not measured) in the byte the struct would pad.
	Info      uint8
	Seq       uint16
	Timestamp uint32
}

// First and Last are the times of the first and last packet.
func (f *rtpFlow) First() time.Time { return time.Unix(0, f.firstNs).UTC() }
func (f *rtpFlow) Last() time.Time  { return time.Unix(0, f.lastNs).UTC() }

// isDuplicate says whether a packet is a captured copy of the one before
// it: RTP with the same sequence number and timestamp, RTCP of the same
// size within dupWindow (RTCP is sent seconds apart, RFC 3550 §6.2).
func (f *rtpFlow) isDuplicate(h rtpFields, size int, at int64) bool {
	if f.Packets == 0 {
		return false
	}
	if f.Key.RTCP {
		return size == f.lastSize && at-f.lastNs < int64(dupWindow)
	}
	return h.Seq == f.lastSeq && h.Timestamp == f.lastTS && size == f.lastSize
}

func (f *rtpFlow) update(h rtpFields, size int, at int64, frame uint64) {
	prevNs, prevSeq, prevFrame := f.lastNs, f.lastSeq, f.LastFrame
	f.lastSeq, f.lastTS, f.lastSize = h.Seq, h.Timestamp, size
	if f.Packets == 0 {
		f.firstNs, f.FirstFrame = at, frame
		if f.timeline {
			f.activity, f.step = make([]uint32, 0, activityBuckets), time.Second
		}
	} else if gap := time.Duration(at - f.lastNs); gap > f.maxGap {
		f.maxGap = gap
	}
	f.Packets++
	f.Bytes += uint64(size)
	f.lastNs, f.LastFrame = at, frame
	if f.timeline {
		f.count(at)
	}
	if f.Key.RTCP {
		return
	}
	if f.udptl {
		f.updateSeq(h.Seq, f.Packets == 1)
		return
	}
	f.addPT(h.PT)
	if f.Packets > 1 && at-prevNs >= int64(minOutage) {
		f.q.noteGap(prevSeq, h.Seq, prevNs, at, prevFrame, frame)
	}
	f.q.sequence(h.Seq, f.Packets == 1)
	f.updateSeq(h.Seq, f.Packets == 1)
	if f.clockRate == 0 { // no SDP was asked: the first packet's type sets it
		f.clockRate, f.clockPT = staticClockRate(h.PT), h.PT
	}
	timed := f.timedByClock(h.PT)
	if timed {
		f.updateJitter(h, at)
	}
	f.q.sample(f, h, at, prevNs, timed)
	f.q.addLevel(h)
}

func (f *rtpFlow) updateSeq(seq uint16, first bool) {
	if first {
		f.baseSeq, f.maxSeq = uint32(seq), seq
		return
	}
	// A forward step of less than half the space is new; anything else is
	// late or duplicated and leaves the maximum alone (RFC 3550 A.1).
	if delta := seq - f.maxSeq; delta != 0 && delta < 0x8000 {
		if seq < f.maxSeq {
			f.cycles += 1 << 16
		}
		f.maxSeq = seq
	}
}

// timedByClock says whether a packet of payload type pt keeps the stream's
// clock, so that its timestamp measures jitter: the type that set the
// clock, or a static one (RFC 3551); never telephone-events, whose
// timestamp stands still through an event (RFC 4733 §2.5.1.2).
func (f *rtpFlow) timedByClock(pt uint8) bool {
	return !f.q.isEvent(pt) && (pt == f.clockPT || pt <= maxStaticPT)
}

// maxStaticPT is the highest payload type RFC 3551 assigns (H263, 34).
const maxStaticPT = 34

// maxTransitStep: a packet whose transit time differs from the one before
// by more than this starts a new timestamp base rather than measuring
// delay: a gateway or B2BUA that switches the media source under one SSRC
// (fax to T.38, music on hold to the callee) jumps the timestamp by seconds
// to days, and one such step would stand in the jitter for a second after.
// A packet really held up as long is lost to any jitter buffer, and the
// stream's longest gap and outage tell of it.
const maxTransitStep = 2.0 // seconds

func (f *rtpFlow) updateJitter(h rtpFields, at int64) {
	if f.span == 0 {
		f.span = float64(1<<32) / f.clockRate
	}
	arrival := float64(at) / 1e9
	transit := arrival - float64(h.Timestamp)/f.clockRate
	if f.haveTransit {
		d := transit - f.lastTransit
		// The RTP timestamp wraps at 2^32 units; fold the difference back.
		span := f.span
		for d > span/2 {
			d -= span
		}
		for d < -span/2 {
			d += span
		}
		if d < 0 {
			d = -d
		}
		if d <= maxTransitStep {
			f.jitter += (d - f.jitter) / 16
		}
	}
	f.lastTransit, f.haveTransit = transit, true
}

// Expected is the number of packets the sequence numbers say were sent.
func (f *rtpFlow) Expected() uint64 {
	if f.Key.RTCP || f.Packets == 0 {
		return f.Packets
	}
	return uint64(f.cycles) + uint64(f.maxSeq) - uint64(f.baseSeq) + 1
}

// Lost is expected minus received; negative with duplicates (RFC 3550 A.3).
func (f *rtpFlow) Lost() int64 { return int64(f.Expected()) - int64(f.Packets) }

// JitterMs is the final interarrival jitter in milliseconds.
func (f *rtpFlow) JitterMs() float64 { return f.jitter * 1000 }

// MaxGap is the longest time between two packets.
func (f *rtpFlow) MaxGap() time.Duration { return f.maxGap }

// activityBuckets bounds a flow's timeline.
const activityBuckets = 256

// count adds one packet to the activity timeline without allocating.
func (f *rtpFlow) count(at int64) {
	// Packets arrive in order: most land in the newest bucket.
	if n := len(f.activity); n > 0 && at >= f.lastBucket && at-f.lastBucket < int64(f.step) {
		f.activity[n-1]++
		return
	}
	d := time.Duration(at - f.firstNs)
	if d < 0 {
		d = 0
	}
	i := int(d / f.step)
	for i >= activityBuckets {
		// Merge neighbours: twice the step, half the buckets.
		n := len(f.activity)
		for j := 0; j < n; j += 2 {
			v := f.activity[j]
			if j+1 < n {
				v += f.activity[j+1]
			}
			f.activity[j/2] = v
		}
		f.activity = f.activity[:(n+1)/2]
		f.step *= 2
		i = int(d / f.step)
	}
	for len(f.activity) <= i {
		f.activity = append(f.activity, 0)
	}
	f.activity[i]++
	f.lastBucket = f.firstNs + int64(len(f.activity)-1)*int64(f.step)
}

// frameRange names the stream's packets by its first and last frame.
func (f *rtpFlow) frameRange() []report.FrameRange {
	return []report.FrameRange{{First: f.FirstFrame, Last: f.LastFrame}}
}

// carriedSeq says whether seq lies in the range of sequence numbers the
// stream carried (any, once they wrapped).
func (f *rtpFlow) carriedSeq(seq uint16) bool {
	first := uint16(f.baseSeq)
	return f.cycles > 0 || seq-first <= f.maxSeq-first
}
