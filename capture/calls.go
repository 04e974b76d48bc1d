package capture

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Parties of a call, also used to index per-direction arrays: a direction
// is named by its sender (caller: caller->callee).
const (
	caller = 0
	callee = 1
)

var partyNames = [2]string{"caller", "callee"}

// directionNames are the report's names of the direction party p sends in.
var directionNames = [2]string{"caller->callee", "callee->caller"}

func other(p int) int { return 1 - p }

// sdpEvent is one SDP body in a call, with who sent it.
type sdpEvent struct {
	Party  int
	Frame  uint64
	Time   time.Time
	Src    netip.AddrPort // where the SIP message carrying it came from
	SDP    *sdpInfo
	Method string // carrying message, e.g. "INVITE", "200"
	// Contact is the host of the carrying message's Contact, for the
	// traces of an ALG (ALGSign): copied, not the message, which a
	// call's events would keep alive.
	Contact string
	// cseq numbers the carrying request (0 in a response's SDP), so that
	// an offer its answerer rejected can be taken back (dropRejected).
	cseq uint32
}

// dialog is one early or confirmed dialog of an INVITE, named by the
// callee's tag. Forking (RFC 3261 §12.1.2) creates one per To-tag.
type dialog struct {
	Tag       string
	Status    int
	Answered  time.Time
	CalleeSig netip.AddrPort
	CalleeUA  string
	SDPs      []sdpEvent
	// answerUnseen: the dialog was answered by a 2xx the capture does not
	// hold (sipCall.inferAnswer); its SDP answer is missing with it.
	answerUnseen bool
	// answerFrame is the frame of the 2xx that answered it (0: none seen).
	answerFrame uint64
	// sdpCut: an SDP of its offer/answer was lost to the capture's snap
	// length (sipInfo.BodyCut), so a stream may show one side only.
	sdpCut bool
}

// sdpMissing says whether the dialog's streams may lack a side the
// parties did negotiate: its 2xx is not in the capture, or the capture
// cut an SDP of it.
func (c *sipCall) sdpMissing(d *dialog) bool {
	return d.answerUnseen || d.sdpCut || c.offerCut || c.inviteUnseen != nil
}

// sipCall gathers every message of one Call-ID that began with an INVITE.
type sipCall struct {
	Seq       int
	CallID    string
	FromTag   string
	AltTags   []string // From-tags of INVITEs retried after 401/407
	Caller    report.Party
	Callee    report.Party
	CallerSig netip.AddrPort
	Start     time.Time
	End       time.Time
	Last      time.Time
	// StartSeen: the initial INVITE (no To-tag) is in the capture.
	StartSeen bool
	// offerCut: the capture's snap length cut the initial INVITE's SDP.
	offerCut bool
	// reinviteStart: the leg began before the capture, which holds a
	// re-INVITE of it first (priordialog.go).
	reinviteStart *reinviteStart
	// inviteUnseen: the leg was followed from an answer to its INVITE,
	// which the capture lacks (unseeninvite.go); nil when it holds it.
	inviteUnseen *unseenInvite
	Status       int // final status of the initial INVITE
	FailedAt     time.Time
	Cancelled    bool
	ByeSeen      bool
	// byeNs is when each party sent its first BYE (0: none): who hung up;
	// byeCSeq is that BYE's CSeq.
	byeNs   [2]int64
	byeCSeq [2]uint32
	// referNs is when the dialog's last REFER came (0: none): a transfer,
	// whose transferee leaves this call for the one it sets up.
	referNs int64
	// endCause is the first BYE's Reason when not normal clearing, with
	// its sender and frame (causes.go).
	endCause      string
	endCauseFrom  int
	endCauseFrame uint64
	Transport     string
	Offer         *sdpEvent // the initial INVITE's offer, shared by all forks
	Dialogs       []*dialog
	Messages      []report.SIPMessage
	Infos         []*sipInfo // messages kept for NAT evidence (headers only)
	traces        sigTraces  // the NAT traces in them
	SeenFrom      [2]bool    // signalling seen sent by each party
	sdpErrors     int        // messages whose SDP could not be read
	setup         setupTrack
	// faults follows what goes wrong in the dialog after the setup (nil
	// until a 2xx to an INVITE or an in-dialog request); lastFromNs is
	// when each party last sent SIP in the leg.
	faults     *dialogFaults
	lastFromNs [2]int64
	// hop is where the leg's first INVITE went: from the caller's side
	// to the callee's (legs.go). Legs are matched by its addresses; its
	// ports tell apart two legs between the same addresses (phones behind
	// one NAT calling each other through a proxy).
	hop [2]netip.AddrPort
	// group is the call this leg is part of; upstream the leg it
	// continues (nil for the caller's own), linkRole how ("proxy",
	// "b2bua").
	group    *callGroup
	upstream *sipCall
	linkRole string
	ruriUser string // user of the first INVITE's Request-URI
	vias     int    // Via headers of the first INVITE
	lastSDP  lastSDP
	repeats  []uint16 // its messages in the cache of repeats (repeats.go)
	// rtpmapAddrs are the addresses whose clock rates it noted
	// (clockrate.go), to forget them with it.
	rtpmapAddrs []netip.AddrPort
	ladder      *ladderText
}

