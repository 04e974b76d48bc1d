package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/natdoc/natdoc/report"
)

// An answer that is never acknowledged. The party that answers an INVITE
// with a 2xx resends it, T1 apart and doubling up to T2 (500 ms to 4 s),
// until the ACK arrives, and gives up after 64*T1 (32 s), ending the call
// with a BYE (RFC 3261 §13.3.1.4). The ACK goes to the 2xx's Contact (or
// its Record-Route): when that is a private address behind a NAT, or a
// NAT or firewall on the way drops it, the call is up for 32 s and then
// drops, the "calls end after 32 seconds" NAT fault. The capture shows it
// as the same 2xx sent again and again on one hop, with no ACK, or with
// an ACK sent elsewhere while the copies keep coming.

// answerTrack follows one INVITE transaction's 2xx on the hop its first
// copy took.
type answerTrack struct {
	cseq     uint32
	status   int
	sender   int // the party that answered
	toTag    string
	src, dst netip.AddrPort
	// contact is the 2xx's Contact when it names an IP address: where the
	// ACK is sent when no route set says otherwise.
	contact netip.AddrPort
	// asked is where the INVITE it answers was sent (the leg's first).
	asked invited
	// route is the first hop of the caller's route set the 2xx names
	// (sipExtras.RouteHop): where its ACK goes.
	route netip.AddrPort
	// via is the 2xx's top Via host as an address: the requester's own,
	// as it wrote it (NAT64 leaves an IPv6 phone's IPv6 address there).
	via                   netip.Addr
	sent                  int // copies on the hop
	firstAt, lastAt       time.Time
	firstFrame, lastFrame uint64
	// The first ACK of the transaction (ackFrame 0: none) and the copies
	// of the 2xx sent after it: an ACK that arrived stops them.
	ackFrame       uint64
	ackSrc, ackDst netip.AddrPort
	ackAt          time.Time
	afterAck       int
	// The first ACK of the transaction that carried another To-tag
	// (strayAckFrame 0: none): it acknowledges another dialog of the call
	// (a fork's, or one a second copy of the INVITE set up), and the
	// answering party cannot match it to this 2xx (RFC 3261 §13.2.2.4).
	strayAckFrame uint64
	strayAckTag   string
	strayAckAt    time.Time
	// fragmented: a copy went over UDP in IP fragments.
	fragmented bool
	// The requester's copies of the INVITE sent on the hop after the
	// first 2xx: a client that keeps resending got no response at all
	// (a provisional one ends its resends, RFC 3261 §17.1.1.2).
	invitesAfter                int
	invitesAfterFrom, invitesTo uint64
	invitesAfterAt              time.Time
	inviteSrc                   netip.AddrPort // where the first of them came from
}

// invited is where an INVITE was sent: its Request-URI as an address
// (invalid when a name) and the address it went to on the captured hop.
type invited struct {
	uri, dst netip.AddrPort
}

// answers follows the 2xx answers to a leg's INVITEs (the first, and
// re-INVITEs in either direction), one per INVITE transaction and dialog
// (To-tag): the one in progress, earlier ones still waiting for their ACK,
// and the first that was never acknowledged.
type answers struct {
	current answerTrack
	// unacked are earlier answers that another took the place of before
	// their ACK came (another fork's 2xx, a re-INVITE's), oldest first:
	// the last few, so a late ACK or copy still finds them.
	unacked []answerTrack
	lost    *answerTrack
	// ackedTags are the To-tags of the dialogs whose 2xx an ACK of the same
	// tag acknowledged (the first few).
	ackedTags []string
	// The leg's first BYE: who sent it and when (byeFrame 0: none).
	byeFrame uint64
	byeBy    int
	byeAt    time.Time
}

// Bounds of answers: a call has a dialog or two, and an INVITE a 2xx or
// two.
const (
	maxUnackedAnswers = 3
	maxAckedTags      = 4
)

