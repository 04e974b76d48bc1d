package capture

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// RTP that no call in the capture claims still tells whether audio went
// both ways: its SIP went over TLS without the keys, or the capture filter
// left SIP out. An engineer pairs the streams by their ends: A → B beside
// B → A is a two-way session; A → B alone is audio that flowed one way
// only, as far as this capture sees. And when the endpoint X receives
// from M but sends to P, X answers to where the far end said it listens
// (the private address in its SDP), not to where its RTP comes from: the
// NAT case symmetric RTP fixes, seen without a single SIP message.

// mediaSession is the RTP between two endpoints that belongs to no call:
// dir[0] flows ends[0] → ends[1], dir[1] the other way.
type mediaSession struct {
	ends [2]netip.AddrPort
	dir  [2]sessionDir
}

// sessionDir is one direction of a mediaSession.
type sessionDir struct {
	packets               uint64
	firstNs, lastNs       int64
	firstFrame, lastFrame uint64
	// refused: ICMP errors about its packets said why they reached no
	// application (icmp.go), all along.
	refused string
}

// maxMediaSessions bounds the sessions kept for pairing; more are counted
// only (a capture of thousands of calls whose SIP is all encrypted).
const maxMediaSessions = 4096

// mediaSessions pairs the streams no call claimed.
type mediaSessions struct {
	byEnds  map[[2]netip.AddrPort]*mediaSession
	list    []*mediaSession
	dropped int // streams of sessions past maxMediaSessions
	// rtcp counts the RTCP packets of no call by their ends (source,
	// destination): a receiver that sends only RTCP back (its feedback,
	// its reports) is listening, not gone (rtcpBack).
	rtcp map[[2]netip.AddrPort]uint64
}

// addRTCP notes an RTCP stream no call claimed.
func (ms *mediaSessions) addRTCP(f *rtpFlow) {
	ends := [2]netip.AddrPort{f.Key.Src, f.Key.Dst}
	if _, ok := ms.rtcp[ends]; !ok && len(ms.rtcp) >= maxMediaSessions {
		return
	}
	if ms.rtcp == nil {
		ms.rtcp = map[[2]netip.AddrPort]uint64{}
	}
	ms.rtcp[ends] += f.Packets
}

// rtcpBack counts the RTCP the receiver of session s's direction d sent
// back to its sender: on the RTP ports (rtcp-mux, RFC 5761) or on the
// ports above them (RFC 3550 §11).
func (ms *mediaSessions) rtcpBack(s *mediaSession, d int) uint64 {
	to, from := s.to(d), s.from(d)
	n := ms.rtcp[[2]netip.AddrPort{to, from}]
	if to.Port() < 65535 && from.Port() < 65535 {
		n += ms.rtcp[[2]netip.AddrPort{netip.AddrPortFrom(to.Addr(), to.Port()+1), netip.AddrPortFrom(from.Addr(), from.Port()+1)}]
	}
	return n
}

// add files an RTP stream no call claimed under the session of its ends.
func (ms *mediaSessions) add(f *rtpFlow, refused string) {
	ends, d := [2]netip.AddrPort{f.Key.Src, f.Key.Dst}, 0
	if ends[1].Compare(ends[0]) < 0 {
		ends, d = [2]netip.AddrPort{f.Key.Dst, f.Key.Src}, 1
	}
	s := ms.byEnds[ends]
	if s == nil {
		if len(ms.list) >= maxMediaSessions {
			ms.dropped++
			return
		}
		if ms.byEnds == nil {
			ms.byEnds = map[[2]netip.AddrPort]*mediaSession{}
		}
		s = &mediaSession{ends: ends}
		ms.byEnds[ends] = s
		ms.list = append(ms.list, s)
	}
	sd := &s.dir[d]
	if sd.packets == 0 || f.firstNs < sd.firstNs {
		sd.firstNs, sd.firstFrame = f.firstNs, f.FirstFrame
	}
	if f.lastNs > sd.lastNs {
		sd.lastNs, sd.lastFrame = f.lastNs, f.LastFrame
	}
	sd.packets += f.Packets
	if refused != "" {
		sd.refused = refused
	}
}

// oneWay reports a session whose RTP flowed in one direction only, and
// which (0 or 1).
func (s *mediaSession) oneWay() (d int, ok bool) {
	switch {
	case s.dir[0].packets > 0 && s.dir[1].packets == 0:
		return 0, true
	case s.dir[1].packets > 0 && s.dir[0].packets == 0:
		return 1, true
	}
	return 0, false
}