// setupTrack follows the INVITE transaction that sets the call up: the
// last INVITE without a To-tag (a retry after 401/407 starts a new one).
type setupTrack struct {
	cseq       uint32
	sentAt     time.Time // its first transmission
	firstFrame uint64
	lastFrame  uint64    // its last retransmission
	lastSentAt time.Time // when it was sent last
	sent       int       // transmissions seen
	responded  bool
	rang       bool
	endedAt    time.Time // CANCEL or final response, whichever came first
	src, dst   netip.AddrPort
	// ruri is the INVITE's Request-URI as an address (sipInfo.RURIAddr);
	// contact its Contact, where the callee sends its requests in the call.
	ruri, contact netip.AddrPort
	// fragmented: a transmission went over UDP in IP fragments.
	fragmented bool
	// authorized: the INVITE carried credentials (Authorization,
	// Proxy-Authorization); challenges counts the call's INVITEs answered
	// 401/407 so far, lastChallenge the frame of the last challenge;
	// challengeFrame is this INVITE's (callauth.go).
	authorized     bool
	challenges     int
	lastChallenge  uint64
	challengeFrame uint64
	challengeAt    time.Time
	// The first response: its status, where it came from and went, when. The INVITE's
	// transmissions after it (from firstResentFrame): a client that got
	// one stops resending (RFC 3261 §17.1.1.2).
	firstResponse       int
	responseSrc         netip.AddrPort
	responseDst         netip.AddrPort
	responseFrame       uint64
	respondedAt         time.Time
	resentAfterResponse int
	firstResentFrame    uint64
	// The last final response's reason phrase and causes, the CANCEL's
	// (causes.go).
	phrase, failCause, cancelCause string
	// finalFrom and finalAgent are who sent that response: its source
	// and its Server (or User-Agent) header.
	finalFrom  netip.AddrPort
	finalAgent string
	// unseenAnswer: the caller's ACK on the setup's CSeq that came while
	// no final response was in the capture (a final response reached the
	// caller), and what shows it was a 2xx (inferAnswer); nil: none.
	unseenAnswer      *unseenAnswer
	answeredElsewhere bool
	// unreadAfter: SIP the callee's side sent the caller after the
	// INVITE that could not be read (cut by the snap length, malformed),
	// noted when a setup with no final response is judged.
	unreadAfter *unreadSIP
	// progress is the first 18x or 2xx to the INVITE: what only the
	// callee's side sends (a proxy makes its 100 and its timeouts alone).
	progress response
	// passedOn: an INVITE that got no response in the capture, whose
	// sender passed on such a response upstream, on another leg, after
	// it (noteAnsweredUpstream).
	passedOn response
}

// response is one SIP response: its status, frame, time and ends.
type response struct {
	status   int
	frame    uint64
	at       time.Time
	src, dst netip.AddrPort
}

// invite files a transmission of the setup INVITE.
func (t *setupTrack) invite(m *sipInfo, at time.Time) {
	if t.sent == 0 && t.responded && m.CSeq == t.cseq { // answered before it came (inviteUnseen)
		t.sent, t.firstFrame, t.lastFrame, t.fragmented = 1, m.Frame, m.Frame, m.Fragmented
		return
	}
	if t.sent > 0 && m.CSeq == t.cseq {
		t.sent++
		t.lastFrame, t.lastSentAt = m.Frame, at
		t.fragmented = t.fragmented || m.Fragmented
		if t.responded && m.Dst == t.dst {
			if t.resentAfterResponse == 0 {
				t.firstResentFrame = m.Frame
			}
			t.resentAfterResponse++
		}
		return
	}
	*t = setupTrack{cseq: m.CSeq, sentAt: at, lastSentAt: at, firstFrame: m.Frame, lastFrame: m.Frame, sent: 1, src: m.Src, dst: m.Dst, ruri: m.RURIAddr, contact: m.ContactAddr,
		fragmented: m.Fragmented,
		authorized: m.Authorized, challenges: t.challenges, lastChallenge: t.lastChallenge}
}

// asked is where the INVITE that 2xx m answers was sent, its
// Request-URI and destination, when that INVITE is the leg's first.
func (t *setupTrack) asked(m *sipInfo, from int) invited {
	if from != callee || m.CSeq != t.cseq || t.sent == 0 {
		return invited{}
	}
	return invited{uri: t.ruri, dst: t.dst}
}

// fromSender says whether response m came from where the setup INVITE
// was sent from, to another address than the INVITE's: it answers an
// earlier hop the capture lacks (a proxy's 408 upstream, seen where only
// its outgoing packets are), not this INVITE, and is not the call's
// outcome. (To the INVITE's destination it answers that one's own
// INVITE back: a phone that calls itself through its PBX.)
func (t *setupTrack) fromSender(m *sipInfo) bool {
	return t.sent > 0 && m.Src == t.src && m.Dst != t.dst
}

// response files a response to an INVITE.
func (t *setupTrack) response(m *sipInfo, at time.Time) {
	if m.CSeq != t.cseq {
		return
	}
	if !t.responded {
		t.firstResponse, t.responseSrc, t.responseDst, t.responseFrame, t.respondedAt = m.Status, m.Src, m.Dst, m.Frame, at
	}
	t.responded = true
	if m.Status >= 180 && m.Status < 300 && t.progress.frame == 0 {
		t.progress = response{status: m.Status, frame: m.Frame, at: at, src: m.Src, dst: m.Dst}
	}
	if m.Status >= 180 && m.Status < 190 {
		t.rang = true
	}
	if m.Status >= 200 && t.endedAt.IsZero() {
		t.endedAt = at
	}
	if (m.Status == 401 || m.Status == 407) && t.challengeFrame == 0 {
		t.challenges++ // once per INVITE: each copy of it gets one
		t.challengeFrame, t.lastChallenge, t.challengeAt = m.Frame, m.Frame, at
	}
}

