package capture

import (
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// groupBuild collects the legs of one call to report.
type groupBuild struct {
	legs []*callBuild
}

// over says whether every leg of the call has ended and gone quiet by now.
func (g *callGroup) over(now time.Time) bool {
	for _, c := range g.legs {
		if !c.ended(now) || now.Sub(c.Last) < c.quietNeeded() {
			return false
		}
	}
	return true
}

// newGroupBuild prepares the report of a call: each leg's dialog and the
// early dialogs of its other forks.
func newGroupBuild(g *callGroup, regs *registrations, ice *iceChecks, unreach *unreachables, forwards *forwardedPorts, scans *dialScans, host hostView, describeSDP bool) *groupBuild {
	// Most calls have one leg: it, the build and the list of legs are
	// made in one allocation.
	g.inferAnswerFromHops()
	room := &struct {
		gb    groupBuild
		first callBuild
		legs  [1]*callBuild
	}{}
	gb := &room.gb
	gb.legs = room.legs[:0]
	for i, c := range g.legs {
		main, early := c.dialogs()
		cb := &room.first
		if i > 0 {
			cb = &callBuild{}
		}
		*cb = callBuild{call: c, dlg: main, regs: regs, ice: ice, unreach: unreach, forwards: forwards, scans: scans, captureHost: host.addr, view: host, describeSDP: describeSDP}
		for _, d := range early {
			cb.early = append(cb.early, &callBuild{call: c, dlg: d, describeSDP: describeSDP})
		}
		gb.legs = append(gb.legs, cb)
	}
	for _, cb := range gb.legs {
		if up := cb.call.upstream; up != nil {
			cb.roles[caller] = cb.call.linkRole
			for _, o := range gb.legs {
				if o.call == up {
					o.roles[callee] = cb.call.linkRole
				}
			}
		}
	}
	return gb
}

// shareFlows gives each leg the streams bound to another leg of the call
// that its own SDP names: through a proxy that does not anchor media, every
// leg negotiates the same addresses and sees the same RTP. A stream that
// is the other end's own traffic is not this leg's (foreign): a PBX that
// re-INVITEs its phones to send straight to each other (direct media)
// names, on each leg, the far phone, to which its relay sent on the
// other leg before.
func (g *groupBuild) shareFlows() {
	if len(g.legs) < 2 {
		return
	}
	for _, cb := range g.legs {
		ips := cb.partyIPs()
		for _, o := range g.legs {
			if o == cb {
				continue
			}
			for _, bf := range o.flows {
				if cb.hasFlow(bf.flow) {
					continue
				}
				if bd, ok := cb.names(bf.flow); ok && !foreign(bf.flow, bd.sender, ips) {
					cb.flows = append(cb.flows, boundFlow{bf.flow, bd})
				} else if bd, ok := cb.loopedIn(bf.flow); ok {
					cb.flows = append(cb.flows, boundFlow{bf.flow, bd})
				}
			}
		}
	}
}

// loopedIn binds f to this leg when it is media that a party's NAT
// looped back in to it from a peer on the same LAN (hairpinning): it goes
// to the private address the party's RTP leaves from, and comes from the
// public address the party's own SDP named, its NAT's, which rewrote the
// peer's source. Neither SDP names such a flow, and the party's NAT
// address makes it look like the party's own traffic (foreign), so a
// leg through a proxy on that LAN would not see the peer's media at all.
func (cb *callBuild) loopedIn(f *rtpFlow) (binding, bool) {
	if !IsPrivate(f.Key.Dst.Addr()) || !isPublic(f.Key.Src.Addr()) {
		return binding{}, false
	}
	for _, x := range cb.flows {
		if x.flow.Key.Src != f.Key.Dst || x.flow.Key.RTCP != f.Key.RTCP {
			continue
		}
		p := x.bd.sender
		for _, ev := range cb.timeline() {
			if ev.Party != p {
				continue
			}
			for _, m := range ev.SDP.Media {
				if m.Addr.Addr() == f.Key.Src.Addr() {
					return binding{call: cb.call, dlg: cb.dlg, mIndex: x.bd.mIndex, sender: other(p)}, true
				}
			}
		}
	}
	return binding{}, false
}

// partyIPs are the IP addresses each end of the leg signals from or named
// in its SDP.
func (cb *callBuild) partyIPs() (ips [2][]netip.Addr) {
	add := func(p int, a netip.Addr) {
		if a.IsValid() && !slices.Contains(ips[p], a) {
			ips[p] = append(ips[p], a)
		}
	}
	add(caller, cb.call.CallerSig.Addr())
	add(callee, cb.dlg.CalleeSig.Addr())
	for _, ev := range cb.timeline() {
		for _, m := range ev.SDP.Media {
			if m.Addr.IsValid() && !isHoldAddress(m.Addr) {
				add(ev.Party, m.Addr.Addr())
			}
		}
	}
	return ips
}

// foreign says whether f, taken as sent by sender on a leg whose ends
// have the addresses ips (partyIPs), is really the traffic of the other
// end: it comes from an address only the receiver has, or goes to one
// only the sender has.
func foreign(f *rtpFlow, sender int, ips [2][]netip.Addr) bool {
	only := func(a netip.Addr, p int) bool {
		return slices.Contains(ips[p], a) && !slices.Contains(ips[other(p)], a)
	}
	return only(f.Key.Src.Addr(), other(sender)) || only(f.Key.Dst.Addr(), sender)
}

func (cb *callBuild) hasFlow(f *rtpFlow) bool {
	for _, bf := range cb.flows {
		if bf.flow == f {
			return true
		}
	}
	return false
}

// names binds f to this leg when the leg's SDP names its destination (the
// receiver's promise) or its source (symmetric RTP).
func (cb *callBuild) names(f *rtpFlow) (binding, bool) {
	var bySrc binding
	found := false
	for _, ev := range cb.timeline() {
		for i, m := range ev.SDP.Media {
			switch {
			case m.Addr == f.Key.Dst || (f.Key.RTCP && m.RTCP == f.Key.Dst):
				return binding{call: cb.call, dlg: cb.dlg, mIndex: bundledIndex(ev.SDP, i, f), sender: other(ev.Party), matched: true}, true
			case !found && (m.Addr == f.Key.Src || (f.Key.RTCP && m.RTCP == f.Key.Src)):
				bySrc, found = binding{call: cb.call, dlg: cb.dlg, mIndex: bundledIndex(ev.SDP, i, f), sender: ev.Party}, true
			}
			if typ, ok := m.candidateAt(f.Key.Dst, f.Key.RTCP); ok {
				return binding{call: cb.call, dlg: cb.dlg, mIndex: i, sender: other(ev.Party), matched: true, candidate: typ}, true
			}
			if _, ok := m.candidateAt(f.Key.Src, f.Key.RTCP); ok && !found {
				bySrc, found = binding{call: cb.call, dlg: cb.dlg, mIndex: i, sender: ev.Party}, true
			}
		}
	}
	return bySrc, found
}

// bundledIndex is, for a flow bound to m= line i of sd, the m= line it
// belongs to: of the lines on line i's address (BUNDLE), the one that
// lists the flow's payload type; i when that one does, or none does.
func bundledIndex(sd *sdpInfo, i int, f *rtpFlow) int {
	pt, ok := f.firstPT()
	if !ok || sd.Media[i].lists(pt) {
		return i
	}
	for j := range sd.Media {
		if j != i && sd.Media[j].Addr == sd.Media[i].Addr && sd.Media[j].lists(pt) {
			return j
		}
	}
	return i
}

// report builds the call: a call seen on one hop is its leg; a call with
// several legs takes its identity from the caller's leg, its callee from
// the leg that reached the callee, and its verdict and streams from the
// leg JudgeLegs picks, and lists every leg.
func (g *groupBuild) report(captureHasMedia bool, now time.Time) report.Call {
	if len(g.legs) == 1 {
		return g.legs[0].report(captureHasMedia, now)
	}
	calls := make([]report.Call, len(g.legs))
	outcomes := make([]LegOutcome, len(g.legs))
	g.shareRTCP()
	g.relayEvidence()
	g.noteFarEnds()
	stops, roles := make([][]stopNote, len(g.legs)), make([][2]string, len(g.legs))
	for i, cb := range g.legs {
		calls[i] = cb.report(captureHasMedia, now)
		outcomes[i] = LegOutcome{Verdict: calls[i].Verdict, Answered: cb.dlg.answered()}
		stops[i], roles[i] = cb.stops, cb.roles
	}
	dropRelayedStops(calls, stops, roles) // stopped.go
	g.dropPassedOnPrivateSDP(calls)
	g.dropRelayedUnacknowledged(calls)
	g.dropRelayedSilence(calls)
	return mergeLegs(calls, JudgeLegs(outcomes), g.calleeLeg())
}

// dropRelayedSilence leaves out the one-way finding of a leg whose
// intermediary sent no RTP on while, on the leg before it in that
// direction, the party's media never reached the intermediary: a relay
// (or B2BUA) with nothing to pass on. That leg's finding says where the
// media stopped; the later one would blame the intermediary's own host
// ("it sent no RTP: check its audio"), which only passed on silence. An
// intermediary that hands the media past itself relays nothing: its legs
// tell one stream alike (handsMediaPast). calls are the legs' reports, in
// g.legs' order.
func (g *groupBuild) dropRelayedSilence(calls []report.Call) {
	for j, cb := range g.legs {
		if cb.call.upstream == nil {
			continue
		}
		i := slices.IndexFunc(g.legs, func(o *callBuild) bool { return o.call == cb.call.upstream })
		if i < 0 || calls[i].Verdict != report.VerdictOneWay || calls[j].Verdict != report.VerdictOneWay || calls[i].CannotHear != calls[j].CannotHear {
			continue
		}
		// Toward the callee: it stopped at the intermediary on leg i, which
		// sent nothing on leg j; toward the caller, the other way round.
		silent, relay := j, caller
		if calls[i].CannotHear == partyNames[caller] {
			silent, relay = i, callee
		}
		if g.legs[silent].sentRTP(relay) || g.legs[i].passesMediaPast() || cb.passesMediaPast() {
			continue // it sent something, or the media goes past it
		}
		calls[silent].Findings = slices.DeleteFunc(calls[silent].Findings, func(f report.Finding) bool { return f.ID == report.IDOneWayAudio })
	}
}

// dropRelayedUnacknowledged leaves out, of two legs that tell the same
// 2xx never acknowledged, the one farther from the party that answered
// when the nearer leg shows the ACK passed on toward it: the proxy did its
// part, and the nearer leg shows where the ACK was lost (where it went,
// what came back). The two findings' titles are alike, and the merge would
// keep the first leg's. When the nearer leg holds no ACK, the farther one
// shows where it went instead, and both stay. calls are the legs'
// reports, in g.legs' order (from the caller's side).
func (g *groupBuild) dropRelayedUnacknowledged(calls []report.Call) {
	type answerKey struct {
		cseq   uint32
		toTag  string
		sender int
	}
	keys, acked := make([]*answerKey, len(g.legs)), make([]bool, len(g.legs))
	for i, cb := range g.legs {
		if cb.call.faults == nil {
			continue
		}
		if t := cb.call.faults.answers.unacknowledged(); t != nil {
			keys[i], acked[i] = &answerKey{t.cseq, t.toTag, t.sender}, t.ackFrame != 0
		}
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[i] == nil || keys[j] == nil || *keys[i] != *keys[j] {
				continue
			}
			farther, nearer := i, j // the callee answered: the later leg is nearer it
			if keys[i].sender == caller {
				farther, nearer = j, i
			}
			if acked[nearer] {
				calls[farther].Findings = slices.DeleteFunc(calls[farther].Findings, func(f report.Finding) bool { return f.ID == IDAnswerNotAcknowledged })
			}
		}
	}
}