// tracks calls f on each answer followed, oldest first, until f says
// stop.
func (a *answers) tracks(f func(t *answerTrack) (stop bool)) {
	for i := range a.unacked {
		if f(&a.unacked[i]) {
			return
		}
	}
	if a.current.sent > 0 {
		f(&a.current)
	}
}

// answer files a 2xx to an INVITE, sent by party from, to the INVITE
// asked.
func (a *answers) answer(m *sipInfo, at time.Time, from int, asked invited) {
	var known *answerTrack
	a.tracks(func(t *answerTrack) bool {
		if t.cseq == m.CSeq && t.sender == from && t.toTag == m.ToTag {
			known = t
		}
		return known != nil
	})
	if known != nil {
		// A copy on the first hop; the same 2xx passed on by a proxy on
		// the next hop is not.
		if t := known; m.Src == t.src && m.Dst == t.dst {
			t.sent++
			t.lastAt, t.lastFrame = at, m.Frame
			t.fragmented = t.fragmented || m.Fragmented
			if t.ackFrame != 0 {
				t.afterAck++
			}
		}
		return
	}
	a.retire()
	a.current = answerTrack{cseq: m.CSeq, status: m.Status, sender: from, toTag: m.ToTag, src: m.Src, dst: m.Dst, contact: m.ContactAddr, asked: asked, route: m.extras().RouteHop, via: m.viaIP, sent: 1,
		firstAt: at, lastAt: at, firstFrame: m.Frame, lastFrame: m.Frame, fragmented: m.Fragmented}
}

// retire makes room for a new answer in progress: the one it replaces
// stays followed while it waits for its ACK (another fork answered, or
// the server took a second copy of the INVITE for a second call, and
// each dialog needs its own ACK); an acknowledged one is settled.
func (a *answers) retire() {
	t := a.current
	switch {
	case t.sent == 0:
	case t.ackFrame != 0:
		a.settle(t)
	default:
		if len(a.unacked) == maxUnackedAnswers {
			a.settle(a.unacked[0])
			a.unacked = append(a.unacked[:0], a.unacked[1:]...)
		}
		a.unacked = append(a.unacked, t)
	}
}

// ack files an ACK sent by party from. Each party numbers its own
// requests (RFC 3261 §12.2.1.1): the ACK's CSeq is of the INVITE the
// other party answered, and its To-tag names the dialog, that is, which
// of that INVITE's 2xx answers it acknowledges. One with another tag is
// a stray on the answer still waiting, preferably one sent where the ACK
// came from.
func (a *answers) ack(m *sipInfo, at time.Time, from int) {
	var own, stray *answerTrack
	a.tracks(func(t *answerTrack) bool {
		if t.cseq != m.CSeq || t.sender == from {
			return false
		}
		if m.ToTag == "" || t.toTag == "" || m.ToTag == t.toTag {
			own = t
			return true
		}
		if t.ackFrame == 0 && (stray == nil || t.dst == m.Src) {
			stray = t
		}
		return false
	})
	switch {
	case own != nil:
		if own.ackFrame == 0 {
			own.ackFrame, own.ackSrc, own.ackDst, own.ackAt = m.Frame, m.Src, m.Dst, at
			if len(a.ackedTags) < maxAckedTags && !slices.Contains(a.ackedTags, own.toTag) {
				a.ackedTags = append(a.ackedTags, own.toTag)
			}
		}
	case stray != nil && stray.strayAckFrame == 0:
		stray.strayAckFrame, stray.strayAckTag, stray.strayAckAt = m.Frame, m.ToTag, at
	}
}

// invite files an INVITE sent by party from: a copy of one an answer
// waiting for its ACK answers, sent again to the answering hop, tells
// that no response reached its sender, wherever the responses went (a
// server that answers the Via's port rather than the source's, RFC 3581,
// misses a NAT's mapping).
func (a *answers) invite(m *sipInfo, at time.Time, from int) {
	a.tracks(func(t *answerTrack) bool {
		if t.cseq != m.CSeq || from == t.sender || t.ackFrame != 0 || m.Dst != t.src {
			return false
		}
		if t.invitesAfter == 0 {
			t.invitesAfterFrom, t.invitesAfterAt, t.inviteSrc = m.Frame, at, m.Src
		}
		t.invitesAfter++
		t.invitesTo = m.Frame
		return false
	})
}

