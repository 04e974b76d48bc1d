package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/hep"
)

// Transport protocols the decoder hands on.
const (
	protoUDP  = 17
	protoTCP  = 6
	protoSCTP = 132
)

// packet is one decoded transport payload. Payload points into the record's
// buffer (or a reassembled fragment) and is valid only while it is handled.
type packet struct {
	Frame   uint64
	Time    time.Time
	Offset  int64
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Proto   uint8
	Payload []byte
	// IPID is the IPv4 identification (or the IPv6 fragment header's): two
	// captured copies of one packet share it, two sends of one message
	// rarely do (dedup.go). 0 where there is none.
	IPID uint32
	// TCP only.
	Seq      uint32
	SYN, FIN bool
	RST      bool
	// Fragmented: the payload was reassembled from IP fragments.
	Fragmented bool
	// Truncated: the capture kept less than the packet (snap length).
	Truncated bool
	// Whole: the payload is one whole message, though carried over TCP
	// (unwrapped from HEP, whose agents trace messages, not segments).
	Whole bool
	// Raw, when set, is the whole record, handed on undecoded because its
	// decoding needs state across packets (route mode).
	Raw     []byte
	RawLink layers.LinkType
	WireLen int
}

// decoder turns records into packets with gopacket's DecodingLayerParser,
// which decodes into the decoder's own layer structs without allocating.
// Repeated layers (IP in IP, GRE/ERSPAN around a mirrored Ethernet frame)
// decode into the same structs, so the innermost headers win, as wanted.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6frag layers.IPv6Fragment
	udp     layers.UDP
	tcp     layers.TCP
	sctp    layers.SCTP
	gre     layers.GRE
	erspan  layers.ERSPANII
	gtpu    layers.GTPv1U // a GTP-U tunnel's header (mirror.go), reused

	parsers    map[gopacket.LayerType]*gopacket.DecodingLayerParser
	lastFirst  gopacket.LayerType
	lastParser *gopacket.DecodingLayerParser
	decoded    []gopacket.LayerType
	// pkt is reused for every record: handing a pointer to a local to the
	// emit callback would move it to the heap once per packet.
	pkt packet

	// route hands records that need state across packets (IP fragments,
	// SCTP) on whole instead of decoding them, so several decoders can work
	// in parallel while one owner keeps that state.
	route bool
	// decodeFastDisabled sends every record through the parser (tests
	// compare the two paths).
	decodeFastDisabled bool
	// sctpParts holds fragmented SCTP user messages (RFC 9260 §6.9) until
	// their last chunk arrives.
	sctpParts map[sctpKey][]byte
	// turn follows TURN allocations and channels (turn.go), in the
	// decoder that does not route.
	turn *turnTable

	defrag4 *ip4defrag.IPv4Defragmenter
	defrag6 *ip6defrag.IPv6Defragmenter
	// frags counts the fragments they hold, at most maxFragments
	// (Limits.Fragments).
	frags        fragHold
	maxFragments int
	sink         anomalySink

	// hep is reused to unwrap HEP packets (hep.go); hepBuf holds an
	// inflated payload.
	hep    hep.Packet
	hepBuf []byte
	// depth counts the tunnel and mirror headers being unwrapped
	// (decodeInner).
	depth int
}

func newDecoder(sink anomalySink) *decoder {
	d := &decoder{
		parsers:   make(map[gopacket.LayerType]*gopacket.DecodingLayerParser),
		sctpParts: map[sctpKey][]byte{},
		decoded:   make([]gopacket.LayerType, 0, 16),
		defrag4:   ip4defrag.NewIPv4Defragmenter(),
		defrag6:   ip6defrag.NewIPv6Defragmenter(),
		sink:      sink,

		maxFragments: DefaultMaxFragments,
	}
	return d
}

// parser returns a DecodingLayerParser starting at first, sharing the
// decoder's layer structs.
func (d *decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	if first == d.lastFirst && d.lastParser != nil { // one link type per file, usually
		return d.lastParser
	}
	if p, ok := d.parsers[first]; ok {
		d.lastFirst, d.lastParser = first, p
		return p
	}
	p := gopacket.NewDecodingLayerParser(first,
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ip6frag,
		&d.udp, &d.tcp, &d.sctp, &d.gre, &d.erspan)
	// The sparse container indexes decoders by layer type number, much
	// cheaper per layer than the default map.
	p.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ip6frag,
		&d.udp, &d.tcp, &d.sctp, &d.gre, &d.erspan} {
		p.AddDecodingLayer(l)
	}
	p.IgnoreUnsupported = true
	d.parsers[first] = p
	return p
}

