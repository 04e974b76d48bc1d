package capture

import (
	"fmt"
	"net/netip"
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
// packet, or any time after it, may have stopped or moved the stream on
// purpose (a hold, a move, T.38); a BYE its sender sent this soon after
// it, or before, is the hang-up.
const stopExplainedWithin = 2 * time.Second

// mediaStop is a direction of a stream whose RTP stopped while the other
// direction's went on.
type mediaStop struct {
	party int // its sender
	// last is the direction's flow that went on longest, far the other
	// direction's; sent counts the direction's packets in all its flows.
	last, far *report.RTPFlow
	sent      uint64
	vad       bool
	// rtcpLast is when the sender's RTCP was last seen.
	rtcpLast time.Time
	// silentFor is how long far went on after last, up to the call's end.
	silentFor time.Duration
}

// stoppedFindings reports, for each direction of an audio stream of a
// two-way call, RTP that stopped mid-call with nothing in the signalling
// saying why (StopProblem), and makes the call one-way when its listener
// heard nothing from then on.
func stoppedFindings(c *report.Call, cb *callBuild) []report.Finding {
	var fs []report.Finding
	for i := range c.Streams {
		if c.Verdict != report.VerdictTwoWay || c.Streams[i].Media != "audio" {
			continue
		}
		for p := range 2 {
			stop, ok := findStop(c.Streams[i].Flows, p, c.End)
			if !ok || cb.stopExplained(p, stop.last.Last) {
				continue
			}
			facts := StopFacts{SilentFor: stop.silentFor, SentOn: stop.sentOn(c.Answer), SenderSaysStopped: stop.senderSaysStopped(),
				SenderSide: stop.senderSide(), SuppressesSilence: stop.vad}
			oneWay, sev, reported := StopProblem(facts)
			if !reported {
				continue
			}
			fs = append(fs, stop.finding(c, facts, sev))
			if oneWay {
				listener := partyNames[1-p]
				c.Verdict, c.CannotHear = report.VerdictOneWay, listener
				c.Explain = fmt.Sprintf("the %s heard nothing from %s into the call on: the %s's RTP stopped and did not come back",
					listener, stop.into(c), partyNames[p])
				c.Streams[i].Verdict = report.VerdictOneWay
			}
		}
	}
	return fs
}

// findStop finds whether party p's RTP in flows stopped well before the
// other direction's: p sent more than a second of it, and the other
// direction went on for a while after p's last packet (silentFor, up to
// the call's end).
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
		switch f.Direction {
		case dir:
			stop.sent += f.Packets
			stop.vad = stop.vad || (f.Quality != nil && f.Quality.SilenceSuppression)
			if stop.last == nil || f.Last.After(stop.last.Last) {
				stop.last = f
			}
		case farDir:
			if stop.far == nil || f.Last.After(stop.far.Last) {
				stop.far = f
			}
		}
	}
	if stop.last == nil || stop.far == nil || stop.sent <= barelySentPackets {
		return mediaStop{}, false
	}
	until := stop.far.Last
	if !end.IsZero() && end.Before(until) {
		until = end
	}
	stop.silentFor = until.Sub(stop.last.Last)
	return stop, stop.silentFor > 0
}

// directionNames are the report's names of the directions party p sends in.
var directionNames = [2]string{"caller->callee", "callee->caller"}

// stopExplained says whether the signalling explains party p's RTP
// stopping at: an SDP of either party from stopExplainedWithin before it
// on, or a BYE of p's by stopExplainedWithin after it.
func (cb *callBuild) stopExplained(p int, at time.Time) bool {
	from := at.Add(-stopExplainedWithin)
	for _, ev := range cb.timeline() {
		if !ev.Time.Before(from) {
			return true
		}
	}
	bye := cb.call.byeNs[p]
	return bye != 0 && bye <= at.Add(stopExplainedWithin).UnixNano()
}

