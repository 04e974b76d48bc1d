package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// boundFlow is a flow with the call it was bound to.
type boundFlow struct {
	flow *rtpFlow
	bd   binding
}

// callBuild collects one reported call's pieces: the dialog it is and
// the early dialogs of its other forks, each with the streams bound to it.
type callBuild struct {
	call  *sipCall
	dlg   *dialog
	flows []boundFlow
	early []*callBuild
	// roles names the intermediary ("proxy", "b2bua") at the caller's or
	// the callee's end of this leg; "" for the call's own caller and
	// callee.
	roles [2]string
	// regs are the registrations seen, for the REGISTER behind a request
	// sent to a Contact.
	regs *registrations
	// ice are the capture's ICE connectivity checks (ice.go).
	ice *iceChecks
	// unreach are the capture's ICMP destination-unreachable errors
	// (icmp.go).
	unreach *unreachables
	// forwards gathers the ports of heard and unheard calls of receivers
	// behind NAT across the capture (portforward.go).
	forwards *forwardedPorts
	// scans are the dial-out scans judged so far (dialscan.go).
	scans *dialScans
	// captureHost is the address every packet up to the judging was to
	// or from (host.go), when there is one.
	captureHost netip.Addr
	// view is where the capture was taken (host.go): on a loopback
	// interface, it names the host's addresses.
	view hostView
	// unproven says, for the findings, why a flow is likely lost: sent to
	// a NAT port nothing shows is forwarded (JudgeDelivery), or a fax sent
	// to the audio port (faxToAudioPort).
	unproven map[*rtpFlow]string
	// farRTCP is the RTCP bound to the call's other legs: what the far
	// parties report of a stream relayed to them (rtcp_report.go).
	farRTCP []*rtcpState
	// relayed counts, per direction of this leg, the RTP that the B2BUA
	// at its end sent on into the call's next leg (groupBuild.relayEvidence).
	relayed [2]uint64
	// farEnds are the signalling addresses of the call's own caller [0]
	// and callee [1] as its other legs saw them: an intermediary's SDP
	// that names one hands the media straight to that party (direct media).
	farEnds [2][]netip.Addr
	// farParties are the call's own caller [0] and callee [1] as its
	// other legs name them (Role empty: none seen), for the findings of
	// a leg an intermediary hands the media past (handsMediaPast).
	farParties [2]report.Party
	// farMedia are the addresses the call's own caller [0] and callee [1]
	// named in SDP on their own legs, for an intermediary's SDP that hands
	// one on (directMediaHandover).
	farMedia [2][]netip.AddrPort
	// judged holds the parties once report has named them: the rules
	// after it ask again.
	judged *[2]report.Party
	// describeSDP: the streams' reports describe the SDP offer and
	// answer (state.describesSDP).
	describeSDP bool
	// signallingOnly: the capture holds no media at all (filtered to
	// SIP), so where a party's media comes from cannot be seen.
	signallingOnly bool
	// events is the dialog's SDP timeline, made once: binding each flow
	// and several rules read it.
	events []sdpEvent
	// stops are the streams report found stopped mid-call (stopped.go),
	// for the call's other legs to compare (dropRelayedStops).
	stops []stopNote
	// privateSDPs are the private SDP addresses report found (one
	// sdp-private-address finding each), for the call's other legs to
	// compare (dropPassedOnPrivateSDP).
	privateSDPs []privateSDPNote
	// lanPublic is, by party, the public address it named to a peer on
	// its own LAN (sdpTraces), for a late start to name (latestart.go).
	lanPublic [2]netip.AddrPort
}

// timeline is the leg's SDP offers and answers in order (sipCall.timeline).
func (cb *callBuild) timeline() []sdpEvent {
	if cb.events == nil {
		cb.events = cb.call.timeline(cb.dlg)
	}
	return cb.events
}

// parties are the leg's two ends as the report names them.
func (cb *callBuild) parties() [2]report.Party {
	if cb.judged != nil {
		return *cb.judged
	}
	c, d := cb.call, cb.dlg
	p := [2]report.Party{c.Caller, c.Callee}
	if d.CalleeSig.IsValid() {
		p[callee].SignalAddr = d.CalleeSig.String()
		if d.CalleeUA != "" {
			p[callee].UserAgent = d.CalleeUA
		}
	}
	sigs := [2]netip.AddrPort{c.CallerSig, d.CalleeSig}
	if !sigs[callee].IsValid() && c.setup.sent > 0 {
		sigs[callee] = c.setup.dst
	}
	for i, role := range cb.roles {
		if role != "" {
			p[i] = intermediary(role, sigs[i])
		}
	}
	return p
}

// minHeuristicPackets: a flow bound without any SDP address must look like
// a real stream, not a few stray packets that happen to parse as RTP.
const minHeuristicPackets = 5