// bye files a BYE sent by party from.
func (a *answers) bye(m *sipInfo, at time.Time, from int) {
	if a.byeFrame == 0 {
		a.byeFrame, a.byeBy, a.byeAt = m.Frame, from, at
	}
}

// settle keeps t, an answer no longer followed, when it was never
// acknowledged and none before it was kept.
func (a *answers) settle(t answerTrack) {
	if a.lost == nil && answerLost(t.facts(a)) {
		a.lost = &t
	}
}

// unacknowledged is the leg's first answer that was never acknowledged,
// if any.
func (a *answers) unacknowledged() *answerTrack {
	first := a.lost
	a.tracks(func(t *answerTrack) bool {
		if answerLost(t.facts(a)) && (first == nil || t.firstAt.Before(first.firstAt)) {
			first = t
		}
		return false
	})
	return first
}

// facts are the answer's facts for the verdict rules (AnswerProblem).
func (t *answerTrack) facts(a *answers) AnswerFacts {
	f := AnswerFacts{Sent: t.sent, Over: t.lastAt.Sub(t.firstAt), Acked: t.ackFrame != 0, AfterAck: t.afterAck,
		AckedOtherDialog: t.strayAck() && slices.Contains(a.ackedTags, t.strayAckTag)}
	if a.byeFrame != 0 && a.byeBy == t.sender && a.byeAt.After(t.firstAt) {
		f.HungUpAfter = a.byeAt.Sub(t.firstAt)
	}
	return f
}

func answerLost(f AnswerFacts) bool {
	id, _ := AnswerProblem(f)
	return id != ""
}