// from and to are the sender and receiver of direction d.
func (s *mediaSession) from(d int) netip.AddrPort { return s.ends[d] }
func (s *mediaSession) to(d int) netip.AddrPort   { return s.ends[1-d] }

// sorted returns the sessions by the start of their first RTP, then ends.
func (ms *mediaSessions) sorted() []*mediaSession {
	out := slices.Clone(ms.list)
	start := func(s *mediaSession) int64 {
		switch {
		case s.dir[0].packets == 0:
			return s.dir[1].firstNs
		case s.dir[1].packets == 0:
			return s.dir[0].firstNs
		}
		return min(s.dir[0].firstNs, s.dir[1].firstNs)
	}
	slices.SortFunc(out, func(a, b *mediaSession) int {
		return cmp.Or(cmp.Compare(start(a), start(b)), a.ends[0].Compare(b.ends[0]), a.ends[1].Compare(b.ends[1]))
	})
	return out
}

// A one-way session is worth a warning when it carried this much RTP:
// less is a capture that began or ended mid-stream, or a stray packet.
const (
	oneWaySessionPackets = barelySentPackets
	oneWaySessionFor     = 2 * time.Second
)

// sessionEvidence says what one session shows: both ways, or one way and
// nothing back, or only RTCP.
func (ms *mediaSessions) sessionEvidence(s *mediaSession) report.Evidence {
	a, b := s.dir[0], s.dir[1]
	if d, ok := s.oneWay(); ok {
		sd := s.dir[d]
		back := "nothing came back from " + s.to(d).String()
		if n := ms.rtcpBack(s, d); n > 0 {
			back = fmt.Sprintf("only RTCP came back from %s (%s): a listener that sends no media of its own", s.to(d), report.Plural(int(n), "packet"))
		} else if sd.refused != "" {
			back += ", which refused them " + allAlongICMP(sd.refused)
		}
		return report.Evidence{
			Text: fmt.Sprintf("%s → %s: %s over %s; %s", s.from(d), s.to(d), report.Plural(int(sd.packets), "RTP packet"),
				sd.span(), back),
			FrameRanges: []report.FrameRange{{First: sd.firstFrame, Last: sd.lastFrame}}, Time: time.Unix(0, sd.firstNs).UTC(),
		}
	}
	return report.Evidence{
		Text:        fmt.Sprintf("%s ↔ %s: both ways, %d RTP packets → and %d ←", s.ends[0], s.ends[1], a.packets, b.packets),
		FrameRanges: []report.FrameRange{{First: a.firstFrame, Last: a.lastFrame}, {First: b.firstFrame, Last: b.lastFrame}},
		Time:        time.Unix(0, min(a.firstNs, b.firstNs)).UTC(),
	}
}

// span is how long a direction's RTP went on.
func (sd sessionDir) span() time.Duration {
	return time.Duration(sd.lastNs - sd.firstNs).Round(100 * time.Millisecond)
}

// oneWayFindings reports the sessions whose RTP flowed one way only for
// oneWaySessionFor or longer, each with what explains it when the capture
// shows it: the receiver sends its own RTP elsewhere (repliesElsewhere),
// a one-way session of its own that is the same problem, not another.
// A session is reported only when the capture would have seen the replies:
// it saw them go elsewhere, or it holds another session both ways. A
// capture of nothing but one-way streams may have been filtered to them
// (a stream exported for playback), and says nothing of the other way.
func (ms *mediaSessions) oneWayFindings(sessions []*mediaSession) []report.Finding {
	seesBothWays := slices.ContainsFunc(sessions, func(s *mediaSession) bool { _, one := s.oneWay(); return !one })
	type problem struct {
		s         *mediaSession
		elsewhere *mediaSession
	}
	var problems []problem
	explained := map[*mediaSession]bool{}
	for _, s := range sessions {
		d, ok := s.oneWay()
		if !ok || s.dir[d].packets < oneWaySessionPackets || s.dir[d].span() < oneWaySessionFor || ms.rtcpBack(s, d) > 0 {
			continue // a receiver that sends RTCP back is listening
		}
		o := repliesElsewhere(sessions, s, d)
		if o != nil {
			explained[o] = true
		}
		problems = append(problems, problem{s, o})
	}
	var ev []report.Evidence
	n := 0
	for _, p := range problems {
		if (explained[p.s] || !seesBothWays) && p.elsewhere == nil {
			continue
		}
		n++
		if len(ev) < maxOrphanEvidence {
			ev = append(ev, ms.sessionEvidence(p.s))
			if p.elsewhere != nil {
				d, _ := p.s.oneWay()
				ev = append(ev, elsewhereEvidence(p.elsewhere, p.s.from(d)))
			}
		}
	}
	if n == 0 {
		return nil
	}
	return []report.Finding{{
		ID: IDMediaOneWayNoSignalling, Severity: report.SeverityWarning,
		Title: fmt.Sprintf("RTP flowed one way only in %s with no call in the capture: nothing came back to the sender, "+
			"as far as this capture sees", report.Plural(n, "session")),
		Evidence: ev,
		Remedy:   remedyOneWayNoSignalling,
	}}
}

