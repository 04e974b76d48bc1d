package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestJudgeStream(t *testing.T) {
	full := CallFacts{Answered: true, MediaNegotiated: true, StartSeen: true, CaptureHasMedia: true, BothSidesSignalling: true}
	both := [2]bool{true, true}
	tests := []struct {
		name       string
		s          StreamFacts
		c          CallFacts
		want       report.Verdict
		cannotHear string
	}{
		{"audio both ways", StreamFacts{Expected: both, Delivered: [2]uint64{100, 100}}, full, report.VerdictTwoWay, ""},
		{"callee's audio never arrives", StreamFacts{Expected: both, Delivered: [2]uint64{100, 0}}, full, report.VerdictOneWay, "caller"},
		{"caller's audio never arrives", StreamFacts{Expected: both, Delivered: [2]uint64{0, 100}}, full, report.VerdictOneWay, "callee"},
		{"callee sends to the caller's private address", StreamFacts{Expected: both, Delivered: [2]uint64{100, 0}, Undeliverable: [2]uint64{0, 100}}, full, report.VerdictOneWay, "caller"},
		{"nothing either way", StreamFacts{Expected: both}, full, report.VerdictNoWay, ""},
		{"both sent only to private addresses", StreamFacts{Expected: both, Undeliverable: [2]uint64{5, 5}}, full, report.VerdictNoWay, ""},
		{"inactive", StreamFacts{HeldAtEnd: true}, full, report.VerdictOnHold, ""},
		{"announcement: one way from the start, and it flows", StreamFacts{Expected: [2]bool{true, false}, Delivered: [2]uint64{50, 0}, HeldAtEnd: true}, full, report.VerdictOneWayNegotiated, ""},
		{"held from the start, nothing flows", StreamFacts{Expected: [2]bool{true, false}, HeldAtEnd: true}, full, report.VerdictOnHold, ""},
		{"hold after the call was up, music flows", StreamFacts{Expected: both, Delivered: [2]uint64{50, 30}, HeldAtEnd: true}, full, report.VerdictTwoWay, ""},
		{"stream declined (port 0)", StreamFacts{Declined: true}, full, report.VerdictNoMediaExpected, ""},
		{"announcement never arrives", StreamFacts{Expected: [2]bool{false, true}}, full, report.VerdictNoWay, "caller"},
		{"never answered, capture ended at once", StreamFacts{Expected: both}, CallFacts{CaptureHasMedia: true, StartSeen: true}, report.VerdictIncompleteCapture, ""},
		{"answered, SDP answer missing", StreamFacts{Expected: both}, CallFacts{Answered: true, StartSeen: true, CaptureHasMedia: true, BothSidesSignalling: true}, report.VerdictNoMediaExpected, ""},
		{"cancelled", StreamFacts{Expected: both}, CallFacts{CaptureHasMedia: true, StartSeen: true, Setup: SetupFacts{Cancelled: true}}, report.VerdictNotAnswered, ""},
		{"rejected", StreamFacts{Expected: both}, CallFacts{CaptureHasMedia: true, StartSeen: true, Setup: SetupFacts{DialogStatus: 486, CallStatus: 486}}, report.VerdictNotAnswered, ""},
		{"capture filtered to signalling", StreamFacts{Expected: both}, CallFacts{Answered: true, MediaNegotiated: true, StartSeen: true, BothSidesSignalling: true}, report.VerdictIncompleteCapture, ""},
		{"capture started mid-call", StreamFacts{Expected: both, Delivered: [2]uint64{10, 0}}, CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true, BothSidesSignalling: true}, report.VerdictIncompleteCapture, ""},
		// Begun during the setup, the capture holds the 200 OK naming the
		// callee's private address and the caller's RTP going there: the
		// lost direction is proven, whatever came before the capture.
		{"capture started mid-call, RTP sent to a private address", StreamFacts{Expected: both, Delivered: [2]uint64{0, 1123}, Undeliverable: [2]uint64{1123, 0}},
			CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true, BothSidesSignalling: true}, report.VerdictOneWay, "callee"},
		{"one side's signalling invisible, RTP sent to a private address", StreamFacts{Expected: both, Delivered: [2]uint64{10, 0}, Undeliverable: [2]uint64{0, 10}},
			CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true, StartSeen: true}, report.VerdictOneWay, "caller"},
		// A re-INVITE in the capture turned the line to T.38 fax: its whole
		// negotiation was seen, so one way is one way.
		{"capture started mid-call, fax set up in it flows one way", StreamFacts{Expected: both, Delivered: [2]uint64{0, 271}, SetUpInCapture: true},
			CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true, BothSidesSignalling: true}, report.VerdictOneWay, "callee"},
		{"one side's signalling invisible", StreamFacts{Expected: both, Delivered: [2]uint64{10, 0}}, CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true, StartSeen: true}, report.VerdictIncompleteCapture, ""},
		{"no RTP on a leg whose B2BUA relays its callee's audio on", StreamFacts{Expected: both}, relayedFacts(full, [2]uint64{0, 500}), report.VerdictIncompleteCapture, ""},
		{"phones behind one NAT, LAN addresses in SDP, no RTP at the server", StreamFacts{Expected: both, SameNAT: netip.MustParseAddr("203.0.113.1"),
			LANAddrs: [2]netip.AddrPort{netip.MustParseAddrPort("192.168.1.10:4000"), netip.MustParseAddrPort("192.168.1.11:4000")}}, full, report.VerdictIncompleteCapture, ""},
		{"two softphones on one host, a packet each way before the B2BUA handed them the media", StreamFacts{Expected: both, Delivered: [2]uint64{0, 1},
			SameHost: netip.MustParseAddr("172.17.0.200"), HostAddrs: [2]netip.AddrPort{netip.MustParseAddrPort("172.17.0.200:40030"), netip.MustParseAddrPort("172.17.0.200:4008")}},
			full, report.VerdictIncompleteCapture, ""},
		{"phones behind one NAT, but RTP one way at the server", StreamFacts{Expected: both, Delivered: [2]uint64{50, 0}, SameNAT: netip.MustParseAddr("203.0.113.1")}, full, report.VerdictOneWay, "caller"},
		{"B2BUA relays, but this leg's RTP is seen one way", StreamFacts{Expected: both, Delivered: [2]uint64{0, 500}}, relayedFacts(full, [2]uint64{0, 500}), report.VerdictOneWay, "callee"},
		{"mid-call capture but both ways flow", StreamFacts{Expected: both, Delivered: [2]uint64{10, 10}}, CallFacts{Answered: true, MediaNegotiated: true, CaptureHasMedia: true}, report.VerdictTwoWay, ""},
		{"capture ends 1.2 s after the answer, no RTP yet", StreamFacts{Expected: both}, cutShortFacts(full, 1200*time.Millisecond), report.VerdictIncompleteCapture, ""},
		{"capture ends 1.2 s after the answer, one way so far", StreamFacts{Expected: both, Delivered: [2]uint64{50, 0}}, cutShortFacts(full, 1200*time.Millisecond), report.VerdictIncompleteCapture, ""},
		{"capture ends 1.2 s after the answer, both ways", StreamFacts{Expected: both, Delivered: [2]uint64{50, 50}}, cutShortFacts(full, 1200*time.Millisecond), report.VerdictTwoWay, ""},
		{"capture ends 3 s after the answer, one way", StreamFacts{Expected: both, Delivered: [2]uint64{150, 0}}, cutShortFacts(full, 3*time.Second), report.VerdictOneWay, "caller"},
		{"announcement cut short before it began", StreamFacts{Expected: [2]bool{false, true}}, cutShortFacts(full, time.Second), report.VerdictIncompleteCapture, ""},
		{"caller hangs up 32 ms after the answer, callee's RTP only", StreamFacts{Expected: both, Delivered: [2]uint64{0, 17}}, hungUpFacts(full, 32*time.Millisecond, caller), report.VerdictIncompleteCapture, ""},
		{"callee hangs up 1.5 s after the answer, no RTP", StreamFacts{Expected: both}, hungUpFacts(full, 1500*time.Millisecond, callee), report.VerdictIncompleteCapture, ""},
		{"caller hangs up 5 s after the answer, hearing nothing", StreamFacts{Expected: both, Delivered: [2]uint64{250, 0}}, hungUpFacts(full, 5*time.Second, caller), report.VerdictOneWay, "caller"},
		{"hung up at once, but both ways flowed (early media)", StreamFacts{Expected: both, Delivered: [2]uint64{50, 50}}, hungUpFacts(full, 100*time.Millisecond, caller), report.VerdictTwoWay, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeStream(tt.s, tt.c)
			if got.Verdict != tt.want || got.CannotHear != tt.cannotHear {
				t.Errorf("JudgeStream = %s (%q), want %s (%q): %s", got.Verdict, got.CannotHear, tt.want, tt.cannotHear, got.Explain)
			}
			if got.Explain == "" {
				t.Error("no explanation")
			}
		})
	}
}

