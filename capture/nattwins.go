package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A capture taken on a NAT itself (tcpdump -i any on a Linux router, or
// its LAN and WAN captures merged) holds each packet the NAT translates
// twice: on its LAN side with the phone's private address, and on its WAN
// side with the NAT's public one, microseconds apart. Read as they are,
// the phone's INVITE looks like two hops through a proxy, its RTP counts
// double, and both copies of a stream look like two parties. natTwins
// keeps one view: the WAN side's, the address the far end sees, from
// which the NAT questions are asked. A SIP message read from a private
// address to a public one (the LAN copy of an outbound message) is held
// for twinWindow, and dropped when its WAN copy (the same message to the
// same destination, from a NAT's address) comes; a message from a public
// address to a private one that came a moment before to a NAT's address
// from the same source (the LAN copy of an inbound message) is dropped at
// once. A NAT's address is public, or in the shared address space of a
// carrier-grade NAT (natOutside). The same message is what a SIP ALG leaves as it is
// (sum). The private and public address of each pair are the NAT's
// mapping. RTP is matched by stream once the capture is known to be taken
// on a NAT (dropNATCopies).

// twinWindow is how far apart the two copies of one translated packet may
// be captured: a NAT forwards in microseconds; merged captures of its two
// interfaces may differ by a few milliseconds.
const twinWindow = 10 * time.Millisecond

// maxHeldSIP bounds the datagrams held at once: twinWindow holds a few,
// unless the capture's clock stands still.
const maxHeldSIP = 1024

// maxNATMappings bounds the mappings kept (a NAT of a few phones has a
// handful; a carrier-grade NAT seen whole is no home router).
const maxNATMappings = 4096

// natTwins holds the SIP datagrams waiting for their twin, the inbound
// datagrams recently handled, and the NAT's mappings seen.
type natTwins struct {
	seed maphash.Seed
	held []heldSIP
	// inbound holds, by message and source, the last messages sent from
	// a public address (a ring): the WAN copy of an inbound message,
	// whose LAN copy follows.
	inbound [inboundKept]twinSeen
	next    int
	// hosts maps a private host seen translated to its WAN address;
	// the copies count the LAN copies left out.
	hosts     map[netip.Addr]netip.Addr
	sipCopies uint64
	rtpCopies uint64
}

// heldSIP is a SIP message held for its twin: its packet (payload
// copied) and its identity with its destination; stream holds a message
// read from a TCP stream (nil: the datagram itself). It is read again
// from the copy when filed: a reading refers to the bytes it was read
// from, which the pipeline reuses once the packet is handled.
type heldSIP struct {
	pkt    packet
	sum    uint64
	stream []byte
}

// inboundKept is how many messages from public addresses are kept for
// their LAN copy: more than a NAT of phones passes in twinWindow.
const inboundKept = 64

// twinSeen is an inbound datagram's WAN copy: its identity with its
// source, when, and to where.
type twinSeen struct {
	sum uint64
	at  time.Time
	dst netip.AddrPort
}

// sum hashes a SIP message's identity with one of its packet's ends: what
// a NAT's SIP ALG leaves as it is (Call-ID, CSeq and method, status and
// tags; it rewrites the addresses in Via, Contact and SDP).
func (n *natTwins) sum(m *sipInfo, end netip.AddrPort) uint64 {
	var h maphash.Hash
	h.SetSeed(n.seed)
	a := end.Addr().As16()
	h.Write(a[:])
	var num [8]byte
	binary.BigEndian.PutUint16(num[0:], end.Port())
	binary.BigEndian.PutUint32(num[2:], m.CSeq)
	binary.BigEndian.PutUint16(num[6:], uint16(m.Status))
	h.Write(num[:])
	for _, f := range [...]string{m.CallID, m.Method, m.FromTag, m.ToTag} {
		h.WriteString(f)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// onNAT says whether the capture was seen taken on a NAT.
func (n *natTwins) onNAT() bool { return len(n.hosts) > 0 }

// noteMapping records that the NAT translated private to outside.
func (n *natTwins) noteMapping(private, outside netip.Addr) {
	if _, ok := n.hosts[private]; ok || len(n.hosts) >= maxNATMappings {
		return
	}
	if n.hosts == nil {
		n.hosts = map[netip.Addr]netip.Addr{}
	}
	n.hosts[private] = outside
}

// sharedAddressSpace is where carrier-grade NATs number their customers'
// routers (RFC 6598): a NAT's WAN address, though not public.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// natOutside says whether a may be a NAT's WAN address: public, or in
// the shared address space.
func natOutside(a netip.Addr) bool { return isPublic(a) || sharedAddressSpace.Contains(a) }

// twinOrHeld takes a SIP message read, from a datagram over UDP or from
// a TCP stream (stream, the message; nil: a datagram): true when it is to
// be filed now; false when it was held for its twin, or dropped as the
// LAN copy of one filed. A NAT translates a TCP connection as it does UDP:
// the two copies of a message are on two connections, one each side.
func (s *state) twinOrHeld(pkt *packet, m *sipInfo, stream []byte) bool {
	n := &s.twins
	if n.seed == (maphash.Seed{}) {
		n.seed = maphash.MakeSeed()
	}
	// handle released what was held past twinWindow before this packet.
	src, dst := pkt.Src.Addr(), pkt.Dst.Addr()
	if isPublic(src) {
		// The LAN copy of an inbound message whose WAN copy came, to
		// the NAT's address (public, or in the shared address space when
		// NATs are stacked)? Not a proxy forking one INVITE to two
		// private addresses: the first copy went to no NAT's address.
		sum := n.sum(m, pkt.Src)
		if seen, ok := n.seenInbound(sum, pkt.Time); ok && seen.dst != pkt.Dst && IsPrivate(dst) && natOutside(seen.dst.Addr()) {
			n.sipCopies++
			n.noteMapping(dst, seen.dst.Addr())
			return false
		}
		n.inbound[n.next] = twinSeen{sum: sum, at: pkt.Time, dst: pkt.Dst}
		n.next = (n.next + 1) % inboundKept
	}
	if !isPublic(dst) || (len(n.held) == 0 && !IsPrivate(src)) {
		return n.queue(pkt, 0, stream) // neither a LAN copy nor the WAN copy of one held
	}
	// The WAN copy of an outbound message held: the same message to the
	// same destination, from another address, a moment later?
	sum := n.sum(m, pkt.Dst)
	for i := range n.held {
		h := &n.held[i]
		if h.sum == sum && h.pkt.Src.Addr() != src && natOutside(src) && pkt.Time.Sub(h.pkt.Time) <= twinWindow {
			n.sipCopies++
			n.noteMapping(h.pkt.Src.Addr(), src)
			*h = heldSIP{pkt: copyPacket(pkt), stream: bytes.Clone(stream)} // filed in the LAN copy's place
			return false
		}
	}
	if IsPrivate(src) {
		if len(n.held) >= maxHeldSIP {
			s.releaseHeld(time.Time{}) // a capture whose clock stands still
		}
		n.held = append(n.held, heldSIP{pkt: copyPacket(pkt), sum: sum, stream: bytes.Clone(stream)})
		return false
	}
	return n.queue(pkt, 0, stream)
}

// queue holds a message behind those held, in order, with no twin to
// wait for: true (file it now) when nothing is held.
func (n *natTwins) queue(pkt *packet, sum uint64, stream []byte) bool {
	if len(n.held) == 0 {
		return true
	}
	n.held = append(n.held, heldSIP{pkt: copyPacket(pkt), sum: sum, stream: bytes.Clone(stream)})
	return false
}

// seenInbound finds the inbound datagram of hash sum handled within
// twinWindow before at.
func (n *natTwins) seenInbound(sum uint64, at time.Time) (twinSeen, bool) {
	for _, seen := range n.inbound {
		if seen.sum == sum && !seen.at.IsZero() && at.Sub(seen.at) <= twinWindow {
			return seen, true
		}
	}
	return twinSeen{}, false
}

// releaseHeld files, in order, the held datagrams whose twin can no
// longer come by now (all of them when now is zero).
func (s *state) releaseHeld(now time.Time) {
	n := &s.twins
	i := 0
	for ; i < len(n.held); i++ {
		if !now.IsZero() && now.Sub(n.held[i].pkt.Time) <= twinWindow {
			break
		}
		s.fileHeld(&n.held[i])
	}
	if i > 0 {
		n.held = append(n.held[:0], n.held[i:]...)
	}
}

// fileHeld reads a held message again, from its copy, and files it.
func (s *state) fileHeld(h *heldSIP) {
	if h.stream != nil {
		info, _, need, err := s.sipr.parseSIPStream(h.stream)
		if err == nil && !need {
			info.Transport = "TCP"
			s.fileStreamMessage(&h.pkt, info, h.stream)
		}
		return
	}
	if info, rr, ok := s.readSIPDatagram(&h.pkt, false); ok {
		info.Transport = "UDP"
		s.fileSIPDatagram(&h.pkt, info, rr)
	}
}

// copyPacket copies a packet with its payload, to keep past its handling.
func copyPacket(pkt *packet) packet {
	c := *pkt
	c.Payload = bytes.Clone(pkt.Payload)
	return c
}

// dropNATCopies leaves out the RTP streams that are the LAN copies of
// others, on a capture taken on a NAT: a stream between a private host
// the NAT was seen translating and a far end, whose twin (the same SSRC
// to or from the same far end, begun at the same time) has the host's
// translated address.
func (s *state) dropNATCopies() {
	n := &s.twins
	if !n.onNAT() || len(s.flows) < 2 {
		return
	}
	type twinKey struct {
		ssrc uint32
		rtcp bool
		far  netip.AddrPort
		near netip.Addr
	}
	byEnds := make(map[twinKey]*rtpFlow, 2*len(s.flows))
	for _, f := range s.flows {
		k := f.Key
		byEnds[twinKey{k.SSRC, k.RTCP, k.Dst, k.Src.Addr()}] = f // as an outbound stream: the far end its destination
		byEnds[twinKey{k.SSRC, k.RTCP, k.Src, k.Dst.Addr()}] = f // as an inbound one
	}
	var copies []*rtpFlow
	for _, f := range s.flows {
		k := f.Key
		far, outside := k.Dst, n.hosts[k.Src.Addr()] // the LAN copy of an outbound stream?
		if !outside.IsValid() {
			far, outside = k.Src, n.hosts[k.Dst.Addr()] // of an inbound one?
		}
		if !outside.IsValid() {
			continue
		}
		if w := byEnds[twinKey{k.SSRC, k.RTCP, far, outside}]; w != nil && w != f && sameTime(f, w) {
			copies = append(copies, f)
		}
	}
	for _, f := range copies {
		n.rtpCopies += f.Packets
		s.dropFlow(f)
	}
}

// sameTime says whether two streams began within a second of each other.
func sameTime(a, b *rtpFlow) bool {
	return a.First().Sub(b.First()).Abs() <= time.Second
}

// vantage adds to the capture's vantage that it was taken on a NAT, and
// what was left out for it.
func (n *natTwins) vantage() string {
	if !n.onNAT() {
		return ""
	}
	pairs := make([]string, 0, len(n.hosts))
	for private, public := range n.hosts {
		pairs = append(pairs, private.String()+" to "+public.String())
	}
	slices.Sort(pairs)
	if len(pairs) > 3 {
		pairs = append(pairs[:3], fmt.Sprintf("%d more", len(pairs)-3))
	}
	return fmt.Sprintf("; taken on a NAT itself, both its sides (it translates %s): each packet it forwards is in the capture twice, "+
		"so the copies on its LAN side (%s, %s) are left out, and the calls judged as its WAN side sees them",
		strings.Join(pairs, ", "), report.Plural(int(n.sipCopies), "SIP message"), report.Plural(int(n.rtpCopies), "RTP and RTCP packet"))
}

// hostView is where the capture was taken (host.go), knowing a capture
// taken on a NAT is on no party's host, though every packet be to or from
// one (a NAT passing one phone's call to one peer).
func (s *state) hostView() hostView {
	v := s.host.view()
	if s.twins.onNAT() {
		v.addr = netip.Addr{}
	}
	return v
}
