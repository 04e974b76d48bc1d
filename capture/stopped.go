package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A stream can stop for good mid-call: a NAT or firewall on its way begins
// dropping it (its mapping timed out or was reset, a session limit, a SIP
// ALG), its path fails, or the phone stops sending. The capture shows one
// direction's RTP ending while the other's goes on for seconds, until the
// call ends: from then on the listener heard nothing, the "audio went dead
// after a minute" complaint. A hold, a media move or a switch to fax stops
// a stream too, but an SDP says so; a hang-up does, but its BYE says so.

// stopExplainedWithin: an SDP exchanged this soon before a stream's last
// packet may have stopped or moved it (a hold, a move); a BYE its sender
// sent this soon after it, or before, is the hang-up.
const stopExplainedWithin = 2 * time.Second

// mediaStop is a direction of a stream whose RTP stopped while the other
// direction's went on.
type mediaStop struct {
	party int // its sender
	// last is the direction's delivered flow that went on longest, far
	// the other direction's; sent counts the direction's delivered
	// packets. elsewhere is its flow to where it cannot arrive that went
	// on after last (nil when none did).
	last, far, elsewhere *report.RTPFlow
	sent                 uint64
	vad                  bool
	// rtcpLast is when the sender's RTCP was last seen; until when the
	// far end's RTP went on, up to the call's end.
	rtcpLast, until time.Time
	// sdp is the last SDP answer from stopExplainedWithin before the stop
	// on (a hold and resume, a move), nil when none came; from is when the
	// listener's silence began: the stop, or that SDP when it came later
	// and let the sender send again. silentFor runs from it to until.
	sdp       *sdpEvent
	from      time.Time
	silentFor time.Duration
	// server is the PBX or media server the sender's User-Agent or Server
	// header names, "" when none.
	server string
	// midCall: the call began before the capture, so how far into it the
	// stream stopped is unknown; the stop is dated by the clock.
	midCall bool
}

// stoppedFindings reports, for each direction of an audio stream of a
// two-way call, RTP that stopped mid-call although the latest SDP let it
// flow and its sender did not hang up (StopProblem), and makes the call
// one-way when its listener heard nothing from then on. streams are the
// dialog's negotiated streams, one per c.Streams entry.
func stoppedFindings(c *report.Call, cb *callBuild, streams []*streamState) []report.Finding {
	var fs []report.Finding
	for i := range c.Streams {
		if c.Verdict != report.VerdictTwoWay || c.Streams[i].Media != "audio" || i >= len(streams) {
			continue
		}
		for p := range 2 {
			stop, ok := findStop(c.Streams[i].Flows, p, c.End)
			if !ok || !stop.settle(cb, streams[i]) {
				continue
			}
			stop.server = mediaServerName(partyOf(c, p).UserAgent)
			stop.midCall = !cb.call.StartSeen
			facts := StopFacts{SilentFor: stop.silentFor, SentOn: stop.sentOn(c.Answer), SentElsewhere: stop.elsewhere != nil,
				SenderSaysStopped: stop.senderSaysStopped(), SenderSide: stop.senderSide(), SuppressesSilence: stop.vad,
				SenderIsMediaServer: stop.server != ""}
			oneWay, sev, reported := StopProblem(facts)
			if !reported {
				continue
			}
			fs = append(fs, stop.finding(c, facts, sev))
			cb.stops = append(cb.stops, stopNote{party: p, at: stop.last.Last, title: fs[len(fs)-1].Title})
			if oneWay {
				listener := partyNames[1-p]
				c.Verdict, c.CannotHear = report.VerdictOneWay, listener
				c.Explain = fmt.Sprintf("the %s heard nothing from %s on: the %s's RTP stopped and did not come back",
					listener, stop.silenceStart(c), partyNames[p])
				c.Streams[i].Verdict = report.VerdictOneWay
				if stop.elsewhere != nil {
					raisePrivateSDP(c.Findings, stop.elsewhere.Dst)
				}
			}
		}
	}
	return fs
}