func cutShortFacts(c CallFacts, after time.Duration) CallFacts {
	c.CutShortAfter = after
	return c
}

func hungUpFacts(c CallFacts, after time.Duration, by int) CallFacts {
	c.HungUpAfter, c.HungUpBy = after, by
	return c
}

func relayedFacts(c CallFacts, n [2]uint64) CallFacts {
	c.Relayed = n
	return c
}

// TestJudgeReported: with no RTP in the capture (a HEP feed of SIP and
// RTCP reports), what each party's RTCP says about each direction decides,
// and a direction no report settles leaves the stream unjudged.
func TestJudgeReported(t *testing.T) {
	both := [2]bool{true, true}
	sent := func(n uint64) ReportedDirection {
		return ReportedDirection{SenderReported: true, SenderSR: true, SenderSent: n}
	}
	heard := ReportedDirection{SenderReported: true, SenderSR: true, SenderSent: 250, ReceiverReported: true, ReceiverGot: true}
	deafReceiver := ReportedDirection{SenderReported: true, SenderSR: true, SenderSent: 250, ReceiverReported: true}
	silentSender := ReportedDirection{SenderReported: true, ReceiverReported: true} // receiver reports only
	// A receiver whose blocks name a source no stream has (a Yeastar PBX
	// names SSRC 1): its silence about the sender's stream says nothing.
	mislabelling := ReportedDirection{SenderReported: true, SenderSR: true, SenderSent: 250, ReceiverReported: true, ReceiverForeign: true}
	noSignalling := CallFacts{Answered: true, MediaNegotiated: true, StartSeen: true, BothSidesSignalling: true}
	tests := []struct {
		name       string
		expected   [2]bool
		r          [2]ReportedDirection
		ok         bool
		want       report.Verdict
		cannotHear string
	}{
		{"no reports: not for this rule", both, [2]ReportedDirection{}, false, "", ""},
		{"each receiver reports the other's stream", both, [2]ReportedDirection{heard, heard}, true, report.VerdictTwoWay, ""},
		{"the caller's reports never mention the callee's stream", both, [2]ReportedDirection{heard, deafReceiver}, true, report.VerdictOneWay, "caller"},
		{"the callee's reports never mention the caller's stream", both, [2]ReportedDirection{deafReceiver, heard}, true, report.VerdictOneWay, "callee"},
		{"the callee sends receiver reports only: it sends no RTP", both, [2]ReportedDirection{heard, silentSender}, true, report.VerdictOneWay, "caller"},
		{"neither receiver hears the other", both, [2]ReportedDirection{deafReceiver, deafReceiver}, true, report.VerdictNoWay, ""},
		{"a receiver's reports are enough without the sender's", both, [2]ReportedDirection{{ReceiverReported: true, ReceiverGot: true}, heard}, true, report.VerdictTwoWay, ""},
		{"the caller's blocks name a source no stream has", both, [2]ReportedDirection{heard, mislabelling}, true, report.VerdictIncompleteCapture, ""},
		{"only the senders' reports: arrival unknown", both, [2]ReportedDirection{sent(250), sent(250)}, true, report.VerdictIncompleteCapture, ""},
		{"one direction settled, the other not", both, [2]ReportedDirection{heard, sent(250)}, true, report.VerdictIncompleteCapture, ""},
		{"announcement reported arriving", [2]bool{false, true}, [2]ReportedDirection{{}, heard}, true, report.VerdictOneWayNegotiated, ""},
		{"announcement never reported", [2]bool{false, true}, [2]ReportedDirection{{}, deafReceiver}, true, report.VerdictNoWay, "caller"},
		{"on hold, the holder sends nothing", [2]bool{true, false}, [2]ReportedDirection{silentSender, {}}, true, report.VerdictOnHold, ""},
		{"on hold, music-on-hold sent and never reported", [2]bool{true, false}, [2]ReportedDirection{deafReceiver, {}}, true, report.VerdictNoWay, "callee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StreamFacts{Expected: tt.expected, Reported: tt.r, HeldAtEnd: tt.expected[0] != tt.expected[1]}
			got, ok := JudgeReported(s)
			if ok != tt.ok || got.Verdict != tt.want || got.CannotHear != tt.cannotHear {
				t.Errorf("JudgeReported = %s (%q) %v, want %s (%q) %v: %s", got.Verdict, got.CannotHear, ok, tt.want, tt.cannotHear, tt.ok, got.Explain)
			}
			if ok && got.Explain == "" {
				t.Error("no explanation")
			}
			// JudgeStream takes the reports when the capture has no RTP,
			// and says the stream cannot be judged without them.
			stream := JudgeStream(s, noSignalling)
			if want := tt.want; !tt.ok && stream.Verdict != report.VerdictIncompleteCapture || tt.ok && stream.Verdict != want {
				t.Errorf("JudgeStream = %s: %s", stream.Verdict, stream.Explain)
			}
		})
	}
	// With RTP seen one way, the reports settle the other way only when the
	// capture holds none of its RTP (a capture point that sees one
	// direction of the path): RTP seen that could not arrive outweighs them.
	full := CallFacts{Answered: true, MediaNegotiated: true, StartSeen: true, CaptureHasMedia: true, BothSidesSignalling: true}
	for _, tc := range []struct {
		name string
		s    StreamFacts
		want report.Verdict
	}{
		{"the other way unseen, reported arriving", StreamFacts{Expected: both, Delivered: [2]uint64{100, 0}, Reported: [2]ReportedDirection{heard, heard}}, report.VerdictTwoWay},
		{"the other way unseen, its receiver's reports never mention it", StreamFacts{Expected: both, Delivered: [2]uint64{100, 0}, Reported: [2]ReportedDirection{heard, deafReceiver}}, report.VerdictOneWay},
		{"the other way seen going where it cannot arrive", StreamFacts{Expected: both, Delivered: [2]uint64{100, 0}, Undeliverable: [2]uint64{0, 80}, Reported: [2]ReportedDirection{heard, heard}}, report.VerdictOneWay},
	} {
		if got := JudgeStream(tc.s, full); got.Verdict != tc.want {
			t.Errorf("with RTP seen one way, %s: %s, want %s (%s)", tc.name, got.Verdict, tc.want, got.Explain)
		}
	}
}

