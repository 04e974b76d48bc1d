package capture

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/pion/rtcp"
)

// RTCP (RFC 3550 §6.4) is each party's own account of the media: a sender
// report says how many packets its author sent, a reception report block
// what its author received from one source (loss, jitter, the highest
// sequence number), an RTCP XR VoIP metrics block (RFC 3611 §4.7) the
// receiver's own quality estimate. natdoc puts them beside what the
// capture measured; a receiver whose reports never mention a stream the
// capture saw leaving for it received none of it.
//
// RTCP is a packet every few seconds per stream, so it is parsed with
// pion/rtcp as it comes, allocations and all; RTP's path stays free of
// them.

// maxReportedSources bounds the sources one RTCP stream's reports are
// kept for: a phone reports on the one or two streams it receives.
const maxReportedSources = 4

// rtcpState is what one RTCP stream (an rtpFlow with Key.RTCP) said.
type rtcpState struct {
	// encrypted: the stream is SRTCP (looksSRTCP), and is not read;
	// opaque: its first packet did not parse either, so it is not read
	// (one anomaly for the stream, not one for each of its packets).
	encrypted, opaque bool
	reports           int // SR and RR packets
	lastNs            int64
	// Sender report of the stream's author about its own RTP.
	srSSRC    uint32
	srReports int
	srPackets uint32
	srOctets  uint32
	sources   []reportedSource
}

// reportedSource gathers the reception report blocks about one SSRC.
type reportedSource struct {
	ssrc           uint32
	blocks         int
	firstFrame     uint64
	lastFrame      uint64
	fractionLost   uint8 // the last block's, in 1/256
	maxFraction    uint8
	cumulativeLost int32 // the last block's, signed 24 bits
	jitter         uint32
	maxJitter      uint32 // timestamp units
	highestSeq     uint32
	// heard: a block reported something received (receivedNothing).
	heard bool
	xr    *rtcp.VoIPMetricsReportBlock
}

// rtcpPacket reads one RTCP datagram (a compound packet, RFC 3550 §6.1)
// into f's state. Its packets are taken one by one, by their length
// fields, and only the report types are parsed: an SDES or APP packet a
// parser finds fault with (pion/rtcp rejects some that Wireshark reads)
// does not cost the reports beside it. A report that does not parse is
// counted as an anomaly. In an SRTP session RTCP is SRTCP (RFC 3711
// §3.4), encrypted past its first eight bytes, and is not read at all;
// without the SDP that says so, its trailer tells it (looksSRTCP).
func (s *state) rtcpPacket(f *rtpFlow, data []byte, at int64, offset int64, frame uint64) {
	first := f.rtcp == nil
	if first {
		if s.inSRTPSession(f) {
			return // SRTCP: its reports are encrypted; nothing to read
		}
		f.rtcp = &rtcpState{}
	}
	if f.rtcp.encrypted || f.rtcp.opaque {
		return
	}
	tiles := tilesRTCP(data)
	if !tiles && looksSRTCP(data) {
		// What was read of the stream before was read from ciphertext.
		f.rtcp = &rtcpState{encrypted: true}
		return
	}
	if first && !tiles {
		// A stream whose every packet fails would be an anomaly per
		// packet (hundreds: SRTCP with a trailer looksSRTCP does not
		// know, a vendor's own format) or a lone datagram that only
		// looked like RTCP by its first two bytes.
		f.rtcp.opaque = true
		s.anomaly("malformed-rtcp", offset, frame, "RTCP stream whose first packet does not parse (encrypted without the SDP saying so, or not RTCP): the stream is not read")
		return
	}
	leaving := tiles && hasGoodbye(data)
	for len(data) >= 4 {
		n := (int(binary.BigEndian.Uint16(data[2:4])) + 1) * 4
		if n > len(data) {
			s.anomaly("malformed-rtcp", offset, frame, "RTCP packet longer than its datagram")
			return
		}
		if err := f.rtcp.report(data[:n], data[1], at, frame, leaving); err != nil {
			s.anomaly("malformed-rtcp", offset, frame, "RTCP report that does not parse: "+err.Error())
		}
		data = data[n:]
	}
}

// tilesRTCP says whether the length fields of a compound's packets, each
// of RTP version 2, add up to its datagram.
func tilesRTCP(b []byte) bool {
	for len(b) >= 4 {
		n := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if b[0]>>6 != 2 || n > len(b) {
			return false
		}
		b = b[n:]
	}
	return len(b) == 0
}

// looksSRTCP says whether a compound that does not tile is SRTCP (RFC
// 3711 §3.4), which a capture without readable signalling cannot know from
// the SDP: a clear first header (an SR or RR, RFC 3550 §6.1, or with
// reduced-size RTCP, which WebRTC negotiates, any RTCP type: RFC 5506 §3.1
// lets a feedback or XR packet stand alone) whose packet
// ends before a trailer of the E flag set and an SRTCP index, which starts
// at 0 and counts one per packet (below 2^23 for the life of any call),
// followed by an 80-bit authentication tag, after an MKI of up to 4 bytes
// when the keys carry one (Microsoft's SDES keys end "|1:1"), or last
// (AEAD, RFC 7714 §17).
func looksSRTCP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 || b[1] < rtcpSR || b[1] > rtcpXR {
		return false
	}
	first := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
	for _, trailer := range srtcpTrailers {
		p := len(b) - trailer
		if p >= first && b[p] == 0x80 && b[p+1] < 0x80 {
			return true
		}
	}
	return false
}