// facts are the setup's facts for the verdict rules, judged at now. An
// INVITE no one answered gives up at Timer B (RFC 3261 §17.1.1.2).
func (t *setupTrack) facts(now time.Time) SetupFacts {
	end := t.endedAt
	if end.IsZero() {
		end = now
		if !t.responded && end.Sub(t.sentAt) > inviteTimeout {
			end = t.sentAt.Add(inviteTimeout)
		}
	}
	return SetupFacts{
		Responded: t.responded, Rang: t.rang, Sent: t.sent, ResentAfterResponse: t.resentAfterResponse, Waited: end.Sub(t.sentAt),
		PublicToPrivate: isPublic(t.src.Addr()) && IsPrivate(t.dst.Addr()),
		Phrase:          t.phrase, FailCause: t.failCause, CancelCause: t.cancelCause, AnsweredElsewhere: t.answeredElsewhere,
		FinalFrom: t.finalFrom, FinalAgent: t.finalAgent,
		AckedUnseen: t.unseenAnswer != nil && t.unseenAnswer.ackFrame != 0 && t.unseenAnswer.proofFrame == 0,
		UnreadAfter: t.unreadAfter,
		PassedOn:    t.passedOn,
	}
}

// callTable correlates SIP messages into calls.
type callTable struct {
	// byID lists the calls of a Call-ID: a B2BUA may reuse one Call-ID on
	// both of its legs, told apart by the caller's From-tag.
	byID  map[string][]*sipCall
	order []*sipCall
	// maxMessages bounds the ladder of one call against floods.
	maxMessages int
	// keepMessages: calls list their messages for the ladder diagram.
	keepMessages bool
	// onEnd, when set, hears of calls as their signalling ends.
	onEnd func(CallEnd)
	// onSDP, when set, hears of each SDP as it is filed with a call
	// at its time (clock rates, clockrate.go; streams a new call takes
	// over, sealflows.go).
	onSDP func(*sdpInfo, *sipCall, time.Time)
	// onStart, when set, hears of each new leg's INVITE (dial-out scans,
	// dialscan.go).
	onStart func(*sipCall, *sipInfo)
	seq     int // legs created so far
	// groups counts the calls (groups of legs) created so far.
	groups int
	// byHop lists the legs by the address their first INVITE went to,
	// in order: where a B2BUA's outbound leg may come from (legs.go).
	byHop map[netip.Addr][]*sipCall
	// held are responses waiting for the request they answer, latest
	// the latest message time seen (reorder.go).
	held   []heldMessage
	latest time.Time
	// maxCalls bounds the legs in progress (Limits.Calls).
	maxCalls int
	// prior notes the calls whose BYE came with no set-up before it
	// (priordialog.go).
	prior priorDialogs
}

func newCallTable() *callTable {
	return &callTable{byID: map[string][]*sipCall{}, byHop: map[netip.Addr][]*sipCall{}, maxMessages: 2000, maxCalls: DefaultMaxCalls}
}

// sender says which party sent m: requests carry the sender's tag in From,
// responses the requester's (RFC 3261 §8.2.6.2, §12.2.1.1).
func (c *sipCall) sender(m *sipInfo) int {
	return c.senderOf(m.Request, m.FromTag)
}

// senderOf is sender for a request or response with that From-tag.
func (c *sipCall) senderOf(request bool, fromTag string) int {
	fromCaller := c.hasTag(fromTag)
	if request == fromCaller {
		return caller
	}
	return callee
}

// dialogTag is the callee's tag of the dialog m belongs to.
func (c *sipCall) dialogTag(m *sipInfo) string {
	if c.hasTag(m.FromTag) {
		return m.ToTag
	}
	return m.FromTag
}

func (c *sipCall) dialog(tag string, create bool) *dialog {
	for _, d := range c.Dialogs {
		if d.Tag == tag {
			return d
		}
	}
	if !create {
		return nil
	}
	d := &dialog{Tag: tag}
	c.Dialogs = append(c.Dialogs, d)
	return d
}

// add files one SIP message. It returns the call it belongs to, or nil for
// messages outside any INVITE dialog (REGISTER, OPTIONS, ...) and for a
// response held until the request it answers arrives (reorder.go);
// followed is false when the message starts a call that the limit on
// calls in progress turns away.
func (t *callTable) add(m *sipInfo, at time.Time, sdpInfo *sdpInfo, sdpErr error) (c *sipCall, followed bool) {
	t.advance(at)
	x := heldMessage{m: m, at: at, sdp: sdpInfo, sdpErr: sdpErr}
	c, onHop := t.find(m)
	if !onHop && t.hold(x) {
		return nil, true
	}
	if c == nil && !(m.Request && m.Method == "INVITE" && m.ToTag == "") && t.releaseCallID(m.CallID) {
		// Answers of an INVITE the capture lacks wait for it; the rest of
		// the dialog files them first, to follow the leg from them.
		c, _ = t.find(m)
	}
	// Only an INVITE, or an answer to one the capture lacks, starts a
	// leg; an INVITE is never held.
	if c == nil && ((m.Request && m.Method == "INVITE") || answersUnseenInvite(m)) && len(t.order) >= t.maxCalls {
		return nil, false
	}
	return t.file(c, x), true
}