// Streaming: calls are judged and dropped once they have ended and gone
// quiet, so memory follows the calls in progress, not the file's length.
const (
	// quietAfter is how long a call must be over (BYE or final failure),
	// and a stream silent, before they are finalised: RTP may trail BYE.
	quietAfter = 30 * time.Second
	// orphanAfter drops unbound streams silent this long into a summary.
	orphanAfter = 5 * time.Minute
	// sweepEvery is how often, in capture time, finished calls are swept.
	sweepEvery = 10 * time.Second
	// challengeQuiet is how long a call whose INVITE was last challenged
	// for credentials (401/407) waits for the retry with the same Call-ID
	// (RFC 3261 §22.2) before it is judged: a phone retries at once, a
	// person typing a password takes longer (the sngrep "aaa" capture in
	// shared/realpcaps retries 32 s and 51 s after the 407).
	challengeQuiet = 5 * time.Minute
)

// quietNeeded is how long the call's signalling must be over before it is
// judged.
func (c *sipCall) quietNeeded() time.Duration {
	if !c.ByeSeen && !c.Cancelled && (c.Status == 401 || c.Status == 407) {
		return challengeQuiet
	}
	return quietAfter
}

// doneCall is a finalised report call with its number (callGroup).
type doneCall struct {
	number   int
	call     report.Call
	filtered bool // left out by the CallFilter; named, not reported
}

// ended says whether the call's signalling is over by now: a BYE, a
// CANCEL, a final failure, or an INVITE nobody answered whose client
// transaction gave up (Timer B), unless an earlier INVITE of the call was
// answered (a copy the client sent again with a new CSeq).
func (c *sipCall) ended(now time.Time) bool {
	return c.ByeSeen || c.Cancelled || (!c.FailedAt.IsZero() && c.Status >= 300) ||
		(!c.answered() && c.setup.sent > 0 && !c.setup.responded && now.Sub(c.setup.lastSentAt) >= inviteTimeout)
}

// sweep finalises the calls that ended at least quietAfter before now
// (final: every call left): it files the responses whose wait for their
// request is over (reorder.go), binds the capture's streams to calls,
// holds back calls whose media still flows, judges the rest into their
// report entries and forgets them.
func (s *state) sweep(now time.Time, final bool) {
	until := now
	if final {
		until = time.Time{} // every datagram held
	}
	s.releaseHeld(until) // nattwins.go
	s.dropNATCopies()
	s.calls.advance(now)
	if final {
		s.calls.release(true)
	}
	ending, groups := s.endingCalls(now, final)
	if len(ending) == 0 && !final {
		s.dropOrphans(now)
		return
	}
	claimed := s.bindMedia(now)
	defer s.binder.reset() // hold no finished call alive until the next sweep
	if !final {
		holdCallsWithMedia(ending, claimed, now)
	}
	groups = s.attachMedia(groups, ending, claimed)
	s.judge(groups, now)
	s.calls.remove(ending)
	s.forgetRtpmaps(ending)
	s.repeats.forget(ending)
	if final {
		for _, f := range s.sortedFlows() {
			s.orphan(f)
		}
	} else {
		s.dropOrphans(now)
	}
}

// describesSDP says whether the calls' streams describe their SDP offer
// and answer: for a report that keeps calls whole (detail), or for a
// filter on hosts, which reads the SDP addresses. Any other report drops
// the descriptions (dropDetail, compactCall), so they are not made.
func (s *state) describesSDP() bool {
	return s.detail || (s.filter != nil && len(s.filter.Hosts) > 0)
}

// endingCalls lists the legs of the calls whose signalling ended long
// enough ago (every call when final), and one build per call to report.
func (s *state) endingCalls(now time.Time, final bool) (map[*sipCall]bool, []*groupBuild) {
	ending := map[*sipCall]bool{}
	var groups []*groupBuild
	for _, c := range s.calls.order {
		if c.group.legs[0] != c || !(final || c.group.over(now)) {
			continue // each call once, at its first leg
		}
		for _, leg := range c.group.legs {
			ending[leg] = true
		}
		s.noteUnseenInvites(c.group.legs)  // unseeninvite.go
		s.noteUnreadAfter(c.group.legs)    // unreadsip.go
		noteAnsweredUpstream(c.group.legs) // upstream.go
		view := s.hostView()
		view.inside = s.toPrivate.inside
		groups = append(groups, newGroupBuild(c.group, s.regs, &s.ice, &s.unreach, &s.forwards, &s.dialScans, view, s.describesSDP()))
	}
	return ending, groups
}

// bindMedia binds every stream of the capture to the call it belongs to,
// by SDP address first and, for streams no SDP names, by heuristics.
func (s *state) bindMedia(now time.Time) []boundFlow {
	if s.binder == nil {
		s.binder = newBinder()
	}
	if len(s.flows) == 0 {
		return nil // a capture of signalling alone: nothing to bind
	}
	b := s.binder
	for _, c := range s.calls.order {
		b.addCall(c, now)
	}
	claimed := make([]boundFlow, 0, len(s.flows))
	var rest []*rtpFlow
	for _, f := range s.sortedFlows() {
		bd, ok := b.bind(f)
		if !ok {
			rest = append(rest, f)
			continue
		}
		claimed = append(claimed, boundFlow{f, bd})
	}
	if len(rest) == 0 {
		return claimed
	}
	covered := make(map[dialogSender]bool, len(claimed))
	for _, x := range claimed {
		if !x.flow.Key.RTCP {
			covered[dialogSender{x.bd.dlg, x.bd.sender}] = true
		}
	}
	replies := repliesTo(claimed)
	var ends map[[2]netip.AddrPort]bool // made for the first flow the heuristics weigh
	for _, f := range rest {
		if f.Packets < minHeuristicPackets {
			continue
		}
		if bd, ok := replies.bind(f); ok {
			claimed = append(claimed, boundFlow{f, bd})
			continue
		}
		if ends == nil {
			ends = s.flowEnds()
		}
		if bd, ok := b.bindHeuristic(f, covered, ends[[2]netip.AddrPort{f.Key.Dst, f.Key.Src}]); ok {
			claimed = append(claimed, boundFlow{f, bd})
		}
	}
	return claimed
}