// answerFinding is the finding of the leg's first answer that was never
// acknowledged, if any, with its copies, its ACK, the Contact the ACK goes
// to and the BYE that ended the call as evidence.
func answerFinding(cb *callBuild) (report.Finding, bool) {
	if cb.call.faults == nil {
		return report.Finding{}, false
	}
	a := &cb.call.faults.answers
	t := a.unacknowledged()
	if t == nil {
		return report.Finding{}, false
	}
	facts := t.facts(a)
	id, sev := AnswerProblem(facts)
	who := partyNames[t.sender]
	answer := answerName(t.status)
	f := report.Finding{ID: id, Severity: sev, Subject: cb.call.CallID, Remedy: remedyUnacknowledged,
		Title: fmt.Sprintf("The %s's %s was sent %d times over %s and never acknowledged", who, answer, t.sent, roundWait(facts.Over))}
	if facts.AckedOtherDialog {
		// The ACK came, with the tag of the dialog the caller kept: not
		// the network's fault, and not the end of the call.
		f.Title += fmt.Sprintf(": the %s acknowledged it with the To-tag of another dialog of the call, which goes on; the %s drops this one after %s",
			partyNames[other(t.sender)], who, answerTimeout)
	} else if hungUpOnTimeout(facts.HungUpAfter) {
		f.Title += fmt.Sprintf(": the %s hung up %s after answering, as a phone does when no ACK comes (RFC 3261 §13.3.1.4)", who, roundWait(facts.HungUpAfter))
	} else {
		f.Title += fmt.Sprintf(": the %s ends such a call after %s (RFC 3261 §13.3.1.4)", who, answerTimeout)
	}
	if t.strayAck() {
		f.Remedy = remedyAckOtherDialog
		if !facts.AckedOtherDialog {
			f.Title += fmt.Sprintf("; the %s's ACK carried another To-tag", partyNames[other(t.sender)])
		}
	}
	f.Evidence = append(f.Evidence, report.Evidence{
		Text:   fmt.Sprintf("%s (INVITE, CSeq %d) %s → %s sent %d times", answer, t.cseq, t.src, t.dst, t.sent),
		Frames: uniqueFrames(t.firstFrame, t.lastFrame), Addrs: []string{t.src.String(), t.dst.String()}, Time: t.firstAt,
	})
	if t.requestResent() {
		// No ACK because no response arrived: the answer's way back, not
		// the ACK's way there, is what fails.
		asker := partyNames[other(t.sender)]
		f.Title += fmt.Sprintf(": the %s went on resending its INVITE (%d times after the %s), so no response reached it", asker, t.invitesAfter, answer)
		f.Remedy = remedyResponsesLost
		lost := fmt.Sprintf("the responses sent to %s did not arrive, or were discarded there", t.dst)
		if t.inviteSrc != t.dst {
			lost = fmt.Sprintf("it sends from %s, but the responses went to %s", t.inviteSrc, t.dst)
		}
		f.Evidence = append(f.Evidence, report.Evidence{
			Text: fmt.Sprintf("the %s resent its INVITE (CSeq %d) %d times after the first %s, as a client does while no response reaches it "+
				"(even a 100 Trying stops its resends): %s", asker, t.cseq, t.invitesAfter, answer, lost),
			Frames: uniqueFrames(t.invitesAfterFrom, t.invitesTo), Addrs: []string{t.inviteSrc.String(), t.dst.String()}, Time: t.invitesAfterAt,
		})
	} else if t.fragmented && t.ackFrame == 0 && !t.strayAck() {
		// Too big for one packet: lost whole wherever fragments are
		// dropped, every copy alike.
		f.Title += "; it went in IP fragments (too big for one packet), and no ACK came: " + fragmentsLoseIt
		f.Remedy = remedyFragmentsLost
	}
	f.Evidence = append(f.Evidence, t.ackEvidence(answer))
	if ev, ok := t.contactEvidence(); ok {
		f.Evidence = append(f.Evidence, ev)
	}
	if ev, remedy, ok := t.contactPortEvidence(who, cb.regs); ok && !t.strayAck() {
		f.Evidence = append(f.Evidence, ev)
		f.Remedy = remedy
	}
	if ev, ok := cb.staleContactEvidence(t, who); ok && !t.strayAck() {
		f.Evidence = append(f.Evidence, ev)
		f.Remedy = remedyStaleExternalAddress
	}
	if ev, ok := t.familyEvidence(); ok && t.ackFrame == 0 && !t.strayAck() && !t.requestResent() {
		f.Evidence = append(f.Evidence, ev)
		f.Remedy = remedySIPAddressFamily
	}
	if ev, ok := t.routeEvidence(partyNames[other(t.sender)]); ok && !t.strayAck() {
		f.Evidence = append(f.Evidence, ev)
		f.Remedy = remedyRecordRoutePrivate
	}
	if t.ackFrame != 0 {
		f.Evidence = appendUnreachable(f.Evidence, cb.unreach.about(t.ackSrc, t.ackDst), t.ackDst)
	}
	if client, tries := cb.unreach.connects().failedTo(t.contact, t.firstAt, t.lastAt.Add(time.Second)); tries != nil {
		// Over TCP the ACK never left the proxy passing it on: no
		// connection to the Contact would open (tcpconnect.go).
		f.Evidence = append(f.Evidence, tries.evidence(client, t.contact, "(the answer's Contact) to pass the ACK on"))
	}
	if facts.HungUpAfter > 0 {
		f.Evidence = append(f.Evidence, report.Evidence{
			Text:   fmt.Sprintf("BYE from the %s %s after the first %s", who, roundWait(facts.HungUpAfter), answer),
			Frames: []uint64{a.byeFrame}, Time: a.byeAt,
		})
	}
	return f, true
}