// file files x with c, the leg find chose (nil: a new leg if x is an
// INVITE, else no call).
func (t *callTable) file(c *sipCall, x heldMessage) *sipCall {
	m, at, sdpInfo := x.m, x.at, x.sdp
	if c == nil {
		switch {
		case m.Request && m.Method == "INVITE":
			c = t.newCall(m, at)
			c.establishedBefore(m) // priordialog.go
			defer t.replay(m.CallID)
		case answersUnseenInvite(m) && len(t.order) < t.maxCalls:
			c = t.newCallFromAnswer(m, at) // unseeninvite.go
		case isPriorEnd(m) && len(t.byID[m.CallID]) == 0:
			t.prior.note(m, at) // priordialog.go
			return nil
		default:
			return nil
		}
	}
	c.Last = at
	from := c.sender(m)
	c.SeenFrom[from] = true
	if t.keepMessages && len(c.Messages) < t.maxMessages {
		c.Messages = append(c.Messages, c.ladderLine(m, at, sdpInfo != nil))
	}
	if len(c.Infos) < t.maxMessages && carriesNATEvidence(m) && !repeatsEvidence(c.Infos, m) {
		c.Infos = append(c.Infos, m)
		c.traces.note(m) // findings.go
	}
	if x.sdpErr != nil {
		c.sdpErrors++
	}
	tag := c.dialogTag(m)
	switch {
	case m.Request:
		t.request(c, m, at, from, tag, sdpInfo)
	default:
		t.response(c, m, at, from, tag, sdpInfo)
	}
	c.followInDialog(m, at, from)
	if sdpInfo != nil && t.onSDP != nil {
		t.onSDP(sdpInfo, c, at)
	}
	return c
}

// dialogFaults follows what goes wrong inside a leg's dialog after the
// setup: 2xx answers never acknowledged (answer.go) and in-dialog requests
// never answered (indialog.go). One allocation for both, made when the
// leg first needs either.
type dialogFaults struct {
	answers  answers
	inDialog inDialog
}

// faultsFor is c.faults, made on first use.
func (c *sipCall) faultsFor() *dialogFaults {
	if c.faults == nil {
		c.faults = &dialogFaults{}
	}
	return c.faults
}

// followInDialog files m with the leg's in-dialog requests and notes when
// its sender last sent SIP.
func (c *sipCall) followInDialog(m *sipInfo, at time.Time, from int) {
	switch {
	case isInDialog(m):
		c.faultsFor().inDialog.request(m, at, from, c.lastFromNs, IsPrivate(m.Dst.Addr()) && c.sentSIPFrom(m.Dst.Addr()))
	case !m.Request && c.faults != nil:
		c.faults.inDialog.response(m, at, from)
	}
	c.lastFromNs[from] = at.UnixNano()
}

// ladderLine is m's line in the call's ladder. A call's messages go
// between a few addresses and say the same few things, so the text a line
// of the call had before is used again, not made anew.
func (c *sipCall) ladderLine(m *sipInfo, at time.Time, hasSDP bool) report.SIPMessage {
	if c.ladder == nil {
		c.ladder = &ladderText{}
	}
	l := c.ladder
	return report.SIPMessage{Frame: m.Frame, Time: at, Src: l.addr(m.Src), Dst: l.addr(m.Dst), Summary: l.summary(m), HasSDP: hasSDP}
}

// sentSIPFrom says whether a party of the leg sent its SIP from addr.
func (c *sipCall) sentSIPFrom(addr netip.Addr) bool {
	if c.CallerSig.Addr() == addr {
		return true
	}
	return slices.ContainsFunc(c.Dialogs, func(d *dialog) bool { return d.CalleeSig.Addr() == addr })
}

// ladderText keeps the last texts of a call's ladder.
type ladderText struct {
	addrs     recentTexts[netip.AddrPort]
	summaries recentTexts[summaryKey]
}

// summaryKey is what sipInfo.Summary reads.
type summaryKey struct {
	request        bool
	method, reason string
	status         int
}

func (l *ladderText) addr(a netip.AddrPort) string {
	return l.addrs.text(a, a.String)
}

func (l *ladderText) summary(m *sipInfo) string {
	if m.Request {
		return m.Method
	}
	return l.summaries.text(summaryKey{m.Request, m.Method, m.Reason, m.Status}, m.Summary)
}

// recentTexts remembers the texts made for the last four keys.
type recentTexts[K comparable] struct {
	keys  [4]K
	texts [4]string
	next  int
}

// text is k's text, made by mk unless k is among the last four.
func (r *recentTexts[K]) text(k K, mk func() string) string {
	for i, x := range r.keys {
		if x == k && r.texts[i] != "" {
			return r.texts[i]
		}
	}
	t := mk()
	r.keys[r.next], r.texts[r.next] = k, t
	r.next = (r.next + 1) % len(r.keys)
	return t
}