// srtcpTrailers are the lengths from an SRTCP index to the end of the
// packet: the index and an 80-bit tag after an MKI of 0 to 4 bytes, or
// the index alone.
var srtcpTrailers = [...]int{4 + 10, 4 + 1 + 10, 4 + 2 + 10, 4 + 3 + 10, 4 + 4 + 10, 4}

// hasGoodbye says whether a compound that tiles holds a BYE: its author
// is leaving the session (RFC 3550 §6.6).
func hasGoodbye(b []byte) bool {
	for len(b) >= 4 {
		if b[1] == rtcpBYE {
			return true
		}
		b = b[(int(binary.BigEndian.Uint16(b[2:4]))+1)*4:]
	}
	return false
}

// report reads one RTCP packet of type pt; other types than SR, RR and XR
// are skipped. A report without reception blocks in a compound that says
// goodbye (leaving) is not counted as one that heard nothing: Ekiga's last
// SR, sent with its BYE as it hangs up, has none though it received all
// along.
func (st *rtcpState) report(b []byte, pt uint8, at int64, frame uint64, leaving bool) error {
	switch pt {
	case rtcpSR:
		var p rtcp.SenderReport
		if err := p.Unmarshal(b); err != nil {
			return err
		}
		st.countReport(at, leaving && len(p.Reports) == 0)
		st.srSSRC, st.srPackets, st.srOctets = p.SSRC, p.PacketCount, p.OctetCount
		st.srReports++
		st.receptionBlocks(p.Reports, frame)
	case rtcpRR:
		var p rtcp.ReceiverReport
		if err := p.Unmarshal(b); err != nil {
			return err
		}
		st.countReport(at, leaving && len(p.Reports) == 0)
		st.receptionBlocks(p.Reports, frame)
	case rtcpXR:
		var p rtcp.ExtendedReport
		if err := p.Unmarshal(b); err != nil {
			return err
		}
		for _, blk := range p.Reports {
			if vm, ok := blk.(*rtcp.VoIPMetricsReportBlock); ok {
				if src := st.source(vm.SSRC, frame); src != nil {
					src.xr = vm
				}
			}
		}
	}
	return nil
}

// countReport counts an SR or RR that tells what its author received,
// unless it is a leaving author's empty one.
func (st *rtcpState) countReport(at int64, emptyGoodbye bool) {
	if emptyGoodbye {
		return
	}
	st.reports++
	st.lastNs = at
}

// RTCP packet types read (RFC 3550 §12.1, RFC 3611 §2).
const (
	rtcpSR  = 200
	rtcpRR  = 201
	rtcpBYE = 203
	rtcpXR  = 207
)

// inSRTPSession says whether an RTCP stream belongs to media an SDP
// asked to be SRTP: its RTP address, or the one below its port (RFC 3550
// §11: RTCP on the next port), is an RTP/SAVP m= line's.
func (s *state) inSRTPSession(f *rtpFlow) bool {
	for _, a := range [2]netip.AddrPort{f.Key.Dst, f.Key.Src} {
		for _, port := range [2]uint16{a.Port(), a.Port() - 1} {
			if e, ok := s.rtpmaps[netip.AddrPortFrom(a.Addr(), port)]; ok && strings.Contains(e.proto, "SAVP") {
				return true
			}
		}
	}
	return false
}

func (st *rtcpState) receptionBlocks(blocks []rtcp.ReceptionReport, frame uint64) {
	for _, b := range blocks {
		src := st.source(b.SSRC, frame)
		if src == nil {
			continue
		}
		src.blocks++
		src.heard = src.heard || !receivedNothing(b)
		src.fractionLost = b.FractionLost
		src.maxFraction = max(src.maxFraction, b.FractionLost)
		// Cumulative loss is a signed 24-bit number (RFC 3550 §6.4.1):
		// duplicates make it negative.
		src.cumulativeLost = int32(b.TotalLost<<8) >> 8
		src.jitter = b.Jitter
		src.maxJitter = max(src.maxJitter, b.Jitter)
		src.highestSeq = b.LastSequenceNumber
	}
}

// receivedNothing says whether a reception block may be a placeholder
// that reports no packet received: no sequence number past 0, and no
// source (SSRC 0) or nothing else filled in. pjsip (MicroSIP, Telephone
// and the other softphones built on it) always sends one block, about
// SSRC 0 until the far end's RTP arrives: no proof that any did. (A
// sender whose stream starts at sequence 0, as SEMS's with SSRC 0 does,
// makes the same block for its first packet: the block is still counted,
// it only proves nothing.)
func receivedNothing(b rtcp.ReceptionReport) bool {
	return b.LastSequenceNumber == 0 && (b.SSRC == 0 || b.TotalLost == 0 && b.Jitter == 0 && b.LastSenderReport == 0)
}

// source finds or adds the entry for ssrc (nil when the bound is reached).
func (st *rtcpState) source(ssrc uint32, frame uint64) *reportedSource {
	for i := range st.sources {
		if st.sources[i].ssrc == ssrc {
			st.sources[i].lastFrame = frame
			return &st.sources[i]
		}
	}
	if len(st.sources) == maxReportedSources {
		return nil
	}
	st.sources = append(st.sources, reportedSource{ssrc: ssrc, firstFrame: frame, lastFrame: frame})
	return &st.sources[len(st.sources)-1]
}