// firstLayer maps a link type to the layer decoding starts with.
func firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12 /* raw IP on OpenBSD */ :
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

// linkTypeName names a link type for a report: gopacket's name and the
// LINKTYPE_ number a user can look up (gopacket names an unknown one
// just "UnknownLinkType").
func linkTypeName(lt layers.LinkType) string {
	return fmt.Sprintf("%s (link type %d)", lt, uint16(lt))
}

// decode decodes one record and calls emit for its transport payload, if it
// has one. Fragments are held until their datagram is complete.
func (d *decoder) decode(rec Record, frame uint64, emit func(*packet)) {
	if rec.LinkType == linkTypeHEP {
		d.pkt = packet{Frame: frame, Time: rec.Time, Offset: rec.Offset}
		d.decodeHEP(rec.Data, &d.pkt, emit)
		return
	}
	if !d.decodeFastDisabled && fastLinkType(rec.LinkType) && d.decodeFast(rec, frame, emit) {
		return
	}
	switch rec.LinkType {
	case linkTypeNFLOG:
		d.decodeNFLOG(rec, frame, emit)
		return
	case linkTypePKTAP, linkTypeUser2:
		d.decodePKTAP(rec, frame, emit)
		return
	case linkTypeERF:
		d.decodeERF(rec, frame, emit)
		return
	case layers.LinkTypePPP, linkTypePPPSerial, linkTypeCiscoHDLC:
		d.decodeSerial(rec, frame, emit)
		return
	}
	first, ok := firstLayer(rec.LinkType, rec.Data)
	if !ok {
		d.sink.anomaly("unknown-link-type", rec.Offset, frame, linkTypeName(rec.LinkType))
		return
	}
	d.decoded = d.decoded[:0]
	// Errors past the link layer are ordinary (truncated snap length, a
	// protocol we do not decode); what was decoded is still used.
	_ = d.parser(first).DecodeLayers(rec.Data, &d.decoded)
	d.pkt = packet{Frame: frame, Time: rec.Time, Offset: rec.Offset, Truncated: len(rec.Data) < rec.WireLen}
	pkt := &d.pkt
	var lastIP gopacket.LayerType
	var transport gopacket.LayerType
	fragment6 := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4, layers.LayerTypeIPv6:
			lastIP, transport, fragment6 = t, 0, false
		case layers.LayerTypeIPv6Fragment:
			fragment6 = true
		case layers.LayerTypeUDP, layers.LayerTypeTCP, layers.LayerTypeSCTP:
			transport = t
		}
	}
	if d.route && (transport == layers.LayerTypeSCTP || fragment6 ||
		(lastIP == layers.LayerTypeIPv4 && (d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0))) {
		pkt.Raw, pkt.RawLink, pkt.WireLen = rec.Data, rec.LinkType, rec.WireLen
		emit(pkt)
		return
	}
	if transport == 0 && lastIP != 0 && d.greTunnel(rec, first, pkt, emit) {
		return
	}
	switch lastIP {
	case layers.LayerTypeIPv4:
		if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			d.defragment4(rec, pkt, emit)
			return
		}
		pkt.Src = netip.AddrPortFrom(addr4(d.ip4.SrcIP), 0)
		pkt.Dst = netip.AddrPortFrom(addr4(d.ip4.DstIP), 0)
		pkt.IPID = uint32(d.ip4.Id)
	case layers.LayerTypeIPv6:
		if fragment6 {
			d.defragment6(rec, pkt, emit)
			return
		}
		pkt.Src = netip.AddrPortFrom(addr16(d.ip6.SrcIP), 0)
		pkt.Dst = netip.AddrPortFrom(addr16(d.ip6.DstIP), 0)
	default:
		if inner := d.encapsulatedIP(rec.Data, first); inner != nil {
			d.decodeInner(pkt, inner, layers.LinkTypeRaw, emit)
		}
		return
	}
	if transport == 0 && d.emitICMP(lastIP, pkt, emit) {
		return
	}
	d.emitTransport(&rec, transport, pkt, emit)
}

