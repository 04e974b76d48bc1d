package capture_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// startedMidCall rewrites the capture at path as one started skip after
// the call's ACK: its set-up is gone, its end is not.
func startedMidCall(t *testing.T, path string, skip time.Duration) string {
	var ack time.Time
	return rewriteCapture(t, path, func(data []byte, ci *gopacket.CaptureInfo) []byte {
		if ack.IsZero() {
			if bytes.Contains(data, []byte("ACK sip:")) {
				ack = ci.Timestamp
			}
			return nil
		}
		if ci.Timestamp.Sub(ack) < skip {
			return nil
		}
		return data
	})
}

// findingsOf lists the capture's own findings of that ID.
func findingsOf(res *capture.Result, id report.FindingID) []report.Finding {
	var out []report.Finding
	for _, f := range res.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

// TestCallBeganBeforeCapture: a capture started during a call holds its
// RTP and its BYE, not its set-up. It is no call natdoc can judge, but it
// is named, with the RTP that stopped as it hung up, rather than "no SIP
// calls" and RTP whose SIP is missing.
func TestCallBeganBeforeCapture(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 6 * time.Second}}, pcapgen.Options{})
	res := capture.AnalyzePath(t, startedMidCall(t, path, time.Second))
	if len(res.Calls) != 0 {
		t.Fatalf("got %d calls, want none: the set-up is not in the capture", len(res.Calls))
	}
	if !strings.Contains(res.Verdict, "holds the end of 1 call begun before it") {
		t.Errorf("verdict %q, want it to name the call begun before the capture", res.Verdict)
	}
	began := findingsOf(res, capture.IDCallBeganBeforeCapture)
	if len(began) != 1 || len(began[0].Evidence) != 1 {
		t.Fatalf("findings %+v, want one %s with one call", res.Findings, capture.IDCallBeganBeforeCapture)
	}
	ev := began[0].Evidence[0].Text
	if !strings.Contains(ev, "BYE") || !strings.Contains(ev, "answered 200") || !strings.Contains(ev, "its RTP stopped with it") ||
		!strings.Contains(ev, "both ways") || len(began[0].Evidence[0].Frames) != 2 {
		t.Errorf("evidence %+v, want the BYE, its 200 and the two-way RTP that stopped with it", began[0].Evidence[0])
	}
	orphans := findingsOf(res, capture.IDMediaWithoutSignalling)
	if len(orphans) != 1 || !strings.Contains(orphans[0].Title, "1 session stopped with the BYE of a call begun before it") {
		t.Errorf("media findings %+v, want the session tied to the call begun before the capture", orphans)
	}
}

// TestByeLostInCallBeganBeforeCapture: the BYE of a call begun before
// the capture goes to a party behind NAT whose mapping closed: resent for
// 32 s, never answered. That is the problem the capture was taken for
// ("the phone stays in the call"), and it is reported though the call is
// not judged.
func TestByeLostInCallBeganBeforeCapture(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.ByeLost}}, pcapgen.Options{})
	res := capture.AnalyzePath(t, startedMidCall(t, path, 5*time.Second))
	if len(res.Calls) != 0 {
		t.Fatalf("got %d calls, want none", len(res.Calls))
	}
	lost := findingsOf(res, capture.IDRequestUnanswered)
	if len(lost) != 1 || lost[0].Severity != report.SeverityError || !strings.Contains(lost[0].Title, "never answered") ||
		lost[0].Subject == "" || lost[0].Remedy == "" {
		t.Fatalf("findings %+v, want the unanswered BYE as an error with its Call-ID and a remedy", res.Findings)
	}
	began := findingsOf(res, capture.IDCallBeganBeforeCapture)
	if len(began) != 1 || !strings.Contains(began[0].Evidence[0].Text, "no response") {
		t.Errorf("findings %+v, want the call named with its BYE unanswered", began)
	}
}

// TestReinviteOfCallBeganBeforeCapture: a capture started during a call
// may hold a re-INVITE of it (a session refresh, a hold). The leg starts
// there, its dialog established before the capture: a failure answering
// the re-INVITE refuses that request, not the call, whose RTP from before
// the re-INVITE is its own. Before, a 488 made the call not-answered and
// its RTP belonged to no call.
func TestReinviteOfCallBeganBeforeCapture(t *testing.T) {
	for _, tc := range []struct {
		kind       pcapgen.Kind
		verdict    report.Verdict
		cannotHear string
	}{
		{pcapgen.ReinviteRejected, report.VerdictTwoWay, ""},     // 488: the session stays as it was
		{pcapgen.RefreshUnknown, report.VerdictOneWay, "caller"}, // 481: the callee lost the call, its RTP stopped
		{pcapgen.ResumeFailed, report.VerdictOneWay, "caller"},   // the callee's RTP never resumed
	} {
		path, _ := generate(t, []pcapgen.Call{{Kind: tc.kind, Media: 20 * time.Second}}, pcapgen.Options{})
		res := capture.AnalyzePath(t, startedMidCall(t, path, time.Second))
		if len(res.Calls) != 1 {
			t.Fatalf("%s: got %d calls, want 1", tc.kind, len(res.Calls))
		}
		c := res.Calls[0]
		if c.Verdict != tc.verdict || c.CannotHear != tc.cannotHear || c.Status != 200 {
			t.Errorf("%s: verdict %s (cannot hear %q), status %d; want %s (%q), 200: %s", tc.kind, c.Verdict, c.CannotHear, c.Status, tc.verdict, tc.cannotHear, c.Explain)
		}
		if f := findingOf(c, capture.IDCallBeganBeforeCapture); f == nil || !strings.Contains(f.Title, "re-INVITE's sender and receiver") {
			t.Errorf("%s: findings %v, want %s saying what the roles mean", tc.kind, c.Findings, capture.IDCallBeganBeforeCapture)
		}
		if f := findingOf(c, capture.IDMediaStopped); f != nil && (strings.Contains(f.Title, "into the call") || !strings.Contains(f.Title, " at 12:")) {
			t.Errorf("%s: %s, want the stop dated by the clock, the call's start being unknown", tc.kind, f.Title)
		}
		if len(findingsOf(res, capture.IDMediaWithoutSignalling)) != 0 {
			t.Errorf("%s: the call's RTP belongs to no call: %+v", tc.kind, res.Findings)
		}
	}
}
