package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// manyCallsReport: C1 one-way, C3 two-way with a warning, C2, C4, C5 fine;
// every call has the same informational private-Contact finding, C2 also
// one of its own.
func manyCallsReport() *Report {
	r := New("analyze", "test")
	info := func(call string) Finding {
		return Finding{ID: "contact-private-address", Severity: SeverityInfo, Title: "Contact of " + call + " is private"}
	}
	r.Calls = []Call{
		{ID: "C1", CallID: "one", Verdict: VerdictOneWay, CannotHear: "caller", Findings: []Finding{info("C1"),
			{ID: "sdp-private-address", Severity: SeverityError, Title: "SDP of C1 is private"}}},
		{ID: "C2", CallID: "two", Verdict: VerdictTwoWay, Findings: []Finding{info("C2"),
			{ID: "via-received-rport", Severity: SeverityInfo, Title: "received/rport on C2"}}},
		{ID: "C3", CallID: "three", Verdict: VerdictTwoWay, Findings: []Finding{info("C3"),
			{ID: "sip-alg-suspected", Severity: SeverityWarning, Title: "ALG on C3"}}},
		{ID: "C4", CallID: "four", Verdict: VerdictTwoWay, Findings: []Finding{info("C4")}},
		{ID: "C5", CallID: "five", Verdict: VerdictTwoWay, Findings: []Finding{info("C5")}},
	}
	return r
}

func TestTextSummarisesRepeatedInfoFindings(t *testing.T) {
	out := textFindings(manyCallsReport(), Options{})
	plain := plainText(out)
	for _, want := range []string{
		"Call C1 one one-way (caller cannot hear)",
		"Contact of C1 is private", // a problem call keeps every finding
		"Call C3 three two-way",
		"Contact of C3 is private",
		"[contact-private-address] in 3 calls without problems: C2, C4, C5 (--call ID for details)",
		"e.g. C2: Contact of C2 is private",
		"Call C2 two",
		"received/rport on C2", // in one call only: not summarised
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("missing %q in:\n%s", want, plain)
		}
	}
	for _, gone := range []string{"Contact of C4 is private", "Contact of C5 is private", "Call C4", "Call C5"} {
		if strings.Contains(plain, gone) {
			t.Errorf("%q should be summarised away:\n%s", gone, plain)
		}
	}
	// Problem calls first, then the summary, then what is left.
	order := []string{"Call C1", "Call C3", "in 3 calls without problems", "Call C2"}
	last := -1
	for _, s := range order {
		i := strings.Index(plain, s)
		if i < last {
			t.Errorf("%q out of order in:\n%s", s, plain)
		}
		last = i
	}
	// JSON keeps every finding.
	var buf bytes.Buffer
	if err := Render(&buf, manyCallsReport(), Options{Format: FormatJSON}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `"contact-private-address"`); n != 5 {
		t.Errorf("JSON has %d contact-private-address findings, want 5", n)
	}
}

func TestTextNoSummaryBelowThreshold(t *testing.T) {
	r := manyCallsReport()
	r.Calls = r.Calls[:3] // C2 is the only call without problems
	plain := plainText(textFindings(r, Options{}))
	if strings.Contains(plain, "without problems") || !strings.Contains(plain, "Contact of C2 is private") {
		t.Errorf("one call's info finding should be listed in full:\n%s", plain)
	}
}

func TestListIDsAndProblemLine(t *testing.T) {
	var calls []Call
	var ids []string
	for i := 1; i <= 25; i++ {
		id := fmt.Sprintf("C%d", i)
		ids = append(ids, id)
		calls = append(calls, Call{ID: id, Verdict: VerdictNoWay})
	}
	if got := listIDs(ids[:summaryIDs], len(ids)); !strings.HasSuffix(got, "C19, C20, … +5") || !strings.HasPrefix(got, "C1, C2,") {
		t.Errorf("listIDs = %q", got)
	}
	calls = append(calls, Call{ID: "C26", Verdict: VerdictTwoWay})
	if got := plainText(problemCallsLine(newFindingsDigest(0, calls))); !strings.HasPrefix(got, "25 of 26 calls with problems (marked !): C1, ") {
		t.Errorf("problem line = %q", got)
	}
	if got := problemCallsLine(newFindingsDigest(0, calls[25:])); got != "" {
		t.Errorf("no problem calls, got %q", got)
	}
}

// TestTextRemedyGivenOnce: the same remedy on many calls' findings is
// written out once and referred to after.
func TestTextRemedyGivenOnce(t *testing.T) {
	const fix = "Set a STUN server on the phone."
	r := New("analyze", "test")
	for _, id := range []string{"C1", "C2", "C3"} {
		r.Calls = append(r.Calls, Call{ID: id, Verdict: VerdictOneWay, Findings: []Finding{
			{ID: "one-way-audio", Severity: SeverityError, Title: "one-way " + id, Remedy: fix},
			{ID: "sdp-private-address", Severity: SeverityError, Title: "private SDP " + id, Remedy: fix},
		}})
	}
	plain := plainText(textFindings(r, Options{}))
	if n := strings.Count(plain, fix); n != 1 {
		t.Errorf("remedy written %d times, want once:\n%s", n, plain)
	}
	if n := strings.Count(plain, "fix: as for call C1 above"); n != 4 {
		t.Errorf("%d references to C1's remedy, want 4 (two findings each of C2 and C3):\n%s", n, plain)
	}
}