// flowEnds are the source and destination of every flow: a flow whose
// reverse is among them was answered.
func (s *state) flowEnds() map[[2]netip.AddrPort]bool {
	ends := make(map[[2]netip.AddrPort]bool, len(s.flows))
	for _, f := range s.flows {
		ends[[2]netip.AddrPort{f.Key.Src, f.Key.Dst}] = true
	}
	return ends
}

// replyIndex holds the flows bound by an SDP address, by their source.
type replyIndex map[flowKey][]boundFlow

func repliesTo(claimed []boundFlow) replyIndex {
	r := replyIndex{}
	for _, x := range claimed {
		k := flowKey{Src: x.flow.Key.Src, RTCP: x.flow.Key.RTCP}
		r[k] = append(r[k], x)
	}
	return r
}

// bind gives a flow no SDP address names to the stream whose media comes
// from where it goes, at the same time: a party receives where it sends
// from (symmetric RTP, RFC 4961), so the flow is that stream's other
// direction, whatever a NAT did to its source. Of such streams, the one
// that began nearest to it.
func (r replyIndex) bind(f *rtpFlow) (binding, bool) {
	var best boundFlow
	var gap time.Duration
	found := false
	for _, x := range r[flowKey{Src: f.Key.Dst, RTCP: f.Key.RTCP}] {
		if x.flow.First().After(f.Last()) || f.First().After(x.flow.Last()) {
			continue
		}
		d := x.flow.First().Sub(f.First()).Abs()
		if !found || d < gap {
			best, gap, found = x, d, true
		}
	}
	if !found {
		return binding{}, false
	}
	bd := best.bd
	return binding{call: bd.call, dlg: bd.dlg, mIndex: bd.mIndex, sender: other(bd.sender)}, true
}

// holdCallsWithMedia takes back from ending the calls a stream still
// flowed to within quietAfter of now: they are judged at a later sweep.
func holdCallsWithMedia(ending map[*sipCall]bool, claimed []boundFlow, now time.Time) {
	for _, x := range claimed {
		if ending[x.bd.call] && now.Sub(x.flow.Last()) < quietAfter {
			for _, leg := range x.bd.call.group.legs {
				delete(ending, leg)
			}
		}
	}
}

// attachMedia keeps the builds of calls still ending and gives each leg
// (and each early dialog) the streams bound to its dialog, which leave the
// stream table.
func (s *state) attachMedia(groups []*groupBuild, ending map[*sipCall]bool, claimed []boundFlow) []*groupBuild {
	kept := groups[:0]
	index := map[*dialog]*callBuild{}
	for _, g := range groups {
		if !ending[g.legs[0].call] {
			continue
		}
		kept = append(kept, g)
		for _, cb := range g.legs {
			index[cb.dlg] = cb
			for _, e := range cb.early {
				index[e.dlg] = e
			}
		}
	}
	for _, x := range claimed {
		if cb := index[x.bd.dlg]; cb != nil {
			cb.flows = append(cb.flows, x)
			s.dropFlow(x.flow)
		}
	}
	for _, g := range kept {
		g.shareFlows()
	}
	return kept
}

// judge turns each call into its report entry, compacted unless the
// output draws single calls, and files it in order.
func (s *state) judge(groups []*groupBuild, now time.Time) {
	hasMedia := s.counts.rtp > 0
	for _, g := range groups {
		rc := g.report(hasMedia, now)
		number := g.legs[0].call.group.number
		s.keepJudged(rc, number) // filter.go
		s.dialScans.judged(g.legs[0].call, rc.Verdict, number)
	}
}

// dropFlow forgets a stream that went into a call's report.
func (s *state) dropFlow(f *rtpFlow) {
	if s.flowDone != nil {
		s.flowDone(f)
	}
	s.unkey(f) // sealflows.go
}

// dropOrphans moves streams silent for orphanAfter that no call claimed
// into the orphan summary.
func (s *state) dropOrphans(now time.Time) {
	for _, f := range s.flows {
		if now.Sub(f.Last()) >= orphanAfter {
			s.orphan(f)
		}
	}
}

// orphan records a stream that belongs to no call in the capture.
func (s *state) orphan(f *rtpFlow) {
	s.dropFlow(f)
	if f.Key.RTCP {
		s.sessions.addRTCP(f) // orphans.go
		return
	}
	if f.Packets < minHeuristicPackets {
		return
	}
	s.orphanPackets += f.Packets
	s.orphanStreams++
	s.sessions.add(f, s.unreach.about(f.Key.Src, f.Key.Dst).refuses(f)) // orphans.go
}