// privateSDPNote is one private SDP address a leg's report found: named
// by a party of the call, or passed on by the intermediary at one end of
// the leg.
type privateSDPNote struct {
	addr     netip.AddrPort
	passedOn bool
}

// dropPassedOnPrivateSDP leaves out, on each leg, the finding that an
// intermediary passes on a private SDP address when another leg shows
// the party that named it: one leak, told once, where it starts. The
// party's own finding keeps the graver severity of the two (the leg
// that passed it on may be the one whose media failed). calls are the
// legs' reports, in g.legs' order.
func (g *groupBuild) dropPassedOnPrivateSDP(calls []report.Call) {
	for i, cb := range g.legs {
		for _, note := range cb.privateSDPs {
			if !note.passedOn {
				continue
			}
			own := g.ownPrivateSDPFinding(calls, i, note.addr)
			if own == nil {
				continue // the only trace of the leak in this capture
			}
			calls[i].Findings = slices.DeleteFunc(calls[i].Findings, func(f report.Finding) bool {
				if isPrivateSDPFinding(f, note.addr) {
					if f.Severity.Rank() < own.Severity.Rank() {
						own.Severity = f.Severity
					}
					return true
				}
				return false
			})
		}
	}
}

// ownPrivateSDPFinding is the sdp-private-address finding about addr
// that a party of the call, not an intermediary, has on a leg other than
// leg; nil when there is none.
func (g *groupBuild) ownPrivateSDPFinding(calls []report.Call, leg int, addr netip.AddrPort) *report.Finding {
	for j, o := range g.legs {
		if j == leg || !slices.Contains(o.privateSDPs, privateSDPNote{addr: addr}) {
			continue
		}
		for k := range calls[j].Findings {
			if f := &calls[j].Findings[k]; isPrivateSDPFinding(*f, addr) {
				return f
			}
		}
	}
	return nil
}

