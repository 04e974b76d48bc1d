package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// Header sizes and type numbers of the fixed-offset walk.
const (
	ethHeaderLen   = 14
	dot1qHeaderLen = 4
	ipv4MinHeader  = 20
	udpHeaderLen   = 8
	etherTypeIPv4  = 0x0800
	etherTypeDot1Q = 0x8100
)

// decodeFast handles the packet that makes up nearly all of a VoIP
// capture, Ethernet (with at most one 802.1Q tag), IPv4 without options
// and unfragmented, UDP, by header offset arithmetic alone. It reports
// false, having touched nothing, for anything else, which then goes
// through the DecodingLayerParser; where it answers, it gives exactly
// what the parser would (the same payload bounds: IPv4 total length trims
// Ethernet padding, UDP length trims the datagram), and it answers only
// when every length is consistent, so truncated and odd packets keep the
// parser's handling.
func (d *decoder) decodeFast(rec Record, frame uint64, emit func(*packet)) bool {
	u, ok := walkUDP4(rec.Data)
	if !ok {
		return false
	}
	d.pkt = packet{
		Frame: frame, Time: rec.Time, Offset: rec.Offset, Truncated: len(rec.Data) < rec.WireLen,
		Proto:   protoUDP,
		Src:     netip.AddrPortFrom(netip.AddrFrom4(u.src), u.srcPort),
		Dst:     netip.AddrPortFrom(netip.AddrFrom4(u.dst), u.dstPort),
		IPID:    uint32(u.ipID),
		Payload: u.payload,
	}
	if !d.unwrapUDP(&rec, &d.pkt, emit) {
		emit(&d.pkt)
	}
	return true
}

// udp4 is what the fixed-offset walk finds.
type udp4 struct {
	src, dst         [4]byte
	srcPort, dstPort uint16
	ipID             uint16
	payload          []byte
}

// walkUDP4 is the header walk of decodeFast; ok is false for anything it
// does not cover.
func walkUDP4(b []byte) (u udp4, ok bool) {
	if len(b) < ethHeaderLen+ipv4MinHeader+udpHeaderLen {
		return u, false
	}
	off := ethHeaderLen
	etherType := binary.BigEndian.Uint16(b[12:14])
	if etherType == etherTypeDot1Q {
		etherType = binary.BigEndian.Uint16(b[16:18])
		off += dot1qHeaderLen
	}
	if etherType != etherTypeIPv4 || len(b) < off+ipv4MinHeader+udpHeaderLen {
		return u, false
	}
	ip := b[off:]
	// Version 4, IHL 5 (no options), protocol UDP, MF clear and fragment
	// offset 0 (RFC 791 §3.1): the DF bit may be set.
	if ip[0] != 0x45 || ip[9] != protoUDP || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return u, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < ipv4MinHeader+udpHeaderLen || total > len(ip) {
		return u, false // TSO zero length, truncated or bogus: the parser decides
	}
	udp := ip[ipv4MinHeader:total]
	udpLen := int(binary.BigEndian.Uint16(udp[4:6]))
	if udpLen < udpHeaderLen || udpLen > len(udp) {
		return u, false
	}
	u.src, u.dst = [4]byte(ip[12:16]), [4]byte(ip[16:20])
	u.srcPort, u.dstPort = binary.BigEndian.Uint16(udp[0:2]), binary.BigEndian.Uint16(udp[2:4])
	u.ipID = binary.BigEndian.Uint16(ip[4:6])
	u.payload = udp[udpHeaderLen:udpLen]
	return u, true
}

// decodeRecord decodes one record of a raw batch. IPv4 RTP found by the
// fixed-offset walk becomes an event at once, with no packet built in
// between: that is nearly every packet of a VoIP capture. Everything else
// takes the decoder (which walks again, then falls back to the parser).
func (p *producer) decodeRecord(data []byte, r *rawRecord, frame uint64) {
	if fastLinkType(r.linkType) && !p.dec.decodeFastDisabled && len(p.hosts) == 0 {
		if u, ok := walkUDP4(data[r.start:r.end]); ok && p.rtpEvent(&u, r, frame) {
			return
		}
	}
	if p.emitFn == nil {
		p.emitFn = p.emit
	}
	p.dec.decode(r.record(data), frame, p.emitFn)
}

// rtpEvent adds u as an RTP event, exactly as emit would, when it is RTP.
func (p *producer) rtpEvent(u *udp4, r *rawRecord, frame uint64) bool {
	if u.srcPort < 1024 || u.dstPort < 1024 || looksLikeSIP(u.payload) || classifyMedia(u.payload, &p.hdr) != kindRTP {
		return false
	}
	b := p.batch
	if len(b.events) == cap(b.events) || len(b.arena) >= batchArena {
		p.flush()
		b = p.batch
	}
	ev := event{
		kind: evRTP, fast: true, proto: protoUDP, size: uint32(len(u.payload)),
		rtp:  rtpFieldsOf(&p.hdr, u.payload),
		ssrc: p.hdr.SSRC, frame: frame, at: r.at, offset: r.offset,
		key: v4Key{
			uint64(binary.BigEndian.Uint32(u.src[:]))<<32 | uint64(binary.BigEndian.Uint32(u.dst[:])),
			uint64(u.srcPort)<<48 | uint64(u.dstPort)<<32 | uint64(p.hdr.SSRC),
		},
	}
	if sampled(ev.rtp.Seq) { // srtp.go
		ev.flags, ev.info = flagSampled, uint32(len(b.arena))
		b.arena = append(b.arena, u.payload...)
	}
	b.events = append(b.events, ev)
	return true
}

// fastLinkType says whether decodeFast may try records of this link type.
func fastLinkType(lt layers.LinkType) bool { return lt == layers.LinkTypeEthernet }