// repeatsEvidence says whether one of the last messages kept for NAT
// evidence says all m says (a retransmission, the same response to it):
// the findings and views read the first message of each kind, so a call
// whose INVITE is resent until Timer B keeps one, not seven.
func repeatsEvidence(kept []*sipInfo, m *sipInfo) bool {
	for i := len(kept) - 1; i >= 0 && i >= len(kept)-4; i-- {
		k := kept[i]
		if k.Request == m.Request && k.Method == m.Method && k.Status == m.Status && k.Reason == m.Reason &&
			k.CSeq == m.CSeq && k.Src == m.Src && k.Dst == m.Dst && k.Contact == m.Contact && k.Via == m.Via &&
			k.FromTag == m.FromTag && k.Transport == m.Transport && k.LengthMismatch == m.LengthMismatch {
			return true
		}
	}
	return false
}

// carriesNATEvidence says whether m holds anything the rules that read a
// call's kept messages look at (signallingFindings, publicAddresses,
// views): a private Contact or Via seen from a public source, a Via that
// disagrees with the packet's source, a server's received/rport, an ALG's
// traces. It errs on the side of keeping: a message it drops could not
// change a finding or a verdict. Most messages of a call carry none, and
// a call in progress then holds a few messages, not all of them.
func carriesNATEvidence(m *sipInfo) bool {
	src := m.Src.Addr()
	switch {
	case m.LengthMismatch || m.Via.Dup:
		return true
	case isPublic(src) && (privateAddr(m.contactIP) || m.Request && privateAddr(m.viaIP)):
		return true
	case !m.Request:
		return m.Via.Received != "" || (m.Via.RPort != "" && m.Via.RPort != "-")
	}
	return viaDisagrees(m)
}

// newCall starts a leg at an INVITE no leg holds yet, and links it to the
// call it continues.
func (t *callTable) newCall(m *sipInfo, at time.Time) *sipCall {
	t.seq++
	c := &sipCall{
		Seq: t.seq, CallID: m.CallID, FromTag: m.FromTag, Start: at,
		StartSeen: m.ToTag == "", CallerSig: m.Src, Transport: m.Transport,
		Caller:   report.Party{Role: "caller", User: m.FromUser, Host: m.FromHost, Display: m.FromName, SignalAddr: m.Src.String(), UserAgent: m.UserAgent},
		Callee:   report.Party{Role: "callee", User: m.ToUser, Host: m.ToHost, Dialed: dialedUser(m)},
		hop:      [2]netip.AddrPort{m.Src, m.Dst},
		ruriUser: m.RURIUser, vias: m.Via.Count,
	}
	t.link(c, m, at)
	if t.onStart != nil {
		t.onStart(c, m)
	}
	t.byID[m.CallID] = append(t.byID[m.CallID], c)
	t.byHop[c.hop[1].Addr()] = append(t.byHop[c.hop[1].Addr()], c)
	t.order = append(t.order, c)
	return c
}

// dialedUser is the INVITE's Request-URI user when To names someone else.
func dialedUser(m *sipInfo) string {
	if m.RURIUser == m.ToUser {
		return ""
	}
	return m.RURIUser
}

// inProgress says whether a call of the table had not ended by now, or
// still waited for the answer to its BYE.
func (t *callTable) inProgress(now time.Time) bool {
	return slices.ContainsFunc(t.order, func(c *sipCall) bool { return !c.ended(now) || c.byePending() })
}

// byePending says whether the call's BYE has had no response yet.
func (c *sipCall) byePending() bool {
	if !c.ByeSeen {
		return false
	}
	if c.faults == nil {
		return true
	}
	bye := &c.faults.inDialog.current
	return bye.method != "BYE" || !bye.responded
}

// remove forgets finalised calls.
func (t *callTable) remove(gone map[*sipCall]bool) {
	if len(gone) == 0 {
		return
	}
	kept := t.order[:0]
	hops := map[netip.Addr]bool{}
	for _, c := range t.order {
		if gone[c] {
			removeLeg(t.byID, c.CallID, c)
			hops[c.hop[1].Addr()] = true
			c.group, c.upstream = nil, nil // let the finished call go
			continue
		}
		kept = append(kept, c)
	}
	clear(t.order[len(kept):])
	t.order = kept
	for hop := range hops {
		list := slices.DeleteFunc(t.byHop[hop], func(c *sipCall) bool { return gone[c] })
		if len(list) == 0 {
			delete(t.byHop, hop)
		} else {
			t.byHop[hop] = list
		}
	}
}

// removeLeg takes c out of index[key].
func removeLeg[K comparable](index map[K][]*sipCall, key K, c *sipCall) {
	list := index[key]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(index, key)
	} else {
		index[key] = list
	}
}

