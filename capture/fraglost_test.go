package capture_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestFragmentedSIPUnanswered: a message too big for one packet went in
// IP fragments and drew nothing: captured at the caller, its INVITE
// resent until Timer B; captured at the callee, its 200 OK never
// acknowledged (the caller sent no RTP either); captured at the caller,
// its re-INVITE after the media. The fragments are named as what lost it,
// with their remedy (TCP, a smaller message), not the destination being
// down or the ACK going astray.
func TestFragmentedSIPUnanswered(t *testing.T) {
	for _, tc := range []struct {
		kind  pcapgen.Kind
		id    report.FindingID
		title string
	}{
		{pcapgen.FragmentsUnanswered, capture.IDRequestUnanswered, "sent in IP fragments (too big for one packet)"},
		{pcapgen.AnswerFragmentsLost, capture.IDAnswerNotAcknowledged, "it went in IP fragments (too big for one packet), and no ACK came"},
		{pcapgen.ReinviteFragmentsLost, capture.IDRequestUnanswered, "The caller's INVITE to the callee at 198.51.100.20:5060 was sent"},
	} {
		path, truths := generate(t, []pcapgen.Call{{Kind: tc.kind}}, pcapgen.Options{Seed: 3})
		res := capture.AnalyzePath(t, path)
		checkTruth(t, res, truths)
		f := findingByID(res.Calls[0].Findings, tc.id)
		if f == nil || !strings.Contains(f.Title, tc.title) || !strings.HasPrefix(f.Remedy, "SIP messages larger than one packet") ||
			!strings.Contains(fmt.Sprint(f.Title, f.Evidence), "IP fragments (too big for one packet)") {
			t.Errorf("%s: %s %+v, want the fragments named with their remedy", tc.kind, tc.id, f)
		}
	}
}

// TestSIPFragmentsLost: captured at the callee, only the first fragment
// of each transmission of a big INVITE arrived: no call can be followed,
// and the capture names the SIP messages that came only in part, each an
// incomplete datagram counted as an anomaly. Of the 7 transmissions the
// last is the capture's last packet, which may have been cut off by the
// capture's end: 6 count.
func TestSIPFragmentsLost(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.FragmentsLost}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 0 {
		t.Errorf("%d calls, want none: no INVITE arrived whole", len(res.Calls))
	}
	f := findingByID(res.Findings, capture.IDSIPFragmentsLost)
	if f == nil || f.Severity != report.SeverityWarning || !strings.HasPrefix(f.Title, `1 SIP message(s) over UDP (6 transmissions) arrived only in part (the first: "INVITE sip:`) {
		t.Fatalf("findings %+v, want %s for 6 transmissions", res.Findings, capture.IDSIPFragmentsLost)
	}
	if len(f.Evidence) != 1 || !strings.Contains(f.Evidence[0].Text, "first fragment only, 6 times (Call-ID ") || !slices.Equal(f.Evidence[0].Frames, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("evidence %+v", f.Evidence)
	}
	if anomalyCount(res, "ip-fragments-incomplete") != 6 {
		t.Errorf("anomalies %+v, want 6 ip-fragments-incomplete", res.Capture.Anomalies)
	}
}

// findingByID is the finding of fs with that ID, or nil.
func findingByID(fs []report.Finding, id report.FindingID) *report.Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}
