package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// boundFlow is a flow with the call it was bound to.
type boundFlow struct {
	flow *rtpFlow
	bd   binding
}

// callBuild collects one reported dialog's pieces.
type callBuild struct {
	call  *sipCall
	dlg   *dialog
	flows []boundFlow
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

// doneCall is a finalised report call with its order key.
type doneCall struct {
	seq, dialog int
	call        report.Call
}

// ended says whether the call's signalling is over.
func (c *sipCall) ended() bool {
	return c.ByeSeen || c.Cancelled || (!c.FailedAt.IsZero() && c.Status >= 300)
}

// sweep binds quiet streams and finalises the calls that ended at least
// quietAfter before now; final does it for everything left.
func (s *state) sweep(now time.Time, final bool) {
	ending := map[*sipCall]bool{}
	var builds []*callBuild
	index := map[*dialog]*callBuild{}
	for _, c := range s.calls.order {
		if final || (c.ended() && now.Sub(c.Last) >= c.quietNeeded()) {
			ending[c] = true
			for _, d := range c.reportDialogs() {
				cb := &callBuild{call: c, dlg: d}
				builds = append(builds, cb)
				index[d] = cb
			}
		}
	}
	if len(ending) == 0 && !final {
		s.dropOrphans(now)
		return
	}
	if s.binder == nil {
		s.binder = newBinder()
	}
	b := s.binder
	defer b.reset() // hold no finished call alive until the next sweep
	for _, c := range s.calls.order {
		b.addCall(c, now)
	}
	// Bind every stream; a call still receiving media is not finished.
	type bound struct {
		f  *rtpFlow
		bd binding
	}
	claimed := make([]bound, 0, len(s.flows))
	var rest []*rtpFlow
	for _, f := range s.sortedFlows() {
		bd, ok := b.bind(f)
		if !ok {
			rest = append(rest, f)
			continue
		}
		claimed = append(claimed, bound{f, bd})
	}
	for _, f := range rest {
		if f.Packets >= minHeuristicPackets {
			if bd, ok := b.bindHeuristic(f); ok {
				claimed = append(claimed, bound{f, bd})
			}
		}
	}
	if !final {
		for _, x := range claimed {
			if ending[x.bd.call] && now.Sub(x.f.Last()) < quietAfter {
				delete(ending, x.bd.call) // media still flowing: later
			}
		}
	}
	kept := builds[:0]
	for _, cb := range builds {
		if ending[cb.call] {
			kept = append(kept, cb)
		} else {
			delete(index, cb.dlg)
		}
	}
	builds = kept
	for _, x := range claimed {
		if cb := index[x.bd.dlg]; cb != nil {
			cb.flows = append(cb.flows, boundFlow{x.f, x.bd})
			s.dropFlow(x.f)
		}
	}
	hasMedia := s.counts.rtp > 0
	dialogIndex := map[*sipCall]int{}
	for _, cb := range builds {
		rc := cb.report("", hasMedia)
		if !s.detail {
			rc = compactCall(rc)
		}
		s.done.add(doneCall{seq: cb.call.Seq, dialog: dialogIndex[cb.call], call: rc})
		dialogIndex[cb.call]++
		if s.onJudged != nil {
			s.onJudged(rc)
		}
	}
	s.calls.remove(ending)
	s.forgetRtpmaps(ending)
	if final {
		for _, f := range s.sortedFlows() {
			s.orphan(f)
		}
	} else {
		s.dropOrphans(now)
	}
}

// dropFlow forgets a stream that went into a call's report.
func (s *state) dropFlow(f *rtpFlow) {
	delete(s.flows, f.Key)
	if !f.Key.RTCP && f.Key.Src.Addr().Is4() && f.Key.Dst.Addr().Is4() {
		k := fastKey(f.Key.Src, f.Key.Dst, f.Key.SSRC)
		delete(s.fast, k)
		if slot := &s.recent[recentSlot(k)]; slot.f == f {
			*slot = recentFlow{}
		}
	}
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
	if f.Key.RTCP || f.Packets < minHeuristicPackets {
		return
	}
	s.orphanPackets += f.Packets
	s.orphanStreams++
	if len(s.orphans) < maxOrphanEvidence {
		s.orphans = append(s.orphans, f)
	}
}

// maxOrphanEvidence bounds the streams listed in media-without-signalling.
const maxOrphanEvidence = 10

// finishCalls finalises everything and returns the calls in order, named
// C1, C2, ... by the order their INVITEs appeared.
func (s *state) finishCalls() []report.Call {
	s.sweep(s.last, true)
	return s.done.take()
}

// streamState replays a dialog's offer/answer to find, per m= line, which
// directions were ever expected and whether the end state is a hold.
type streamState struct {
	media    string
	expected [2]bool
	held     bool
	latest   [2]*sdpMedia
	latestEv [2]*sdpEvent
	all      [2][]netip.AddrPort // every address each party named
}

func replay(events []sdpEvent) []*streamState {
	var streams []*streamState
	for ei := range events {
		ev := &events[ei]
		for i := range ev.SDP.Media {
			for len(streams) <= i {
				streams = append(streams, &streamState{})
			}
			st := streams[i]
			m := &ev.SDP.Media[i]
			if st.media == "" {
				st.media = m.Media
			}
			st.latest[ev.Party], st.latestEv[ev.Party] = m, ev
			if m.Addr.IsValid() && !isHoldAddress(m.Addr) {
				st.all[ev.Party] = append(st.all[ev.Party], m.Addr)
			}
			st.evaluate()
		}
	}
	return streams
}

// evaluate applies RFC 3264 §5.1/§6.1 to the latest pair: a direction flows
// when its sender may send, its receiver may receive, neither side
// rejected the stream (port 0) or held it with c=0.0.0.0 (RFC 3264 §8.4).
func (st *streamState) evaluate() {
	a, b := st.latest[caller], st.latest[callee]
	if a == nil || b == nil {
		return
	}
	if a.Port == 0 || b.Port == 0 {
		st.held = false
		return
	}
	if isHoldAddress(a.Addr) || isHoldAddress(b.Addr) {
		st.held = true
		return
	}
	fwd := sends(a.Direction) && receives(b.Direction)
	back := sends(b.Direction) && receives(a.Direction)
	st.expected[0] = st.expected[0] || fwd
	st.expected[1] = st.expected[1] || back
	st.held = !(fwd && back)
}

// report builds the report.Call of one dialog.
func (cb *callBuild) report(id string, captureHasMedia bool) report.Call {
	c, d := cb.call, cb.dlg
	rc := report.Call{
		ID: id, CallID: c.CallID, FromTag: c.FromTag, ToTag: d.Tag,
		Caller: c.Caller, Callee: c.Callee, Start: c.Start, Answer: d.Answered, End: c.End,
		Status: c.Status, Transport: c.Transport, Messages: c.Messages,
	}
	if d.Status != 0 {
		rc.Status = d.Status
	}
	if d.CalleeSig.IsValid() {
		rc.Callee.SignalAddr = d.CalleeSig.String()
		if d.CalleeUA != "" {
			rc.Callee.UserAgent = d.CalleeUA
		}
	}
	if rc.End.IsZero() && !(d.Status >= 200 && d.Status < 300) && !c.FailedAt.IsZero() {
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
	events := c.timeline(d)
	streams := replay(events)
	answered := d.Status >= 200 && d.Status < 300
	facts := CallFacts{
		StartSeen:           c.StartSeen,
		CaptureHasMedia:     captureHasMedia,
		BothSidesSignalling: c.SeenFrom[caller] && c.SeenFrom[callee],
	}
	sigs := [2]netip.AddrPort{c.CallerSig, d.CalleeSig}
	var verdicts []StreamVerdict
	var media []string
	var allFacts []StreamFacts
	for i, st := range streams {
		ms := report.MediaStream{Index: i, Media: st.media}
		ms.Offer = describe(st.latest[caller], st.latestEv[caller])
		ms.Answer = describe(st.latest[callee], st.latestEv[callee])
		sf := StreamFacts{Expected: st.expected, HeldAtEnd: st.held}
		if !answered {
			// Before an answer only early media from the callee is
			// expected, and it need not come (RFC 3960 §3).
			sf.Expected = [2]bool{}
		}
		for _, bf := range cb.flows {
			if bf.bd.mIndex != i && len(streams) > 1 {
				continue
			}
			fr := flowReport(bf, sigs)
			to := other(bf.bd.sender)
			fr.Unreachable = unreachableFromOutside(bf.flow.Key.Dst.Addr(), sigs[to].Addr())
			ms.Flows = append(ms.Flows, fr)
			if bf.flow.Key.RTCP {
				continue
			}
			if fr.Unreachable {
				sf.Undeliverable[bf.bd.sender] += bf.flow.Packets
			} else {
				sf.Delivered[bf.bd.sender] += bf.flow.Packets
			}
		}
		facts.MediaNegotiated = answered && st.latest[caller] != nil && st.latest[callee] != nil
		v := JudgeStream(sf, facts)
		if !answered {
			v = StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: notAnsweredReason(c, d)}
		}
		ms.Verdict = v.Verdict
		rc.Streams = append(rc.Streams, ms)
		verdicts = append(verdicts, v)
		media = append(media, st.media)
		allFacts = append(allFacts, sf)
	}
	v := JudgeCall(verdicts, media)
	if len(streams) == 0 || !answered {
		v = StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: notAnsweredReason(c, d)}
		if answered {
			v.Explain = "the call was answered but no SDP offer/answer was seen"
			if !c.StartSeen {
				v = StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(facts)}
			}
		}
	}
	rc.Verdict, rc.CannotHear, rc.Explain = v.Verdict, v.CannotHear, v.Explain
	rc.Findings = callFindings(cb, streams, allFacts, v, sigs)
	return rc
}