// find returns the leg m belongs to: same Call-ID, the caller's tag in
// From or To, and the same hop (onHop). An INVITE without a To-tag on a
// new hop is a new leg (a proxy forwarding it); other messages on an
// unknown hop (a request to a Contact address other than the signalling
// source, or a response whose request is not filed yet) go to a leg they
// share an address with, and onHop is false.
func (t *callTable) find(m *sipInfo) (c *sipCall, onHop bool) {
	var shares, any, hopped *sipCall
	for _, c := range t.byID[m.CallID] {
		if !c.hasTag(m.FromTag) && (m.ToTag == "" || !c.hasTag(m.ToTag)) && !c.fromCallee(m) {
			continue
		}
		if c.onHop(m.Src.Addr(), m.Dst.Addr()) {
			// Legs between the same two addresses (phones behind one NAT
			// calling each other through a proxy) differ in their ports:
			// an INVITE sent back the way the leg's came is the next leg,
			// and a message between the leg's own ports is the leg's.
			switch {
			case m.Request && m.Method == "INVITE" && m.ToTag == "" && c.sentBack(m):
				continue
			case c.betweenHopPorts(m):
				return c, true
			case hopped == nil:
				hopped = c
			}
			continue
		}
		if shares == nil && c.touches(m.Src.Addr(), m.Dst.Addr()) {
			shares = c
		}
		if any == nil {
			any = c
		}
	}
	if hopped != nil {
		return hopped, true
	}
	if any != nil && !(m.Request && m.Method == "INVITE" && m.ToTag == "") {
		if shares != nil {
			return shares, false
		}
		return any, false
	}
	// An INVITE retried with credentials after 401/407 (RFC 3261 §22.2)
	// continues the same call, even from a B2BUA that picks a new From-tag
	// for the retry.
	if m.Request && m.Method == "INVITE" && m.ToTag == "" {
		for _, c := range t.byID[m.CallID] {
			if c.CallerSig == m.Src && (c.Status == 401 || c.Status == 407) {
				c.AltTags = append(c.AltTags, m.FromTag)
				c.Status = 0
				return c, true
			}
		}
	}
	return nil, false
}

// restartSetup: the caller's new INVITE transaction without a To-tag (a
// retry with credentials after 401/407, RFC 3261 §22.2, or after a
// 422 or a redirect) starts the setup over, so the failure it answers is
// no longer the call's outcome, on the call or on the To-tag it came
// with (Asterisk rings and answers the retry on the challenge's tag).
func (c *sipCall) restartSetup() {
	if c.answered() {
		return
	}
	if c.Status >= 300 {
		c.Status = 0
	}
	c.FailedAt = time.Time{}
	c.setup.unseenAnswer = nil // the ACK was the failure's
	for _, d := range c.Dialogs {
		if d.Status >= 300 {
			d.Status = 0
		}
	}
}

// unseenAnswer is the trace of a 2xx the capture missed (a capture that
// dropped it, a proxy's hop it was not taken on).
type unseenAnswer struct {
	tag        string // the To-tag the caller's ACK carried
	ackFrame   uint64
	ackAt      time.Time
	proofFrame uint64 // the message that shows it was a 2xx; 0: none yet
	proof      string // what that message is
}

// inferAnswer takes the call as answered on the dialog of tag when its
// caller acknowledged a final response the capture does not hold and m, a
// BYE or re-INVITE in that dialog, follows: a failure's ACK ends the
// dialog, so the missing response was a 2xx; or when m is the callee's
// BYE, which it sends only on a dialog it answered (RFC 3261 §15).
// Without this the call read as ringing, its media as no call's.
func (c *sipCall) inferAnswer(tag string, m *sipInfo, from int, at time.Time) {
	if c.Status != 0 || tag == "" {
		return
	}
	switch u := c.setup.unseenAnswer; {
	case u != nil && tag == u.tag:
		c.answeredUnseen(m.Frame, "the "+m.Method+" that followed in that dialog", at)
	case u == nil && from == callee && m.Method == "BYE":
		// A callee sends no BYE on an early dialog (RFC 3261 §15): its
		// 2xx and the caller's ACK are both missing.
		c.setup.unseenAnswer = &unseenAnswer{tag: tag}
		c.answeredUnseen(m.Frame, "the callee's BYE, which a callee sends only on a dialog it answered (RFC 3261 §15)", at)
	}
}

// inferAnswerFromHops does for each leg of a call through proxies what
// inferAnswer does with a BYE: a proxy keeps the dialog's tags, so the
// caller's ACK carrying a To-tag that another hop's 2xx set shows that
// 2xx reached the caller, though this hop's copy is not in the capture.
func (g *callGroup) inferAnswerFromHops() {
	for _, c := range g.legs {
		u := c.setup.unseenAnswer
		if c.Status != 0 || u == nil || u.proofFrame != 0 {
			continue
		}
		for _, o := range g.legs {
			if d := o.dialog(u.tag, false); o != c && d != nil && d.answered() && d.answerFrame != 0 {
				c.answeredUnseen(d.answerFrame, fmt.Sprintf("the %d answer with that To-tag on the hop %s → %s", d.Status, d.CalleeSig, o.hop[0]), d.Answered)
				break
			}
		}
	}
}

// answeredUnseen marks the call answered on the dialog of the caller's
// ACK by a 2xx the capture does not hold; proof (frame, at) tells how that
// shows. The answer is dated by the ACK, when there is one.
func (c *sipCall) answeredUnseen(frame uint64, proof string, at time.Time) {
	u := c.setup.unseenAnswer
	d := c.dialog(u.tag, true)
	d.Status, d.Answered, d.answerUnseen = 200, u.ackAt, true
	c.Status = 200
	u.proofFrame, u.proof = frame, proof
	if c.setup.endedAt.IsZero() {
		c.setup.endedAt = at
		if !u.ackAt.IsZero() {
			c.setup.endedAt = u.ackAt
		}
	}
}