func TestJudgeCall(t *testing.T) {
	two := StreamVerdict{Verdict: report.VerdictTwoWay}
	one := StreamVerdict{Verdict: report.VerdictOneWay, CannotHear: "caller"}
	none := StreamVerdict{Verdict: report.VerdictNoWay}
	answered := CallFacts{Answered: true, StartSeen: true}
	tests := []struct {
		name    string
		streams []StreamVerdict
		media   []string
		facts   CallFacts
		want    report.Verdict
	}{
		{"worst audio stream wins", []StreamVerdict{two, one}, []string{"audio", "audio"}, answered, report.VerdictOneWay},
		{"video ignored when audio exists", []StreamVerdict{two, none}, []string{"audio", "video"}, answered, report.VerdictTwoWay},
		{"no-way beats one-way", []StreamVerdict{one, none}, []string{"audio", "audio"}, answered, report.VerdictNoWay},
		{"answered without SDP", nil, nil, answered, report.VerdictNoMediaExpected},
		{"answered without SDP, capture started mid-call", nil, nil, CallFacts{Answered: true}, report.VerdictIncompleteCapture},
		{"answered with an SDP that could not be read", nil, nil, CallFacts{Answered: true, StartSeen: true, SDPUnreadable: true}, report.VerdictIncompleteCapture},
		{"not answered, capture ended at once", nil, nil, CallFacts{StartSeen: true}, report.VerdictIncompleteCapture},
		{"not answered, with an offer", []StreamVerdict{{Verdict: report.VerdictNotAnswered}}, []string{"audio"}, CallFacts{StartSeen: true, Setup: SetupFacts{CallStatus: 480}}, report.VerdictNotAnswered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeCall(tt.streams, tt.media, tt.facts)
			if got.Verdict != tt.want {
				t.Errorf("JudgeCall = %s, want %s", got.Verdict, tt.want)
			}
			if got.Explain == "" && tt.streams == nil {
				t.Error("no explanation")
			}
		})
	}
}