// maxOrphanEvidence bounds the sessions listed in media-without-signalling.
const maxOrphanEvidence = 10

// finishCalls finalises everything and returns the calls in order, named
// C1, C2, ... by the order their INVITEs appeared.
func (s *state) finishCalls() []report.Call {
	s.sweep(s.last, true)
	if s.ordered != nil {
		s.ordered.flush()
	}
	return s.done.take()
}

// report builds the report.Call of one dialog: its identity and timing,
// then its streams judged one by one, then the call's verdict and findings.
func (cb *callBuild) report(captureHasMedia bool, now time.Time) report.Call {
	rc := cb.callHeader()
	streams := replay(cb.timeline())
	// ICE checks on the call's media addresses show that the capture sees
	// the media path, though no RTP may have taken it.
	captureHasMedia = captureHasMedia || cb.iceSeen(streams)
	cb.signallingOnly = !captureHasMedia
	facts := cb.callFacts(captureHasMedia, now)
	if facts.SDPMissing {
		assumeAnswered(streams)
		if len(streams) == 0 && cb.carriesRTP() {
			streams = append(streams, unseenSDPStream())
		}
	}
	sigs := [2]netip.AddrPort{cb.call.CallerSig, cb.dlg.CalleeSig}
	var verdicts []StreamVerdict
	var media []string
	var allFacts []StreamFacts
	for _, st := range streams {
		ms, sf := cb.streamReport(st, streams, sigs)
		facts.MediaNegotiated = facts.Answered && (st.latest[caller] != nil || facts.SDPMissing) && (st.latest[callee] != nil || facts.SDPMissing)
		v := JudgeStream(sf, facts)
		ms.Verdict = v.Verdict
		rc.Streams = append(rc.Streams, ms)
		verdicts = append(verdicts, v)
		media = append(media, st.media)
		allFacts = append(allFacts, sf)
	}
	v := JudgeCall(verdicts, media, facts)
	rc.Verdict, rc.CannotHear, rc.Explain = v.Verdict, v.CannotHear, v.Explain
	counted := verdictCounts(media, v)
	for k := range rc.Streams {
		rc.Streams[k].InVerdict = counted(k)
	}
	cb.noteForwards(streams, allFacts, v, sigs) // portforward.go
	if v.Verdict == report.VerdictNotAnswered {
		na := v.NotAnswered
		rc.NotAnswered = &na
	}
	rc.EarlyDialogs = cb.earlyDialogs()
	var setup *report.Finding
	f, ok := setupFinding(cb, facts.Setup, v)
	if cf, failed := connectFinding(cb, v); failed && (!ok || f.ID == IDCalleeNeverRang || f.ID == IDRequestUnanswered) {
		// The server could not connect to pass the INVITE on: the cause
		// the generic finding only guesses at (tcpconnect.go).
		f, ok = cf, true
	}
	if !ok || f.ID == IDCalleeNeverRang {
		// The callee's own REGISTERs say why it could not be called.
		if nf, unregistered := calleeUnregisteredFinding(cb, rc.NotAnswered); unregistered { // calleereg.go
			f, ok = nf, true
		}
	}
	if !ok {
		f, ok = contactFamilyFinding(cb, rc.NotAnswered) // family.go
	}
	if !ok {
		f, ok = offerRefusedFinding(cb, rc.NotAnswered) // offerrefused.go
	}
	if !ok {
		f, ok = callAuthFinding(cb, facts.Setup, rc.NotAnswered, now) // callauth.go
	}
	if ok {
		setup = &f
		// Only a scanner's unanswered INVITE is no problem (scanSign).
		if f.ID == IDRequestUnanswered && f.Severity == report.SeverityInfo && rc.NotAnswered != nil {
			rc.NotAnswered.Scanner = true
		}
	}
	rc.Findings = callFindings(cb, streams, media, allFacts, v, sigs, setup)
	addRTCPViews(cb, &rc)                                                        // rtcp_report.go
	rc.Findings = append(rc.Findings, qualityFindings(rc, cb.listedPayloads)...) // quality_findings.go
	rc.Findings = append(rc.Findings, remapFindings(&rc, cb)...)                 // rebind.go
	rc.Findings = append(rc.Findings, stoppedFindings(&rc, cb, streams)...)      // stopped.go
	rc.Findings = append(rc.Findings, lateStartFindings(&rc, cb, streams)...)    // latestart.go
	rc.Findings = append(rc.Findings, payloadFindings(&rc, cb)...)               // payload.go
	return rc
}