// emitICMP hands on an ICMP or ICMPv6 packet, its payload from the type
// byte, reporting whether the IP layer carried one (icmp.go reads it).
func (d *decoder) emitICMP(lastIP gopacket.LayerType, pkt *packet, emit func(*packet)) bool {
	switch {
	case lastIP == layers.LayerTypeIPv4 && d.ip4.Protocol == layers.IPProtocolICMPv4:
		pkt.Proto, pkt.Payload = protoICMP, d.ip4.Payload
	case lastIP == layers.LayerTypeIPv6 && d.ip6.NextHeader == layers.IPProtocolICMPv6:
		pkt.Proto, pkt.Payload = protoICMPv6, d.ip6.Payload
	default:
		return false
	}
	emit(pkt)
	return true
}

// greTunnel decodes what a GRE packet the layer parser stopped at carries,
// reporting whether it did: the frame of an ERSPAN Type III mirror
// session, or the IP packet of a PPTP tunnel (PPP).
func (d *decoder) greTunnel(rec Record, first gopacket.LayerType, pkt *packet, emit func(*packet)) bool {
	if !slices.Contains(d.decoded, layers.LayerTypeGRE) {
		return false
	}
	if inner, link, ok := erspanFrame(&d.gre); ok {
		d.decodeInner(pkt, inner, link, emit)
		return true
	}
	if d.decoded[len(d.decoded)-1] != layers.LayerTypeGRE {
		return false
	}
	inner := d.encapsulatedIP(rec.Data, first)
	if inner == nil {
		return false
	}
	d.decodeInner(pkt, inner, layers.LinkTypeRaw, emit)
	return true
}

// encapsulatedIP returns the IP packet inside a PPPoE session (a DSL link
// captured on the router's WAN side), an MPLS label stack or PPP in GRE
// (a PPTP tunnel), which the layer parser does not decode: gopacket's full
// decoders read those, on this rare path only. nil when the frame is none
// of them or holds no IP.
func (d *decoder) encapsulatedIP(data []byte, first gopacket.LayerType) []byte {
	if len(d.decoded) == 0 {
		return nil
	}
	var next layers.EthernetType
	switch d.decoded[len(d.decoded)-1] {
	case layers.LayerTypeEthernet:
		next = d.eth.EthernetType
	case layers.LayerTypeDot1Q:
		next = d.dot1q.Type
	case layers.LayerTypeLinuxSLL:
		next = d.sll.EthernetType
	case layers.LayerTypeGRE:
		next = d.gre.Protocol
	default:
		return nil
	}
	switch next {
	case layers.EthernetTypePPPoESession, layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast, layers.EthernetTypePPP:
	default:
		return nil
	}
	// The innermost IP layer: the tunnel's, not the one that carries it.
	var inner gopacket.Layer
	for _, l := range gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true}).Layers() {
		if t := l.LayerType(); t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			inner = l
		}
	}
	if inner == nil {
		return nil
	}
	return append(append([]byte(nil), inner.LayerContents()...), inner.LayerPayload()...)
}

// emitTransport hands on the transport payload of a decoded packet; rec is
// its record (nil for a datagram reassembled from fragments).
func (d *decoder) emitTransport(rec *Record, transport gopacket.LayerType, pkt *packet, emit func(*packet)) {
	switch transport {
	case layers.LayerTypeUDP:
		pkt.Proto = protoUDP
		pkt.Src = netip.AddrPortFrom(pkt.Src.Addr(), uint16(d.udp.SrcPort))
		pkt.Dst = netip.AddrPortFrom(pkt.Dst.Addr(), uint16(d.udp.DstPort))
		pkt.Payload = d.udp.Payload
		if d.unwrapUDP(rec, pkt, emit) {
			return
		}
	case layers.LayerTypeTCP:
		pkt.Proto = protoTCP
		pkt.Src = netip.AddrPortFrom(pkt.Src.Addr(), uint16(d.tcp.SrcPort))
		pkt.Dst = netip.AddrPortFrom(pkt.Dst.Addr(), uint16(d.tcp.DstPort))
		pkt.Payload = d.tcp.Payload
		pkt.Seq, pkt.SYN, pkt.FIN, pkt.RST = d.tcp.Seq, d.tcp.SYN, d.tcp.FIN, d.tcp.RST
	case layers.LayerTypeSCTP:
		pkt.Proto = protoSCTP
		pkt.Src = netip.AddrPortFrom(pkt.Src.Addr(), uint16(d.sctp.SrcPort))
		pkt.Dst = netip.AddrPortFrom(pkt.Dst.Addr(), uint16(d.sctp.DstPort))
		d.emitSCTP(pkt, emit)
		return
	default:
		return
	}
	emit(pkt)
}