// gaveUpOnAck says whether party's media stopping at stop is it ending
// the call because its answer was never acknowledged: the stop came when
// an answering party gives up on its ACK (hungUpOnTimeout).
func gaveUpOnAck(cb *callBuild, party int, stop time.Time) bool {
	if cb.call.faults == nil {
		return false
	}
	a := &cb.call.faults.answers
	t := a.unacknowledged()
	return t != nil && t.sender == party && !t.facts(a).AckedOtherDialog && hungUpOnTimeout(stop.Sub(t.firstAt))
}

// requestResent says whether the INVITE's sender went on resending it
// after the 2xx, with no ACK: no response reached it.
func (t *answerTrack) requestResent() bool {
	return t.ackFrame == 0 && !t.strayAck() && t.invitesAfter >= resentPastResponse
}

// strayAck says whether the only ACK of the transaction carried another
// dialog's To-tag: the 2xx reached the caller, whose ACK cannot be matched.
func (t *answerTrack) strayAck() bool {
	return t.ackFrame == 0 && t.strayAckFrame != 0
}

// hungUpOnTimeout says whether a BYE this long after the answer is the
// answering party giving up on its ACK (64*T1, give or take its timers).
func hungUpOnTimeout(after time.Duration) bool {
	return after >= answerTimeout-4*time.Second && after <= answerTimeout+8*time.Second
}

// ackEvidence says what became of the ACK.
func (t *answerTrack) ackEvidence(answer string) report.Evidence {
	if t.strayAck() {
		return report.Evidence{
			Text: fmt.Sprintf("the ACK of CSeq %d carries To-tag %s, not this %s's %s: it belongs to another dialog, so the party that answered "+
				"cannot match it to its %s (RFC 3261 §13.2.2.4: each 2xx is acknowledged in the dialog it set up)", t.cseq, t.strayAckTag, answer, t.toTag, answer),
			Frames: []uint64{t.strayAckFrame}, Time: t.strayAckAt,
		}
	}
	if t.ackFrame == 0 {
		return report.Evidence{Text: fmt.Sprintf("no ACK of CSeq %d in the capture", t.cseq)}
	}
	text := fmt.Sprintf("ACK sent to %s, yet the %s came %d more times: the ACK never reached %s", t.ackDst, answer, t.afterAck, t.src.Addr())
	switch {
	case t.ackDst.Addr() == t.src.Addr() && t.ackDst.Port() != t.src.Port():
		text = fmt.Sprintf("ACK sent to %s, not to %s where the %s came from, yet the %s came %d more times: the ACK never reached the party that answered",
			t.ackDst, t.src, answer, answer, t.afterAck)
	case t.ackDst.Addr() == t.src.Addr():
		// The ACK went back the way the 2xx came: lost on that hop, or,
		// when that hop's sender is a proxy passing on the answering
		// party's copies, beyond it.
		text = fmt.Sprintf("ACK sent to %s, where the %s came from, yet the %s came %d more times: the ACK never reached the party that answered "+
			"(lost on the way, or beyond %s if it is a proxy)", t.ackDst, answer, answer, t.afterAck, t.src.Addr())
	}
	return report.Evidence{Text: text, Frames: []uint64{t.ackFrame}, Addrs: []string{t.ackDst.String()}, Time: t.ackAt}
}

// familyEvidence names where the ACK must go, the first hop of the
// route set or else the Contact, when it is of the other address family
// than the requester's SIP (its Via): an IPv6-only phone behind NAT64
// given IPv4 addresses (Kamailio Record-Routing its IPv4 socket, a
// callee's IPv4 Contact) has no way to send its ACK.
func (t *answerTrack) familyEvidence() (report.Evidence, bool) {
	to, what := t.route, "the first hop of its route set, the answer's Record-Route"
	if !to.IsValid() {
		to, what = t.contact, "the answer's Contact"
	}
	own := t.via
	if !own.IsValid() {
		own = t.dst.Addr()
	}
	if !to.IsValid() || !own.IsValid() || sameFamily(to.Addr(), own) {
		return report.Evidence{}, false
	}
	only := fmt.Sprintf("a SIP client with %s alone cannot send there", familyName(own))
	if own.Is6() {
		only += " (behind NAT64, unless it makes an IPv6 address of it with the NAT64 prefix, RFC 7050)"
	}
	return report.Evidence{
		Text: fmt.Sprintf("the %s's ACK must go to %s, %s, an %s address, while its own SIP is %s (its Via names %s): %s",
			partyNames[other(t.sender)], to, what, familyName(to.Addr()), familyName(own), own, only),
		Frames: []uint64{t.firstFrame}, Addrs: []string{to.String(), own.String()},
	}, true
}

