package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// StreamFacts are the plain facts one m= line's verdict is derived from.
// Index 0 is caller->callee (sent by the caller), 1 is callee->caller.
type StreamFacts struct {
	// Expected: some offer/answer let this direction flow (the sender's
	// direction sends, the receiver's receives, neither port 0 nor
	// c=0.0.0.0).
	Expected [2]bool
	// Delivered counts RTP packets seen flowing that could arrive.
	Delivered [2]uint64
	// Undeliverable counts RTP packets seen sent to an address the
	// receiver cannot be reached at (its private address, from outside),
	// or refused: ICMP errors about them came back all along (Refused says
	// what they said, per direction).
	Undeliverable [2]uint64
	Refused       [2]string
	// Hairpin: the refused packets were sent from the receiver's own LAN
	// to its NAT's public address, which does not loop them back in.
	Hairpin [2]bool
	// Unproven counts RTP packets seen sent to the receiver's NAT on a
	// port its own media does not leave from (JudgeDelivery), Doubt says
	// why, per direction.
	Unproven [2]uint64
	Doubt    [2]string
	// FromOtherAddress: the direction's media came from an address (or
	// another port of one) the receiver's own media does not go to, which
	// its NAT's filter keeps out, refused or silently dropped.
	FromOtherAddress [2]bool
	// FaxToAudioPort: the direction's T.38 went to the receiver's audio
	// port, not the other port its T.38 SDP named (faxToAudioPort); its
	// packets count as Unproven.
	FaxToAudioPort [2]bool
	// HeldAtEnd: the last offer/answer put the stream on hold.
	HeldAtEnd bool
	// Declined: the answer set the stream's port to 0 and it never carried
	// media (RFC 3264 §6).
	Declined bool
	// Reported is what the parties' RTCP said about each direction; it
	// decides when the capture holds none of the stream's RTP (a HEP feed
	// of SIP and RTCP reports, JudgeReported).
	Reported [2]ReportedDirection
	// SameNAT, when valid, is the one public address both parties' SIP
	// comes from while both SDPs name private addresses (LANAddrs, by
	// party): phones behind one NAT whose media, when no server anchors
	// it, goes between them on their LAN, out of the capture's sight.
	SameNAT  netip.Addr
	LANAddrs [2]netip.AddrPort
	// PastIntermediary, when valid, is the proxy or B2BUA whose SDP hands
	// the media straight to the call's own parties (direct media) at
	// addresses they can reach (MediaAddrs, by party): the media goes
	// past it, out of sight of a capture taken on its path.
	PastIntermediary netip.Addr
	MediaAddrs       [2]netip.AddrPort
	// SameHost, when valid, is the private host both parties signal from
	// and whose address their SDPs named for most of the call (HostAddrs,
	// by party), while the capture holds no RTP between them: two
	// softphones on one computer, whose media stays inside it, out of
	// sight of a capture of its network traffic (sameHost).
	SameHost  netip.Addr
	HostAddrs [2]netip.AddrPort
	// OffLoopback, when valid, is a media address of the stream that is
	// not the host's of a capture taken on its loopback interface, which
	// holds only that host's traffic to itself (host.go).
	OffLoopback netip.AddrPort
	// SetUpInCapture: the offer and answer that made this stream are in
	// the capture (a re-INVITE to T.38 fax, added video), so a capture
	// that missed the call's start still saw all of its media.
	SetUpInCapture bool
	// Fax: the stream is T.38 (UDPTL), whose packets are no RTP.
	Fax bool
	// EventsOnly: every RTP packet of the direction seen was a telephone
	// event (DTMF, RFC 4733), none audio.
	EventsOnly [2]bool
	// NoSDP: the capture lost the call's SDP (its snap length cut it) and
	// the stream is the RTP found between the parties' hosts: what was
	// negotiated is unknown, so only RTP both ways says something.
	NoSDP bool
}

// packets names what the stream carries, for the verdict's explanation.
func (s StreamFacts) packets() string {
	if s.Fax {
		return "T.38 (UDPTL)"
	}
	return "RTP"
}

// seen counts the RTP packets of direction d seen in the capture, whether
// they could arrive or not.
func (s StreamFacts) seen(d int) uint64 {
	return s.Delivered[d] + s.Undeliverable[d] + s.Unproven[d]
}

// lossProven: each direction whose media did not arrive was seen sent
// where it cannot arrive (Undeliverable): proof in the capture itself,
// which no part of the call out of its sight undoes (its start before
// the capture, the other side's signalling); a call over too soon is
// still too soon to judge.
func (s StreamFacts) lossProven(ok [2]bool) bool {
	for d := range 2 {
		if !ok[d] && s.Undeliverable[d] == 0 {
			return false
		}
	}
	return true
}

// noRTP: not one RTP packet of the stream was seen, either way.
func (s StreamFacts) noRTP() bool {
	return s.seen(caller) == 0 && s.seen(callee) == 0
}

// onlyEvents: the stream's RTP, seen in some direction, was telephone
// events alone, either way.
func (s StreamFacts) onlyEvents() bool {
	return !s.noRTP() && (s.EventsOnly[caller] || s.seen(caller) == 0) && (s.EventsOnly[callee] || s.seen(callee) == 0)
}

// CallFacts are the call-wide facts verdicts depend on.
type CallFacts struct {
	// MediaNegotiated: an SDP answer (or an offer in a response) was seen.
	MediaNegotiated bool
	// StartSeen: the initial INVITE is in the capture.
	StartSeen bool
	// CaptureHasMedia: the capture holds any RTP at all. Without it, the
	// capture was filtered to signalling and cannot judge audio.
	CaptureHasMedia bool
	// BothSidesSignalling: messages from both parties were seen, so the
	// capture point sees both directions of the path.
	BothSidesSignalling bool
	// Answered: the INVITE of this dialog got a 2xx.
	Answered bool
	// SDPUnreadable: a message of the call carried an SDP body that could
	// not be read (malformed-sdp).
	SDPUnreadable bool
	// SDPMissing: an SDP of the dialog's offer/answer is not in the
	// capture (its 2xx was lost, or the snap length cut the body).
	SDPMissing bool
	// Setup says how a call that was not answered ended.
	Setup SetupFacts
	// Relayed counts, per direction of this leg, RTP packets a B2BUA at
	// one end sent on into the call's other leg: media of this direction
	// reached it, though the capture may not hold it (an SBC's outside
	// interface captured for signalling only).
	Relayed [2]uint64
	// CutShortAfter, when not zero, is how long after the answer the
	// capture ended while the call was still up (no BYE seen).
	CutShortAfter time.Duration
	// HungUpAfter, when not zero, is how long after the answer the first
	// BYE came; HungUpBy is the party that sent it.
	HungUpAfter time.Duration
	HungUpBy    int
}

