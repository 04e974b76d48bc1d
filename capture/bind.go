package capture

import (
	"net/netip"
	"slices"
	"time"
)

// A promise is an address one party asked to receive media on, from one
// SDP, valid from when it was sent until the call ended.
type promise struct {
	call   *sipCall
	dlg    *dialog
	party  int // the receiving party
	mIndex int
	at     time.Time
	from   time.Time
	to     time.Time
	next   int32 // the next promise of the same list (promiseList)
	// candidate: the address is one of the SDP's ICE candidates (its
	// type), not c=.
	candidate string
	sdp       *sdpInfo // the SDP whose m= line mIndex promised it
}

// promiseList chains promises in binder.promises in the order they were
// made, by 1-based index (0: none), so building the index allocates
// nothing once the binder has grown to the calls in progress.
type promiseList struct{ head, tail int32 }

// binding says where a media flow belongs.
type binding struct {
	call    *sipCall
	dlg     *dialog
	mIndex  int
	sender  int
	matched bool // destination is an address an SDP promised
	// candidate: the address matched is an ICE candidate of that SDP (its
	// type), not its c= address.
	candidate string
}

// binder attaches RTP/RTCP flows to calls: first by the SDP addresses (the
// promise), then by the sender's own SDP address (symmetric RTP sends from
// the port it receives on), and last, for NATed media from an address no
// SDP named, by the signalling address and timing. SSRC alone does not
// bind: relays and B2BUAs forward one SSRC onto legs whose signalling may
// be missing. One binder serves every sweep (reset), reusing its storage.
type binder struct {
	promises []promise
	byAddr   map[netip.AddrPort]promiseList
	byIP     map[netip.Addr]promiseList // signalling addresses of parties
	// named holds, per dialog, the range of namedAddrs listing the
	// addresses each party's SDP named; it breaks ties when forks share
	// the caller's offer.
	named      map[*dialog][2]int32
	namedAddrs []partyAddr
	// grace lets media run on after BYE and start a little before the SDP
	// was seen (RTP often starts on 183 before the answer is captured).
	grace time.Duration
}

// partyAddr is an address a party's SDP named.
type partyAddr struct {
	party int
	addr  netip.AddrPort
}

func newBinder() *binder {
	return &binder{
		byAddr: map[netip.AddrPort]promiseList{},
		byIP:   map[netip.Addr]promiseList{},
		named:  map[*dialog][2]int32{},
		grace:  10 * time.Second,
	}
}

// reset empties the binder for the next sweep, keeping its storage; the
// promises are zeroed so they hold no finished call alive.
func (b *binder) reset() {
	clear(b.promises)
	b.promises = b.promises[:0]
	b.namedAddrs = b.namedAddrs[:0]
	clear(b.byAddr)
	clear(b.byIP)
	clear(b.named)
}

// push appends p to the list l and returns the list.
func (b *binder) push(l promiseList, p promise) promiseList {
	b.promises = append(b.promises, p)
	i := int32(len(b.promises))
	if l.head == 0 {
		l.head = i
	} else {
		b.promises[l.tail-1].next = i
	}
	l.tail = i
	return l
}

