package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

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

// buildCalls binds every flow and turns calls into report.Calls.
func (s *state) buildCalls() ([]report.Call, []*rtpFlow) {
	b := newBinder()
	var builds []*callBuild
	index := map[*dialog]*callBuild{}
	for _, c := range s.calls.order {
		b.addCall(c, s.last)
		for _, d := range c.reportDialogs() {
			cb := &callBuild{call: c, dlg: d}
			builds = append(builds, cb)
			index[d] = cb
		}
	}
	flows := s.sortedFlows()
	var unbound []*rtpFlow
	var rest []*rtpFlow
	for _, f := range flows {
		if bd, ok := b.bind(f); ok {
			if cb := index[bd.dlg]; cb != nil {
				cb.flows = append(cb.flows, boundFlow{f, bd})
				continue
			}
		}
		rest = append(rest, f)
	}
	for _, f := range rest {
		if f.Packets >= minHeuristicPackets {
			if bd, ok := b.bindHeuristic(f); ok {
				if cb := index[bd.dlg]; cb != nil {
					cb.flows = append(cb.flows, boundFlow{f, bd})
					continue
				}
			}
		}
		unbound = append(unbound, f)
	}
	hasMedia := s.counts.rtp > 0
	out := make([]report.Call, 0, len(builds))
	for i, cb := range builds {
		out = append(out, cb.report(fmt.Sprintf("C%d", i+1), hasMedia))
	}
	return out, unbound
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
		rc.End = c.Last
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
		Packets: f.Packets, Bytes: f.Bytes, First: f.First, Last: f.Last,
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

// sortedKinds returns map keys sorted, for stable output.
func sortedKinds(m map[string]uint64) []report.KeyValue {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var kv []report.KeyValue
	for _, k := range keys {
		kv = append(kv, report.KeyValue{Key: k, Value: fmt.Sprint(m[k])})
	}
	return kv
}

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
