package report

import (
	"fmt"
	"strings"
	"testing"
)

// TestUnansweredLines: the calls not answered are grouped by how and by
// whom their setup ended, under the calls table of a held report and of
// a streamed one alike; ways past the limit are counted.
func TestUnansweredLines(t *testing.T) {
	pike := NotAnswered{Reason: NotAnsweredRejected, Status: 503, Phrase: "Rate Limit Exceeded", By: "10.10.10.10:5060", ByAgent: "kamailio (5.7.4 (x86_64/linux))"}
	calls := []Call{{ID: "C1", Verdict: VerdictTwoWay}}
	for i := 2; i <= 4; i++ {
		na := pike
		calls = append(calls, Call{ID: fmt.Sprintf("C%d", i), Verdict: VerdictNotAnswered, NotAnswered: &na})
	}
	calls = append(calls,
		Call{ID: "C5", Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredCancelled, Rang: true, Status: 487, Phrase: "Request Terminated"}},
		Call{ID: "C6", Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredTimedOut, Status: 408, Phrase: "Request Timeout", By: "10.10.10.10:5060",
			Cause: `Q.850 cause 18 (no user responding)`}})
	want := []string{
		"not answered: 5 of 6 calls",
		"3 rejected 503 Rate Limit Exceeded by 10.10.10.10:5060 (kamailio): C2, C3, C4",
		"1 cancelled, rang: C5",
		"1 timed-out 408 Request Timeout by 10.10.10.10:5060: Q.850 cause 18 (no user responding): C6",
	}
	opt := Options{Color: ColorNever, Width: 200}
	var streamed strings.Builder
	w := newTextStream(&streamed, opt)
	r := &Report{Command: "analyze", Calls: calls}
	_ = w.Begin(r)
	for round := range textHoldCalls/len(calls) + 1 {
		for _, c := range calls {
			if round > 0 {
				c.ID = fmt.Sprintf("%s.%d", c.ID, round)
			}
			_ = w.Call(c)
		}
	}
	_ = w.End(&Report{Command: "analyze"})
	for name, text := range map[string]string{"held": RenderText(r, opt), "streamed": streamed.String()} {
		for _, line := range want {
			if name == "streamed" {
				line = strings.NewReplacer("5 of 6", "835 of 1002", "3 rejected", "501 rejected", "C2, C3, C4", "C2, C3, C4, C2.1, C3.1", "1 c", "167 c", "1 t", "167 t",
					"C5", "C5, C5.1", "C6", "C6, C6.1").Replace(line)
			}
			if !strings.Contains(text, line) {
				t.Errorf("%s: no line %q in\n%s", name, line, text)
			}
		}
	}
	var many unansweredDigest
	for i := range maxUnansweredGroups + 5 {
		many.add(Call{ID: "C", Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredRejected, Status: 400 + i}})
	}
	if got := many.lines(20); !strings.Contains(got, "5 more in 5 other ways") || strings.Count(got, "rejected") != maxUnansweredGroups {
		t.Errorf("past the limit:\n%s", got)
	}
}

// TestUnansweredScannersSaySo: the calls of a SIP scan, unanswered on
// purpose, are their own way of not answering, and say so.
func TestUnansweredScannersSaySo(t *testing.T) {
	var u unansweredDigest
	for i, scanner := range []bool{true, true, false} {
		u.add(Call{ID: fmt.Sprintf("C%d", i+1), Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredUnreachable, Scanner: scanner}})
	}
	got := plainText(u.lines(3))
	for _, want := range []string{"2 unreachable (a SIP scan, rightly ignored): C1, C2", "1 unreachable: C3"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}