// cutShort says whether the capture ended too soon after the answer to
// expect RTP: a direction may take lateStartAfter to begin (a phone
// waiting for the far end's first packet, a relay latching), so missing
// RTP before then is no proof that it never flowed.
func (c CallFacts) cutShort() bool { return c.CutShortAfter > 0 && c.CutShortAfter < lateStartAfter }

// hungUpAtOnce says whether the call was hung up too soon after the
// answer to expect RTP, for the same reason: a party that hangs up the
// moment the call is answered leaves no time for the other's media to
// begin, which is no one-way audio (a listener who hears nothing says
// "hello?" for some seconds before giving up).
func (c CallFacts) hungUpAtOnce() bool { return c.HungUpAfter > 0 && c.HungUpAfter < lateStartAfter }

// tooSoonToJudge: the call was answered, but the capture or the call
// ended before each direction's RTP had time to begin.
func (c CallFacts) tooSoonToJudge() bool { return c.cutShort() || c.hungUpAtOnce() }

// missingExcused: media missing on stream s may lie outside what this
// capture shows (the stream was set up before it began, one side's
// signalling is out of sight, or it ended too soon), so it is no fault.
func (c CallFacts) missingExcused(s StreamFacts) bool {
	return !(c.StartSeen || s.SetUpInCapture) || !c.BothSidesSignalling || c.tooSoonToJudge()
}

// SetupFacts are what the signalling showed of a call's setup (its last
// INVITE transaction without a To-tag).
type SetupFacts struct {
	// Cancelled: the caller sent CANCEL.
	Cancelled bool
	// DialogStatus is the final status on this dialog (0: none), CallStatus
	// the final status of the INVITE on any dialog.
	DialogStatus, CallStatus int
	// Responded: any response to the INVITE was seen.
	Responded bool
	// Rang: a 18x (ringing, session progress) came.
	Rang bool
	// Sent counts the INVITE's transmissions (1 + retransmissions), and
	// ResentAfterResponse those after its first response on the same hop.
	Sent, ResentAfterResponse int
	// Resends: the INVITE went over UDP, where an unanswered one is resent
	// (not over TCP, TLS, WebSocket or SCTP).
	Resends bool
	// Waited is how long the setup lasted: from the INVITE to the CANCEL or
	// the final response, or to the end of the capture.
	Waited time.Duration
	// PublicToPrivate: the INVITE went from a public address to a private
	// one (a server sending to the private Contact a phone registered from
	// behind its NAT).
	PublicToPrivate bool
	// Unreachable, when not empty, is what the INVITE drew that ends its
	// transaction as a transport error (RFC 3261 §18.1.1, §8.1.3.1): "an
	// ICMP error: ..." quoting it (icmp.go), or over TCP "a TCP reset
	// ..." of its connection (tcpconnect.go).
	Unreachable string
	// Phrase is the reason phrase of the INVITE's last failure response;
	// FailCause what its Reason and Warning headers said, CancelCause the
	// CANCEL's Reason ("Call completed elsewhere": another phone of a
	// group answered).
	Phrase, FailCause, CancelCause string
	// FinalFrom and FinalAgent are who sent the INVITE's final response:
	// its source and its Server or User-Agent header.
	FinalFrom  netip.AddrPort
	FinalAgent string
	// AnsweredElsewhere: the CANCEL says another branch answered.
	AnsweredElsewhere bool
	// AckedUnseen: the caller acknowledged a final response the capture
	// does not hold (an ACK on the setup's CSeq, with the To-tag the
	// response set), and nothing showed which (a 2xx, inferAnswer, or a
	// failure): the capture lacks what came back to the caller.
	AckedUnseen bool
	// UnreadAfter: SIP from the callee's side to the caller after the
	// INVITE that could not be read (nil: none); its final response may
	// be among it.
	UnreadAfter *unreadSIP
	// PassedOn: no response to the INVITE is in the capture, but its
	// sender passed on a 18x or 2xx upstream after it (frame 0: none).
	PassedOn response
}

// gaveUpAtOnce says what an INVITE never resent shows of its sender.
const gaveUpAtOnce = "its sender gave up at once, as SIP scanners and test scripts do, or the capture missed its resends"

// neverResent: the INVITE got no response and was sent once over UDP,
// though long enough passed for several resends (neverResentAfter).
func (s SetupFacts) neverResent() bool {
	return !s.Responded && s.Sent == 1 && s.Resends && s.Waited >= neverResentAfter
}

// Timing of call setup.
const (
	// inviteTimeout is how long an INVITE client transaction waits for a
	// final response (Timer B = 64*T1, RFC 3261 §17.1.1.2).
	inviteTimeout = 32 * time.Second
	// neverRangAfter: a reachable phone rings within a second or two; a
	// setup that ends after this long without any 18x means the callee
	// was never alerted.
	neverRangAfter = 5 * time.Second
	// ringTimeout: once a 18x came, Timer B no longer runs (RFC 3261
	// §17.1.1.2, Proceeding) and the caller may let it ring for minutes;
	// proxies give up after Timer C, over 3 minutes (§16.6). A capture
	// that ends sooner while it rings ended before the setup did.
	ringTimeout = 3 * time.Minute
	// neverResentAfter: over UDP a caller resends an unanswered INVITE
	// at 0.5, 1.5, 3.5, 7.5 and 15.5 s (T1 = 500 ms, RFC 3261
	// §17.1.1.2); one sent once and not again by then is not being
	// resent: its sender gave up at once.
	neverResentAfter = 16 * time.Second
)

// StreamVerdict is the outcome of one stream, with who cannot hear.
type StreamVerdict struct {
	Verdict report.Verdict
	// CannotHear is the party that hears nothing on a one-way stream.
	CannotHear string
	Explain    string
	// NotAnswered says how the setup ended (verdict not-answered).
	NotAnswered report.NotAnswered
	// Fax: the verdict is a T.38 fax stream's (JudgeCall).
	Fax bool
}