// sentOn says whether the sender's own RTCP counted at least a second of
// 20 ms packets more than its sequence numbers reached at the capture
// point. Only for a stream whose start the capture holds (by the call's
// answer): the count runs from the stream's first packet.
func (s mediaStop) sentOn(answer time.Time) bool {
	f := s.last
	if f.Reports == nil || f.Reports.SenderReports == 0 || f.Quality == nil || answer.IsZero() ||
		f.First.After(answer.Add(stopExplainedWithin)) {
		return false
	}
	return uint64(f.Reports.SenderPackets) >= f.Quality.Expected+barelySentPackets
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
	sender, listener := partyNames[s.party], partyNames[1-s.party]
	silent := s.silentFor.Round(100 * time.Millisecond)
	f := report.Finding{ID: IDMediaStopped, Severity: sev, Subject: c.CallID, Remedy: remedyStopped}
	switch {
	case facts.SentOn:
		f.Title = fmt.Sprintf("The %s's RTP stopped reaching the capture point %s into the call while the %s's went on for %s, "+
			"though the %s's own RTCP shows it went on sending: the packets were lost on the way, and the %s heard nothing from then on",
			sender, s.into(c), listener, silent, sender, listener)
	case facts.SenderSide:
		f.Title = fmt.Sprintf("The %s's phone stopped sending RTP %s into the call while the %s's went on for %s: the %s heard nothing "+
			"from then on. The capture is on the %s's side of the network, so the phone stopped, not the network",
			sender, s.into(c), listener, silent, listener, sender)
		f.Remedy = remedyStoppedSender
	case facts.SenderSaysStopped:
		f.Title = fmt.Sprintf("The %s stopped sending RTP %s into the call while the %s's went on for %s: its own RTCP, which went on, "+
			"counts no more packets sent. The %s heard nothing from then on, but the path was open: the %s's phone or server stopped sending",
			sender, s.into(c), listener, silent, listener, sender)
		f.Remedy = remedyStoppedSender
	case facts.SuppressesSilence:
		f.Title = fmt.Sprintf("The %s's RTP stopped %s into the call and did not come back while the %s's went on for %s. "+
			"The %s's phone suppresses silence, so this may be its user listening; or the %s heard nothing from then on",
			sender, s.into(c), listener, silent, sender, listener)
	default:
		f.Title = fmt.Sprintf("The %s's RTP stopped %s into the call and did not come back while the %s's went on for %s: "+
			"the %s heard nothing from then on", sender, s.into(c), listener, silent, listener)
	}
	last, far := s.last, s.far
	f.Evidence = []report.Evidence{
		{Text: fmt.Sprintf("%s RTP %s → %s: %s, the last at %s", sender, last.Src, last.Dst, report.Plural(int(last.Packets), "packet"),
			last.Last.Format("15:04:05.000")),
			FrameRanges: []report.FrameRange{{First: last.FirstFrame, Last: last.LastFrame}}, Time: last.Last},
		{Text: fmt.Sprintf("%s RTP %s → %s went on until %s, %s later", listener, far.Src, far.Dst, far.Last.Format("15:04:05.000"), silent),
			FrameRanges: []report.FrameRange{{First: far.FirstFrame, Last: far.LastFrame}}, Time: far.First},
	}
	switch {
	case facts.SentOn:
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("the %s's last RTCP sender report counts %d packets sent; "+
			"its sequence numbers reached %d at the capture point", sender, last.Reports.SenderPackets, last.Quality.Expected)})
	case facts.SenderSaysStopped:
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("the %s's RTCP went on until %s; its last sender report "+
			"counts %d packets sent, and %d reached the capture point", sender, s.rtcpLast.Format("15:04:05.000"),
			last.Reports.SenderPackets, last.Quality.Expected)})
	case facts.SuppressesSilence:
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("before it stopped, the %s's RTP showed silence suppression "+
			"(talk spurts marked as such, comfort noise, or pauses with no packet missing)", sender)})
	}
	return f
}