// emitSCTP hands on each DATA chunk as its own payload (RFC 4168: SIP over
// SCTP carries one message per chunk). SCTP is rare, so it takes gopacket's
// slower, allocating path.
func (d *decoder) emitSCTP(pkt *packet, emit func(*packet)) {
	raw := append(append([]byte(nil), d.sctp.Contents...), d.sctp.Payload...)
	p := gopacket.NewPacket(raw, layers.LayerTypeSCTP, gopacket.NoCopy)
	for _, l := range p.Layers() {
		data, ok := l.(*layers.SCTPData)
		if !ok || len(data.Payload) == 0 {
			continue
		}
		// The DATA chunk length excludes padding; gopacket's Payload may
		// carry it, so cut at the chunk's own length.
		payload := data.Payload
		if n := int(data.ActualLength) - 16; n >= 0 && n < len(payload) {
			payload = payload[:n]
		}
		k := sctpKey{pkt.Src, pkt.Dst, data.StreamId}
		switch {
		case data.BeginFragment && data.EndFragment:
			pkt.Payload = payload
			emit(pkt)
		case data.BeginFragment:
			d.sctpParts[k] = append([]byte(nil), payload...)
		default:
			buf, ok := d.sctpParts[k]
			if !ok {
				continue // middle of a message whose start is not captured
			}
			if len(buf)+len(payload) > maxTCPBuffer {
				delete(d.sctpParts, k)
				d.sink.anomaly("sip-message-too-large", pkt.Offset, pkt.Frame, "SCTP user message over 64 KiB")
				continue
			}
			buf = append(buf, payload...)
			if !data.EndFragment {
				d.sctpParts[k] = buf
				continue
			}
			delete(d.sctpParts, k)
			pkt.Payload = buf
			emit(pkt)
		}
	}
}

// sctpKey names one SCTP stream of one association direction.
type sctpKey struct {
	Src, Dst netip.AddrPort
	Stream   uint16
}

// defragment4 reassembles IPv4 fragments (RFC 791). The defragmenter keeps
// the fragments, so they are copied out of the record buffer first.
func (d *decoder) defragment4(rec Record, pkt *packet, emit func(*packet)) {
	raw := append(append([]byte(nil), d.ip4.Contents...), d.ip4.Payload...)
	frag := &layers.IPv4{}
	if err := frag.DecodeFromBytes(raw, gopacket.NilDecodeFeedback); err != nil {
		d.sink.anomaly("malformed-ip-fragment", rec.Offset, pkt.Frame, err.Error())
		return
	}
	d.makeRoomForFragment(rec, pkt)
	k := fragKey{addr4(frag.SrcIP), addr4(frag.DstIP), uint32(frag.Id), uint8(frag.Protocol)}
	if d.frags.copyOfCompleted(k, rec.Time) {
		d.frags.copies++
		return
	}
	if pkt.Truncated {
		d.cutFragment(rec, pkt, k, frag.FragOffset == 0, frag.Protocol, frag.Payload, emit)
		return
	}
	whole, err := d.defrag4.DefragIPv4WithTimestamp(frag, rec.Time)
	if err != nil {
		d.frags.done(k)
		d.sink.anomaly("bad-ip-fragment", rec.Offset, pkt.Frame, err.Error())
		return
	}
	if whole == nil {
		d.frags.add(k, rec.Time, pkt.Frame, rec.Offset, firstSIPFragment(frag.FragOffset, frag.Protocol, frag.Payload, k, rec.Time, pkt.Frame))
		return // more fragments to come
	}
	d.frags.completed(k, rec.Time)
	pkt.Src = netip.AddrPortFrom(addr4(whole.SrcIP), 0)
	pkt.Dst = netip.AddrPortFrom(addr4(whole.DstIP), 0)
	pkt.IPID = uint32(whole.Id)
	pkt.Fragmented = true
	d.decodeTransport(whole.Protocol, whole.Payload, pkt, emit)
}