// JudgeStream derives a stream's verdict. It is pure: the same facts give
// the same verdict, and each case is table-tested.
func JudgeStream(s StreamFacts, c CallFacts) StreamVerdict {
	if !c.Answered {
		return notAnswered(c.Setup)
	}
	if !c.MediaNegotiated {
		return StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "no SDP answer: the call never set up media"}
	}
	if s.Declined {
		return StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "the stream was declined (port 0)"}
	}
	if !s.Expected[0] && !s.Expected[1] {
		return StreamVerdict{Verdict: report.VerdictOnHold, Explain: "media negotiated inactive (hold): no audio expected, not a fault"}
	}
	if s.noRTP() {
		if v, ok := JudgeReported(s); ok {
			return v
		}
		if v, ok := judgeRelayed(c); ok {
			return v
		}
	}
	if s.SameHost.IsValid() {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"both parties are on one host, %s: their SIP comes from it and their SDPs ask for media there (ports %d and %d), so the media between them "+
				"stays inside that host, where a capture of its network traffic cannot see it", s.SameHost, s.HostAddrs[caller].Port(), s.HostAddrs[callee].Port())}
	}
	if s.noRTP() && s.OffLoopback.IsValid() {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"the capture was taken on a loopback interface, which holds only its host's traffic to itself, and the media goes to %s, another host: "+
				"it never passes there", s.OffLoopback)}
	}
	if !c.CaptureHasMedia {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: "the capture holds no RTP at all (filtered to signalling?): audio cannot be judged"}
	}
	if s.onlyEvents() {
		// Voice and DTMF share the stream's addresses and path: a capture
		// with the events and none of the voice was filtered to them (as
		// one taken to look at DTMF is), not a network that lost the rest.
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"the capture holds only the stream's telephone events (DTMF, RFC 4733: %d packets), none of its audio (filtered to them?): audio cannot be judged",
			s.seen(caller)+s.seen(callee))}
	}
	if s.noRTP() && s.SameNAT.IsValid() {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"both parties are behind the same NAT (%s) and ask for media at their LAN addresses (%s, %s): it flows between them on that LAN, where this capture cannot see it",
			s.SameNAT, s.LANAddrs[caller], s.LANAddrs[callee])}
	}
	if s.noRTP() && s.PastIntermediary.IsValid() {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"the intermediary at %s passes each party's SDP on, so the media goes directly between them (%s, %s), past it: "+
				"this capture, on its path, holds none of it", s.PastIntermediary, s.MediaAddrs[caller], s.MediaAddrs[callee])}
	}
	ok, reported := s.arrived()
	if s.NoSDP && !(ok[0] && ok[1]) {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"%s, and the RTP between the parties' hosts went one way (%d/%d): what they negotiated cannot be told", sdpMissingText, s.seen(caller), s.seen(callee))}
	}
	if s.Expected[0] && s.Expected[1] {
		switch {
		case ok[0] && ok[1] && (reported[0] || reported[1]):
			d := caller
			if reported[callee] {
				d = callee
			}
			return StreamVerdict{Verdict: report.VerdictTwoWay, Explain: fmt.Sprintf(
				"RTP flowed both ways: the capture holds none of the %s's, but the %s's RTCP reports it arriving (the capture point is off its path)",
				partyNames[d], partyNames[other(d)])}
		case ok[0] && ok[1] && s.NoSDP:
			return StreamVerdict{Verdict: report.VerdictTwoWay, Explain: "RTP flowed both ways between the parties' hosts (the call's SDP is not in the capture)"}
		case ok[0] && ok[1]:
			return StreamVerdict{Verdict: report.VerdictTwoWay, Explain: "RTP flowed both ways"}
		case c.missingExcused(s) && !(s.lossProven(ok) && !c.tooSoonToJudge()):
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(c)}
		case ok[0]: // the caller's audio arrives, the callee's does not
			return oneWay(caller, s)
		case ok[1]:
			return oneWay(callee, s)
		default:
			return StreamVerdict{Verdict: report.VerdictNoWay, Explain: noWayReason(s)}
		}
	}
	// Only one direction was ever negotiated (sendonly/recvonly from the
	// start); judge only the direction that was asked for.
	dir := 0
	if s.Expected[1] {
		dir = 1
	}
	if ok[dir] {
		return StreamVerdict{Verdict: report.VerdictOneWayNegotiated,
			Explain: fmt.Sprintf("media was negotiated one way only (the %s sends: an announcement, paging, monitoring or a recording to a SIPREC server), and it flowed so: not a fault", partyNames[dir])}
	}
	if c.missingExcused(s) {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(c)}
	}
	if s.HeldAtEnd {
		return StreamVerdict{Verdict: report.VerdictOnHold, Explain: "call on hold and no music-on-hold seen"}
	}
	return StreamVerdict{Verdict: report.VerdictNoWay, CannotHear: partyNames[other(dir)],
		Explain: fmt.Sprintf("only %s was to send and no RTP from it arrived", partyNames[dir])}
}

// sdpMissingText says why a call's streams lack their SDP (CallFacts.SDPMissing).
const sdpMissingText = "the call's SDP is not in the capture (cut by its snap length, or with an INVITE or 2xx it missed)"

// arrived says which directions' media arrived: RTP seen that could
// arrive, or, for a direction the capture holds no RTP of while the other
// has some (a capture point that sees one way of the media path only: a
// SPAN port of one direction, asymmetric routing), the receiver's RTCP
// reporting on it (reported).
func (s StreamFacts) arrived() (ok, reported [2]bool) {
	ok = [2]bool{s.Delivered[0] > 0, s.Delivered[1] > 0}
	for d := range 2 {
		if s.seen(d) > 0 {
			continue
		}
		if known, got := s.Reported[d].outcome(); known && got {
			ok[d], reported[d] = true, true
		}
	}
	return ok, reported
}

// judgeRelayed: a leg whose RTP the capture does not hold, while the B2BUA
// at its end relays its media into the call's other leg, has media the
// capture cannot see, not none: the capture point is off this leg's media
// path.
func judgeRelayed(c CallFacts) (StreamVerdict, bool) {
	for dir := range 2 {
		if n := c.Relayed[dir]; n > 0 {
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: "the capture holds none of this leg's RTP, yet the B2BUA relays the " +
				partyNames[dir] + "'s media into the call's other leg (" + strconv.FormatUint(n, 10) + " packets): it flows where the capture does not see"}, true
		}
	}
	return StreamVerdict{}, false
}

// ReportedDirection is what the parties' RTCP (RFC 3550 §6.4) said about
// one direction of a stream.
type ReportedDirection struct {
	// SenderReported: the sender's RTCP was seen. SenderSR: some of it
	// were sender reports, which a party sends while it sends RTP, receiver
	// reports only when it sends none (RFC 3550 §6.4); SenderSent is the
	// packet count of the last one.
	SenderReported bool
	SenderSR       bool
	SenderSent     uint64
	// ReceiverReported: the receiver's RTCP was seen while the call was
	// up; ReceiverGot: a reception report block in it is about the
	// sender's stream, so some of it arrived.
	ReceiverReported bool
	ReceiverGot      bool
	// ReceiverForeign: the receiver's blocks name a source no stream of
	// the call has (a receiver that labels its blocks wrong, or media
	// from a path the capture does not show): its silence about the
	// sender's stream disproves nothing.
	ReceiverForeign bool
}

