package capture

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// In-dialog requests nobody answers. A BYE, re-INVITE or UPDATE sent to a
// party behind NAT goes to the public address its NAT mapped its SIP to.
// When the party sent no SIP for longer than the NAT keeps an idle UDP
// mapping (its media keeps only the media's mapping alive), the mapping
// is gone and the request is dropped: resent on Timer E (T1 doubling to
// T2) for 32 s without any response. A lost BYE leaves the other side in
// the call; a lost session refresh drops it. Requests from a public
// address to a private one are reported by privateRequests (requests.go).

// natShortUDPTimeout is the shortest idle UDP timeout NATs commonly use
// (30 s; Linux conntrack keeps 120 s once replies flowed, natUDPTimeout).
const natShortUDPTimeout = 30 * time.Second

// inDialogTrack follows one in-dialog request on the hop its first copy
// took.
type inDialogTrack struct {
	method                string
	cseq                  uint32
	sender                int
	src, dst              netip.AddrPort
	sent                  int
	firstAt, lastAt       time.Time
	firstFrame, lastFrame uint64
	// responded: a response came (a provisional one stops the resending);
	// answered: a final one other than 408 or 481; timedOut: a proxy's
	// 408, the next hop silent; unknown: a 481, the dialog gone there.
	responded, answered, timedOut, unknown bool
	timeoutFrame                           uint64
	// idle is how long before its first copy the receiving party last
	// sent SIP in this leg (0: it sent none).
	idle time.Duration
	// fragmented: a copy went over UDP in IP fragments.
	fragmented bool
	// arrived: the receiver's own SIP in this call came from the private
	// address the request went to, so the capture is on its side of its
	// NAT and saw the request arrive there (a capture on the phone).
	arrived bool
	// answer follows the receiver's final responses on this hop and the
	// copies sent after the first (nil: none came).
	answer *hopAnswer
}

// hopAnswer is the receiver's final answer to an in-dialog request on the
// hop the request took, and the copies of the request sent after it: a
// client resends a non-INVITE request only while no final response
// reaches it (Timer E, RFC 3261 §17.1.2.2).
type hopAnswer struct {
	status int
	frame  uint64
	at     time.Time
	dst    netip.AddrPort
	// sent counts the receiver's final responses (one per copy it
	// received, RFC 3261 §17.2.2); resent the request's copies after the
	// first, resentFrom and resentTo their first and last frames.
	sent                 int
	resent               int
	resentFrom, resentTo uint64
	resentUntil          time.Time
}

// inDialog follows a leg's in-dialog requests: the one in progress, the
// first nobody answered, the last few answered (a server may resend an
// older request between newer ones), and the first whose answers did not
// reach its sender.
type inDialog struct {
	current     inDialogTrack
	lost        *inDialogTrack
	answered    []*inDialogTrack
	answersLost *inDialogTrack
}

// answeredKept is how many answered requests a leg remembers for their
// late copies: a server resending one INFO while it sends the next few
// (DTMF) interleaves about this many.
const answeredKept = 8

// isInDialog says whether m is a request inside a dialog that its
// receiver answers (RFC 3261 §12.2: it carries the To-tag; ACK gets no
// response, CANCEL is answered hop by hop).
func isInDialog(m *sipInfo) bool {
	return m.Request && m.ToTag != "" && m.Method != "ACK" && m.Method != "CANCEL"
}

// request files an in-dialog request sent by party from; lastFromNs are
// the parties' last SIP times in the leg before it (Unix ns, 0: none);
// arrived says the capture saw it reach its receiver (inDialogTrack).
func (d *inDialog) request(m *sipInfo, at time.Time, from int, lastFromNs [2]int64, arrived bool) {
	t := &d.current
	if t.sent > 0 && t.cseq == m.CSeq && t.method == m.Method && t.sender == from {
		if m.Src == t.src && m.Dst == t.dst { // a retransmission
			t.sent++
			t.lastAt, t.lastFrame = at, m.Frame
			t.fragmented = t.fragmented || m.Fragmented
			t.resentAfterAnswer(m, at)
		}
		return
	}
	if old := d.answeredCopy(m, from); old != nil {
		old.sent++
		old.lastAt, old.lastFrame = at, m.Frame
		old.resentAfterAnswer(m, at)
		d.noteAnswersLost(old)
		return
	}
	d.settle()
	*t = inDialogTrack{method: m.Method, cseq: m.CSeq, sender: from, src: m.Src, dst: m.Dst, sent: 1,
		firstAt: at, lastAt: at, firstFrame: m.Frame, lastFrame: m.Frame, fragmented: m.Fragmented, arrived: arrived}
	if last := lastFromNs[other(from)]; last != 0 {
		t.idle = at.Sub(time.Unix(0, last))
	}
}

