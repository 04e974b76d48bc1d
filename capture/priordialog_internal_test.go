package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPriorDialogsBounded: a capture started on a busy server holds the
// BYEs of thousands of calls begun before it. Past maxPriorDialogs they
// are not noted, and the count says "more than", since a Call-ID not
// noted cannot tell a new call from a resent BYE.
func TestPriorDialogsBounded(t *testing.T) {
	var p priorDialogs
	a, b := netip.MustParseAddrPort("198.51.100.1:5060"), netip.MustParseAddrPort("198.51.100.2:5060")
	at := time.Unix(1700000000, 0)
	for i := range maxPriorDialogs + 3 {
		m := tableMsg(true, "BYE", 0, 2, "from", "to", a, b)
		m.CallID = fmt.Sprintf("call-%d", i)
		for range 2 { // a resent BYE is one call
			p.note(m, at)
		}
	}
	if len(p.list) != maxPriorDialogs || !p.full || p.count() != fmt.Sprintf("more than %d calls (Call-IDs)", maxPriorDialogs) {
		t.Fatalf("noted %d, full %v, count %q; want %d noted and the count open-ended", len(p.list), p.full, p.count(), maxPriorDialogs)
	}
	if d := p.list[0]; d.bye.current.sent != 2 {
		t.Errorf("the first call's BYE counted %d copies, want 2", d.bye.current.sent)
	}
}

// TestPriorDialogAnswer: the answer to a BYE comes from its receiver,
// and ends the wait for it; a response alone starts nothing (a Call-ID a
// hop rewrote is likelier than a capture begun between the two).
func TestPriorDialogAnswer(t *testing.T) {
	a, b := netip.MustParseAddrPort("198.51.100.1:5060"), netip.MustParseAddrPort("198.51.100.2:5060")
	at := time.Unix(1700000000, 0)
	var p priorDialogs
	p.note(tableMsg(true, "BYE", 0, 5, "ours", "theirs", a, b), at)
	p.note(tableMsg(false, "BYE", 200, 5, "ours", "theirs", b, a), at.Add(40*time.Millisecond))
	d := p.list[0]
	if d.answerStatus != 200 || !d.bye.current.answered || d.bye.unanswered() != nil || d.endedAt() != at {
		t.Errorf("answer %d, answered %v, unanswered %v, ended %v; want the 200 to answer the BYE of %v",
			d.answerStatus, d.bye.current.answered, d.bye.unanswered(), d.endedAt(), at)
	}
	m := tableMsg(false, "BYE", 200, 5, "ours", "theirs", b, a)
	m.CallID = "other@test"
	p.note(m, at)
	if len(p.list) != 1 {
		t.Errorf("noted %d calls, want the answer of a BYE unseen to start none", len(p.list))
	}
}

// TestPriorByesLostBounded: a capture of many calls begun before it whose
// BYEs all went unanswered (a server whose far side went down) reports
// the first few one by one and counts the rest.
func TestPriorByesLostBounded(t *testing.T) {
	a, b := netip.MustParseAddrPort("198.51.100.1:5060"), netip.MustParseAddrPort("198.51.100.2:5060")
	at := time.Unix(1700000000, 0)
	var p priorDialogs
	calls := maxOrphanEvidence + 2
	for i := range calls {
		m := tableMsg(true, "BYE", 0, 2, "from", "to", a, b)
		m.CallID = fmt.Sprintf("call-%d", i)
		for n := range 4 { // resent over 3 s, never answered
			p.note(m, at.Add(time.Duration(n)*time.Second))
		}
	}
	fs := p.findings(&mediaSessions{}, nil)
	if len(fs) != 1+maxOrphanEvidence || fs[1].ID != IDRequestUnanswered ||
		!strings.Contains(fs[0].Title, fmt.Sprintf("the BYEs of %d of them were never answered", calls)) {
		t.Fatalf("got %d findings (%s), want the call-began finding counting %d lost BYEs and %d of them reported", len(fs), fs[0].Title, calls, maxOrphanEvidence)
	}
}