// outcome says whether the reports settle the direction, and whether its
// media arrived: the receiver reporting on the stream proves it; the
// sender saying it sent nothing, or sending while the receiver's reports
// never mention it, disproves it. Anything less leaves it open.
func (d ReportedDirection) outcome() (known, arrived bool) {
	switch {
	case d.ReceiverGot:
		return true, true
	case d.SenderReported && !d.SenderSR:
		return true, false
	case d.ReceiverReported && d.SenderSR && !d.ReceiverForeign:
		return true, false
	}
	return false, false
}

// sentNothing says whether the sender's own RTCP says it sent no RTP:
// receiver reports only, or sender reports that count no packet sent.
func (d ReportedDirection) sentNothing() bool {
	return d.SenderReported && (!d.SenderSR || d.SenderSent == 0)
}

// said says whether any report touched the direction.
func (d ReportedDirection) said() bool { return d.SenderReported || d.ReceiverReported }

// JudgeReported judges a stream the capture saw no RTP of from what the
// parties' RTCP reports say about each direction (ok false when no report
// says anything). A direction no report settles cannot be judged, and the
// verdict says which.
func JudgeReported(s StreamFacts) (v StreamVerdict, ok bool) {
	r := s.Reported
	if !r[0].said() && !r[1].said() {
		return StreamVerdict{}, false
	}
	var open []string
	arrived := [2]bool{}
	for d := range 2 {
		known, got := r[d].outcome()
		arrived[d] = got
		if s.Expected[d] && !known {
			open = append(open, partyNames[d]+" → "+partyNames[other(d)])
		}
	}
	if len(open) > 0 {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: fmt.Sprintf(
			"the capture holds no RTP, and no RTCP report settles %s: that media cannot be judged", strings.Join(open, " or "))}, true
	}
	switch {
	case s.Expected[0] && s.Expected[1] && arrived[0] && arrived[1]:
		return StreamVerdict{Verdict: report.VerdictTwoWay, Explain: "each party's RTCP reports the other's RTP arriving (the capture holds no RTP)"}, true
	case s.Expected[0] && s.Expected[1] && (arrived[0] || arrived[1]):
		deaf := caller
		if arrived[1] {
			deaf = callee
		}
		return StreamVerdict{Verdict: report.VerdictOneWay, CannotHear: partyNames[deaf], Explain: reportedLoss(r[other(deaf)], other(deaf))}, true
	case s.Expected[0] != s.Expected[1]:
		dir := 0
		if s.Expected[1] {
			dir = 1
		}
		if arrived[dir] {
			return StreamVerdict{Verdict: report.VerdictOneWayNegotiated, Explain: fmt.Sprintf(
				"media was negotiated one way only, and the %s's RTCP reports it arriving (the capture holds no RTP)", partyNames[other(dir)])}, true
		}
		if s.HeldAtEnd && r[dir].SenderReported && !r[dir].SenderSR {
			// A party that puts the call on hold may send music-on-hold
			// (sendonly) but need not: many leave it to the PBX, or send
			// nothing.
			return StreamVerdict{Verdict: report.VerdictOnHold, Explain: fmt.Sprintf(
				"call on hold, and the %s's RTCP says it sends nothing (receiver reports only): no music-on-hold, not a fault", partyNames[dir])}, true
		}
		return StreamVerdict{Verdict: report.VerdictNoWay, CannotHear: partyNames[other(dir)], Explain: reportedLoss(r[dir], dir)}, true
	}
	return StreamVerdict{Verdict: report.VerdictNoWay, Explain: reportedLoss(r[0], caller) + "; " + reportedLoss(r[1], callee)}, true
}

// reportedLoss says why the reports show sender's media not arriving.
func reportedLoss(d ReportedDirection, sender int) string {
	if !d.SenderSR {
		return fmt.Sprintf("the %s's RTCP says it sent no RTP (receiver reports only)", partyNames[sender])
	}
	sent := "sent RTP"
	if d.SenderSent > 0 {
		sent = fmt.Sprintf("sent %d RTP packets", d.SenderSent)
	}
	return fmt.Sprintf("the %s's sender reports say it %s, and the %s's RTCP never reports receiving any", partyNames[sender], sent, partyNames[other(sender)])
}

func oneWay(deaf int, s StreamFacts) StreamVerdict {
	sender := other(deaf)
	var why string
	switch {
	case s.Undeliverable[sender] > 0 && s.Refused[sender] != "":
		why = fmt.Sprintf("the %s's %d RTP packets were refused %s", partyNames[sender], s.Undeliverable[sender], allAlongICMP(s.Refused[sender]))
		if s.Doubt[sender] != "" {
			why += "; " + s.Doubt[sender]
		}
	case s.Undeliverable[sender] > 0:
		why = fmt.Sprintf("the %s sent %d RTP packets to an address the %s cannot be reached at", partyNames[sender], s.Undeliverable[sender], partyNames[deaf])
	case s.Unproven[sender] > 0:
		why = fmt.Sprintf("the %s's %d %s packets are unproven and likely lost: %s", partyNames[sender], s.Unproven[sender], s.packets(), s.Doubt[sender])
	case s.Reported[sender].sentNothing() && !s.Reported[sender].SenderSR:
		why = fmt.Sprintf("the %s sent no RTP: its own RTCP says so (receiver reports only, which a party sends while it sends no media)", partyNames[sender])
	case s.Reported[sender].sentNothing():
		why = fmt.Sprintf("the %s sent no RTP: its own RTCP says so (its sender reports count 0 packets sent)", partyNames[sender])
	default:
		why = fmt.Sprintf("no %s from the %s to the %s was seen", s.packets(), partyNames[sender], partyNames[deaf])
	}
	return StreamVerdict{Verdict: report.VerdictOneWay, CannotHear: partyNames[deaf], Explain: why}
}