// TestNotAnswered: how a setup without a 2xx ended, and which of those
// endings are the NAT's classic "incoming calls never ring" problem.
func TestNotAnswered(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name     string
		setup    SetupFacts
		verdict  report.Verdict
		reason   string
		status   int
		finding  report.FindingID
		severity report.Severity
	}{
		{"busy", SetupFacts{Responded: true, Rang: true, CallStatus: 486, Sent: 1, Waited: 4 * s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 486, "", ""},
		// The caller's ACK of a response the capture lacks (a capture of
		// one direction: AlirpJ iit-esinet) is no INVITE nobody answered.
		{"acknowledged a response not captured", SetupFacts{Sent: 1, Waited: 33 * s, AckedUnseen: true}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"retry after 407 rejected", SetupFacts{Responded: true, CallStatus: 403, DialogStatus: 407, Sent: 1, Waited: s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 403, "", ""},
		{"caller hung up while it rang", SetupFacts{Cancelled: true, Responded: true, Rang: true, CallStatus: 487, Sent: 1, Waited: 20 * s}, report.VerdictNotAnswered, report.NotAnsweredCancelled, 487, "", ""},
		{"caller hung up at once", SetupFacts{Cancelled: true, Responded: true, Sent: 1, Waited: 2 * s}, report.VerdictNotAnswered, report.NotAnsweredCancelled, 0, "", ""},
		{"caller gave up, never rang", SetupFacts{Cancelled: true, Responded: true, Sent: 3, Waited: 34 * s}, report.VerdictNotAnswered, report.NotAnsweredCancelled, 0, IDCalleeNeverRang, report.SeverityWarning},
		{"408 after 100 Trying", SetupFacts{Responded: true, CallStatus: 408, Sent: 1, Waited: 32 * s}, report.VerdictNotAnswered, report.NotAnsweredTimedOut, 408, IDCalleeNeverRang, report.SeverityWarning},
		{"480 after silence", SetupFacts{Responded: true, CallStatus: 480, Sent: 1, Waited: 30 * s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 480, IDCalleeNeverRang, report.SeverityWarning},
		{"480 after ringing", SetupFacts{Responded: true, Rang: true, CallStatus: 480, Sent: 1, Waited: 30 * s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 480, "", ""},
		{"provisional only, past Timer B", SetupFacts{Responded: true, Sent: 1, Waited: 40 * s}, report.VerdictNotAnswered, report.NotAnsweredTimedOut, 0, IDCalleeNeverRang, report.SeverityWarning},
		{"ringing when the capture ends, past Timer B", SetupFacts{Responded: true, Rang: true, Sent: 1, Waited: 40 * s}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"ringing past Timer C", SetupFacts{Responded: true, Rang: true, Sent: 1, Waited: 200 * s}, report.VerdictNotAnswered, report.NotAnsweredTimedOut, 0, "", ""},
		{"resent after the 180, then 480", SetupFacts{Responded: true, Rang: true, CallStatus: 480, Sent: 7, ResentAfterResponse: 5, Waited: 40 * s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 480, IDResponsesLost, report.SeverityError},
		{"resent after the 100, capture ended", SetupFacts{Responded: true, Sent: 4, ResentAfterResponse: 3, Waited: 10 * s}, report.VerdictIncompleteCapture, "", 0, IDResponsesLost, report.SeverityError},
		{"resent past the 200 OK, no RTP in the capture", SetupFacts{Responded: true, Rang: true, CallStatus: 200, Sent: 6, ResentAfterResponse: 5, Waited: 2 * s}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"one copy crossed the 100 Trying", SetupFacts{Responded: true, Rang: true, CallStatus: 486, Sent: 2, ResentAfterResponse: 1, Waited: 4 * s}, report.VerdictNotAnswered, report.NotAnsweredRejected, 486, "", ""},
		{"no response, retransmitted", SetupFacts{Sent: 7, Waited: 32 * s}, report.VerdictNotAnswered, report.NotAnsweredUnreachable, 0, IDRequestUnanswered, report.SeverityWarning},
		{"no response, public to private", SetupFacts{Sent: 7, Waited: 32 * s, PublicToPrivate: true}, report.VerdictNotAnswered, report.NotAnsweredUnreachable, 0, IDRequestToPrivate, report.SeverityError},
		{"capture ended at the INVITE", SetupFacts{Sent: 1, Waited: 300 * time.Millisecond}, report.VerdictIncompleteCapture, "", 0, "", ""},
		// A scanner's INVITE over UDP, never resent in 29 s before the
		// capture ended (kpalaw sip-rtp-analyzer): its sender gave up.
		{"sent once over UDP, never resent", SetupFacts{Sent: 1, Resends: true, Waited: 29 * s}, report.VerdictNotAnswered, report.NotAnsweredUnreachable, 0, IDRequestUnanswered, report.SeverityWarning},
		{"sent once over UDP, resends still due", SetupFacts{Sent: 1, Resends: true, Waited: 10 * s}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"sent once over TCP, Timer B still running", SetupFacts{Sent: 1, Waited: 29 * s}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"capture ended while ringing", SetupFacts{Responded: true, Rang: true, Sent: 1, Waited: 8 * s}, report.VerdictIncompleteCapture, "", 0, "", ""},
		// The 200 OK and the rest cut by the snap length before their
		// Call-ID (ziyua p5 at -s 512): no callee that never rang.
		{"answers after the 100 unreadable", SetupFacts{Responded: true, Sent: 1, Waited: 37 * s,
			UnreadAfter: &unreadSIP{count: 3, frames: []uint64{18, 21, 29}, kind: "truncated-sip"}}, report.VerdictIncompleteCapture, "", 0, "", ""},
		{"no response, unreadable SIP back", SetupFacts{Sent: 7, Waited: 32 * s,
			UnreadAfter: &unreadSIP{count: 1, frames: []uint64{9}, kind: "malformed-sip"}}, report.VerdictIncompleteCapture, "", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := JudgeCall(nil, nil, CallFacts{StartSeen: true, Setup: tt.setup})
			if v.Verdict != tt.verdict || v.NotAnswered.Reason != tt.reason || v.NotAnswered.Status != tt.status {
				t.Errorf("JudgeCall = %s %+v, want %s %s %d: %s", v.Verdict, v.NotAnswered, tt.verdict, tt.reason, tt.status, v.Explain)
			}
			if v.Explain == "" {
				t.Error("no explanation")
			}
			id, sev := SetupProblem(tt.setup, v)
			if id != tt.finding || sev != tt.severity {
				t.Errorf("SetupProblem = %q %q, want %q %q", id, sev, tt.finding, tt.severity)
			}
		})
	}
}

// TestNoResponseSentOnce: an INVITE sent once (over TCP, or by a client
// that gave up at once) that nothing answered in Timer B's 32 s says
// "sent once", not "sent 1 times over 32s" (sipp's branch scenario).
func TestNoResponseSentOnce(t *testing.T) {
	for sent, want := range map[int]string{
		1: "the INVITE got no response at all (sent once and not again in 32s, though over UDP it is resent from 0.5 s on until answered: " +
			gaveUpAtOnce + ")",
		7: "the INVITE got no response at all (sent 7 times over 32s)",
	} {
		v := JudgeCall(nil, nil, CallFacts{StartSeen: true, Setup: SetupFacts{Sent: sent, Resends: true, Waited: 32 * time.Second}})
		if v.Explain != want {
			t.Errorf("sent %d: %q, want %q", sent, v.Explain, want)
		}
	}
}

func TestIsPrivate(t *testing.T) {
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "172.16.0.1": true, "172.32.0.1": false, "192.168.1.10": true,
		"100.64.0.1": true, "100.128.0.1": false, "169.254.1.1": true, "127.0.0.1": true,
		"192.0.0.2": true, "203.0.113.1": false, "8.8.8.8": false, "fd00::1": true,
		"fe80::1": true, "2001:db8::1": false, "::ffff:192.168.1.1": true,
	} {
		if got := IsPrivate(mustAddr(addr)); got != want {
			t.Errorf("IsPrivate(%s) = %v, want %v", addr, got, want)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestALGSign(t *testing.T) {
	pub, priv := mustAddr("203.0.113.1"), mustAddr("192.168.1.10")
	tests := []struct {
		name           string
		sig            netip.Addr
		contact        string
		origin, conn   netip.Addr
		wantSuspicious bool
	}{
		{"ALG rewrote Contact and c=, o= kept", pub, "203.0.113.1", priv, pub, true},
		{"ALG rewrote headers, not the body", pub, "203.0.113.1", pub, priv, true},
		{"STUN phone: c= public, Contact private", pub, "192.168.1.10", priv, pub, false},
		{"phone leaking everything, no ALG", pub, "192.168.1.10", priv, priv, false},
		{"public phone", pub, "203.0.113.1", pub, pub, false},
		{"seen inside the LAN", priv, "192.168.1.10", priv, priv, false},
		{"Contact is a name", pub, "phone.example", priv, pub, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ALGSign(tt.sig, tt.contact, tt.origin, tt.conn); (got != "") != tt.wantSuspicious {
				t.Errorf("ALGSign = %q, want suspicious %v", got, tt.wantSuspicious)
			}
		})
	}
}

// TestJudgeDelivery: what a flow seen at the capture point proves about
// its arrival.
func TestJudgeDelivery(t *testing.T) {
	tests := []struct {
		name      string
		d         DeliveryFacts
		delivered bool
		proof     string
	}{
		{"to a public phone, seen after the sender's NAT", DeliveryFacts{}, true, report.ProofSeenArriving},
		{"to a public phone, seen on the sender's LAN", DeliveryFacts{SenderInside: true}, true, report.ProofSeenLeaving},
		{"to a private address from outside", DeliveryFacts{Unreachable: true, ReceiverNATed: true}, false, ""},
		{"to the inside address of a NAT within the private network", DeliveryFacts{ReceiverBehindNAT: true}, false, ""},
		{"to the NAT port the receiver's media leaves from", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsFrom: true, ReceiverSendsToSender: true, ReceiverSendsToSenderHost: true}, true, report.ProofInferred},
		{"to that port, from an address the receiver's media does not go to", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsFrom: true}, false, ""},
		{"to that port, from another port of the address the receiver's media goes to", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsFrom: true, ReceiverSendsToSenderHost: true}, false, ""},
		{"to the receiver's own private address, from elsewhere: past its NAT", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsFrom: true, ReceiverSendsToSenderHost: true, PastReceiverNAT: true}, true, report.ProofInferred},
		{"to a NAT port the receiver's media does not use", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsOtherPort: true}, false, ""},
		{"to a NAT address the receiver's media does not leave from", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsOtherAddress: true}, false, ""},
		{"to a stale external address, the receiver's media from its NAT", DeliveryFacts{ReceiverNATed: true, ReceiverSendsOtherAddress: true}, false, ""},
		{"to the address the receiver names, where its ACK never arrived", DeliveryFacts{ReceiverNamesUnreached: true}, false, ""},
		{"to the address the receiver names, its media seen coming from there", DeliveryFacts{ReceiverNamesUnreached: true, ReceiverSendsFrom: true}, true, report.ProofSeenArriving},
		{"to another address of a receiver without NAT signs", DeliveryFacts{ToReceiverNAT: true, ReceiverSendsOtherAddress: true}, true, report.ProofSeenArriving},
		{"to the receiver's NAT, receiver silent", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true}, true, report.ProofSeenLeaving},
		{"to a NAT port, but the port is seen forwarded", DeliveryFacts{ReceiverNATed: true, ToReceiverNAT: true, ReceiverSendsFrom: true, ReceiverSendsToSender: true, ReceiverSendsOtherPort: true}, true, report.ProofInferred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delivered, proof, doubt := JudgeDelivery(tt.d)
			if delivered != tt.delivered || proof != tt.proof {
				t.Errorf("JudgeDelivery = %v %q, want %v %q", delivered, proof, tt.delivered, tt.proof)
			}
			if !delivered && doubt == "" {
				t.Error("no doubt given")
			}
		})
	}
}