// isPrivateSDPFinding says whether f is the sdp-private-address finding
// about addr (privateSDPFinding names it first in its evidence).
func isPrivateSDPFinding(f report.Finding, addr netip.AddrPort) bool {
	return f.ID == IDSDPPrivateAddress && len(f.Evidence) > 0 && len(f.Evidence[0].Addrs) > 0 && f.Evidence[0].Addrs[0] == addr.String()
}

// noteFarEnds gives each leg the signalling addresses of the call's own
// caller and callee on the other legs (farEnds), those parties
// (farParties) and the media addresses their SDP named (farMedia).
func (g *groupBuild) noteFarEnds() {
	for _, cb := range g.legs {
		for _, o := range g.legs {
			if o == cb {
				continue
			}
			sigs := [2]netip.AddrPort{o.call.CallerSig, o.dlg.CalleeSig}
			parties := o.parties()
			for p, sig := range sigs {
				if o.roles[p] != "" {
					continue
				}
				if sig.IsValid() {
					cb.farEnds[p] = append(cb.farEnds[p], sig.Addr())
				}
				if cb.farParties[p].Role == "" {
					cb.farParties[p] = parties[p]
				}
			}
			for _, ev := range o.timeline() {
				for _, m := range ev.SDP.Media {
					if o.roles[ev.Party] == "" && m.Addr.IsValid() && !slices.Contains(cb.farMedia[ev.Party], m.Addr) {
						cb.farMedia[ev.Party] = append(cb.farMedia[ev.Party], m.Addr)
					}
				}
			}
		}
	}
}