func noWayReason(s StreamFacts) string {
	if s.Fax && (s.FaxToAudioPort[0] || s.FaxToAudioPort[1]) {
		var each []string
		for d := range 2 {
			switch {
			case s.FaxToAudioPort[d]:
				each = append(each, fmt.Sprintf("the %s's %d were %s", partyNames[d], s.Unproven[d], s.Doubt[d]))
			case s.seen(d) == 0:
				each = append(each, fmt.Sprintf("the %s sent none", partyNames[d]))
			}
		}
		return "no T.38 (UDPTL) reached either fax: " + strings.Join(each, "; ")
	}
	if s.Refused[0] != "" || s.Refused[1] != "" {
		return "RTP was sent, but only to addresses the receivers cannot be reached at or that refused it (ICMP errors came back), or to NAT ports nothing shows are forwarded"
	}
	if s.Undeliverable[0]+s.Undeliverable[1]+s.Unproven[0]+s.Unproven[1] > 0 {
		return "RTP was sent, but only to addresses the receivers cannot be reached at, or to NAT ports nothing shows are forwarded"
	}
	return "no " + s.packets() + " was seen in either direction"
}

func incompleteReason(c CallFacts) string {
	if !c.StartSeen {
		return "the capture started mid-call: media set up before it is not visible"
	}
	if c.cutShort() {
		return fmt.Sprintf("the capture ends %s after the answer, with the call still up: too soon to expect RTP both ways",
			c.CutShortAfter.Round(100*time.Millisecond))
	}
	if c.hungUpAtOnce() {
		return fmt.Sprintf("the %s hung up %s after the answer: too soon to expect RTP both ways",
			partyNames[c.HungUpBy], c.HungUpAfter.Round(time.Millisecond))
	}
	return "only one side's signalling is visible: this capture point does not see the whole path"
}

// verdictRank orders verdicts so a call takes its worst stream's verdict.
func verdictRank(v report.Verdict) int {
	switch v {
	case report.VerdictNoWay:
		return 0
	case report.VerdictOneWay:
		return 1
	case report.VerdictIncompleteCapture:
		return 2
	case report.VerdictTwoWay:
		return 3
	case report.VerdictOnHold, report.VerdictOneWayNegotiated:
		return 4
	}
	return 5
}

// notAnswered is the verdict of a dialog the INVITE got no 2xx on: no media
// is expected, and the reason says how its setup ended. A setup the capture
// ended in the middle of is incomplete, not unanswered.
func notAnswered(s SetupFacts) StreamVerdict {
	// The INVITE's final status ends the setup; a dialog's own status
	// may be an earlier challenge (401/407) on another To-tag.
	status := s.CallStatus
	if status < 300 {
		status = s.DialogStatus
	}
	na := report.NotAnswered{Rang: s.Rang}
	if status >= 300 {
		na.Status = status
	}
	if status >= 300 && status == s.CallStatus {
		na.Phrase, na.Cause = s.Phrase, s.FailCause
		if s.FinalFrom.IsValid() && !s.Cancelled {
			na.By, na.ByAgent = s.FinalFrom.String(), s.FinalAgent
		}
	}
	var explain string
	wait := roundWait(s.Waited)
	switch {
	case s.Cancelled:
		na.Reason = report.NotAnsweredCancelled
		na.Cause = s.CancelCause
		explain = fmt.Sprintf("the caller hung up after %s %s", wait, ringingText(s))
		if s.AnsweredElsewhere {
			explain = fmt.Sprintf("another phone answered the call after %s %s", wait, ringingText(s))
		}
	case status == 408:
		na.Reason = report.NotAnsweredTimedOut
		explain = fmt.Sprintf("the call timed out (408) after %s %s", wait, ringingText(s))
	case status >= 300:
		na.Reason = report.NotAnsweredRejected
		explain = "the call was rejected (" + statusText(status, na.Phrase) + ")"
	case s.AckedUnseen && status < 300:
		// A final response reached the caller; which, the capture cannot
		// tell: not a destination that never answered.
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture,
			Explain: "the caller acknowledged a final response the capture does not hold (its ACK carries the response's To-tag): " +
				"the capture lacks what came back to the caller, so how the setup ended cannot be told"}
	case !s.Responded && s.PassedOn.frame != 0:
		// Only the callee's side makes a 18x or 2xx: this hop was
		// answered out of the capture's sight.
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture,
			Explain: fmt.Sprintf("no response to the INVITE is in the capture, yet its sender %s passed a %d on to %s after it (frame %d), "+
				"which only the callee's side sends: the capture does not see this hop's answers (one direction of it)",
				s.PassedOn.src.Addr(), s.PassedOn.status, s.PassedOn.dst, s.PassedOn.frame)}
	case s.UnreadAfter != nil && status < 300:
		// Its final response may be among what could not be read: not
		// a destination that never answered.
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture,
			Explain: fmt.Sprintf("%s from the callee's side to the caller after the INVITE could not be read (%s, from frame %d): "+
				"the final response may be among them, so how the setup ended cannot be told",
				report.Plural(s.UnreadAfter.count, "SIP message"), s.UnreadAfter.kind, s.UnreadAfter.frames[0])}
	case !s.Responded && s.Unreachable != "":
		na.Reason = report.NotAnsweredUnreachable
		explain = "the INVITE drew " + s.Unreachable
	case s.neverResent():
		// A SIP scanner's INVITE: sent once, never resent, never answered.
		na.Reason = report.NotAnsweredUnreachable
		explain = "the INVITE got no response at all (sent once and not again in " + wait.String() + ", though over UDP it is resent " +
			"from 0.5 s on until answered: " + gaveUpAtOnce + ")"
	case !s.Responded && (s.Sent > 1 || s.Waited >= inviteTimeout):
		na.Reason = report.NotAnsweredUnreachable
		explain = "the INVITE got no response at all (sent " + strconv.Itoa(s.Sent) + " times over " + wait.String() + ")"
		if s.Sent <= 1 {
			explain = "the INVITE got no response at all (sent once, nothing came in " + wait.String() + ")"
		}
	case s.Responded && s.Waited >= inviteTimeout && (!s.Rang || s.Waited >= ringTimeout):
		na.Reason = report.NotAnsweredTimedOut
		explain = fmt.Sprintf("no final response came in %s %s", wait, ringingText(s))
	default:
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture,
			Explain: fmt.Sprintf("the capture ended %s after the INVITE %s, before the setup did", wait, ringingText(s))}
	}
	if na.Cause != "" {
		explain += ": " + na.Cause
	}
	return StreamVerdict{Verdict: report.VerdictNotAnswered, Explain: explain, NotAnswered: na}
}

// ringingText says how far the callee got: ringing, only 100 Trying, or
// not even that.
func ringingText(s SetupFacts) string {
	switch {
	case s.Rang:
		return "while it rang"
	case s.Responded:
		return "without the callee ever ringing (no 180/183)"
	}
	return "without any response"
}