// response files a response to an in-dialog request, sent by party from:
// each party numbers its own requests, so only the other party's response
// answers the request in progress.
func (d *inDialog) response(m *sipInfo, at time.Time, from int) {
	t := &d.current
	if t.sent == 0 || t.cseq != m.CSeq || t.method != m.Method || from == t.sender {
		if old := d.answeredCopy(m, other(from)); old != nil && m.Status >= 200 {
			old.answeredOnHop(m, at)
		}
		return
	}
	t.responded = true
	switch {
	case m.Status == 408:
		t.timedOut, t.timeoutFrame = true, m.Frame
	case m.Status == 481:
		t.unknown, t.timeoutFrame = true, m.Frame
	case m.Status >= 200:
		t.answered = true
	}
	if m.Status >= 200 {
		t.answeredOnHop(m, at)
	}
}

// answeredOnHop notes a final response from the request's receiver on
// the hop it took (a proxy's answer on the next hop is not one).
func (t *inDialogTrack) answeredOnHop(m *sipInfo, at time.Time) {
	if m.Src.Addr() != t.dst.Addr() {
		return
	}
	if t.answer == nil {
		t.answer = &hopAnswer{status: m.Status, frame: m.Frame, at: at, dst: m.Dst}
	}
	t.answer.sent++
}

// resentAfterAnswer counts copy m, sent at at, when the request had been
// answered on its hop before it.
func (t *inDialogTrack) resentAfterAnswer(m *sipInfo, at time.Time) {
	a := t.answer
	if a == nil {
		return
	}
	if a.resent == 0 {
		a.resentFrom = m.Frame
	}
	a.resent++
	a.resentTo, a.resentUntil = m.Frame, at
}

// answeredCopy is the answered request that m, sent by party from, is a
// copy of (a request) or answers (a response), on the same hop; nil when
// none is remembered.
func (d *inDialog) answeredCopy(m *sipInfo, from int) *inDialogTrack {
	for _, t := range d.answered {
		if t.cseq == m.CSeq && t.method == m.Method && t.sender == from &&
			(m.Request && m.Src == t.src && m.Dst == t.dst || !m.Request && m.Src.Addr() == t.dst.Addr()) {
			return t
		}
	}
	return nil
}

// settle keeps the request in progress when nobody answered it and none
// before it was kept, or when it was answered, before a new one replaces
// it.
func (d *inDialog) settle() {
	if d.currentFirstLost() {
		lost := d.current
		d.lost = &lost
	}
	if t := &d.current; t.answer != nil && t.method != "INVITE" {
		kept := *t
		if len(d.answered) == answeredKept {
			copy(d.answered, d.answered[1:])
			d.answered = d.answered[:answeredKept-1]
		}
		d.answered = append(d.answered, &kept)
		d.noteAnswersLost(&kept)
	}
}

// noteAnswersLost keeps t as the leg's first request whose answers did
// not reach its sender, when it is.
func (d *inDialog) noteAnswersLost(t *inDialogTrack) {
	if d.answersLost == nil && t.answersLost() {
		d.answersLost = t
	}
}

// answersLost says whether the request went on being resent after its
// receiver answered it: no answer reached its sender. An INVITE's 2xx
// has its own tracker (answers), which sees its resends.
func (t *inDialogTrack) answersLost() bool {
	return t.method != "INVITE" && t.answer != nil && t.answer.resent >= resentPastResponse
}

// firstAnswersLost is the leg's first in-dialog request whose answers
// did not reach its sender, if any.
func (d *inDialog) firstAnswersLost() *inDialogTrack {
	if d.answersLost == nil && d.current.answersLost() {
		return &d.current
	}
	return d.answersLost
}

// unanswered is the leg's first in-dialog request nobody answered.
func (d *inDialog) unanswered() *inDialogTrack {
	if d.currentFirstLost() {
		return &d.current
	}
	return d.lost
}

// currentFirstLost says whether the request in progress is the leg's
// first nobody answered.
func (d *inDialog) currentFirstLost() bool {
	return d.lost == nil && d.current.sent > 0 && inDialogLost(d.current.facts())
}

