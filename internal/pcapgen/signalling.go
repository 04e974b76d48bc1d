package pcapgen

import (
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// Captures taken on an SBC or proxy are mostly signalling: filtered to SIP,
// tens of thousands of calls, no media. SignallingMix and UnansweredFlood
// lay out such captures (written with Options.SignallingOnly) for the
// benchmark and the tests that check natdoc on them.

// signallingKinds is the mix of SignallingMix, one entry per call of a
// cycle: mostly complete calls, some cancelled and rejected, re-INVITEs
// (hold, a media move) and one call over TCP. A cycle is 140 SIP messages
// for 20 calls: 7 per call, as a complete call has.
var signallingKinds = []Kind{
	Normal, Normal, Cancelled, Normal, Rejected, Normal, Hold, Normal, Normal, TCP,
	Normal, Normal, Cancelled, Normal, Rejected, Normal, ReinviteMove, Normal, Normal, Normal,
}

// SignallingMix lays out n calls of the signalling mix, concurrent of them
// in progress at once on average. Answered calls last from half to one and
// a half times hold (spread evenly), so calls end in another order than
// they began.
func SignallingMix(n, concurrent int, hold time.Duration) []Call {
	calls := make([]Call, n)
	spacing := (hold + 2*time.Second) / time.Duration(max(concurrent, 1))
	for i := range calls {
		length := hold/2 + hold*time.Duration(i*37%101)/100
		calls[i] = Call{Kind: signallingKinds[i%len(signallingKinds)], Start: time.Duration(i) * spacing, Media: max(length, time.Second)}
	}
	return calls
}

// UnansweredFlood lays out n INVITEs that nobody answers (each resent on
// RFC 3261's schedule until Timer B, 7 transmissions in 32 s), perSecond
// new ones a second: a scanner, or a server whose peer is down.
func UnansweredFlood(n, perSecond int) []Call {
	calls := make([]Call, n)
	spacing := time.Second / time.Duration(max(perSecond, 1))
	for i := range calls {
		calls[i] = Call{Kind: Unanswered, Start: time.Duration(i) * spacing}
	}
	return calls
}

// SignallingOnlyTruth is what an analysis of the capture without its media
// must report for a dialog whose truth with media is t: answered calls
// that expected audio cannot be judged (incomplete capture), no RTP is
// counted, and the findings that only media proves are gone; calls that
// were not answered, or put on hold from the start, are judged as before.
func SignallingOnlyTruth(t Truth) Truth {
	switch t.Verdict {
	case report.VerdictTwoWay, report.VerdictOneWay, report.VerdictNoWay, report.VerdictOneWayNegotiated:
		t.Verdict, t.CannotHear = report.VerdictIncompleteCapture, ""
	}
	switch t.Finding {
	case report.IDOneWayAudio, report.IDNoWayAudio, capture.IDSilentAudio, capture.IDMediaRemapped, capture.IDMediaOutage, capture.IDMediaStopped, capture.IDMediaStartedLate,
		capture.IDICEChecksUnanswered, capture.IDICEChecksRefused:
		t.Finding = ""
	}
	t.Packets, t.Undeliverable, t.Unproven, t.Lost = [2]uint64{}, [2]uint64{}, [2]uint64{}, [2]int64{}
	t.EarlyPackets = 0
	return t
}