func roundWait(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// SetupProblem says which finding, if any, a call setup that was not
// answered deserves, and how grave it is: responses that never reached the
// caller (it went on resending its INVITE; also while the capture ended
// during the setup), silence toward a private address from a public one (a
// server that stored the private Contact of a phone behind NAT), an INVITE
// nobody answered, or a callee never alerted. A rejection, a caller
// hanging up while it rang, or a branch cancelled because another answered
// is no fault.
func SetupProblem(s SetupFacts, v StreamVerdict) (report.FindingID, report.Severity) {
	answered := s.CallStatus >= 200 && s.CallStatus < 300 // its 2xx's own rule says it (AnswerProblem)
	if (v.Verdict == report.VerdictNotAnswered || v.Verdict == report.VerdictIncompleteCapture) && !answered &&
		s.Responded && s.ResentAfterResponse >= resentPastResponse {
		// One copy may cross the first response on the wire; two are the
		// caller's resend timer running on: none of the responses reached
		// it, and it never learnt that the call got through.
		return IDResponsesLost, report.SeverityError
	}
	if v.Verdict != report.VerdictNotAnswered {
		return "", ""
	}
	switch na := v.NotAnswered; {
	case na.Reason == report.NotAnsweredUnreachable && s.PublicToPrivate:
		return IDRequestToPrivate, report.SeverityError
	case na.Reason == report.NotAnsweredUnreachable:
		return IDRequestUnanswered, report.SeverityWarning
	case na.Rang || s.Waited < neverRangAfter || s.AnsweredElsewhere:
		return "", ""
	case na.Reason == report.NotAnsweredCancelled, na.Reason == report.NotAnsweredTimedOut, na.Status == 480:
		return IDCalleeNeverRang, report.SeverityWarning
	}
	return "", ""
}

// AnswerFacts are what the signalling showed of one 2xx answer to an
// INVITE: its copies on the hop of the first, and its ACK.
type AnswerFacts struct {
	// Sent counts the 2xx's transmissions on that hop, Over the time from
	// the first to the last.
	Sent int
	Over time.Duration
	// Acked: an ACK of its transaction was seen, AfterAck the copies sent
	// after it.
	Acked    bool
	AfterAck int
	// AckedOtherDialog: no ACK carried the 2xx's To-tag, but one carried
	// the tag of another dialog of the call that was acknowledged: the
	// caller goes on in that one, and only this dialog is dropped.
	AckedOtherDialog bool
	// HungUpAfter is how long after the first copy the answering party
	// sent BYE (0: it did not).
	HungUpAfter time.Duration
}

// A 2xx is resent T1, 2*T1, 4*T1... apart (RFC 3261 §13.3.1.4): three
// copies over a second or more mean no ACK came for 1.5 s, which no
// network delay explains. A copy can cross its ACK on the wire; two after
// it mean the ACK did not arrive. The answering party gives up 64*T1 after
// the first copy.
const (
	unackedCopies = 3
	unackedOver   = time.Second
	copiesPastAck = 2
	answerTimeout = inviteTimeout // 64*T1, as Timer B
)

// resentPastResponse is how many copies of an INVITE, sent after a
// response to it, show that no response reached the client (a provisional
// one ends its resends, RFC 3261 §17.1.1.2): one may cross the response
// on the wire; two are its resend timer running on (T1, then 2*T1 later).
const resentPastResponse = 2

// AnswerProblem says whether a 2xx was never acknowledged: resent for a
// second or more with no ACK, or resent still after the ACK was seen
// leaving (it went where the answering party is not). The answering
// party drops such a call after 32 s: an error, or a warning when the
// caller acknowledged another dialog of the call instead, which goes on.
func AnswerProblem(a AnswerFacts) (report.FindingID, report.Severity) {
	if a.Sent < unackedCopies || a.Over < unackedOver {
		return "", ""
	}
	if a.Acked && a.AfterAck < copiesPastAck {
		return "", ""
	}
	if a.AckedOtherDialog {
		return IDAnswerNotAcknowledged, report.SeverityWarning
	}
	return IDAnswerNotAcknowledged, report.SeverityError
}

// InDialogFacts are what the signalling showed of a request inside a
// dialog (BYE, re-INVITE, UPDATE...): its transmissions on one hop and
// whether anything answered.
type InDialogFacts struct {
	Method string
	Sent   int
	Over   time.Duration
	// Responded: any response came (a provisional one ends the resending);
	// Answered: a final response other than 408.
	Responded, Answered bool
	// TimedOut: the only final response was a 408, which a proxy sends
	// when the next hop never answered (RFC 3261 §16.8).
	TimedOut bool
	// PublicToPrivate: sent from a public address to a private one, which
	// privateRequests reports for the whole capture (requests.go).
	PublicToPrivate bool
	// Unknown: the receiver answered 481 Call/Transaction Does Not Exist
	// (RFC 3261 §12.2.2): it no longer knew the dialog.
	Unknown bool
}

// InDialogProblem says whether an in-dialog request went unanswered: resent
// (as for a 2xx, three copies over a second mean no response for 1.5 s)
// and never answered, or answered only by a proxy's 408; or whether a
// re-INVITE or UPDATE found the dialog unknown to its receiver (481). A lost BYE or session refresh leaves the parties
// disagreeing on whether the call is up, an error; another request a
// warning.
func InDialogProblem(f InDialogFacts) (report.FindingID, report.Severity) {
	if f.Unknown && (f.Method == "INVITE" || f.Method == "UPDATE") {
		// A BYE that meets a 481 crossed the other side's own end of the
		// call; a refresh or a hold that does finds the call gone there.
		return IDDialogUnknown, report.SeverityError
	}
	resentInVain := !f.Responded && f.Sent >= unackedCopies && f.Over >= unackedOver
	if f.Answered || f.PublicToPrivate || (!resentInVain && !f.TimedOut) {
		return "", ""
	}
	switch f.Method {
	case "BYE", "INVITE", "UPDATE":
		return IDRequestUnanswered, report.SeverityError
	}
	return IDRequestUnanswered, report.SeverityWarning
}

// AnswersLostSeverity grades an in-dialog request its receiver answered
// while its sender went on resending it: no answer reached the sender,
// whose transaction times out after 32 s and which then should end the
// call (RFC 3261 §12.2.1.2). A session refresh (UPDATE) that fails so
// ends it (RFC 4028 §10), an error; another request a warning, the call
// left to the sender's choice (a BYE's call is over either way).
func AnswersLostSeverity(method string) report.Severity {
	if method == "UPDATE" {
		return report.SeverityError
	}
	return report.SeverityWarning
}

// remapOneWayAfter: a far end that went on sending to the old port this
// long after the move left the party deaf for a part of the call users
// notice ("the line went dead"), which is what a complaint about it is.
const remapOneWayAfter = 2 * time.Second

// RemapProblem grades a party's RTP moving to a new NAT mapping mid-call
// (rebind.go) by how long the far end kept sending to the old port after
// the move (0: it did not) and whether it followed to the new one. The
// party could not hear from then on: one-way, an error, when the far end
// kept on for remapOneWayAfter without following; a warning when for
// less; a note when it followed or stopped.
func RemapProblem(keptOldFor time.Duration, followed bool) (oneWay bool, sev report.Severity) {
	switch {
	case followed || keptOldFor <= 0:
		return false, report.SeverityInfo
	case keptOldFor >= remapOneWayAfter:
		return true, report.SeverityError
	}
	return false, report.SeverityWarning
}

// StopFacts are what a capture shows of one direction of an answered,
// two-way call whose RTP stopped for good while the other direction's went
// on, no SDP and no BYE of its sender explaining it (stopped.go).
type StopFacts struct {
	// SilentFor is how long the other direction's RTP went on after this
	// one's last packet, up to the call's end.
	SilentFor time.Duration
	// SentOn: the sender's own RTCP counts at least a second of packets
	// more than its sequence numbers reached at the capture point: it went
	// on sending, and they were lost before the capture point.
	SentOn bool
	// SentElsewhere: the sender's RTP went on, to an address the capture
	// shows it cannot arrive at (a private address seen from outside, a
	// NAT port nothing maps): after a re-INVITE that named it, or a move.
	SentElsewhere bool
	// SenderSaysStopped: the sender's RTCP went on after its RTP stopped,
	// and its sender reports count no more packets than arrived: it
	// stopped sending.
	SenderSaysStopped bool
	// SenderSide: the capture sees the stream leave the sender's private
	// address, so no NAT lies between the phone and the capture point:
	// the phone stopped sending, or its own LAN or Wi-Fi lost it.
	SenderSide bool
	// SuppressesSilence: the stream showed silence suppression before it
	// stopped (talk spurts, comfort noise, pauses): its silence sends
	// nothing, so a stop may be the user listening.
	SuppressesSilence bool
	// SenderIsMediaServer: the sender's User-Agent or Server header names
	// a PBX or media server, which sends nothing while it records a
	// message or waits for digits, or while the phone on its other leg
	// sends it nothing.
	SenderIsMediaServer bool
}

// A stream that stops stopOneWayAfter or more before the other direction
// does is not the race of a hang-up (the BYE crosses the last packets in
// well under a second); one that suppresses silence must stop for
// stopSilenceAfter, longer than a listener stays quiet, to be reported.
const (
	stopOneWayAfter  = 5 * time.Second
	stopSilenceAfter = 15 * time.Second
)

// StopProblem grades a direction's RTP stopping mid-call (ok false: not
// reported). Its listener heard nothing from then on. The call is one-way
// (an error) when the sender went on sending (its RTCP counts on, or its
// RTP went on to where it cannot arrive), or when
// nothing suggests it stopped on purpose: the stream never suppressed
// silence, the capture is not on the sender's side of the network and the
// sender is no PBX or media server. A sender seen stopping (SenderSide, or
// its own RTCP: SenderSaysStopped) is a warning with the call two-way, as
// audio-barely-sent is: the path was open, the phone or server stopped
// sending. A stream that suppressed silence is a warning after
// stopSilenceAfter. A media server's stop is a warning: recording a
// voicemail it sends nothing by design.
func StopProblem(f StopFacts) (oneWay bool, sev report.Severity, ok bool) {
	switch {
	case f.SilentFor < stopOneWayAfter:
		return false, "", false
	case f.SentOn || f.SentElsewhere:
		return true, report.SeverityError, true
	case f.SenderSide || f.SenderSaysStopped:
		return false, report.SeverityWarning, true
	case f.SuppressesSilence && f.SilentFor < stopSilenceAfter:
		return false, "", false
	case f.SuppressesSilence, f.SenderIsMediaServer:
		return false, report.SeverityWarning, true
	}
	return true, report.SeverityError, true
}

// lateStartAfter: a direction whose first packet came this long after it
// could flow cost its listener the first words of the call ("hello?").
const lateStartAfter = 2 * time.Second

// LateStartFacts are what a capture shows of a direction of an answered,
// two-way call whose RTP began after the answer let it flow.
type LateStartFacts struct {
	// LateBy is how long after the answer, or the later SDP that let it
	// flow, its first packet that arrives (or could) came.
	LateBy time.Duration
	// SuppressesSilence: the sender suppresses silence, so it sends
	// nothing until its user speaks.
	SuppressesSilence bool
	// SenderIsMediaServer: the sender's User-Agent or Server header names
	// a PBX or media server, which sends nothing until it plays a prompt
	// (an IVR's Answer, Wait) or the phone on its other leg sends it audio.
	SenderIsMediaServer bool
	// SentElsewhereFirst: before it, the sender's RTP went where it cannot
	// arrive (a private address seen from outside, a NAT port nothing maps).
	SentElsewhereFirst bool
}

// LateStartProblem grades a direction's RTP that began late (ok false: not
// reported): a warning, the call staying two-way. A sender that suppresses
// silence sends nothing until its user speaks, and a media server nothing
// until it has a prompt to play, so their late start says nothing, unless
// their first packets went where they cannot arrive.
func LateStartProblem(f LateStartFacts) (sev report.Severity, ok bool) {
	switch {
	case f.LateBy < lateStartAfter, f.SuppressesSilence:
		return "", false
	case f.SenderIsMediaServer && !f.SentElsewhereFirst:
		return "", false
	}
	return report.SeverityWarning, true
}

// JudgeCall combines stream verdicts (audio streams when there are any)
// into the call's. A call that was not answered, or answered without any
// SDP seen, is judged from the call facts alone.
func JudgeCall(streams []StreamVerdict, media []string, c CallFacts) StreamVerdict {
	if !c.Answered {
		return notAnswered(c.Setup)
	}
	if len(streams) == 0 {
		if !c.StartSeen {
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(c)}
		}
		if c.SDPMissing {
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: sdpMissingText + ": its media cannot be told from it"}
		}
		if c.SDPUnreadable {
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: "the call's SDP could not be read (malformed-sdp): its media cannot be told from it"}
		}
		return StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "the call was answered but no SDP offer/answer was seen"}
	}
	best := StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "no media stream was negotiated"}
	counts := judgedMedia(media)
	first := true
	for i, s := range streams {
		if !counts(i) {
			continue
		}
		if first || verdictRank(s.Verdict) < verdictRank(best.Verdict) {
			best, first = s, false
			best.Fax = i < len(media) && media[i] == "image"
		}
	}
	return best
}