// plainText is rendered text as a reader sees it, unwrapped and unstyled.
func plainText(s string) string { return stripANSI(finishText(s, 1<<20)) }

// TestTextCallShowsOnlyItsFindings: --call prints that call's findings and
// the remedies for them, nothing about other calls.
func TestTextCallShowsOnlyItsFindings(t *testing.T) {
	r := manyCallsReport()
	r.Add(Finding{ID: "capture-wide", Severity: SeverityWarning, Title: "something about the whole capture"})
	r.Remedies = []Remedy{{ID: "r1", Title: "for C3", Fixes: []FindingID{"sip-alg-suspected"}}, {ID: "r2", Title: "for C1", Fixes: []FindingID{"sdp-private-address"}}}
	plain := plainText(RenderText(r, Options{CallID: "C1"}))
	for _, want := range []string{"SDP of C1 is private", "Contact of C1 is private", "1. for C1"} {
		if !strings.Contains(plain, want) {
			t.Errorf("missing %q in:\n%s", want, plain)
		}
	}
	for _, gone := range []string{"Call C3", "ALG on C3", "without problems", "whole capture", "for C3"} {
		if strings.Contains(plain, gone) {
			t.Errorf("--call C1 shows %q:\n%s", gone, plain)
		}
	}
}

// TestTextRemedyInListNotRepeated: a finding whose remedy is one of the
// ranked remedies points to it instead of writing it out a second time.
func TestTextRemedyInListNotRepeated(t *testing.T) {
	const fix = "Set a STUN server on the phone."
	r := New("analyze", "test")
	r.Calls = []Call{{ID: "C1", Verdict: VerdictOneWay, Findings: []Finding{{ID: "one-way-audio", Severity: SeverityError, Title: "t", Remedy: fix}}}}
	r.Remedies = []Remedy{{ID: "stun", Title: "Use STUN", Detail: fix, Fixes: []FindingID{"one-way-audio"}}}
	plain := plainText(RenderText(r, Options{}))
	if n := strings.Count(plain, fix); n != 1 {
		t.Errorf("remedy written %d times, want once:\n%s", n, plain)
	}
	if !strings.Contains(plain, "fix: remedy 1 below: Use STUN") {
		t.Errorf("no reference to remedy 1:\n%s", plain)
	}
}

func TestFrameList(t *testing.T) {
	for _, tc := range []struct {
		frames []uint64
		ranges []FrameRange
		want   string
	}{
		{[]uint64{9, 3, 7}, nil, "3,7,9"},
		{[]uint64{3, 4, 5, 7}, nil, "3-5,7"},
		{nil, []FrameRange{{313, 612}}, "313-612"},
		{[]uint64{1}, []FrameRange{{313, 612}, {8, 9}}, "1,8-9,313-612"},
		{[]uint64{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}, nil, "1,3,5,7,9,11,13,15,… +2 more"},
	} {
		if got := frameList(tc.frames, tc.ranges); got != tc.want {
			t.Errorf("frameList(%v, %v) = %q, want %q", tc.frames, tc.ranges, got, tc.want)
		}
	}
	for list, want := range map[string]string{"3": "frame 3", "3,7": "frames 3,7", "313-612": "frames 313-612"} {
		if got := framesLabel(list); got != want {
			t.Errorf("framesLabel(%q) = %q, want %q", list, got, want)
		}
	}
}

func TestWrapNeverCutsWords(t *testing.T) {
	text := "  ERROR " + hang + "One-way audio: the caller 101@natdoc.test cannot hear the callee gw@natdoc.test, see https://example.org/a-very-long-path-that-is-one-word-and-wider-than-the-line"
	out := finishText(text, 40)
	words := strings.Fields(strings.ReplaceAll(text, hang, ""))
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(words, " ") {
		t.Errorf("words changed:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n")[1:] {
		if !strings.HasPrefix(line, "        ") {
			t.Errorf("continuation %q not indented under the title", line)
		}
	}
}

// TestRenderTextCapsProblemCalls: a report of fewer calls than a streamed
// one holds lists problem calls in full up to problemCallsShown too, and
// counts the rest by finding ID: 600 calls a scanner's flood left
// unanswered were 6,000 lines of one warning (netaudio sippscripts).
func TestRenderTextCapsProblemCalls(t *testing.T) {
	r := sampleReport()
	r.Calls = nil
	const n = problemCallsShown + 50
	for i := 1; i <= n; i++ {
		r.Calls = append(r.Calls, Call{ID: fmt.Sprintf("C%d", i), CallID: fmt.Sprintf("id-%d", i), Verdict: VerdictNotAnswered,
			Findings: []Finding{{ID: "request-unanswered", Severity: SeverityWarning, Title: "Nothing answered the INVITE"}}})
	}
	var b bytes.Buffer
	if err := Render(&b, r, Options{Format: FormatText, Color: ColorNever}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, fmt.Sprintf("Call C%d ", problemCallsShown)) || strings.Contains(out, fmt.Sprintf("Call C%d ", problemCallsShown+1)) ||
		!strings.Contains(out, "[request-unanswered] in 50 more calls with problems") {
		t.Errorf("want %d problem calls in full and 50 counted:\n%s", problemCallsShown, out)
	}
}