// TestReplayNamesEachAddressOnce: a session timer re-sending the same SDP
// a hundred times leaves each address once in what findings list.
func TestReplayNamesEachAddressOnce(t *testing.T) {
	a := &sdpInfo{Media: []sdpMedia{{Media: "audio", Port: 4000, Addr: netip.MustParseAddrPort("192.0.2.1:4000"), Direction: "sendrecv"}}}
	b := &sdpInfo{Media: []sdpMedia{{Media: "audio", Port: 5000, Addr: netip.MustParseAddrPort("198.51.100.2:5000"), Direction: "sendrecv"}}}
	var events []sdpEvent
	for i := 0; i < 100; i++ {
		events = append(events, sdpEvent{Party: caller, SDP: a}, sdpEvent{Party: callee, SDP: b})
	}
	st := replay(events)
	if len(st) != 1 || len(st[0].all[caller]) != 1 || len(st[0].all[callee]) != 1 {
		t.Errorf("streams %d, addresses %v", len(st), st[0].all)
	}
}

// TestReplaySetUpInCapture: the audio the dialog's first SDP carried may
// have started before the capture; the T.38 stream a later re-INVITE made
// was negotiated in it, and so was an m= line added later.
func TestReplaySetUpInCapture(t *testing.T) {
	line := func(media string, port uint16, udptl bool) sdpMedia {
		return sdpMedia{Media: media, Port: int(port), UDPTL: udptl, Addr: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), Direction: "sendrecv"}
	}
	audio := &sdpInfo{Media: []sdpMedia{line("audio", 4000, false)}}
	fax := &sdpInfo{Media: []sdpMedia{line("image", 4002, true)}}
	video := &sdpInfo{Media: []sdpMedia{line("audio", 4000, false), line("video", 4004, false)}}
	st := replay([]sdpEvent{{Party: callee, SDP: audio}, {Party: callee, SDP: fax}, {Party: caller, SDP: fax}})
	if len(st) != 2 || st[0].facts().SetUpInCapture || !st[1].facts().SetUpInCapture {
		t.Errorf("audio then fax: %d streams, set up in capture %v %v", len(st), st[0].setUpInCapture, st[len(st)-1].setUpInCapture)
	}
	st = replay([]sdpEvent{{Party: caller, SDP: audio}, {Party: callee, SDP: audio}, {Party: caller, SDP: video}})
	if len(st) != 2 || st[0].setUpInCapture || !st[1].setUpInCapture {
		t.Errorf("video added: %d streams", len(st))
	}
}

