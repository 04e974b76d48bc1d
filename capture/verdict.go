package capture

import (
	"fmt"

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
	// receiver cannot be reached at (its private address, from outside).
	Undeliverable [2]uint64
	// HeldAtEnd: the last offer/answer put the stream on hold.
	HeldAtEnd bool
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
	// Setup says how a call that was not answered ended.
	Setup SetupFacts
}

// SetupFacts are what the signalling showed of a call that was never
// answered.
type SetupFacts struct {
	// Cancelled: the caller sent CANCEL.
	Cancelled bool
	// DialogStatus is the final status on this dialog (0: none), CallStatus
	// the final status of the INVITE on any dialog.
	DialogStatus, CallStatus int
}

// StreamVerdict is the outcome of one stream, with who cannot hear.
type StreamVerdict struct {
	Verdict report.Verdict
	// CannotHear is the party that hears nothing on a one-way stream.
	CannotHear string
	Explain    string
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
	if !s.Expected[0] && !s.Expected[1] {
		return StreamVerdict{Verdict: report.VerdictOnHold, Explain: "media negotiated inactive (hold): no audio expected, not a fault"}
	}
	if !c.CaptureHasMedia {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: "the capture holds no RTP at all (filtered to signalling?): audio cannot be judged"}
	}
	ok := [2]bool{s.Delivered[0] > 0, s.Delivered[1] > 0}
	if s.Expected[0] && s.Expected[1] {
		switch {
		case ok[0] && ok[1]:
			return StreamVerdict{Verdict: report.VerdictTwoWay, Explain: "RTP flowed both ways"}
		case !c.StartSeen || !c.BothSidesSignalling:
			return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(c)}
		case ok[0]: // the caller's audio arrives, the callee's does not
			return oneWay(caller, s)
		case ok[1]:
			return oneWay(callee, s)
		default:
			return StreamVerdict{Verdict: report.VerdictNoWay, Explain: noWayReason(s)}
		}
	}
	// One direction negotiated (sendonly/recvonly): a hold or an
	// announcement; judge only the direction that was asked for.
	dir := 0
	if s.Expected[1] {
		dir = 1
	}
	if ok[dir] {
		return StreamVerdict{Verdict: report.VerdictOnHold, Explain: fmt.Sprintf("media negotiated one way only (%s sends), and it flowed: hold or announcement, not a fault", partyNames[dir])}
	}
	if !c.StartSeen || !c.BothSidesSignalling {
		return StreamVerdict{Verdict: report.VerdictIncompleteCapture, Explain: incompleteReason(c)}
	}
	if s.HeldAtEnd {
		return StreamVerdict{Verdict: report.VerdictOnHold, Explain: "call on hold and no music-on-hold seen"}
	}
	return StreamVerdict{Verdict: report.VerdictNoWay, CannotHear: partyNames[other(dir)],
		Explain: fmt.Sprintf("only %s was to send and no RTP from it arrived", partyNames[dir])}
}

func oneWay(deaf int, s StreamFacts) StreamVerdict {
	sender := other(deaf)
	var why string
	if s.Undeliverable[sender] > 0 {
		why = fmt.Sprintf("the %s sent %d RTP packets to an address the %s cannot be reached at", partyNames[sender], s.Undeliverable[sender], partyNames[deaf])
	} else {
		why = fmt.Sprintf("no RTP from the %s to the %s was seen", partyNames[sender], partyNames[deaf])
	}
	return StreamVerdict{Verdict: report.VerdictOneWay, CannotHear: partyNames[deaf], Explain: why}
}

func noWayReason(s StreamFacts) string {
	if s.Undeliverable[0]+s.Undeliverable[1] > 0 {
		return "RTP was sent, but only to addresses the receivers cannot be reached at"
	}
	return "no RTP was seen in either direction"
}

func incompleteReason(c CallFacts) string {
	if !c.StartSeen {
		return "the capture started mid-call: media set up before it is not visible"
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
	case report.VerdictOnHold:
		return 4
	}
	return 5
}

// notAnswered is the verdict of a dialog the INVITE got no 2xx on: no media
// is expected, and the explanation says how its setup ended.
func notAnswered(s SetupFacts) StreamVerdict {
	return StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: notAnsweredReason(s)}
}

func notAnsweredReason(s SetupFacts) string {
	switch {
	case s.Cancelled:
		return "the caller cancelled before an answer"
	case s.DialogStatus >= 300:
		return fmt.Sprintf("the call was rejected (%d)", s.DialogStatus)
	case s.CallStatus >= 300:
		return fmt.Sprintf("the call was rejected (%d)", s.CallStatus)
	}
	return "no answer (2xx) to the INVITE was seen"
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
		return StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "the call was answered but no SDP offer/answer was seen"}
	}
	best := StreamVerdict{Verdict: report.VerdictNoMediaExpected, Explain: "no media stream was negotiated"}
	hasAudio := false
	for _, m := range media {
		hasAudio = hasAudio || m == "audio"
	}
	first := true
	for i, s := range streams {
		if hasAudio && i < len(media) && media[i] != "audio" {
			continue
		}
		if first || verdictRank(s.Verdict) < verdictRank(best.Verdict) {
			best, first = s, false
		}
	}
	return best
}