// verdictCounts says which of a call's streams (by index into media) its
// verdict v counts: those it was judged on, and only the fax's once a
// T.38 stream decided it (the audio before the fax is not what failed).
func verdictCounts(media []string, v StreamVerdict) func(int) bool {
	if v.Fax {
		return func(k int) bool { return k < len(media) && media[k] == "image" }
	}
	return judgedMedia(media)
}

// judgedMedia says which of a call's streams (by index into media) its
// verdict is judged on: audio and fax (T.38, m=image) are what a call is
// for; video and the rest count only when there is neither.
func judgedMedia(media []string) func(i int) bool {
	judged := func(m string) bool { return m == "audio" || m == "image" }
	hasAudio := slices.ContainsFunc(media, judged)
	return func(i int) bool { return !hasAudio || i >= len(media) || judged(media[i]) }
}

// LegOutcome is what JudgeLegs reads of one leg of a call.
type LegOutcome struct {
	Verdict report.Verdict
	// Answered: the leg's INVITE got a 2xx.
	Answered bool
}

// JudgeLegs picks the leg whose verdict is the call's: among the legs
// that were answered the worst (a one-way hop makes the call one-way),
// the first of equals; when none was answered, the caller's own leg, whose
// ending is what the caller lived through.
func JudgeLegs(legs []LegOutcome) int {
	best := -1
	for i, l := range legs {
		if l.Answered && (best < 0 || verdictRank(l.Verdict) < verdictRank(legs[best].Verdict)) {
			best = i
		}
	}
	return max(best, 0)
}