// TestUnansweredOverReliableTransport: an INVITE nobody answered over TCP
// was delivered by TCP, so the finding sends the engineer to the far
// end's SIP service, not to port forwarding.
func TestUnansweredOverReliableTransport(t *testing.T) {
	for _, tc := range []struct {
		transport string
		remedy    string
	}{{"UDP", remedyUnanswered}, {"TCP", remedyIgnored}, {"TLS", remedyIgnored}} {
		start := time.Unix(1000, 0)
		c := &sipCall{CallID: "u@test", Transport: tc.transport}
		c.setup = setupTrack{sentAt: start, lastSentAt: start, sent: 1, firstFrame: 1, lastFrame: 1,
			src: netip.MustParseAddrPort("10.0.0.1:5060"), dst: netip.MustParseAddrPort("10.0.0.2:5060")}
		facts := c.setup.facts(start.Add(time.Minute))
		v := notAnswered(facts)
		f, ok := setupFinding(&callBuild{call: c}, facts, v)
		if !ok || f.ID != IDRequestUnanswered || f.Remedy != tc.remedy {
			t.Errorf("%s: finding %s (%v), remedy %.40q", tc.transport, f.ID, ok, f.Remedy)
		}
		if reliable := tc.transport != "UDP"; strings.Contains(f.Title, "never responded") != reliable {
			t.Errorf("%s: %s", tc.transport, f.Title)
		}
	}
}

