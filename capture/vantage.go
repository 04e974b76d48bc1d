package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// partyView is what the capture shows of one party of a leg: whether a NAT
// sits between it and the capture point, where its media came from, and
// whether its messages carry the traces of a SIP ALG.
type partyView struct {
	nated   bool
	sources []netip.AddrPort // every address its media (RTP, RTCP, T.38) came from
	alg     bool
	// sdp is the address the party's latest SDP of the stream names,
	// named every address its SDPs of the stream named.
	sdp   netip.AddrPort
	named []netip.AddrPort
}

// views reads both parties of the leg from its messages, and from the
// media of stream st.
func (cb *callBuild) views(sigs [2]netip.AddrPort, st *streamState, streams []*streamState) [2]partyView {
	c := cb.call
	var v [2]partyView
	received := publicAddresses(c)
	for p := range v {
		v[p].nated = received[p].IsValid() && received[p] != sigs[p].Addr()
		if m := st.latest[p]; m != nil {
			v[p].sdp = m.Addr
		}
		v[p].named = st.all[p]
	}
	for _, m := range c.Infos {
		// The sender's own Contact, and its Via when it is the requester
		// (a response carries the requester's).
		p := c.sender(m)
		if isPublic(m.Src.Addr()) && (privateAddr(m.contactIP) || (m.Request && privateAddr(m.viaIP))) {
			v[p].nated = true
		}
		if m.LengthMismatch || m.Via.Dup {
			v[p].alg = true
		}
	}
	for _, ev := range cb.timeline() {
		sig := sigs[ev.Party].Addr()
		if isPublic(sig) && ev.SDP.OriginAddr.IsValid() && IsPrivate(ev.SDP.OriginAddr) {
			v[ev.Party].nated = true
		}
		for _, m := range ev.SDP.Media {
			if ALGSign(sig, ev.Contact, ev.SDP.OriginAddr, m.Addr.Addr()) != "" {
				v[ev.Party].alg = true
			}
		}
	}
	for _, bf := range cb.flows {
		if st.carries(bf, streams) {
			v[bf.bd.sender].sources = append(v[bf.bd.sender].sources, bf.flow.Key.Src)
		}
	}
	return v
}

func privateAddr(ip netip.Addr) bool { return ip.IsValid() && IsPrivate(ip) }

// namesUnreached is party p's answer never acknowledged whose public
// Contact is at addr, not where the answer came from, when an ACK went
// there (nil: none): the ACK sent to the address p names never reached
// it.
func (cb *callBuild) namesUnreached(p int, addr netip.Addr) *answerTrack {
	if cb.call.faults == nil || !isPublic(addr) {
		return nil
	}
	t := cb.call.faults.answers.unacknowledged()
	if t == nil || t.sender != p || t.ackFrame == 0 || t.ackDst.Addr() != addr || t.contact.Addr() != addr || t.src.Addr() == addr {
		return nil
	}
	return t
}