func notAnsweredReason(c *sipCall, d *dialog) string {
	switch {
	case c.Cancelled:
		return "the caller cancelled before an answer"
	case d.Status >= 300:
		return fmt.Sprintf("the call was rejected (%d)", d.Status)
	case c.Status >= 300:
		return fmt.Sprintf("the call was rejected (%d)", c.Status)
	}
	return "no answer (2xx) to the INVITE was seen"
}

func callState(c *sipCall, d *dialog) string {
	switch {
	case c.Cancelled && d.Status < 200:
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
	return md
}

func flowReport(bf boundFlow, sigs [2]netip.AddrPort) report.RTPFlow {
	f := bf.flow
	dir := "caller->callee"
	if bf.bd.sender == callee {
		dir = "callee->caller"
	}
	r := report.RTPFlow{
		Direction: dir, Src: f.Key.Src.String(), Dst: f.Key.Dst.String(),
		SSRCs: []uint32{f.Key.SSRC}, PayloadTypes: f.PayloadTypes(),
		Packets: f.Packets, Bytes: f.Bytes, First: f.First(), Last: f.Last(),
		FirstFrame: f.FirstFrame, LastFrame: f.LastFrame, MatchedSDP: bf.bd.matched,
		RTCP: f.Key.RTCP, MaxGapMs: float64(f.MaxGap().Microseconds()) / 1000,
		Timeline: append([]uint32(nil), f.activity...), TimelineStepMs: f.step.Milliseconds(),
	}
	if !f.Key.RTCP {
		r.Lost = f.Lost()
		r.JitterMs = round2(f.JitterMs())
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