// TestOneWaySenderSentNothing: when the silent side's own RTCP says it
// sent no RTP (receiver reports only, or sender reports counting none),
// the one-way verdict says so, and the remedy is the sending phone, not
// the path.
func TestOneWaySenderSentNothing(t *testing.T) {
	full := CallFacts{Answered: true, MediaNegotiated: true, StartSeen: true, CaptureHasMedia: true, BothSidesSignalling: true}
	for _, tc := range []struct {
		name     string
		reported ReportedDirection
		want     string
	}{
		{"receiver reports only", ReportedDirection{SenderReported: true}, "receiver reports only"},
		{"sender reports of 0 packets", ReportedDirection{SenderReported: true, SenderSR: true}, "count 0 packets sent"},
		{"sender reports of 120 packets", ReportedDirection{SenderReported: true, SenderSR: true, SenderSent: 120}, "no RTP from the caller to the callee was seen"},
		{"no RTCP from it", ReportedDirection{}, "no RTP from the caller to the callee was seen"},
	} {
		s := StreamFacts{Expected: [2]bool{true, true}, Delivered: [2]uint64{0, 400}}
		s.Reported[caller] = tc.reported
		v := JudgeStream(s, full)
		if v.Verdict != report.VerdictOneWay || v.CannotHear != "callee" || !strings.Contains(v.Explain, tc.want) {
			t.Errorf("%s: %s (%q): %s; want one-way, the callee cannot hear, %q", tc.name, v.Verdict, v.CannotHear, v.Explain, tc.want)
		}
		all := func(int) bool { return true }
		if got, want := sentNothing([]StreamFacts{s}, all, caller), tc.want != "no RTP from the caller to the callee was seen"; got != want {
			t.Errorf("%s: sentNothing = %v, want %v", tc.name, got, want)
		}
	}
}