func (t *inDialogTrack) facts() InDialogFacts {
	return InDialogFacts{Method: t.method, Sent: t.sent, Over: t.lastAt.Sub(t.firstAt), Responded: t.responded, Answered: t.answered, TimedOut: t.timedOut,
		PublicToPrivate: isPublic(t.src.Addr()) && IsPrivate(t.dst.Addr()) && !t.arrived, Unknown: t.unknown}
}

func inDialogLost(f InDialogFacts) bool {
	id, _ := InDialogProblem(f)
	return id != ""
}

// inDialogFinding is the finding of the leg's first in-dialog request
// nobody answered, if any: its copies, and how long the receiver had been
// silent, which says whether its NAT's mapping may have expired.
func inDialogFinding(cb *callBuild, sigs [2]netip.AddrPort) (report.Finding, bool) {
	if cb.call.faults == nil {
		return report.Finding{}, false
	}
	t := cb.call.faults.inDialog.unanswered()
	if t == nil {
		return report.Finding{}, false
	}
	id, sev := InDialogProblem(t.facts())
	if id == IDDialogUnknown {
		// A BYE of the receiver's that crossed the request ended the call
		// there first: its 481 is the crossing, not a lost call.
		if bye := cb.call.byeNs[other(t.sender)]; bye != 0 && bye <= t.firstAt.Add(time.Second).UnixNano() {
			return report.Finding{}, false
		}
		return unknownDialogFinding(cb, t, sev), true
	}
	who, to := partyNames[t.sender], partyNames[other(t.sender)]
	f := report.Finding{ID: id, Severity: sev, Subject: cb.call.CallID, Remedy: remedyUnanswered,
		Title: fmt.Sprintf("The %s's %s to the %s at %s was sent %d times over %s and never answered%s",
			who, t.method, to, t.dst, t.sent, roundWait(t.lastAt.Sub(t.firstAt)), inDialogConsequence(t.method, to))}
	if t.timedOut {
		f.Title = fmt.Sprintf("The %s's %s to the %s timed out: a proxy answered 408, the %s never did%s",
			who, t.method, to, to, inDialogConsequence(t.method, to))
	}
	f.Evidence = []report.Evidence{t.copiesEvidence()}
	f.Evidence = appendUnreachable(f.Evidence, cb.unreach.about(t.src, t.dst), t.dst)
	if peer := sigs[t.sender]; !t.responded && peer.IsValid() && t.src.Addr() != peer.Addr() && cb.behindNAT(other(t.sender)) {
		// Sent from another node than the one the receiver talks to in
		// this call: its NAT lets in only what comes from there.
		f.Title += fmt.Sprintf("; it came from %s, but the %s's SIP in this call goes to %s: %s", t.src.Addr(), to, peer.Addr(), addressFilter)
		f.Remedy = remedySendFromDialogPeer
	}
	if a := &cb.call.faults.answers.current; a.sent > 0 && a.sender == other(t.sender) {
		// Sent over TCP toward the Contact of the party that answered:
		// the proxy between could open no connection there.
		if client, tries := cb.unreach.connects().failedTo(a.contact, t.firstAt, t.lastAt.Add(time.Second)); tries != nil {
			f.Evidence = append(f.Evidence, tries.evidence(client, a.contact, "(the "+to+"'s Contact) to pass the "+t.method+" on"))
		}
	}
	if from, ok := cb.staleContact(other(t.sender), t.dst); ok && !t.responded {
		comes := "its SIP and media come"
		if cb.signallingOnly {
			comes = "its SIP comes" // the capture holds no media
		}
		f.Title += fmt.Sprintf("; it went to the %s's Contact, an address its SDP names too, while %s from %s: "+
			"the address it names is not its own (%s)", to, comes, from.Addr(), staleAddressWhy)
		f.Remedy = remedyStaleExternalAddress
	}
	if from, ok := cb.contactPortMoved(other(t.sender), t.dst); ok && !t.responded {
		f.Title += fmt.Sprintf("; it went to the %s's Contact, but the %s's SIP came from %s: its NAT gave it another port than its Contact names, "+
			"and nothing at port %d leads to it unless its router forwards that port", to, to, from, t.dst.Port())
		f.Remedy = remedyContactPortMoved
	}
	if t.idle >= natShortUDPTimeout && isPublic(t.dst.Addr()) {
		text := fmt.Sprintf("the %s had sent no SIP in this call for %s before it: longer than many NATs and stateful firewalls keep an idle UDP mapping open",
			to, roundWait(t.idle))
		if cb.behindNAT(other(t.sender)) {
			text += "; the signalling shows it behind NAT, so its NAT likely dropped the request"
		}
		f.Evidence = append(f.Evidence, report.Evidence{Text: text})
		f.Remedy = remedyKeepAlive
	}
	if t.fragmented && !t.responded {
		// Too big for one packet (a re-INVITE adding video): lost whole
		// wherever fragments are dropped, while the call's small
		// requests pass. More telling than an idle mapping.
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf(
			"the %s went in IP fragments (too big for one packet): %s", t.method, fragmentsLoseIt)})
		f.Remedy = remedyFragmentsLost
	}
	return f, true
}