// callHeader fills what identifies the dialog: tags, parties, status,
// state and its start, answer and end times.
func (cb *callBuild) callHeader() report.Call {
	c, d := cb.call, cb.dlg
	parties := cb.parties()
	cb.judged = &parties
	rc := report.Call{
		CallID: c.CallID, FromTag: c.FromTag, ToTag: d.Tag,
		Caller: parties[caller], Callee: parties[callee], Start: c.Start, Answer: d.Answered, End: c.End,
		Status: c.Status, Transport: c.Transport, Messages: c.Messages,
	}
	if d.Status != 0 {
		rc.Status = d.Status
	}
	if rc.End.IsZero() && !d.answered() && !c.FailedAt.IsZero() {
		rc.End = c.FailedAt
	}
	if rc.End.IsZero() {
		// No BYE in the capture: the call lasted at least as long as its
		// signalling and its media.
		rc.End = c.Last
		for _, bf := range cb.flows {
			if l := bf.flow.Last(); l.After(rc.End) {
				rc.End = l
			}
		}
	}
	rc.State = callState(c, d)
	return rc
}

// callFacts are the call-wide facts the verdict rules read, at now.
func (cb *callBuild) callFacts(captureHasMedia bool, now time.Time) CallFacts {
	c, d := cb.call, cb.dlg
	setup := c.setup.facts(now)
	if e := cb.unreach.about(c.setup.src, c.setup.dst); e != nil && c.setup.sent > 0 {
		setup.Unreachable = "an ICMP error: " + e.reason()
	} else if r, ok := cb.unreach.connects().resetAfter(c.setup.src, c.setup.dst, c.setup.sentAt); ok && c.setup.sent > 0 && !c.setup.responded {
		setup.Unreachable = resetText(c.setup.dst, r.frame) // tcpconnect.go
	}
	setup.Cancelled, setup.DialogStatus, setup.CallStatus = c.Cancelled, d.Status, c.Status
	setup.Resends = !reliableTransport(c.Transport)
	if cb.view.reached(c.setup.dst.Addr()) {
		// Taken on the receiver's host or its side of its NAT (a cloud
		// server behind its provider's 1:1 NAT): the INVITE arrived.
		setup.PublicToPrivate = false
	}
	facts := CallFacts{
		StartSeen:           c.StartSeen,
		CaptureHasMedia:     captureHasMedia,
		BothSidesSignalling: c.SeenFrom[caller] && c.SeenFrom[callee],
		Answered:            d.answered(),
		Setup:               setup,
		Relayed:             cb.relayed,
	}
	facts.SDPMissing, facts.SDPUnreadable = c.sdpMissing(d), c.sdpErrors > 0
	if facts.Answered && d.Answered.IsZero() {
		return facts // answered when, the capture does not say (inferAnswer)
	}
	if facts.Answered && c.byeNs == [2]int64{} && now.After(d.Answered) {
		// Still up when judged: the capture ended (calls that went quiet
		// mid-capture are judged 30 s later, long past cutShort).
		facts.CutShortAfter = now.Sub(d.Answered)
	}
	if by, at, ok := c.firstBye(); facts.Answered && ok && !at.Before(d.Answered) {
		facts.HungUpAfter, facts.HungUpBy = max(at.Sub(d.Answered), time.Nanosecond), by
	}
	return facts
}

// firstBye is the party that sent the call's first BYE, and when.
func (c *sipCall) firstBye() (party int, at time.Time, ok bool) {
	for p, ns := range c.byeNs {
		if ns != 0 && (!ok || ns < at.UnixNano()) {
			party, at, ok = p, time.Unix(0, ns), true
		}
	}
	return party, at, ok
}