// delivery judges one flow's way to its receiver (JudgeDelivery) from
// what the leg shows, and says why when it doubts it.
// filtered says whether the receiver's NAT's filter keeps the flow out
// because its source is not where the receiver's own media goes.
func (cb *callBuild) delivery(bf boundFlow, sigs [2]netip.AddrPort, v [2]partyView) (delivered bool, proof, doubt string, filtered sourceFilter) {
	f := bf.flow
	to := other(bf.bd.sender)
	dst := f.Key.Dst
	d := DeliveryFacts{
		Unreachable:   unreachableFromOutside(dst.Addr(), sigs[to].Addr()) && !cb.sendsFrom(to, dst.Addr()),
		ReceiverNATed: v[to].nated,
		SenderInside:  IsPrivate(f.Key.Src.Addr()) && isPublic(dst.Addr()),
		ToReceiverNAT: dst.Addr() == sigs[to].Addr(),
	}
	// other: the receiver's media from another port of dst's address;
	// elsewhere: from another public address, when none comes from dst's.
	var other, elsewhere netip.AddrPort
	sameAddr := false
	for _, src := range v[to].sources {
		switch {
		case src.Addr() == dst.Addr():
			d.ToReceiverNAT, sameAddr = true, true
			if src.Port() != dst.Port() && !other.IsValid() {
				other = src
			}
		case isPublic(src.Addr()) && !elsewhere.IsValid():
			elsewhere = src
		}
	}
	if sameAddr {
		elsewhere = netip.AddrPort{}
	}
	var theirs netip.AddrPort // where what comes from dst goes
	for _, x := range cb.flows {
		if x.flow.Key.Src == dst {
			d.ReceiverSendsFrom = true
			toHost := x.flow.Key.Dst.Addr() == f.Key.Src.Addr()
			if !theirs.IsValid() || toHost {
				theirs = x.flow.Key.Dst
			}
			d.ReceiverSendsToSenderHost = d.ReceiverSendsToSenderHost || toHost
			// RTCP's ports are another matter (port+1, rtcp-mux).
			d.ReceiverSendsToSender = d.ReceiverSendsToSender || toHost && (f.Key.RTCP || x.flow.Key.Dst.Port() == f.Key.Src.Port())
		}
	}
	d.ReceiverSendsOtherPort = other.IsValid()
	// Another address than the one sent to: of its NAT, when that is where
	// its SIP comes from or where it was sent (the NAT's), and public.
	fromSIPAddr := elsewhere.IsValid() && elsewhere.Addr() == sigs[to].Addr()
	d.ReceiverSendsOtherAddress = elsewhere.IsValid() && isPublic(dst.Addr()) && (d.ToReceiverNAT || fromSIPAddr)
	d.PastReceiverNAT = d.ReceiverSendsFrom && IsPrivate(dst.Addr())
	behind := cb.behindPrivateNAT(to, f.Key, v[to], sigs[to])
	d.ReceiverBehindNAT = behind.IsValid()
	unreached := cb.namesUnreached(to, dst.Addr())
	d.ReceiverNamesUnreached = unreached != nil
	delivered, proof, doubt = JudgeDelivery(d)
	if d.ReceiverBehindNAT && !delivered {
		return delivered, proof, fmt.Sprintf("sent to %s, but the %s's own media comes from %s: a NAT lies between it and the capture point "+
			"(a container's, a virtual machine's or a router's), and nothing shows it forwards %s to it", dst, partyNames[to], behind, dst.Addr()), notFiltered
	}
	if !delivered && d.ReceiverSendsFrom && !d.ReceiverSendsToSender {
		by, notTo := filteredByAddress, f.Key.Src.Addr().String()
		if d.ReceiverSendsToSenderHost {
			by, notTo = filteredByPort, f.Key.Src.String()
		}
		return delivered, proof, fmt.Sprintf("sent from %s, but the %s's own media from %s goes to %s, not to %s: %s",
			f.Key.Src, partyNames[to], dst, theirs, notTo, by.why()), by
	}
	if !delivered && d.ReceiverNamesUnreached && !d.ReceiverSendsFrom {
		return delivered, proof, fmt.Sprintf("sent to %s, the address the %s's SDP and Contact name, but the ACK sent there never reached it (its %s kept coming) "+
			"and its SIP comes from %s: the address it names is not its own (%s)", dst, partyNames[to], answerName(unreached.status), unreached.src.Addr(), staleAddressWhy), notFiltered
	}
	if !delivered && d.ReceiverSendsOtherAddress {
		if !d.ToReceiverNAT {
			return delivered, proof, fmt.Sprintf("sent to %s, which its SDP names, but the %s's SIP and media come from %s and nothing in the capture comes from %s: "+
				"the address it names is not its NAT's (%s)", dst, partyNames[to], elsewhere.Addr(), dst.Addr(), staleAddressWhy), notFiltered
		}
		return delivered, proof, fmt.Sprintf("sent to %s, but the %s's own media leaves from %s, another public address of its network, and nothing in the capture "+
			"comes from %s: nothing shows that address leads to it (%s)", dst, partyNames[to], elsewhere, dst.Addr(), otherAddressWhy), notFiltered
	}
	if !delivered && !d.Unreachable {
		doubt = fmt.Sprintf("sent to %s, but the %s's own media leaves its NAT from %s and nothing in the capture comes from %s: nothing shows the NAT forwards that port to it",
			dst, partyNames[to], other, dst)
		if first := cb.cameFirst(f, other, partyNames[to]); first != "" {
			what := "this media"
			if cb.dlg != nil && f.First().Before(cb.dlg.Answered) {
				what = "this media, early media before the answer,"
			}
			doubt += fmt.Sprintf("; %s reached the NAT first (%s): that alone moves the phone's media to another port on a NAT that refuses "+
				"media from peers its phone has not sent to yet and then keeps the port for the refused peer, as Linux's conntrack does", what, first)
		}
		if v[to].alg {
			doubt += " (the SIP ALG traces in its messages are a common cause: an ALG rewrote the SDP to a port the NAT then did not use)"
		}
	}
	return delivered, proof, doubt, notFiltered
}

// sourceFilter is what of a flow's source its NATed receiver's own media
// does not go to, which that NAT's filter keeps out.
type sourceFilter int

const (
	notFiltered sourceFilter = iota
	// filteredByAddress: another address than the receiver's media goes
	// to (a multi-homed media server bound to all its addresses).
	filteredByAddress
	// filteredByPort: another port of that address (asymmetric RTP).
	filteredByPort
)

// what names it: "an address", "a port".
func (f sourceFilter) what() string {
	if f == filteredByPort {
		return "a port"
	}
	return "an address"
}

// filter names the NAT's filter that keeps it out.
func (f sourceFilter) filter() string {
	if f == filteredByPort {
		return "address-and-port filter"
	}
	return "address filter"
}

// why says why such a flow does not reach the receiver.
func (f sourceFilter) why() string {
	if f == filteredByPort {
		return portFilter
	}
	return addressFilter
}

// addressFilter says why what comes from elsewhere than a NATed party
// sends to does not reach it.
const addressFilter = "a NAT that filters by address (most do) lets in only what comes from where its phone sends"