// contactEvidence names the answer's private Contact, where the ACK goes,
// when the answer crossed into a public network.
func (t *answerTrack) contactEvidence() (report.Evidence, bool) {
	c := t.contact
	if !c.IsValid() || !IsPrivate(c.Addr()) || (!isPublic(t.src.Addr()) && !isPublic(t.dst.Addr())) {
		return report.Evidence{}, false
	}
	text := fmt.Sprintf("the answer's Contact is the private address %s, where the ACK is sent: nothing outside that network can reach it", c)
	if t.ackFrame != 0 && t.ackDst == c {
		text = fmt.Sprintf("the answer's Contact is the private address %s, and the ACK went there: nothing outside that network can reach it", c)
	}
	return report.Evidence{Text: text, Frames: []uint64{t.firstFrame}, Addrs: []string{c.String()}}, true
}

// routeEvidence names the private first hop of the caller's route set
// when the answer went to a public address: a proxy behind NAT that
// Record-Routes its own address sends the caller's ACK there, which
// nothing outside that network can reach. (A proxy's private entry in an
// answer to a caller on its own network is its route there.)
func (t *answerTrack) routeEvidence(caller string) (report.Evidence, bool) {
	r := t.route
	if !r.IsValid() || !IsPrivate(r.Addr()) || !t.asked.dst.IsValid() || !isPublic(t.dst.Addr()) {
		return report.Evidence{}, false
	}
	went := "goes"
	if t.ackFrame != 0 && t.ackDst == r {
		went = "went"
	}
	return report.Evidence{
		Text: fmt.Sprintf("the answer's Record-Route names the private address %s, where the %s's ACK %s (the first hop of its route set, "+
			"RFC 3261 §12.1.2): a proxy behind NAT that writes its own address, not its public one; nothing outside its network can reach it", r, caller, went),
		Frames: []uint64{t.firstFrame}, Addrs: []string{r.String()},
	}, true
}

// contactPortEvidence names the answer's public Contact when the INVITE
// reached the answering party at another port of that address (its
// Request-URI, or where it was sent): a server behind a router that
// forwards another outside port to its own writes its own port, and the
// ACK sent there finds no forward; or a phone reached at the NAT mapping
// it registered from writes its own port, which its NAT does not map. It
// returns the remedy that fits.
func (t *answerTrack) contactPortEvidence(who string, regs *registrations) (report.Evidence, string, bool) {
	c := t.contact
	if !c.IsValid() || !isPublic(c.Addr()) {
		return report.Evidence{}, "", false
	}
	reached, how := t.asked.uri, "its Request-URI"
	if reached.Addr() != c.Addr() || reached.Port() == c.Port() {
		reached, how = t.asked.dst, "where it was sent"
	}
	if reached.Addr() != c.Addr() || reached.Port() == c.Port() {
		return report.Evidence{}, "", false
	}
	text := fmt.Sprintf("the answer's Contact is %s, where the ACK is sent, but the INVITE reached the %s at %s (%s)", c, who, reached, how)
	remedy := remedyContactPortNotForwarded
	switch dst := t.asked.dst; {
	case IsPrivate(dst.Addr()) && dst.Port() == c.Port():
		text += fmt.Sprintf(", forwarded to it at %s: the %s wrote its own port, not the outside port a router forwards to it, and nothing forwards %d",
			dst, who, c.Port())
	case reached == dst && regs.registeredFrom(dst) != nil:
		// Not a forward: the NAT's mapping the party registered from,
		// which the registrar sends its calls to.
		text += fmt.Sprintf(", the NAT mapping its REGISTER came from: the %s wrote its own port, %d, which its NAT does not map to it", who, c.Port())
		remedy = remedyContactPortMoved
	default:
		text += fmt.Sprintf(": a server behind a router that forwards outside port %d to another port of its own writes its own port, %d, "+
			"where nothing is forwarded", reached.Port(), c.Port())
	}
	return report.Evidence{Text: text, Frames: []uint64{t.firstFrame}, Addrs: []string{c.String(), reached.String()}}, remedy, true
}