// streamReport describes one stream of the dialog and gathers the flows
// it carries into the facts its verdict is derived from.
func (cb *callBuild) streamReport(st *streamState, streams []*streamState, sigs [2]netip.AddrPort) (report.MediaStream, StreamFacts) {
	ms := report.MediaStream{Index: st.index, Media: st.media}
	if cb.describeSDP {
		ms.Offer = describe(st.latest[caller], st.latestEv[caller])
		ms.Answer = describe(st.latest[callee], st.latestEv[callee])
	}
	sf := st.facts()
	var views *[2]partyView // made for the first flow the stream carries
	dirs := newDeliveries()
	var carried []boundFlow
	var audio, events [2]bool // directions with flows of audio, of telephone events alone
	for _, bf := range cb.flows {
		if !st.carries(bf, streams) {
			continue
		}
		if !bf.flow.Key.RTCP {
			if bf.flow.onlyEvents() {
				events[bf.bd.sender] = true
			} else {
				audio[bf.bd.sender] = true
			}
		}
		if views == nil {
			v := cb.views(sigs, st, streams)
			views = &v
		}
		carried = append(carried, bf)
		fr := flowReport(bf, sigs)
		delivered, proof, doubt, filtered := cb.delivery(bf, sigs, *views)
		to, from := other(bf.bd.sender), bf.bd.sender
		icmp := cb.unreach.about(bf.flow.Key.Src, bf.flow.Key.Dst)
		fr.Refused = icmp.refuses(bf.flow)
		fr.Unreachable = unreachableFromOutside(bf.flow.Key.Dst.Addr(), sigs[to].Addr()) && !cb.sendsFrom(to, bf.flow.Key.Dst.Addr()) || fr.Refused != ""
		toAudio := false
		// Fax sent to the audio port also comes from another port than the
		// receiver's audio went to; the T.38 port named mends both.
		if audio, ok := cb.faxToAudioPort(bf, st, streams); ok && (delivered || filtered == filteredByPort) && !fr.Unreachable {
			delivered, proof, toAudio, filtered = false, "", true, notFiltered
			doubt = fmt.Sprintf("sent to %s, the %s's audio port, not port %d, where its T.38 answer asked for the fax", audio, partyNames[to], st.latest[to].Port)
			sf.FaxToAudioPort[from] = true
		}
		fr.Unproven = !delivered && !fr.Unreachable
		if fr.Refused != "" {
			// Seen arriving or not, it reached no application.
			explainRefusal(&sf, bf, sigs, icmp.reporter, delivered, doubt)
			delivered, proof, doubt = false, "", "refused "+allAlongICMP(fr.Refused)
		}
		ms.Flows = append(ms.Flows, fr)
		if bf.flow.Key.RTCP {
			continue
		}
		dirs.add(from, bf.flow.Packets, delivered, proof, doubt)
		if filtered != notFiltered {
			// Refused or silently dropped: where it came from is the cause.
			sf.FromOtherAddress[from] = true
		}
		switch {
		case fr.Unreachable:
			sf.Undeliverable[from] += bf.flow.Packets
			if fr.Refused != "" {
				sf.Refused[from] = fr.Refused
			}
		case fr.Unproven:
			sf.Unproven[from] += bf.flow.Packets
			sf.Doubt[from] = doubt
			if cb.unproven == nil {
				cb.unproven = map[*rtpFlow]string{}
			}
			why := fmt.Sprintf("sent to a port of the %s's NAT nothing shows is forwarded: likely lost", partyNames[to])
			if dst := bf.flow.Key.Dst.Addr(); isPublic(dst) && dst != sigs[to].Addr() && !cb.sendsFrom(to, dst) {
				why = fmt.Sprintf("sent to an address neither the %s's SIP nor its media comes from: likely lost", partyNames[to])
			}
			if filtered != notFiltered {
				why = fmt.Sprintf("sent from %s the %s's own media does not go to, which its NAT's %s keeps out: likely lost",
					filtered.what(), partyNames[to], filtered.filter())
			}
			if cb.behindPrivateNAT(to, bf.flow.Key, views[to], sigs[to]).IsValid() {
				why = fmt.Sprintf("sent to a private address behind the %s's NAT, which nothing shows forwarding it: likely lost", partyNames[to])
			}
			if toAudio {
				why = fmt.Sprintf("sent to the %s's audio port, not the T.38 port its answer named: likely lost to its fax", partyNames[to])
			}
			cb.unproven[bf.flow] = why
		default:
			sf.Delivered[from] += bf.flow.Packets
		}
	}
	sf.EventsOnly = [2]bool{events[caller] && !audio[caller], events[callee] && !audio[callee]}
	sf.Reported = reportedDirections(carried, cb.dlg.Answered, cb.farRTCP) // rtcp_report.go
	sf.SameHost, sf.HostAddrs = cb.sameHost(st, sigs, carried)
	if sf.noRTP() {
		reportedDeliveries(&dirs, sf.Reported)
		sf.SameNAT, sf.LANAddrs = cb.sameNAT(st, sigs)
		sf.PastIntermediary, sf.MediaAddrs = cb.mediaPast(st, sigs)
		sf.OffLoopback = cb.offLoopback(st)
	}
	ms.Delivery = dirs.list()
	return ms, sf
}

// sendsFrom says whether party p's own media in the call comes from
// addr: then addr, private or not, is where p is on the capture's side
// (a B2BUA that handed the media to two phones on one LAN names the far
// phone's private address, and the capture there sees it send), not an
// address no one can reach.
func (cb *callBuild) sendsFrom(p int, addr netip.Addr) bool {
	return slices.ContainsFunc(cb.flows, func(bf boundFlow) bool { return bf.bd.sender == p && bf.flow.Key.Src.Addr() == addr })
}

// sentRTP says whether party p sent RTP the capture bound to the dialog.
func (cb *callBuild) sentRTP(p int) bool {
	return slices.ContainsFunc(cb.flows, func(bf boundFlow) bool { return bf.bd.sender == p && !bf.flow.Key.RTCP && !bf.flow.udptl })
}

// carriesRTP says whether RTP flows are bound to the dialog.
func (cb *callBuild) carriesRTP() bool {
	return slices.ContainsFunc(cb.flows, func(bf boundFlow) bool { return !bf.flow.Key.RTCP && !bf.flow.udptl })
}