// portFilter says why what comes from another port of the address a
// NATed party sends to does not reach it (asymmetric RTP).
const portFilter = "a NAT that filters by address and port (Linux's conntrack, most home routers) lets in only what comes from " +
	"the very address and port its phone sends to; only one that filters by address alone would let it in"

// sentFirstMargin: a flow that began this much before the receiver's
// own media reached the receiver's NAT first, whatever the delays
// between the capture point and the NAT.
const sentFirstMargin = 200 * time.Millisecond

// cameFirst says how the capture shows that flow f reached the receiver's
// NAT before the receiver's own media left it from src: an ICMP error for
// f came back before src's first packet, or f began sentFirstMargin
// before it. "" when it does not (or src sent nothing).
func (cb *callBuild) cameFirst(f *rtpFlow, src netip.AddrPort, receiver string) string {
	var first time.Time
	for _, bf := range cb.flows {
		if bf.flow.Key.Src == src && (first.IsZero() || bf.flow.First().Before(first)) {
			first = bf.flow.First()
		}
	}
	e := cb.unreach.about(f.Key.Src, f.Key.Dst)
	switch {
	case first.IsZero():
		return ""
	case e != nil && e.firstNs < first.UnixNano():
		return fmt.Sprintf("its first packets refused at frame %d, %s before the %s's own media began", e.firstFrame, shortLead(first.Sub(time.Unix(0, e.firstNs))), receiver)
	case first.Sub(f.First()) >= sentFirstMargin:
		return fmt.Sprintf("it began %s before the %s's own media", shortLead(first.Sub(f.First())), receiver)
	}
	return ""
}

// shortLead writes a lead of milliseconds to seconds readably.
func shortLead(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// behindPrivateNAT is where party p's own media comes from when it is
// behind a NAT inside the private network (a container's, a virtual
// machine's), whose inside address is the destination of flow k: the
// private address p's latest SDP names (view.sdp), which its SIP (sig)
// does not come from, nor anything in the capture, while its media comes
// from other private addresses no SDP of its named. Invalid otherwise,
// for an intermediary (whose media may leave from another interface than
// the one it names), and when p's media comes from the sender's own host
// (a gateway, a 5G core's UPF: it routes to its inside addresses).
func (cb *callBuild) behindPrivateNAT(p int, k flowKey, view partyView, sig netip.AddrPort) netip.AddrPort {
	sources, dst := view.sources, k.Dst
	// A party whose SIP comes from dst reaches the capture from there: a
	// NAT its media met on the way (a router looping it back in) is not
	// around it.
	if cb.roles[p] != "" || dst != view.sdp || sig.Addr() == dst.Addr() || !IsPrivate(dst.Addr()) || len(sources) == 0 || cb.sendsFromHost(dst.Addr()) {
		return netip.AddrPort{}
	}
	for _, src := range sources {
		// From outside: unreachableFromOutside's case. From an address
		// an SDP of its named: a B2BUA's media handed on, no NAT.
		if !IsPrivate(src.Addr()) || slices.Contains(view.named, src) {
			return netip.AddrPort{}
		}
	}
	from := sources[0]
	// Named by its RTP, where there is some, rather than its RTCP.
	for _, bf := range cb.flows {
		if bf.bd.sender == p && !bf.flow.Key.RTCP && slices.Contains(sources, bf.flow.Key.Src) {
			from = bf.flow.Key.Src
			break
		}
	}
	if from.Addr() == k.Src.Addr() {
		return netip.AddrPort{}
	}
	return from
}

// sendsFromHost says whether anything bound to the call comes from addr.
func (cb *callBuild) sendsFromHost(addr netip.Addr) bool {
	return slices.ContainsFunc(cb.flows, func(bf boundFlow) bool { return bf.flow.Key.Src.Addr() == addr })
}

// proofRank orders how well a delivery is shown.
func proofRank(p string) int {
	switch p {
	case report.ProofSeenArriving:
		return 3
	case report.ProofInferred:
		return 2
	case report.ProofSeenLeaving, report.ProofRTCPReported:
		return 1 // never compared: reports count only where no RTP was seen
	}
	return 0
}

// deliveries sums a stream's flows per direction.
type deliveries [2]report.Delivery

func newDeliveries() deliveries {
	return deliveries{{Direction: "caller->callee"}, {Direction: "callee->caller"}}
}

func (d *deliveries) add(sender int, packets uint64, delivered bool, proof, doubt string) {
	x := &d[sender]
	x.Packets += packets
	if delivered {
		x.Delivered = true
		if proofRank(proof) > proofRank(x.Proof) {
			x.Proof = proof
		}
		x.Doubt = ""
	} else if !x.Delivered && x.Doubt == "" {
		x.Doubt = doubt
	}
}

// list returns the directions that had packets, were delivered, or are
// known not to be.
func (d *deliveries) list() []report.Delivery {
	var out []report.Delivery
	for _, x := range d {
		if x.Packets > 0 || x.Delivered || x.Doubt != "" {
			out = append(out, x)
		}
	}
	return out
}