// findStop finds whether party p's RTP in flows stopped reaching its
// listener before the other direction's RTP ended, p having sent more than
// a second of it that arrived. Only flows the capture shows arriving, or
// could, count: RTP that went on to a private address seen from outside
// reaches no one.
func findStop(flows []report.RTPFlow, p int, end time.Time) (mediaStop, bool) {
	dir, farDir := directionNames[p], directionNames[1-p]
	stop := mediaStop{party: p}
	for k := range flows {
		f := &flows[k]
		switch {
		case f.UDPTL:
			continue
		case f.RTCP:
			if f.Direction == dir && f.Last.After(stop.rtcpLast) {
				stop.rtcpLast = f.Last
			}
			continue
		}
		switch {
		case f.Direction == dir && (f.Unreachable || f.Unproven):
			if stop.elsewhere == nil || f.Last.After(stop.elsewhere.Last) {
				stop.elsewhere = f
			}
		case f.Direction == dir:
			stop.sent += f.Packets
			stop.vad = stop.vad || (f.Quality != nil && f.Quality.SilenceSuppression)
			if stop.last == nil || f.Last.After(stop.last.Last) {
				stop.last = f
			}
		case f.Direction == farDir:
			if stop.far == nil || f.Last.After(stop.far.Last) {
				stop.far = f
			}
		}
	}
	if stop.last == nil || stop.far == nil || stop.sent <= barelySentPackets {
		return mediaStop{}, false
	}
	stop.until = stop.far.Last
	if !end.IsZero() && end.Before(stop.until) {
		stop.until = end
	}
	if e := stop.elsewhere; e != nil && !e.Last.After(stop.last.Last.Add(time.Second)) {
		stop.elsewhere = nil
	}
	return stop, stop.until.After(stop.last.Last)
}

// settle reads the signalling about the stop: false when it explains it
// (the latest SDP does not let the sender send, or gave the m= line to
// T.38; the sender hung up; a REFER transferred the call), else when the
// listener's silence began: at the stop, or at an SDP after it that let
// the sender send again (a resume after a hold that never resumed).
func (s *mediaStop) settle(cb *callBuild, st *streamState) bool {
	at := s.last.Last
	if st.replaced || !st.sending[s.party] {
		return false
	}
	if bye := cb.call.byeNs[s.party]; bye != 0 && bye <= at.Add(stopExplainedWithin).UnixNano() {
		return false
	}
	if gaveUpOnAck(cb, s.party, at) {
		// Its answer was never acknowledged: it ended the call, as
		// answering parties do after 64*T1, with a BYE the capture may
		// not hold (it follows the same broken route as the ACK).
		return false
	}
	if refer := cb.call.referNs; refer != 0 && refer >= at.Add(-stopExplainedWithin).UnixNano() && refer <= at.Add(stopExplainedWithin).UnixNano() {
		// A transfer: the transferee stops this call's media as it
		// calls the target (RFC 5589), and the transferor may too.
		return false
	}
	s.from = at
	events := cb.timeline()
	for k := range events {
		if ev := &events[k]; isAnswer(ev) && !ev.Time.Before(at.Add(-stopExplainedWithin)) {
			s.sdp = ev
			if ev.Time.After(s.from) {
				s.from = ev.Time
			}
		}
	}
	s.silentFor = s.until.Sub(s.from)
	return s.silentFor > 0
}

// startSeenWithin: a stream whose first packet reached the capture point
// this soon after the answer is taken to have been captured from its start.
const startSeenWithin = 2 * time.Second

// sentOn says whether the sender's own RTCP counted at least a second of
// 20 ms packets more than its sequence numbers reached at the capture
// point. Only for a stream whose start the capture holds (startSeenWithin
// of the call's answer): the count runs from the stream's first packet.
func (s mediaStop) sentOn(answer time.Time) bool {
	f := s.last
	if f.Reports == nil || f.Reports.SenderReports == 0 || f.Quality == nil || answer.IsZero() ||
		f.First.After(answer.Add(startSeenWithin)) {
		return false
	}
	return uint64(f.Reports.SenderPackets) >= f.Quality.Expected+barelySentPackets
}

// whyLost says why a flow cannot arrive.
func whyLost(f *report.RTPFlow) string {
	if f.Unreachable {
		return "a private address no one outside its network can send to"
	}
	return "a port of the listener's NAT its own media does not come from, which nothing shows the NAT forwards"
}

// raisePrivateSDP makes the finding that an SDP named dst, a private
// address, an error: the call turned one-way when media went there.
func raisePrivateSDP(fs []report.Finding, dst string) {
	for i := range fs {
		if f := &fs[i]; f.ID == IDSDPPrivateAddress && len(f.Evidence) > 0 && len(f.Evidence[0].Addrs) > 0 && f.Evidence[0].Addrs[0] == dst {
			f.Severity = report.SeverityError
		}
	}
}

// senderSaysStopped says whether the sender's RTCP went on a second or
// more after its RTP stopped while its sender reports counted no more than
// the stream's sequence numbers reached at the capture point: a sender
// that goes on sending counts on (sentOn), one that stopped does not.
func (s mediaStop) senderSaysStopped() bool {
	f := s.last
	return f.Reports != nil && f.Reports.SenderReports > 0 && f.Quality != nil &&
		s.rtcpLast.After(f.Last.Add(time.Second)) && uint64(f.Reports.SenderPackets) < f.Quality.Expected+barelySentPackets
}