// contactPortMoved says whether dst, where a request to party p went, is
// p's Contact in the call (its INVITE's, or its 2xx's), a public address
// its own SIP came from over UDP, but from another port, returned: a phone
// that knows its public address (STUN, a set external address) but not
// the port its NAT maps its SIP to.
func (cb *callBuild) contactPortMoved(p int, dst netip.AddrPort) (netip.AddrPort, bool) {
	contact, from, ok := cb.contactOf(p)
	if !ok || cb.call.Transport != "UDP" || dst != contact || !isPublic(dst.Addr()) || from.Addr() != dst.Addr() || from.Port() == dst.Port() {
		return netip.AddrPort{}, false
	}
	return from, true
}

// contactOf is party p's Contact in the call and where the message that
// carried it came from: the INVITE's for the caller, its 2xx's for the
// callee.
func (cb *callBuild) contactOf(p int) (contact, from netip.AddrPort, ok bool) {
	c := cb.call
	if p == caller {
		return c.setup.contact, c.setup.src, c.setup.sent > 0
	}
	if c.faults == nil {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	a := &c.faults.answers.current
	if a.sent == 0 || a.sender != callee {
		return netip.AddrPort{}, netip.AddrPort{}, false
	}
	return a.contact, a.src, true
}

// staleContact says whether dst, where a request to party p went, is p's
// Contact in the call, a public address its SIP did not come from (from,
// returned), that its SDP names too, while its media comes from where its
// SIP does and none from dst (in a capture with media): an external
// address set by hand, stale or wrong.
func (cb *callBuild) staleContact(p int, dst netip.AddrPort) (netip.AddrPort, bool) {
	contact, from, ok := cb.contactOf(p)
	if !ok || dst != contact || !isPublic(dst.Addr()) || from.Addr() == dst.Addr() || !cb.sdpNames(p, dst.Addr()) ||
		(!cb.signallingOnly && (!cb.sendsFrom(p, from.Addr()) || cb.sendsFrom(p, dst.Addr()))) {
		return netip.AddrPort{}, false
	}
	return from, true
}

// sdpNames says whether an SDP of party p names addr for its media.
func (cb *callBuild) sdpNames(p int, addr netip.Addr) bool {
	for _, ev := range cb.timeline() {
		if ev.Party != p {
			continue
		}
		for _, m := range ev.SDP.Media {
			if m.Addr.Addr() == addr {
				return true
			}
		}
	}
	return false
}

// answersLostFinding is the finding of the leg's first in-dialog request
// whose receiver answered it while its sender went on resending it, if
// any: the sip-responses-lost class, inside a call.
func answersLostFinding(cb *callBuild) (report.Finding, bool) {
	if cb.call.faults == nil {
		return report.Finding{}, false
	}
	t := cb.call.faults.inDialog.firstAnswersLost()
	if t == nil {
		return report.Finding{}, false
	}
	a := t.answer
	who, to := partyNames[t.sender], partyNames[other(t.sender)]
	f := report.Finding{ID: IDResponsesLost, Severity: AnswersLostSeverity(t.method), Subject: cb.call.CallID, Remedy: remedyInDialogResponsesLost,
		Title: fmt.Sprintf("The %s answered the %s's %s, but the %s went on resending it (%d times over %s after the answer), so no answer reached it%s",
			to, who, t.method, who, a.resent, roundWait(a.resentUntil.Sub(a.at)), answersLostConsequence(t.method))}
	where := fmt.Sprintf("the %s answered %d, sent to %s", to, a.status, a.dst)
	if a.dst != t.src {
		where += fmt.Sprintf(", not to %s where the request came from", t.src)
	}
	if a.sent < t.sent {
		// A server transaction answers each copy again with its last
		// response (RFC 3261 §17.2.2): answers missing are the
		// receiver's, not the network's.
		where += fmt.Sprintf("; it answered %d of the %d copies, though a receiver answers each copy again (RFC 3261 §17.2.2), "+
			"so that one answer lost is made good", a.sent, t.sent)
	}
	f.Evidence = []report.Evidence{
		{Text: fmt.Sprintf("%s (CSeq %d) %s → %s", t.method, t.cseq, t.src, t.dst), Frames: []uint64{t.firstFrame}, Addrs: []string{t.dst.String()}, Time: t.firstAt},
		{Text: where, Frames: []uint64{a.frame}, Addrs: []string{a.dst.String()}, Time: a.at},
		{Text: fmt.Sprintf("the %s sent it %d more times after the answer, as a client does while no final response reaches it (RFC 3261 §17.1.2.2)", who, a.resent),
			Frames: uniqueFrames(a.resentFrom, a.resentTo), Time: a.resentUntil},
	}
	return f, true
}

// answersLostConsequence says what a request whose answers never reach
// its sender leads to.
func answersLostConsequence(method string) string {
	switch method {
	case "BYE":
		return "; the call ended all the same"
	case "UPDATE":
		return "; it counts the session refresh failed and ends the call (RFC 4028)"
	}
	return fmt.Sprintf("; it counts the %s failed after 32 s, and should then end the call (RFC 3261 §12.2.1.2)", method)
}

// copiesEvidence says how often the request went, and that nothing but a
// proxy's 408, or nothing at all, answered it.
func (t *inDialogTrack) copiesEvidence() report.Evidence {
	ev := report.Evidence{Text: fmt.Sprintf("%s (CSeq %d) %s → %s sent %d times, no response", t.method, t.cseq, t.src, t.dst, t.sent),
		Frames: uniqueFrames(t.firstFrame, t.lastFrame), Addrs: []string{t.dst.String()}, Time: t.firstAt}
	if t.timedOut {
		ev.Text = fmt.Sprintf("%s (CSeq %d) %s → %s sent %d times; the only final response, 408 Request Timeout, came from a proxy whose next hop never answered",
			t.method, t.cseq, t.src, t.dst, t.sent)
		ev.Frames = append(ev.Frames, t.timeoutFrame)
	}
	return ev
}

// unknownDialogFinding says that a re-INVITE or UPDATE found the call
// gone at its receiver, and how the call ended.
func unknownDialogFinding(cb *callBuild, t *inDialogTrack, sev report.Severity) report.Finding {
	who, to := partyNames[t.sender], partyNames[other(t.sender)]
	method := t.method
	if method == "INVITE" {
		method = "re-INVITE"
	}
	f := report.Finding{ID: IDDialogUnknown, Severity: sev, Subject: cb.call.CallID, Remedy: remedyDialogUnknown,
		Title: fmt.Sprintf("The %s answered the %s's %s with 481 Call/Transaction Does Not Exist: it no longer knew this call "+
			"(it restarted or failed over, or the request reached another device), so the call was over for it", to, who, method),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("%s (CSeq %d) %s → %s, answered 481", t.method, t.cseq, t.src, t.dst),
			Frames: uniqueFrames(t.firstFrame, t.timeoutFrame), Addrs: []string{t.dst.String()}, Time: t.firstAt}},
	}
	if end := cb.call.End; !end.IsZero() && !end.Before(t.firstAt) {
		after := end.Sub(t.firstAt).Round(time.Millisecond)
		text := fmt.Sprintf("the call ended %s after it", after)
		for p, ns := range cb.call.byeNs {
			if ns == end.UnixNano() {
				text = fmt.Sprintf("the %s hung up %s after it", partyNames[p], after)
			}
		}
		f.Evidence = append(f.Evidence, report.Evidence{Text: text, Time: end})
	}
	return f
}

// inDialogConsequence says what a request lost means.
func inDialogConsequence(method, to string) string {
	switch method {
	case "BYE":
		return fmt.Sprintf(": the %s never learned the call ended and stays in it until it gives up", to)
	case "INVITE", "UPDATE":
		return ": what it asked (a session refresh, hold, new media) never took effect; a session refresh that fails ends the call (RFC 4028)"
	}
	return ""
}