// DeliveryFacts are what the capture shows about the way of one media flow
// to its receiver, from where the capture was taken.
type DeliveryFacts struct {
	// Unreachable: sent to a private address of a receiver seen from
	// outside its NAT.
	Unreachable bool
	// ReceiverNATed: the receiver's own messages show a NAT between it and
	// the capture point (a private Contact, Via or o= behind a public
	// source, or a server's Via received=).
	ReceiverNATed bool
	// ToReceiverNAT: sent to the public address the receiver's NAT was
	// seen at.
	ToReceiverNAT bool
	// ReceiverSendsFrom: something in the capture comes from the address
	// sent to (the receiver's media, its RTCP): the NAT maps it.
	ReceiverSendsFrom bool
	// ReceiverSendsToSender: what comes from the address sent to goes to
	// the flow's source (address and port; address only for RTCP): a NAT
	// that filters by address and port (Linux's conntrack, most home
	// routers) lets the flow in.
	ReceiverSendsToSender bool
	// ReceiverSendsToSenderHost: it goes to the flow's source address, if
	// not to its port: a NAT that filters by address only lets it in.
	ReceiverSendsToSenderHost bool
	// PastReceiverNAT: sent to a private address the receiver's own media
	// leaves from: the capture is on the receiver's side of its NAT, which
	// the flow has passed, filter and all.
	PastReceiverNAT bool
	// ReceiverSendsOtherPort: the receiver's media leaves its NAT from
	// another port of the same address.
	ReceiverSendsOtherPort bool
	// ReceiverSendsOtherAddress: sent to a public address none of the
	// receiver's media comes from, while it comes from another public
	// address of its NAT: the one sent to is where its SIP comes from
	// (its network sends media out another address than it names: two
	// internet links, load balancing, a NAT pool without one address per
	// host), or the one its media comes from is (the address it names is
	// not its NAT's: an external address set by hand, stale or wrong).
	ReceiverSendsOtherAddress bool
	// ReceiverNamesUnreached: the receiver's answer named the public
	// address sent to as its Contact, an ACK sent there never reached it
	// (its answer kept coming), and none of its media comes from there:
	// the address it names is not its own (an external address set by
	// hand, stale or wrong), whatever its messages show of a NAT.
	ReceiverNamesUnreached bool
	// SenderInside: the capture sees the sender's private address, so the
	// flow has yet to pass the sender's NAT toward a public receiver.
	SenderInside bool
	// ReceiverBehindNAT: sent to a private address the receiver named,
	// while its own media comes from another private address and nothing
	// from the one sent to: a NAT inside the private network (a
	// container's, a virtual machine's) lies between it and the capture.
	ReceiverBehindNAT bool
}

// JudgeDelivery says whether a flow seen in the capture reached its
// receiver, and how the capture shows it (report.Proof*). Media seen
// leaving toward a NAT's public address is delivered only if that NAT maps
// the address and lets it in: inferred when the receiver's own packets
// come from it and go to the media's source; likely lost when they go to
// another address or port of it (the NAT's filter), or when the receiver's
// media leaves from another port and nothing comes from the one sent to
// (symmetric NAT, a SIP ALG that rewrote the SDP port, a STUN mapping made
// toward another server), or from another public address (two internet
// links). doubt says why.
func JudgeDelivery(d DeliveryFacts) (delivered bool, proof, doubt string) {
	switch {
	case d.Unreachable:
		return false, "", "sent to a private address the receiver cannot be reached at from here"
	case d.ReceiverBehindNAT:
		return false, "", "sent to a private address behind the receiver's NAT, which nothing shows forwarding it"
	case d.ReceiverNamesUnreached && !d.ReceiverSendsFrom:
		return false, "", "sent to the address the receiver names, where its ACK never reached it"
	case d.ReceiverNATed && d.ToReceiverNAT && d.ReceiverSendsFrom && (d.ReceiverSendsToSender || d.PastReceiverNAT):
		return true, report.ProofInferred, ""
	case d.ReceiverNATed && d.ToReceiverNAT && d.ReceiverSendsFrom && d.ReceiverSendsToSenderHost:
		return false, "", "sent from a port the receiver's media does not go to, which a NAT that filters by address and port keeps out"
	case d.ReceiverNATed && d.ToReceiverNAT && d.ReceiverSendsFrom:
		return false, "", "sent from an address the receiver's media does not go to, which a NAT that filters by address keeps out"
	case d.ReceiverNATed && d.ToReceiverNAT && d.ReceiverSendsOtherPort:
		return false, "", "sent to a port of the receiver's NAT its own media does not leave from"
	case d.ReceiverNATed && d.ReceiverSendsOtherAddress:
		return false, "", "sent to a public address the receiver's own media does not leave from"
	case d.ReceiverNATed || d.SenderInside:
		return true, report.ProofSeenLeaving, ""
	}
	return true, report.ProofSeenArriving, ""
}