// senderSide says whether the stream left a private address: the capture
// is on the sender's side of any NAT.
func (s mediaStop) senderSide() bool {
	src, err := netip.ParseAddrPort(s.last.Src)
	return err == nil && IsPrivate(src.Addr())
}

// silenceStart says when the listener's silence began: how far into the
// call, or at the SDP after the stop that let the sender send again.
func (s mediaStop) silenceStart(c *report.Call) string {
	if s.resumed() {
		return "the " + sdpCarrier(s.sdp) + " at " + s.from.Format("15:04:05.000")
	}
	return s.when(c)
}

// isAnswer says whether an SDP answers an offer (in a response, or a late
// offer's ACK): only an exchange that completed changes what each side may
// send; an offer refused or never answered changes nothing.
func isAnswer(ev *sdpEvent) bool {
	m := ev.Method
	return m == "ACK" || (m != "" && m[0] >= '1' && m[0] <= '6')
}

// notBack says the stream did not come back: after the SDP that let it
// flow again, when one came after the stop.
func (s mediaStop) notBack() string {
	if s.resumed() {
		return " and did not flow again after the " + sdpCarrier(s.sdp) + " at " + s.from.Format("15:04:05.000") + " let it"
	}
	return " and did not come back"
}

// resumed says whether an SDP after the stop let the sender send again.
func (s mediaStop) resumed() bool {
	return s.sdp != nil && s.from.Equal(s.sdp.Time) && s.from.After(s.last.Last)
}

// sdpCarrier names the message an SDP came in: "INVITE", "200 OK".
func sdpCarrier(ev *sdpEvent) string {
	if ev.Method == "" {
		return "SDP"
	}
	return ev.Method
}

// when says when the stream stopped: how far into the call, or at what
// time for a call begun before the capture.
func (s mediaStop) when(c *report.Call) string {
	if s.midCall {
		return "at " + s.last.Last.Format("15:04:05.000")
	}
	return s.into(c) + " into the call"
}

// into is how far into the call (from its answer) the stream stopped.
func (s mediaStop) into(c *report.Call) string {
	from := c.Answer
	if from.IsZero() {
		from = s.last.First
	}
	return s.last.Last.Sub(from).Round(100 * time.Millisecond).String()
}

// finding says what the stop means: the listener heard nothing from then
// on, and what the capture shows of why.
func (s mediaStop) finding(c *report.Call, facts StopFacts, sev report.Severity) report.Finding {
	title, remedy := s.title(c, facts)
	return report.Finding{ID: IDMediaStopped, Severity: sev, Subject: c.CallID, Title: title, Remedy: remedy, Evidence: s.evidence(facts)}
}

// title says what the listener lost and what the capture shows of why,
// with the remedy that follows from it.
func (s mediaStop) title(c *report.Call, facts StopFacts) (title, remedy string) {
	sender, listener := partyNames[s.party], partyNames[1-s.party]
	silent := s.silentFor.Round(100 * time.Millisecond)
	when, back := s.when(c), s.notBack()
	switch {
	case facts.SentElsewhere:
		e := s.elsewhere
		remedy = remedyPrivateSDP
		if e.Unproven {
			remedy = remedyUnmappedPort
		}
		return fmt.Sprintf("The %s's RTP stopped reaching the %s %s: from then on it went to %s, %s, while the %s's went on for %s: "+
			"the %s heard nothing from then on", sender, listener, when, e.Dst, whyLost(e), listener, silent, listener), remedy
	case facts.SentOn:
		return fmt.Sprintf("The %s's RTP stopped reaching the capture point %s%s, while the %s's went on for %s, "+
			"though the %s's own RTCP shows it went on sending: the packets were lost on the way, and the %s heard nothing from then on",
			sender, when, back, listener, silent, sender, listener), remedyStopped
	case facts.SenderSide:
		return fmt.Sprintf("The %s's RTP stopped %s%s, while the %s's went on for %s: the %s heard nothing from then on. "+
			"The capture sees the %s's own address, so no NAT lies between them: the phone stopped sending, or its own LAN or Wi-Fi lost it",
			sender, when, back, listener, silent, listener, sender), remedyStoppedSender
	case facts.SenderSaysStopped:
		return fmt.Sprintf("The %s stopped sending RTP %s%s, while the %s's went on for %s: its own RTCP, which went on, "+
			"counts no more packets sent. The %s heard nothing from then on, but the path was open: the %s's phone or server stopped sending",
			sender, when, back, listener, silent, listener, sender), remedyStoppedSender
	case facts.SuppressesSilence:
		return fmt.Sprintf("The %s's RTP stopped %s%s, while the %s's went on for %s. "+
			"The %s's phone suppresses silence, so this may be its user listening; or the %s heard nothing from then on",
			sender, when, back, listener, silent, sender, listener), remedyStopped
	case facts.SenderIsMediaServer:
		return fmt.Sprintf("The %s stopped sending RTP %s%s, while the %s's went on for %s. The %s is %s, a PBX or media server: "+
			"it sends nothing while it records a message or waits for digits, or, bridging the call, while the phone on its other leg sends it nothing",
			sender, when, back, listener, silent, sender, s.server), remedyStoppedSender
	}
	return fmt.Sprintf("The %s's RTP stopped %s%s, while the %s's went on for %s: the %s heard nothing from then on",
		sender, when, back, listener, silent, listener), remedyStopped
}