func (d *decoder) defragment6(rec Record, pkt *packet, emit func(*packet)) {
	ip := d.ip6
	ip.Payload = nil
	frag := d.ip6frag
	payload := append([]byte(nil), d.ip6frag.Payload...)
	frag.Payload = payload
	frag.Contents = append([]byte(nil), d.ip6frag.Contents...)
	d.makeRoomForFragment(rec, pkt)
	k := fragKey{addr16(ip.SrcIP), addr16(ip.DstIP), frag.Identification, uint8(frag.NextHeader)}
	if d.frags.copyOfCompleted(k, rec.Time) {
		d.frags.copies++
		return
	}
	if pkt.Truncated {
		d.cutFragment(rec, pkt, k, frag.FragmentOffset == 0, frag.NextHeader, frag.Payload, emit)
		return
	}
	whole := d.defrag6.DefragIPv6(&ip, &frag)
	if whole == nil {
		d.frags.add(k, rec.Time, pkt.Frame, rec.Offset, firstSIPFragment(frag.FragmentOffset, frag.NextHeader, frag.Payload, k, rec.Time, pkt.Frame))
		return
	}
	d.frags.completed(k, rec.Time)
	pkt.Src = netip.AddrPortFrom(addr16(whole.SrcIP), 0)
	pkt.Dst = netip.AddrPortFrom(addr16(whole.DstIP), 0)
	pkt.IPID = k.id
	pkt.Fragmented = true
	d.decodeTransport(whole.NextHeader, whole.Payload, pkt, emit)
}

// cutFragment takes a fragment of datagram k the snap length cut: it is
// not fed to reassembly, which it would leave with a gap (its datagram is
// noted cut, not lost); a first fragment is read as the datagram cut
// short: for SIP its first header lines, which carry the call (the rest
// is lost, as in a packet cut whole).
func (d *decoder) cutFragment(rec Record, pkt *packet, k fragKey, first bool, proto layers.IPProtocol, payload []byte, emit func(*packet)) {
	d.frags.addCut(k, rec.Time, pkt.Frame, rec.Offset)
	if !first || proto != layers.IPProtocolUDP {
		return
	}
	pkt.Src, pkt.Dst = netip.AddrPortFrom(k.src, 0), netip.AddrPortFrom(k.dst, 0)
	pkt.IPID, pkt.Fragmented = k.id, true
	d.decodeTransport(proto, payload, pkt, emit)
}

// decodeTransport decodes a reassembled datagram's transport header.
func (d *decoder) decodeTransport(proto layers.IPProtocol, payload []byte, pkt *packet, emit func(*packet)) {
	var first gopacket.LayerType
	switch proto {
	case layers.IPProtocolUDP:
		first = layers.LayerTypeUDP
	case layers.IPProtocolTCP:
		first = layers.LayerTypeTCP
	case layers.IPProtocolSCTP:
		first = layers.LayerTypeSCTP
	default:
		return
	}
	d.decoded = d.decoded[:0]
	_ = d.parser(first).DecodeLayers(payload, &d.decoded)
	if len(d.decoded) == 0 || d.decoded[0] != first {
		d.sink.anomaly("malformed-reassembled-datagram", pkt.Offset, pkt.Frame, proto.String())
		return
	}
	d.emitTransport(nil, first, pkt, emit)
}

// flushFragments drops fragments older than the cutoff (RFC 791 suggests a
// reassembly timeout of at most 15 s; 30 s covers slow captures).
func (d *decoder) flushFragments(now time.Time) {
	cutoff := now.Add(-30 * time.Second)
	d.defrag4.DiscardOlderThan(cutoff)
	d.frags.expire(cutoff, false, d.sink)
}

// endFragments, at the capture's end (last, its last packet's time),
// notes as lost the datagrams still in reassembly whose last fragment
// came more than fragmentGap before it: a datagram's fragments are sent
// back to back, so the rest of those was lost, not cut off by the end.
func (d *decoder) endFragments(last time.Time) {
	d.frags.expire(last.Add(-fragmentGap), true, d.sink)
}

// makeRoomForFragment keeps the fragments held below maxFragments: at the
// limit every datagram in reassembly is dropped (its fragments counted as
// ip-fragments-dropped) and reassembly starts afresh. Real traffic has a
// few datagrams in reassembly at a time, so only fragments whose rest
// never comes reach the limit.
func (d *decoder) makeRoomForFragment(rec Record, pkt *packet) {
	if d.frags.held < d.maxFragments {
		return
	}
	d.defrag4 = ip4defrag.NewIPv4Defragmenter()
	d.defrag6 = ip6defrag.NewIPv6Defragmenter()
	for range d.frags.reset() {
		d.sink.anomaly("ip-fragments-dropped", rec.Offset, pkt.Frame, "IP fragments whose datagram never completed, dropped at the limit on fragments held (--max-fragments)")
	}
}

func addr4(b []byte) netip.Addr {
	if len(b) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func addr16(b []byte) netip.Addr {
	if len(b) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}