// repliesElsewhere finds, for the one-way session s (direction d: M → X),
// X's own RTP in another one-way session to P ≠ M: X sends to where the
// far end said it listens, not to where its RTP comes from. nil when the
// capture shows none; the first in sessions' order when it shows several.
func repliesElsewhere(sessions []*mediaSession, s *mediaSession, d int) *mediaSession {
	x, m := s.to(d), s.from(d)
	for _, o := range sessions {
		if od, ok := o.oneWay(); ok && o != s && o.from(od) == x && o.to(od) != m {
			return o
		}
	}
	return nil
}

// elsewhereEvidence says that X, the sender of the one-way session o,
// sends to P and not to m, where the RTP X receives comes from.
func elsewhereEvidence(o *mediaSession, m netip.AddrPort) report.Evidence {
	od, _ := o.oneWay()
	x, p, sd := o.from(od), o.to(od), o.dir[od]
	why := ""
	if IsPrivate(p.Addr()) && !IsPrivate(m.Addr()) {
		why = ", a private address: the one the far end announced from behind its NAT"
	}
	return report.Evidence{
		Text: fmt.Sprintf("%s sends its RTP to %s%s, not to %s where the RTP it receives comes from (%s)",
			x, p, why, m, report.Plural(int(sd.packets), "packet")),
		FrameRanges: []report.FrameRange{{First: sd.firstFrame, Last: sd.lastFrame}}, Addrs: []string{p.String()},
		Time: time.Unix(0, sd.firstNs).UTC(),
	}
}

// mediaWithoutSignalling lists the RTP no call claimed, session by session
// (both ways, or one way with nothing back), and warns of the sessions
// that flowed one way only; stopped are those that stopped with a BYE of
// a call begun before the capture (priorDialogs.stoppedWith).
func (s *state) mediaWithoutSignalling(stopped map[*priorDialog]*mediaSession) []report.Finding {
	if s.orphanStreams == 0 {
		return nil
	}
	sessions := s.sessions.sorted()
	var ev []report.Evidence
	for _, ms := range sessions[:min(len(sessions), maxOrphanEvidence)] {
		ev = append(ev, s.sessions.sessionEvidence(ms))
	}
	oneWay := 0
	for _, ms := range sessions {
		if _, ok := ms.oneWay(); ok {
			oneWay++
		}
	}
	why := "their SIP is missing or encrypted"
	if s.otherSig.seen() {
		why = fmt.Sprintf("their signalling is %s, which natdoc does not read, or their SIP is missing", s.otherSig.names())
	} else if n := s.cutUnread; n > 0 {
		why = fmt.Sprintf("their SIP is missing, encrypted, or among the %s the capture's snap length cut", report.Plural(int(n), "SIP message"))
	} else if n := s.unreadSIP(); n > 0 {
		// A home-made or broken SIP stack's calls leave their media here.
		why = fmt.Sprintf("their SIP is missing, encrypted, or among the %s", report.Plural(int(n), "malformed SIP message"))
	}
	if n := distinctSessions(stopped); n > 0 {
		why += fmt.Sprintf(", or came before the capture began: %s stopped with the BYE of a call begun before it",
			report.Plural(n, "session"))
	}
	title := fmt.Sprintf("%d RTP packets in %s belong to no call in the capture (%s); "+
		"paired by their ends: %d both ways, %d one way", s.orphanPackets, report.Plural(s.orphanStreams, "stream"), why, len(sessions)-oneWay, oneWay)
	if s.sessions.dropped > 0 {
		title += fmt.Sprintf("; %d more streams were not paired (over %d pairs)", s.sessions.dropped, maxMediaSessions)
	}
	fs := []report.Finding{{ID: IDMediaWithoutSignalling, Severity: report.SeverityInfo, Title: title, Evidence: ev}}
	return append(fs, s.sessions.oneWayFindings(sessions)...)
}