// staleContactEvidence names the answer's public Contact when the ACK
// went to its address, another than the answer and the answering party's
// media come from (and none of its media from the Contact's): the address
// it names is not its own, an external address set by hand that is stale
// or wrong. A capture of signalling alone shows it when the answering
// party's SDP names the Contact's address too, as an external address
// setting writes both, and the answer kept coming after the ACK.
func (cb *callBuild) staleContactEvidence(t *answerTrack, who string) (report.Evidence, bool) {
	c := t.contact
	if !c.IsValid() || !isPublic(c.Addr()) || c.Addr() == t.src.Addr() || t.ackFrame == 0 || t.ackDst.Addr() != c.Addr() {
		return report.Evidence{}, false
	}
	var text string
	switch {
	case cb.signallingOnly && t.afterAck > 0 && cb.sdpNames(t.sender, c.Addr()):
		text = fmt.Sprintf("the answer's Contact is %s, where the ACK went, and its SDP names %s too, while the %s came from %s: the address it names "+
			"is not where its SIP comes from (%s; the capture holds no media to show where the %s's comes from)", c, c.Addr(), answerName(t.status), t.src.Addr(), staleAddressWhy, who)
	case cb.sendsFrom(t.sender, t.src.Addr()) && !cb.sendsFrom(t.sender, c.Addr()):
		text = fmt.Sprintf("the answer's Contact is %s, where the ACK went, while the %s and the %s's media come from %s: the address it names is not its own (%s)",
			c, answerName(t.status), who, t.src.Addr(), staleAddressWhy)
	default:
		return report.Evidence{}, false
	}
	return report.Evidence{Text: text, Frames: []uint64{t.firstFrame}, Addrs: []string{c.String(), t.src.String()}}, true
}

// answerName names a 2xx as engineers do: "200 OK" whatever its reason
// phrase says (baresip writes "200 Answering"), others by their code.
func answerName(status int) string {
	if status == 200 {
		return "200 OK"
	}
	return strconv.Itoa(status)
}

// unseenAnswerFinding tells that the leg was answered by a 2xx the capture
// does not hold (sipCall.inferAnswer): the call is judged answered, and its
// streams by the offer alone, as that answer's SDP is missing too.
func unseenAnswerFinding(cb *callBuild) (report.Finding, bool) {
	u := cb.call.setup.unseenAnswer
	if !cb.dlg.answerUnseen || u == nil || u.proofFrame == 0 {
		return report.Finding{}, false
	}
	f := report.Finding{ID: IDAnswerNotCaptured, Severity: report.SeverityInfo, Subject: cb.call.CallID,
		Title: "The callee's 2xx answer is not in the capture, yet the call was answered: only an answer explains what the capture holds. " +
			"Its SDP answer is missing with it: the streams are judged by the offer and the RTP"}
	if u.ackFrame != 0 {
		f.Evidence = append(f.Evidence, report.Evidence{
			Text:   fmt.Sprintf("the caller's ACK (CSeq %d, To-tag %s), while no final response is in the capture", cb.call.setup.cseq, u.tag),
			Frames: []uint64{u.ackFrame}, Time: u.ackAt})
	}
	f.Evidence = append(f.Evidence, report.Evidence{Text: u.proof, Frames: []uint64{u.proofFrame}})
	return f, true
}