// addCall indexes every SDP address of every reported dialog of c.
func (b *binder) addCall(c *sipCall, captureEnd time.Time) {
	end := c.End
	if end.IsZero() || c.ByeSeen {
		end = captureEnd
		if c.ByeSeen && !c.End.IsZero() {
			end = c.End.Add(b.grace)
		}
	}
	// Media starts with the call, or a little before its SDP; a call
	// begun before the capture may have started its media at any time
	// before. (A flow of an earlier call on the same addresses stays that
	// call's: pick passes over a promise made after the flow began for
	// one made before it.)
	from := c.Start.Add(-b.grace)
	if !c.StartSeen {
		from = time.Time{}
	}
	main, early := c.dialogs()
	for _, d := range append([]*dialog{main}, early...) {
		first := int32(len(b.namedAddrs))
		index := func(ev *sdpEvent) {
			for i, m := range ev.SDP.Media {
				p := promise{call: c, dlg: d, party: ev.Party, mIndex: i, at: ev.Time, from: from, to: end, sdp: ev.SDP}
				if m.Addr.IsValid() && !isHoldAddress(m.Addr) {
					b.namedAddrs = append(b.namedAddrs, partyAddr{ev.Party, m.Addr})
					b.byAddr[m.Addr] = b.push(b.byAddr[m.Addr], p)
					if m.RTCP.IsValid() && m.RTCP != m.Addr {
						b.byAddr[m.RTCP] = b.push(b.byAddr[m.RTCP], p)
					}
				}
				// ICE: the author receives at each candidate too, also
				// under trickle ICE's c=0.0.0.0.
				for _, cand := range m.Candidates {
					if cand.Addr == m.Addr || cand.Addr == m.RTCP {
						continue
					}
					b.namedAddrs = append(b.namedAddrs, partyAddr{ev.Party, cand.Addr})
					pc := p
					pc.candidate = cand.Type
					b.byAddr[cand.Addr] = b.push(b.byAddr[cand.Addr], pc)
				}
			}
		}
		for ev := range c.sdps(d) {
			index(ev)
		}
		b.named[d] = [2]int32{first, int32(len(b.namedAddrs))}
		for party, sig := range [2]netip.AddrPort{c.CallerSig, d.CalleeSig} {
			if sig.IsValid() {
				p := promise{call: c, dlg: d, party: party, at: c.Start, from: from, to: end}
				b.byIP[sig.Addr()] = b.push(b.byIP[sig.Addr()], p)
			}
		}
	}
}

// pick chooses the promise in force when the flow began: within the call's
// time window, the most recent one made before the flow started. Only
// promises ok accepts count (nil: all).
func (b *binder) pick(l promiseList, first time.Time, ok func(*promise) bool) (promise, bool) {
	var best promise
	found := false
	for i := l.head; i != 0; i = b.promises[i-1].next {
		p := &b.promises[i-1]
		if first.Before(p.from) || first.After(p.to) || (ok != nil && !ok(p)) {
			continue
		}
		if !found || (p.at.After(best.at) && !p.at.After(first.Add(2*time.Second))) {
			best, found = *p, true
		}
	}
	return best, found
}

// pickBySender is pick, preferring the dialog whose other party named the
// flow's source: forks share the caller's offer, not their answers.
func (b *binder) pickBySender(l promiseList, f *rtpFlow) (promise, bool) {
	namedSource := func(p *promise) bool {
		r, ok := b.named[p.dlg]
		if !ok {
			return false
		}
		for _, n := range b.namedAddrs[r[0]:r[1]] {
			if n.party == other(p.party) && n.addr == f.Key.Src {
				return true
			}
		}
		return false
	}
	if p, ok := b.pick(l, f.First(), namedSource); ok {
		return p, true
	}
	return b.pick(l, f.First(), nil)
}

// bind finds the call of one flow.
func (b *binder) bind(f *rtpFlow) (binding, bool) {
	k := f.Key
	if p, ok := b.pickBySender(b.byAddr[k.Dst], f); ok {
		p.bundle(f)
		return binding{call: p.call, dlg: p.dlg, mIndex: p.mIndex, sender: other(p.party), matched: true, candidate: p.candidate}, true
	}
	if p, ok := b.pick(b.byAddr[k.Src], f.First(), nil); ok {
		p.bundle(f)
		return binding{call: p.call, dlg: p.dlg, mIndex: p.mIndex, sender: p.party}, true
	}
	return binding{}, false
}

// bundle moves p to the m= line of its SDP that lists the flow's payload
// type, when the SDP put several on one address (BUNDLE, RFC 9143: audio
// and video on one port; bundledIndex).
func (p *promise) bundle(f *rtpFlow) {
	if p.sdp != nil {
		p.mIndex = bundledIndex(p.sdp, p.mIndex, f)
	}
}