// byeWithdrawn takes back the BYE party from sent, when m, a mid-call
// request of its own with another CSeq (INFO, UPDATE, a re-INVITE), shows
// it went on with the call: a Zultys phone sends a stray BYE just after
// its ACK, then its DTMF in INFOs and the BYE that ends the call. The call
// ends at that later BYE, not at the stray one.
func (c *sipCall) byeWithdrawn(m *sipInfo, from int) {
	if c.byeNs[from] == 0 || m.CSeq == c.byeCSeq[from] {
		return
	}
	if c.End.Equal(time.Unix(0, c.byeNs[from])) {
		c.End = time.Time{}
	}
	c.byeNs[from], c.byeCSeq[from] = 0, 0
	c.ByeSeen = c.byeNs[other(from)] != 0
}

// fromCallee says whether m is a request the callee sent in one of the
// leg's dialogs, or a response to one, whose To-tag is missing or garbled
// (sipp's "tag" inside the To URI's brackets is a URI parameter, RFC 3261
// §19.1.1): its From-tag is the tag the callee's answers gave the dialog.
func (c *sipCall) fromCallee(m *sipInfo) bool {
	return m.FromTag != "" && m.FromTag != c.FromTag && c.dialog(m.FromTag, false) != nil
}

func (c *sipCall) hasTag(tag string) bool {
	if tag == c.FromTag {
		return true
	}
	for _, t := range c.AltTags {
		if t == tag {
			return true
		}
	}
	return false
}

func (t *callTable) request(c *sipCall, m *sipInfo, at time.Time, from int, tag string, s *sdpInfo) {
	if m.Method == "BYE" || (m.Method == "INVITE" && tag != "") {
		c.inferAnswer(tag, m, from, at)
	}
	switch m.Method {
	case "BYE":
		if !c.ByeSeen && t.onEnd != nil {
			t.onEnd(CallEnd{CallID: c.CallID, From: partyLabel(c.Caller), To: partyLabel(c.Callee), Status: c.Status, At: at})
		}
		c.ByeSeen = true
		if cause, ok := endCause(m.extras()); ok && c.endCause == "" {
			c.endCause, c.endCauseFrom, c.endCauseFrame = cause, from, m.Frame
		}
		if c.byeNs[from] == 0 {
			c.byeNs[from], c.byeCSeq[from] = at.UnixNano(), m.CSeq
		}
		if c.End.IsZero() {
			c.End = at
		}
		if c.faults != nil {
			c.faults.answers.bye(m, at, from)
		}
	case "INFO", "UPDATE":
		c.byeWithdrawn(m, from)
	case "REFER":
		if tag != "" {
			c.referNs = at.UnixNano()
		}
	case "CANCEL":
		// A CANCEL after the INVITE's 2xx has no effect (RFC 3261 §9.2):
		// a client that forked its INVITE cancels the other branches.
		if c.answered() {
			break
		}
		c.Cancelled = true
		if cause := causeText(m.extras()); cause != "" {
			c.setup.cancelCause, c.setup.answeredElsewhere = cause, answeredElsewhere(m.extras())
		}
		if c.setup.endedAt.IsZero() {
			c.setup.endedAt = at
		}
	case "INVITE":
		if tag != "" {
			c.byeWithdrawn(m, from)
		}
		if tag == "" && from == caller {
			if c.setup.sent > 0 && m.CSeq != c.setup.cseq {
				c.restartSetup()
			}
			c.setup.invite(m, at)
			c.inviteSeen(m)
			c.offerCut = c.offerCut || (m.BodyCut && c.Offer == nil)
		}
		if c.faults != nil {
			c.faults.answers.invite(m, at, from)
		}
	case "ACK":
		if c.faults != nil {
			c.faults.answers.ack(m, at, from)
		}
		if from == caller && tag != "" && m.CSeq == c.setup.cseq && c.Status == 0 && c.setup.unseenAnswer == nil {
			c.setup.unseenAnswer = &unseenAnswer{tag: tag, ackFrame: m.Frame, ackAt: at}
		}
	}
	if s == nil {
		return
	}
	ev := sdpEvent{Party: from, Frame: m.Frame, Time: at, Src: m.Src, SDP: s, Method: m.Method, Contact: m.Contact, cseq: m.CSeq}
	if m.Method == "INVITE" && tag == "" && from == caller {
		if c.Offer == nil {
			c.Offer = keptEvent(ev)
		}
		return
	}
	if d := c.dialog(tag, tag != ""); d != nil {
		d.SDPs = append(d.SDPs, ev)
	} else if c.Offer == nil {
		c.Offer = keptEvent(ev)
	}
}

// keptEvent is a copy of ev to keep: the event itself stays off the heap
// for the copies of a resent INVITE, which keep nothing.
func keptEvent(ev sdpEvent) *sdpEvent { return &ev }

