package capture

import (
	"net/netip"
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
}

// binding says where a media flow belongs.
type binding struct {
	call    *sipCall
	dlg     *dialog
	mIndex  int
	sender  int
	matched bool // destination is an address an SDP promised
}

// binder attaches RTP/RTCP flows to calls: first by the SDP addresses (the
// promise), then by the sender's own SDP address (symmetric RTP sends from
// the port it receives on), and last, for NATed media from an address no
// SDP named, by the signalling address and timing. SSRC alone does not
// bind: relays and B2BUAs forward one SSRC onto legs whose signalling may
// be missing.
type binder struct {
	byAddr map[netip.AddrPort][]promise
	byIP   map[netip.Addr][]promise // signalling addresses of parties
	// named lists, per dialog, the addresses each party's SDP named; it
	// breaks ties when forks share the caller's offer.
	named map[*dialog]*[2][]netip.AddrPort
	// grace lets media run on after BYE and start a little before the SDP
	// was seen (RTP often starts on 183 before the answer is captured).
	grace time.Duration
}

// newBinder makes a binder for about calls calls (a size hint: each has
// a dialog or two and two SDP addresses per party).
func newBinder(calls int) *binder {
	return &binder{
		byAddr: make(map[netip.AddrPort][]promise, 4*calls),
		byIP:   make(map[netip.Addr][]promise, 2*calls),
		named:  make(map[*dialog]*[2][]netip.AddrPort, calls),
		grace:  10 * time.Second,
	}
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
	for _, d := range c.reportDialogs() {
		named := &[2][]netip.AddrPort{}
		b.named[d] = named
		for _, ev := range c.timeline(d) {
			for i, m := range ev.SDP.Media {
				if !m.Addr.IsValid() || isHoldAddress(m.Addr) {
					continue
				}
				named[ev.Party] = append(named[ev.Party], m.Addr)
				p := promise{call: c, dlg: d, party: ev.Party, mIndex: i, at: ev.Time, from: c.Start.Add(-b.grace), to: end}
				b.byAddr[m.Addr] = append(b.byAddr[m.Addr], p)
				if m.RTCP.IsValid() && m.RTCP != m.Addr {
					b.byAddr[m.RTCP] = append(b.byAddr[m.RTCP], p)
				}
			}
		}
		sigs := []netip.AddrPort{c.CallerSig, d.CalleeSig}
		for party, sig := range sigs {
			if sig.IsValid() {
				p := promise{call: c, dlg: d, party: party, at: c.Start, from: c.Start.Add(-b.grace), to: end}
				b.byIP[sig.Addr()] = append(b.byIP[sig.Addr()], p)
			}
		}
	}
}

// pick chooses the promise in force when the flow began: within the call's
// time window, the most recent one made before the flow started.
func pick(ps []promise, first time.Time) (promise, bool) {
	var best promise
	found := false
	for _, p := range ps {
		if first.Before(p.from) || first.After(p.to) {
			continue
		}
		if !found || (p.at.After(best.at) && !p.at.After(first.Add(2*time.Second))) {
			best, found = p, true
		}
	}
	return best, found
}

// pickBySender is pick, preferring the dialog whose other party named the
// flow's source: forks share the caller's offer, not their answers.
func (b *binder) pickBySender(ps []promise, f *rtpFlow) (promise, bool) {
	var matching []promise
	for _, p := range ps {
		if n := b.named[p.dlg]; n != nil && containsAddr(n[other(p.party)], f.Key.Src) {
			matching = append(matching, p)
		}
	}
	if p, ok := pick(matching, f.First()); ok {
		return p, true
	}
	return pick(ps, f.First())
}

func containsAddr(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// bind finds the call of one flow.
func (b *binder) bind(f *rtpFlow) (binding, bool) {
	k := f.Key
	if p, ok := b.pickBySender(b.byAddr[k.Dst], f); ok {
		return binding{call: p.call, dlg: p.dlg, mIndex: p.mIndex, sender: other(p.party), matched: true}, true
	}
	if p, ok := pick(b.byAddr[k.Src], f.First()); ok {
		return binding{call: p.call, dlg: p.dlg, mIndex: p.mIndex, sender: p.party}, true
	}
	return binding{}, false
}

// bindHeuristic is the second pass for flows no SDP address names.
func (b *binder) bindHeuristic(f *rtpFlow) (binding, bool) {
	k := f.Key
	// SSRC alone does not bind: relays and B2BUAs forward the same SSRC on
	// legs whose signalling may not be in the capture.
	// NAT: media comes from (or goes to) the public address the party's SIP
	// came from, on a port no SDP named.
	if p, ok := pick(b.byIP[k.Src.Addr()], f.First()); ok {
		return binding{call: p.call, dlg: p.dlg, sender: p.party}, true
	}
	if p, ok := pick(b.byIP[k.Dst.Addr()], f.First()); ok {
		return binding{call: p.call, dlg: p.dlg, sender: other(p.party)}, true
	}
	return binding{}, false
}