// bindHeuristic is the second pass for flows no SDP address names.
// covered holds the directions of dialogs an RTP flow already carries by
// an SDP address (its destination or its source). The flow goes to a call
// whose direction has no media yet, as an engineer would give it; when
// calls share the signalling addresses (phones behind one NAT, one trunk),
// to the one answered nearest its start. A direction that has its media
// takes no more by address alone: such a flow is another call's whose SIP
// the capture lacks (a PBX's earlier call on the next port pair, another
// leg), or another application's, as is a flow whose payload types the
// call's SDP does not list (speaksSDP).
// The flow's other end must be the other party's as well (reachesParty):
// a flow from a party's host to a third host is not the call's media.
func (b *binder) bindHeuristic(f *rtpFlow, covered map[dialogSender]bool, answered bool) (binding, bool) {
	k := f.Key
	// SSRC alone does not bind: relays and B2BUAs forward the same SSRC on
	// legs whose signalling may not be in the capture.
	// NAT: media comes from (or goes to) the public address the party's SIP
	// came from, on a port no SDP named.
	// A flow there before the call's INVITE and still going after its
	// BYE is another application's media on the party's host (a
	// conferencing app, a game), not the call's: no call's media
	// precedes its INVITE and outlives its BYE, or begins after its BYE.
	// (The promise's own end
	// lets media run on after the BYE for its grace, too long for this.)
	inCall := func(p *promise) bool {
		c := p.call
		if !negotiated(p.dlg) {
			return false
		}
		end, ended := c.End, c.ByeSeen
		if !p.dlg.answered() && !c.FailedAt.IsZero() {
			end, ended = c.FailedAt, true // early media ends with the setup
		}
		// Nor is a flow that began after the call ended: the grace lets
		// the call's own media run on past the BYE, not start there. Nor
		// one that began well before the INVITE, when no party knew where
		// to send (beforeInvite allows for two captures' clocks).
		return !(c.StartSeen && ended && f.First().Before(c.Start) && f.Last().After(end)) && !(ended && f.First().After(end)) &&
			!(c.StartSeen && f.First().Before(c.Start.Add(-beforeInvite)))
	}
	bySrc := func(p *promise) bool {
		return inCall(p) && !covered[dialogSender{p.dlg, p.party}] && speaksSDP(p.call, p.dlg, f) && b.reachesParty(p, other(p.party), k.Dst, answered)
	}
	byDst := func(p *promise) bool {
		return inCall(p) && !covered[dialogSender{p.dlg, other(p.party)}] && speaksSDP(p.call, p.dlg, f) && b.reachesParty(p, other(p.party), k.Src, answered)
	}
	// A dialog whose two parties signal from the flow's two hosts comes
	// first: a B2BUA's host is a party of both its legs, and the flow's
	// other end tells which leg it is.
	bothEnds := func(p *promise, far netip.Addr) bool { return b.signalsFrom(p, other(p.party)) == far }
	bySrcBoth := func(p *promise) bool { return bySrc(p) && bothEnds(p, k.Dst.Addr()) }
	byDstBoth := func(p *promise) bool { return byDst(p) && bothEnds(p, k.Src.Addr()) }
	for _, try := range [2][2]func(*promise) bool{{bySrcBoth, byDstBoth}, {bySrc, byDst}} {
		if p, ok := b.pickByAnswer(b.byIP[k.Src.Addr()], f.First(), try[0]); ok {
			return binding{call: p.call, dlg: p.dlg, mIndex: heuristicIndex(p.call, p.dlg, f, p.party), sender: p.party}, true
		}
		if p, ok := b.pickByAnswer(b.byIP[k.Dst.Addr()], f.First(), try[1]); ok {
			return binding{call: p.call, dlg: p.dlg, mIndex: heuristicIndex(p.call, p.dlg, f, other(p.party)), sender: other(p.party)}, true
		}
	}
	return binding{}, false
}

// signalsFrom is the host party of p's dialog sends its SIP from.
func (b *binder) signalsFrom(p *promise, party int) netip.Addr {
	if party == callee && p.dlg != nil {
		return p.dlg.CalleeSig.Addr()
	}
	return p.call.CallerSig.Addr()
}

// beforeInvite is how long before a call's first INVITE a flow no SDP
// names may begin and still be its media: none can, but two captures
// merged into one may disagree on the time by this much.
const beforeInvite = time.Second

// negotiated says whether dialog d got an answer or the callee's SDP:
// before either no media of the call flows (the caller has no address to
// send to, the callee has not answered the offer), so a flow no SDP
// address names is not bound to it by the heuristics (a rejected call
// never answered takes no other application's stream).
func negotiated(d *dialog) bool {
	if d == nil {
		return false
	}
	if d.answered() {
		return true
	}
	for _, ev := range d.SDPs {
		if ev.Party == callee {
			return true
		}
	}
	return false
}