// TestNoAudioButVideo: no audio either way while the call's video flowed
// both ways: the path is open, so the remedy is the phones' audio, not
// the network; with the video one way only, the network's remedy stays.
func TestNoAudioButVideo(t *testing.T) {
	both := [2]bool{true, true}
	media := []string{"audio", "video"}
	v := StreamVerdict{Verdict: report.VerdictNoWay, Explain: "no RTP was seen in either direction"}
	for _, tc := range []struct {
		video  [2]uint64
		remedy string
	}{{[2]uint64{455, 720}, remedyOnlyOtherMedia}, {[2]uint64{455, 0}, remedyNoMedia}} {
		facts := []StreamFacts{{Expected: both}, {Expected: both, Delivered: tc.video}}
		f, ok := verdictFinding(&callBuild{call: &sipCall{}}, nil, facts, media, v, "c1", sdpTraces{}, [2]netip.AddrPort{})
		if !ok || f.ID != report.IDNoWayAudio || f.Remedy != tc.remedy {
			t.Errorf("video %v: %+v", tc.video, f)
		}
	}
}

// TestNoWayFromSilentCaptureHost: a no-way call whose caller is on the
// capture's own host and sent nothing there points at that host (its
// media, audio device, firewall), not at the network; when the capture's
// host is neither party's, or the party on it did send, the network
// remedy stays.
func TestNoWayFromSilentCaptureHost(t *testing.T) {
	pc, pbx := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.168.0.2")
	sigs := [2]netip.AddrPort{netip.AddrPortFrom(pc, 5060), netip.AddrPortFrom(pbx, 5060)}
	media := []string{"audio"}
	v := StreamVerdict{Verdict: report.VerdictNoWay, Explain: "no RTP was seen in either direction"}
	for _, tc := range []struct {
		name   string
		host   netip.Addr
		facts  StreamFacts
		remedy string
	}{
		{"the caller's PC sent nothing", pc, StreamFacts{Expected: [2]bool{true, true}}, remedySenderHostSilent},
		{"captured elsewhere", netip.MustParseAddr("192.168.1.99"), StreamFacts{Expected: [2]bool{true, true}}, remedyNoMedia},
		{"the PC's RTP went to an unreachable address", pc, StreamFacts{Expected: [2]bool{true, true}, Undeliverable: [2]uint64{50, 0}}, remedyNoMedia},
	} {
		cb := &callBuild{call: &sipCall{}, dlg: &dialog{}, captureHost: tc.host}
		f, ok := verdictFinding(cb, nil, []StreamFacts{tc.facts}, media, v, "c1", sdpTraces{}, sigs)
		if !ok || f.ID != report.IDNoWayAudio || f.Remedy != tc.remedy {
			t.Errorf("%s: %+v", tc.name, f)
			continue
		}
		if tc.remedy == remedySenderHostSilent && !strings.Contains(f.Evidence[1].Text, "every packet of the capture is to or from 192.168.1.10, the caller's own address") {
			t.Errorf("%s: evidence %+v", tc.name, f.Evidence)
		}
	}
}