// relayEvidence notes, on each leg a B2BUA joins to the next, the RTP
// the B2BUA sent on: media it sends its caller on the inbound leg came in
// from the outbound leg's callee, media it sends the outbound leg's callee
// came in from the inbound leg's caller. A B2BUA with an outside address
// the capture does not see the media of shows so that the media of that
// leg flowed (JudgeStream).
func (g *groupBuild) relayEvidence() {
	for _, out := range g.legs {
		if out.call.linkRole != roleB2BUA {
			continue
		}
		for _, in := range g.legs {
			if in.call == out.call.upstream {
				out.relayed[callee] += in.rtpSentBy(callee)
				in.relayed[caller] += out.rtpSentBy(caller)
			}
		}
	}
}

// rtpSentBy counts the RTP packets bound to this leg that party sent.
func (cb *callBuild) rtpSentBy(party int) uint64 {
	var n uint64
	for _, bf := range cb.flows {
		if !bf.flow.Key.RTCP && bf.bd.sender == party {
			n += bf.flow.Packets
		}
	}
	return n
}

// calleeLeg is the leg that reached the call's callee: the last answered
// leg no other leg continues, or the last leg.
func (g *groupBuild) calleeLeg() int {
	for i := len(g.legs) - 1; i >= 0; i-- {
		if cb := g.legs[i]; cb.dlg.answered() && cb.roles[callee] == "" {
			return i
		}
	}
	return len(g.legs) - 1
}