// reachesParty says whether addr, the far end of a flow that p's party
// sends from or receives at by its signalling address, may be party's:
// its signalling host or a host its SDP named, a port its SDP named (a
// NAT that keeps the port), or an end that answered (a flow came back
// from it: a NAT's mapping, which symmetric RTP answers). A flow from a
// party's host to a third host none of these name is no media of the
// call: a recorder's fork of it (Cisco XMF, an SBC's SIPREC whose SIP
// goes elsewhere), another application's stream.
func (b *binder) reachesParty(p *promise, party int, addr netip.AddrPort, answered bool) bool {
	if answered {
		return true
	}
	if b.signalsFrom(p, party) == addr.Addr() {
		return true
	}
	r := b.named[p.dlg]
	for _, pa := range b.namedAddrs[r[0]:r[1]] {
		if pa.party == party && (pa.addr.Addr() == addr.Addr() || pa.addr.Port() == addr.Port()) {
			return true
		}
	}
	return false
}

// speaksSDP says whether flow f may be dialog d's media by what it
// carries: a payload type the call's SDP lists, or comfort noise (13, and
// 19 of old), which phones send unlisted. Another application's RTP on
// the same host has payload types of its own. A flow without payload
// types (RTCP, T.38), or a dialog without SDP or whose SDP the snap
// length cut before its m= lines, gives nothing to compare.
func speaksSDP(c *sipCall, d *dialog, f *rtpFlow) bool {
	if f.nPT == 0 || d == nil || (c.Offer == nil && len(d.SDPs) == 0) {
		return true
	}
	pts := f.payloadTypes[:f.nPT]
	if slices.ContainsFunc(pts, func(pt uint8) bool { return pt == 13 || pt == 19 }) {
		return true
	}
	mediaLines := false
	for ev := range c.sdps(d) {
		for i := range ev.SDP.Media {
			mediaLines = true
			if slices.ContainsFunc(pts, ev.SDP.Media[i].lists) {
				return true
			}
		}
	}
	return !mediaLines
}

// heuristicIndex is the m= line of dialog d for a flow the heuristics
// bound to it (no SDP address names the flow: a NAT rewrote it): the line
// that lists the flow's payload type, and of several such the one whose
// port the flow uses (a NAT that keeps ports), so NATed video is not
// judged as audio. 0 when no line lists it (or the flow is RTCP).
func heuristicIndex(c *sipCall, d *dialog, f *rtpFlow, sender int) int {
	pt, ok := f.firstPT()
	if !ok || d == nil {
		return 0
	}
	listed, onPort := -1, -1
	visit := func(ev *sdpEvent) {
		for i := range ev.SDP.Media {
			m := &ev.SDP.Media[i]
			if !m.lists(pt) {
				continue
			}
			if listed < 0 || i < listed {
				listed = i
			}
			port := f.Key.Dst.Port()
			if ev.Party == sender {
				port = f.Key.Src.Port()
			}
			if onPort < 0 && int(port) == m.Port {
				onPort = i
			}
		}
	}
	for ev := range c.sdps(d) {
		visit(ev)
	}
	switch {
	case onPort >= 0:
		return onPort
	case listed >= 0:
		return listed
	}
	return 0
}

// pickByAnswer is pick for a flow no SDP address names: of the calls in
// their time window, the one whose dialog was answered nearest to when
// the flow began (media starts with the answer, or with a 183's early
// media before it), as an engineer matches a stream to a call by its
// start; a dialog not answered counts from its call's start.
func (b *binder) pickByAnswer(l promiseList, first time.Time, ok func(*promise) bool) (promise, bool) {
	var best promise
	var bestGap time.Duration
	found := false
	for i := l.head; i != 0; i = b.promises[i-1].next {
		p := &b.promises[i-1]
		if first.Before(p.from) || first.After(p.to) || (ok != nil && !ok(p)) {
			continue
		}
		at := p.call.Start
		if p.dlg != nil && !p.dlg.Answered.IsZero() {
			at = p.dlg.Answered
		}
		gap := first.Sub(at)
		if gap < 0 {
			gap = -gap
		}
		if !found || gap < bestGap {
			best, bestGap, found = *p, gap, true
		}
	}
	return best, found
}

// dialogSender is one direction of a dialog's media: the party sending.
type dialogSender struct {
	dlg    *dialog
	sender int
}