// faxToAudioPort says whether bf, T.38 (UDPTL) sent on fax stream st,
// went to its receiver's audio port (a port its audio SDP named, or
// where its RTP came from) while the receiver's T.38 SDP named another
// port, and the receiver sent no fax of its own from that audio port:
// the far end kept the audio's address (as one that learns a NATed
// phone's media address from its packets does), and the fax listens on
// the other port. audio is where the fax went.
func (cb *callBuild) faxToAudioPort(bf boundFlow, st *streamState, streams []*streamState) (audio netip.AddrPort, ok bool) {
	to, dst := other(bf.bd.sender), bf.flow.Key.Dst
	fax := st.latest[to]
	if !bf.flow.udptl || !st.udptl || fax == nil || fax.Port == 0 || int(dst.Port()) == fax.Port {
		return netip.AddrPort{}, false
	}
	namedAudio := false
	for _, o := range streams {
		if o.media != "audio" {
			continue
		}
		for _, a := range o.all[to] {
			if int(a.Port()) == fax.Port {
				return netip.AddrPort{}, false // its audio and fax share the port
			}
			namedAudio = namedAudio || a == dst
		}
	}
	audioFrom := false
	for _, x := range cb.flows {
		if x.bd.sender != to || x.flow.Key.Src != dst {
			continue
		}
		if x.flow.udptl {
			return netip.AddrPort{}, false // its fax comes from there: it listens there too
		}
		audioFrom = audioFrom || !x.flow.Key.RTCP
	}
	if audioFrom || namedAudio {
		return dst, true
	}
	return netip.AddrPort{}, false
}

// explainRefusal notes in sf why a refused flow's sender is not heard
// beyond the ICMP errors themselves: a NAT that does not hairpin, or,
// for a flow sent to a port of the receiver's NAT its media does not
// leave from (not delivered, doubt), that NAT refusing the port.
func explainRefusal(sf *StreamFacts, bf boundFlow, sigs [2]netip.AddrPort, refuser netip.Addr, delivered bool, doubt string) {
	to, from := other(bf.bd.sender), bf.bd.sender
	switch dst := bf.flow.Key.Dst.Addr(); {
	case hairpinRefused(bf.flow.Key.Src.Addr(), dst, sigs[to].Addr(), refuser):
		sf.Hairpin[from] = true
		sf.Doubt[from] = fmt.Sprintf("sent from the %s's own LAN to %s, the public address of its NAT, which refuses it instead of looping it back in (no hairpinning)",
			partyNames[to], dst)
	case !delivered:
		sf.Doubt[from] = doubt
	}
}

// sameNAT is the public address both parties of the stream are behind,
// when both SDPs name private addresses of one family: each party's SIP
// source, or for a party this leg reaches through a proxy, that of the
// call's own caller or callee on its other legs (farEnds). Two homes on
// the same 192.168.1.0/24 behind different NATs are no LAN.
func (cb *callBuild) sameNAT(st *streamState, sigs [2]netip.AddrPort) (netip.Addr, [2]netip.AddrPort) {
	var lan [2]netip.AddrPort
	for p := range lan {
		m := st.latest[p]
		if m == nil || !m.Addr.IsValid() || !IsPrivate(m.Addr.Addr()) {
			return netip.Addr{}, lan
		}
		lan[p] = m.Addr
	}
	if lan[caller].Addr().Is4() != lan[callee].Addr().Is4() || lan[caller] == lan[callee] {
		return netip.Addr{}, lan
	}
	for _, a := range cb.ownSigAddrs(caller, sigs) {
		if isPublic(a) && slices.Contains(cb.ownSigAddrs(callee, sigs), a) {
			return a, lan
		}
	}
	return netip.Addr{}, lan
}

// sameHost is the private host both of the call's own parties signal
// from, neither behind NAT, when the offer and answer of stream st named
// two ports of its address for most of the call (a B2BUA that hands two
// softphones on one computer the media between them, and takes it back
// just before the BYE), and none of the flows it carried went between two
// of its addresses: their media stayed inside that host (a capture on its
// loopback would hold it).
func (cb *callBuild) sameHost(st *streamState, sigs [2]netip.AddrPort, carried []boundFlow) (netip.Addr, [2]netip.AddrPort) {
	h := &st.onOneHost
	host := h.pair[caller].Addr()
	// A public address both parties name may be a NAT's that phones
	// behind it learnt by STUN: only a private one is surely one host.
	if !host.IsValid() || host.IsLoopback() || isPublic(host) || cb.dlg.Answered.IsZero() || cb.view.loopback != nil ||
		sigs[caller].Addr() == host && sigs[callee].Addr() == host {
		// A capture that holds the host's SIP to itself would hold its
		// media too.
		return netip.Addr{}, h.pair
	}
	for p := range 2 {
		// Parties behind one NAT share its address: their media goes
		// out to it, which must loop it back in.
		if !slices.Contains(cb.ownSigAddrs(p, sigs), host) || cb.behindNAT(p) {
			return netip.Addr{}, h.pair
		}
	}
	end := cb.call.End
	if end.IsZero() {
		end = cb.call.Last
	}
	if 2*h.lasted(end) < end.Sub(cb.dlg.Answered) {
		return netip.Addr{}, h.pair
	}
	for _, bf := range carried {
		if bf.flow.Key.Src.Addr() == host && bf.flow.Key.Dst.Addr() == host {
			return netip.Addr{}, h.pair
		}
	}
	return host, h.pair
}

// senderName names who sent media from src at end p of the leg, for a
// finding: "caller" or "callee"; but where a B2BUA stands at that end of
// one leg of a longer call and the media comes from its own host, the
// B2BUA ("b2bua 10.0.0.5"), which anchors the media: the call's caller is
// not the B2BUA that calls on its behalf. Media from elsewhere passed it
// by (direct media), and a proxy passes on its party's own SDP: both are
// the party's media.
func (cb *callBuild) senderName(p int, src netip.Addr) string {
	if cb.roles[p] != roleB2BUA {
		return partyNames[p]
	}
	party := cb.parties()[p]
	if party.Host != src.String() {
		return partyNames[p]
	}
	return partyLabel(party)
}