// mergeLegs makes one call of its legs' reports; k is the leg that decides
// the verdict, last the one that reached the callee.
func mergeLegs(legs []report.Call, k, last int) report.Call {
	rc := legs[0]
	rc.Callee = legs[last].Callee
	rc.Streams, rc.StreamsLeg = legs[k].Streams, k+1
	rc.Verdict, rc.CannotHear, rc.Explain, rc.NotAnswered = legs[k].Verdict, legs[k].CannotHear, legs[k].Explain, legs[k].NotAnswered
	if k > 0 {
		rc.Explain = "on the leg " + legLabel(legs[k]) + ": " + rc.Explain
	}
	if k > 0 && forkOf(legs[0], legs[k]) && !reportAnswered(legs[0]) {
		// The call's outcome is the fork that answered (JudgeLegs picks
		// a leg past the first only when it was answered), not the first
		// one tried (and cancelled, or turned down).
		rc.Status, rc.State, rc.Answer, rc.ToTag = legs[k].Status, legs[k].State, legs[k].Answer, legs[k].ToTag
	}
	rc.Findings, rc.Messages, rc.EarlyDialogs = nil, nil, nil
	seen := map[[2]string]bool{}
	for _, l := range legs {
		rc.Legs = append(rc.Legs, report.CallLeg{
			CallID: l.CallID, FromTag: l.FromTag, ToTag: l.ToTag, Caller: l.Caller, Callee: l.Callee,
			Status: l.Status, State: l.State, Streams: l.Streams,
			Verdict: l.Verdict, CannotHear: l.CannotHear, Explain: l.Explain, NotAnswered: l.NotAnswered,
		})
		if l.End.After(rc.End) {
			rc.End = l.End
		}
		for _, f := range l.Findings {
			if key := [2]string{string(f.ID), f.Title}; !seen[key] {
				seen[key] = true
				rc.Findings = append(rc.Findings, f)
			}
		}
		rc.Messages = append(rc.Messages, l.Messages...)
		rc.EarlyDialogs = append(rc.EarlyDialogs, l.EarlyDialogs...)
	}
	slices.SortStableFunc(rc.Messages, func(a, b report.SIPMessage) int { return int(int64(a.Frame) - int64(b.Frame)) })
	return rc
}

// forkOf says whether leg b is a fork of the INVITE of leg a: sent from
// the same place (a forking proxy whose own incoming leg the capture does
// not hold, or one that tries its destinations in turn), not onward from
// a's far end.
func forkOf(a, b report.Call) bool {
	return a.Caller.SignalAddr != "" && a.Caller.SignalAddr == b.Caller.SignalAddr
}

// reportAnswered: the leg's INVITE got a 2xx.
func reportAnswered(c report.Call) bool { return c.Status >= 200 && c.Status < 300 }

// legLabel names a leg by its two ends.
func legLabel(c report.Call) string {
	return partyLabel(c.Caller) + " → " + partyLabel(c.Callee)
}

// intermediary is the party a leg starts or ends at when that is a proxy
// or a B2BUA: named by its address, not by the user it relays for.
func intermediary(role string, sig netip.AddrPort) report.Party {
	p := report.Party{Role: role}
	if sig.IsValid() {
		p.Host, p.SignalAddr = sig.Addr().String(), sig.String()
	}
	return p
}

// shareRTCP gives each leg the RTCP of the call's other legs: a relay that
// anchors media passes the streams' SSRCs on, so the far party's report
// about a stream shows it crossed every hop (rtcp_report.go).
func (g *groupBuild) shareRTCP() {
	for _, cb := range g.legs {
		cb.farRTCP = cb.farRTCP[:0]
		for _, o := range g.legs {
			if o == cb {
				continue
			}
			for _, bf := range o.flows {
				if st := bf.flow.rtcp; bf.flow.Key.RTCP && st != nil && !cb.hasFlow(bf.flow) {
					cb.farRTCP = append(cb.farRTCP, st)
				}
			}
		}
	}
}

// passesMediaPast says whether the leg's intermediary hands the media
// past itself (handsMediaPast).
func (cb *callBuild) passesMediaPast() bool {
	_, past := cb.handsMediaPast()
	return past
}