func (t *callTable) response(c *sipCall, m *sipInfo, at time.Time, from int, tag string, s *sdpInfo) {
	isInitialInvite := m.Method == "INVITE" && from == callee
	if m.Method == "INVITE" && m.Status >= 200 && m.Status < 300 {
		c.faultsFor().answers.answer(m, at, from, c.setup.asked(m, from))
	}
	var d *dialog
	switch {
	case tag != "":
		d = c.dialog(tag, isInitialInvite)
	case isInitialInvite && m.Status >= 200 && m.Status < 300:
		// A callee that answers without a To-tag (a Zultys PBX, against
		// RFC 3261 §8.2.6.2) answers all the same: its dialog has none.
		d = c.dialog("", true)
	}
	if d != nil && m.Status >= 300 && (m.Method == "INVITE" || m.Method == "UPDATE") {
		d.dropRejected(other(from), m.CSeq, m.Method)
	}
	if isInitialInvite && !c.setup.fromSender(m) {
		c.setup.response(m, at)
		if c.Callee.SignalAddr == "" && m.Status > 100 {
			c.Callee.SignalAddr = m.Src.String()
			c.Callee.UserAgent = m.UserAgent
		}
		// A 2xx is final for the call; a failure may be followed by a new
		// INVITE with credentials (401/407, RFC 3261 §22.2).
		if m.Status >= 200 && (c.Status < 200 || c.Status >= 300) {
			c.Status = m.Status
			c.setup.phrase, c.setup.failCause = m.Reason, causeText(m.extras())
			c.setup.finalFrom, c.setup.finalAgent = m.Src, m.UserAgent
		}
		if d != nil {
			if m.Status > 100 && !d.CalleeSig.IsValid() {
				d.CalleeSig, d.CalleeUA = m.Src, m.UserAgent
			}
			if m.Status >= 200 && m.Status < 300 && (d.Status < 200 || d.answerUnseen) {
				// A 2xx inferred (inferAnswer) before the copy that came
				// late (HEP out of order) gives way to it.
				d.Status, d.Answered, d.answerFrame, d.answerUnseen = m.Status, at, m.Frame, false
				d.sdpCut = d.sdpCut || m.BodyCut
			} else if m.Status >= 300 && d.Status < 200 {
				d.Status = m.Status
			}
			if d.Status == 0 && m.Status > 100 {
				d.Status = m.Status
			}
		} else if m.Status >= 300 {
			c.failEarlyDialogs(m.Status)
		}
		// A failure on a dialog already answered is a re-INVITE's: the
		// call stays up (RFC 3261 §14.1).
		if m.Status >= 300 && (d == nil || !d.answered()) {
			if t.onEnd != nil && c.FailedAt.IsZero() && m.Status != 401 && m.Status != 407 {
				t.onEnd(CallEnd{CallID: c.CallID, From: partyLabel(c.Caller), To: partyLabel(c.Callee), Status: m.Status, At: at})
			}
			c.FailedAt = at
		}
	}
	if s == nil {
		return
	}
	ev := sdpEvent{Party: from, Frame: m.Frame, Time: at, Src: m.Src, SDP: s, Method: m.Summary(), Contact: m.Contact}
	if d == nil {
		d = c.dialog(tag, true)
	}
	d.SDPs = append(d.SDPs, ev)
}

// failEarlyDialogs gives a final failure that came without a To-tag (a
// proxy's, against RFC 3261 §8.2.6.2) to the dialogs still early: it ends
// the INVITE transaction, and with it every early dialog (§13.2.2.4), so
// the call's status is the failure, not the ringing before it.
func (c *sipCall) failEarlyDialogs(status int) {
	for _, d := range c.Dialogs {
		if d.Status < 200 {
			d.Status = status
		}
	}
}

// dropRejected takes back the offer of a mid-call request (re-INVITE or
// UPDATE) that party sent and its answerer rejected: the session stays as
// it was (RFC 3261 §14.1, RFC 3311 §5.2), so its addresses and direction
// (a hold refused, a move turned down, glare's 491) never applied.
func (d *dialog) dropRejected(party int, cseq uint32, method string) {
	for i := len(d.SDPs) - 1; i >= 0; i-- {
		if ev := &d.SDPs[i]; ev.Party == party && ev.cseq == cseq && ev.Method == method {
			d.SDPs = slices.Delete(d.SDPs, i, i+1)
			return
		}
	}
}

// dialogs splits the call's dialogs (one per To-tag, RFC 3261 §12.1) into
// the one the call is, and the early dialogs of forks that ended without
// it: the first answered dialog, or when none answered the dialog that got
// the setup's final response, else the one that got furthest (SDP, then
// the highest status). A call without any response gets an empty dialog.
func (c *sipCall) dialogs() (main *dialog, early []*dialog) {
	rank := func(d *dialog) int {
		switch {
		case d.answered():
			return 4
		case d.Status >= 300 && d.Status == c.Status:
			return 3
		case len(d.SDPs) > 0:
			return 2
		}
		return 1
	}
	for _, d := range c.Dialogs {
		if main == nil || rank(d) > rank(main) || (rank(d) == rank(main) && rank(d) < 4 && d.Status > main.Status) {
			main = d
		}
	}
	if main == nil {
		return &dialog{}, nil
	}
	// A fork that answered provisionally (or with SDP); a dialog ended by a
	// final failure is an earlier attempt (a 401/407 challenge), no fork.
	for _, d := range c.Dialogs {
		if d != main && d.Status < 300 && (d.Status > 100 || len(d.SDPs) > 0) {
			early = append(early, d)
		}
	}
	return main, early
}

// timeline returns all SDPs of a dialog in order, starting with the offer.
func (c *sipCall) timeline(d *dialog) []sdpEvent {
	var all []sdpEvent
	if c.Offer != nil {
		all = append(all, *c.Offer)
	}
	return append(all, d.SDPs...)
}

// sdps yields the SDPs timeline returns, without building the slice.
func (c *sipCall) sdps(d *dialog) iter.Seq[*sdpEvent] {
	return func(yield func(*sdpEvent) bool) {
		if c.Offer != nil && !yield(c.Offer) {
			return
		}
		for i := range d.SDPs {
			if !yield(&d.SDPs[i]) {
				return
			}
		}
	}
}