// evidence is the stopped flow, the far end's that went on, the SDP that
// let the sender send, and what shows why.
func (s mediaStop) evidence(facts StopFacts) []report.Evidence {
	sender, listener := partyNames[s.party], partyNames[1-s.party]
	last, far := s.last, s.far
	ev := []report.Evidence{
		{Text: fmt.Sprintf("%s RTP %s → %s: %s, the last at %s", sender, last.Src, last.Dst, report.Plural(int(last.Packets), "packet"),
			last.Last.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: last.FirstFrame, Last: last.LastFrame}}, Time: last.Last},
		{Text: fmt.Sprintf("%s RTP %s → %s went on until %s", listener, far.Src, far.Dst, far.Last.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: far.FirstFrame, Last: far.LastFrame}}, Time: far.First},
	}
	if sdp := s.sdp; sdp != nil {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("the latest SDP, in the %s at %s, lets the %s send",
			sdpCarrier(sdp), sdp.Time.Format("15:04:05.000"), sender), Frames: []uint64{sdp.Frame}, Time: sdp.Time})
	}
	switch {
	case facts.SentElsewhere:
		e := s.elsewhere
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("%s RTP %s → %s: %s, until %s", sender, e.Src, e.Dst,
			report.Plural(int(e.Packets), "packet"), e.Last.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: e.FirstFrame, Last: e.LastFrame}}, Addrs: []string{e.Dst}, Time: e.First})
	case facts.SentOn:
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("the %s's last RTCP sender report counts %d packets sent; "+
			"its sequence numbers reached %d at the capture point", sender, last.Reports.SenderPackets, last.Quality.Expected)})
	case facts.SenderSaysStopped:
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("the %s's RTCP went on until %s; its last sender report "+
			"counts %d packets sent, and %d reached the capture point", sender, s.rtcpLast.Format("15:04:05.000"),
			last.Reports.SenderPackets, last.Quality.Expected)})
	case facts.SuppressesSilence:
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("before it stopped, the %s's RTP showed silence suppression "+
			"(talk spurts marked as such, comfort noise, or pauses with no packet missing)", sender)})
	}
	return ev
}

// stopNote is a stop a leg reported: its sender, its last packet and the
// finding's title.
type stopNote struct {
	party int
	at    time.Time
	title string
}

// relayedWithin: a B2BUA passes a stop on as soon as its inbound stream
// ends; its outbound one ends this close to it.
const relayedWithin = 2 * time.Second

// dropRelayedStops leaves out, on each leg of a call, the stop of a
// stream a B2BUA sent (roles) when another leg shows the stop of a
// stream a party of the call sent at the same moment: the B2BUA only
// relayed that stop, and naming it as the sender that stopped would send
// the engineer to the wrong box. legs, stops and roles are by leg.
func dropRelayedStops(legs []report.Call, stops [][]stopNote, roles [][2]string) {
	for i := range legs {
		for _, s := range stops[i] {
			if roles[i][s.party] != "" && stoppedElsewhere(s, i, stops, roles) {
				legs[i].Findings = slices.DeleteFunc(legs[i].Findings, func(f report.Finding) bool {
					return f.ID == IDMediaStopped && f.Title == s.title
				})
			}
		}
	}
}

// stoppedElsewhere says whether a leg other than leg shows a party of the
// call (not an intermediary) stop within relayedWithin of s.
func stoppedElsewhere(s stopNote, leg int, stops [][]stopNote, roles [][2]string) bool {
	for j := range stops {
		for _, o := range stops[j] {
			d := o.at.Sub(s.at)
			if j != leg && roles[j][o.party] == "" && d <= relayedWithin && d >= -relayedWithin {
				return true
			}
		}
	}
	return false
}