// ownSigAddrs are the addresses the call's own party at end p of the leg
// signals from: the leg's own, or, where an intermediary stands at that
// end, the party's on the call's other legs (farEnds).
func (cb *callBuild) ownSigAddrs(p int, sigs [2]netip.AddrPort) []netip.Addr {
	if cb.roles[p] == "" {
		return []netip.Addr{sigs[p].Addr()}
	}
	return cb.farEnds[p]
}

// earlyDialogs describes the forks that answered only provisionally, with
// their early media.
func (cb *callBuild) earlyDialogs() []report.EarlyDialog {
	var out []report.EarlyDialog
	for _, e := range cb.early {
		ed := report.EarlyDialog{ToTag: e.dlg.Tag, Status: e.dlg.Status, UserAgent: e.dlg.CalleeUA}
		if e.dlg.CalleeSig.IsValid() {
			ed.SignalAddr = e.dlg.CalleeSig.String()
		}
		sigs := [2]netip.AddrPort{cb.call.CallerSig, e.dlg.CalleeSig}
		streams := replay(e.timeline())
		for _, st := range streams {
			ms, _ := e.streamReport(st, streams, sigs)
			ms.Verdict = report.VerdictNotAnswered
			ed.Streams = append(ed.Streams, ms)
		}
		out = append(out, ed)
	}
	return out
}

// answered says whether the dialog's INVITE got a 2xx.
func (d *dialog) answered() bool { return d.Status >= 200 && d.Status < 300 }

// answered: an INVITE of the leg got a 2xx (c.Status keeps it).
func (c *sipCall) answered() bool { return c.Status >= 200 && c.Status < 300 }

func callState(c *sipCall, d *dialog) string {
	switch {
	case c.Cancelled && !d.answered(): // the 487 (or a failure racing it) is the CANCEL's outcome
		return "cancelled"
	case d.Status >= 300 || (d.Status < 200 && c.Status >= 300):
		return "rejected"
	case d.Status >= 200 && c.ByeSeen:
		return "ended"
	case d.Status >= 200:
		return "answered"
	}
	return "in-progress"
}

func describe(m *sdpMedia, ev *sdpEvent) *report.MediaDescription {
	if m == nil || ev == nil {
		return nil
	}
	md := &report.MediaDescription{
		Party: partyNames[ev.Party], Frame: ev.Frame, Direction: m.Direction,
		Proto: m.Proto, Codecs: m.Codecs, Origin: ev.SDP.Origin,
	}
	if m.Addr.IsValid() {
		md.Addr = m.Addr.String()
	} else {
		md.Addr = fmt.Sprintf("%s:%d", m.ConnAddr, m.Port)
	}
	if m.RTCP.IsValid() {
		md.RTCPAddr = m.RTCP.String()
	}
	for _, c := range m.Candidates {
		if c.Component == 1 {
			md.ICECandidates = append(md.ICECandidates, c.Type+" "+c.Addr.String())
		}
	}
	return md
}

func flowReport(bf boundFlow, sigs [2]netip.AddrPort) report.RTPFlow {
	f := bf.flow
	r := report.RTPFlow{
		Direction: directionNames[bf.bd.sender], Src: f.Key.Src.String(), Dst: f.Key.Dst.String(),
		SSRCs: []uint32{f.Key.SSRC}, PayloadTypes: f.PayloadTypes(),
		Packets: f.Packets, Bytes: f.Bytes, First: f.First(), Last: f.Last(),
		FirstFrame: f.FirstFrame, LastFrame: f.LastFrame, MatchedSDP: bf.bd.matched, ICECandidate: bf.bd.candidate,
		RTCP: f.Key.RTCP, UDPTL: f.udptl, MaxGapMs: float64(f.MaxGap().Microseconds()) / 1000,
		Timeline: append([]uint32(nil), f.activity...), TimelineStepMs: f.step.Milliseconds(),
	}
	if f.turn.server.IsValid() {
		r.TURNServer, r.TURNClient = f.turn.server.String(), f.turn.client.String()
	}
	if !f.Key.RTCP {
		r.Lost = f.Lost()
		r.JitterMs = round2(f.JitterMs())
	}
	if !f.Key.RTCP && !f.udptl { // T.38 has no RTP timing or audio to judge
		r.Quality = f.qualityReport()
		r.MaxGapMs = float64(f.q.MaxDelta().Microseconds()) / 1000
	}
	return r
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

func partyLabel(p report.Party) string {
	name := p.User
	if p.Host != "" {
		if name != "" {
			name += "@"
		}
		name += p.Host
	}
	if name == "" {
		return p.Role
	}
	return p.Role + " " + name
}

func joinAddrs(a []netip.AddrPort) string {
	var s []string
	for _, x := range a {
		s = append(s, x.String())
	}
	return strings.Join(s, ", ")
}
