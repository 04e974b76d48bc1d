package capture

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Audio that starts seconds after the answer loses the call's first
// words: the callee's "hello?" goes nowhere and both sides talk over each
// other. The capture shows a direction's first packet that arrives (or
// could) well after the answer let it flow, while the other direction
// began at once. Its causes are at either end: a phone that waits for
// the far end's first packet (or for ICE) before it sends, a relay or
// SBC that holds media back until it has latched onto the other side, a
// NAT that lets nothing in before the phone's own packet opens the way,
// or media that first went to an address it could not arrive at.

// lateStartFindings reports, for each direction of an audio stream of a
// two-way call, RTP that began late (LateStartProblem). streams are the
// dialog's negotiated streams, one per c.Streams entry.
func lateStartFindings(c *report.Call, cb *callBuild, streams []*streamState) []report.Finding {
	if c.Verdict != report.VerdictTwoWay || c.Answer.IsZero() {
		return nil
	}
	var fs []report.Finding
	for i := range c.Streams {
		if c.Streams[i].Media != "audio" || i >= len(streams) {
			continue
		}
		for p := range 2 {
			since := streams[i].since[p]
			if since.IsZero() {
				continue
			}
			from := since
			if c.Answer.After(from) {
				from = c.Answer
			}
			start, ok := firstDelivered(c.Streams[i].Flows, p)
			if !ok {
				continue
			}
			facts := LateStartFacts{LateBy: start.first.First.Sub(from), SuppressesSilence: start.vad, SentElsewhereFirst: start.stray != nil}
			if facts.LateBy >= lateStartAfter { // the User-Agent is read only for the few that began late
				facts.SenderIsMediaServer = mediaServerName(partyOf(c, p).UserAgent) != ""
			}
			if sev, ok := LateStartProblem(facts); ok {
				f := start.finding(c, from, sev)
				start.hairpinFirst(&f, cb.lanPublic[1-p])
				fs = append(fs, f)
			}
		}
	}
	return fs
}

// mediaStart is how a direction's RTP began: its first flow that arrives
// (or could), the other direction's first, and a flow to where it cannot
// arrive that began before it.
type mediaStart struct {
	party             int
	first, far, stray *report.RTPFlow
	vad               bool
}

// firstDelivered finds party p's first deliverable RTP flow in flows.
func firstDelivered(flows []report.RTPFlow, p int) (mediaStart, bool) {
	s := mediaStart{party: p}
	earlier := func(a, b *report.RTPFlow) bool { return b == nil || a.First.Before(b.First) }
	for k := range flows {
		f := &flows[k]
		if f.RTCP || f.UDPTL {
			continue
		}
		switch {
		case f.Direction != directionNames[p]:
			if earlier(f, s.far) {
				s.far = f
			}
		case f.Unreachable || f.Unproven:
			if earlier(f, s.stray) {
				s.stray = f
			}
		default:
			s.vad = s.vad || (f.Quality != nil && f.Quality.SilenceSuppression)
			if earlier(f, s.first) {
				s.first = f
			}
		}
	}
	if s.stray != nil && s.first != nil && !s.stray.First.Before(s.first.First) {
		s.stray = nil
	}
	return s, s.first != nil && s.far != nil
}

// hairpinFirst explains a late start by the public address the listener
// named to the sender on its own LAN (pub; invalid: none), when the
// sender's first RTP that arrived went elsewhere (to where the listener's
// media came from, as symmetric RTP learns): until then it went to the
// router, which did not loop it back in.
func (s mediaStart) hairpinFirst(f *report.Finding, pub netip.AddrPort) {
	if !pub.IsValid() || s.first.Dst == pub.String() {
		return
	}
	f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("the %s's SDP named %s, a public address, to the %s on its own LAN: "+
		"until the %s sent to %s (where the %s's media came from), its RTP went to the router, which did not loop it back in (no hairpinning)",
		partyNames[1-s.party], pub, partyNames[s.party], partyNames[s.party], s.first.Dst, partyNames[1-s.party]), Addrs: []string{pub.String()}})
	f.Remedy = remedyHairpin
}

// finding says how late the direction began and what the listener missed.
func (s mediaStart) finding(c *report.Call, from time.Time, sev report.Severity) report.Finding {
	sender, listener := partyNames[s.party], partyNames[1-s.party]
	late := s.first.First.Sub(from).Round(100 * time.Millisecond)
	what := "the answer"
	if from.After(c.Answer) {
		what = "the SDP that let it flow"
	}
	f := report.Finding{ID: IDMediaStartedLate, Severity: sev, Subject: c.CallID, Remedy: remedyStartedLate,
		Title: fmt.Sprintf("The %s's RTP began %s after %s: the %s heard nothing for the first %s of the call (the %s's first words lost)",
			sender, late, what, listener, late, sender)}
	f.Evidence = []report.Evidence{
		{Text: fmt.Sprintf("%s at %s", what, from.Format("15:04:05.000")), Time: from},
		{Text: fmt.Sprintf("%s RTP %s → %s: the first packet at %s", sender, s.first.Src, s.first.Dst, s.first.First.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: s.first.FirstFrame, Last: s.first.LastFrame}}, Time: s.first.First},
		{Text: fmt.Sprintf("%s RTP %s → %s: the first packet at %s", listener, s.far.Src, s.far.Dst, s.far.First.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: s.far.FirstFrame, Last: s.far.LastFrame}}, Time: s.far.First},
	}
	if st := s.stray; st != nil {
		refused := ""
		if st.Refused != "" {
			refused = ", refused " + allAlongICMP(st.Refused)
		}
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("before it, %s RTP went to %s, where it cannot arrive: %s from %s%s",
			sender, st.Dst, report.Plural(int(st.Packets), "packet"), st.First.Format("15:04:05.000"), refused),
			FrameRanges: []report.FrameRange{{First: st.FirstFrame, Last: st.LastFrame}}, Addrs: []string{st.Dst}, Time: st.First})
	}
	return f
}
