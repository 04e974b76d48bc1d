package report

import (
	"fmt"
	"strings"
)

// A capture of a busy trunk has a thousand calls, most of them fine but
// each with the same informational NAT facts (a private Contact, a Via
// the server fixed with received/rport). Listed call by call they bury the
// few calls that failed, so the text report puts problem calls' findings
// first, in full, and lists an informational finding that repeats across
// calls without problems once, with the calls' IDs. JSON stays complete.
const (
	// summariseAt is how many calls without problems must share an
	// informational finding before it is listed once for all of them.
	summariseAt = 3
	// summaryIDs is how many call IDs a summary or the problem line names.
	summaryIDs = 20
)

// CallHasProblem says whether a call failed (one-way, no-way) or has a
// warning or error finding.
func CallHasProblem(c Call) bool {
	if c.Verdict.IsProblem() {
		return true
	}
	for _, f := range c.Findings {
		if f.Severity.IsProblem() {
			return true
		}
	}
	return false
}

// infoSummary is one informational finding ID shared by calls without
// problems.
type infoSummary struct {
	id      FindingID
	example Finding // the first call's, to show what it says
	calls   []string
}

// summariseInfo finds the informational finding IDs that at least
// summariseAt of calls share, in order of first appearance.
func summariseInfo(calls []Call) (list []*infoSummary, byID map[FindingID]*infoSummary) {
	all := map[FindingID]*infoSummary{}
	var order []*infoSummary
	for _, c := range calls {
		for _, f := range c.Findings {
			if f.Severity != SeverityInfo {
				continue
			}
			s := all[f.ID]
			if s == nil {
				s = &infoSummary{id: f.ID, example: f}
				all[f.ID] = s
				order = append(order, s)
			}
			if n := len(s.calls); n == 0 || s.calls[n-1] != c.ID { // once per call
				s.calls = append(s.calls, c.ID)
			}
		}
	}
	byID = map[FindingID]*infoSummary{}
	for _, s := range order {
		if len(s.calls) >= summariseAt {
			list = append(list, s)
			byID[s.id] = s
		}
	}
	return list, byID
}

// textCallFindings renders the calls' findings: problem calls first with
// everything, then the summaries, then what is left of the other calls.
func textCallFindings(b *strings.Builder, calls []Call) {
	var problem, rest []Call
	for _, c := range calls {
		switch {
		case len(c.Findings) == 0:
		case CallHasProblem(c):
			problem = append(problem, c)
		default:
			rest = append(rest, c)
		}
	}
	remedies := map[string]string{} // remedy text → the call it was first given for
	for _, c := range problem {
		textCallFindingsOf(b, c, c.Findings, remedies)
	}
	summaries, summarised := summariseInfo(rest)
	for _, s := range summaries {
		fmt.Fprintf(b, "  %s %s in %d calls without problems: %s %s\n", severityLabel(SeverityInfo),
			styleDim.Render("["+string(s.id)+"]"), len(s.calls), listIDs(s.calls), styleDim.Render("(--call ID for details)"))
		fmt.Fprintf(b, "        - e.g. %s: %s\n", s.calls[0], s.example.Title)
	}
	for _, c := range rest {
		var left []Finding
		for _, f := range c.Findings {
			if summarised[f.ID] == nil || f.Severity != SeverityInfo {
				left = append(left, f)
			}
		}
		if len(left) > 0 {
			textCallFindingsOf(b, c, left, remedies)
		}
	}
}

// textCallFindingsOf renders one call's heading and findings, most severe
// first; a problem call's heading says its verdict. A remedy already given
// for an earlier call is referred to, not repeated: a hundred one-way calls
// of the same cause share one long remedy.
func textCallFindingsOf(b *strings.Builder, c Call, fs []Finding, remedies map[string]string) {
	head := "  " + styleTitle.Render("Call "+c.ID) + " " + styleDim.Render(c.CallID)
	if CallHasProblem(c) {
		head += " " + verdictStyle(c.Verdict).Render(verdictText(c))
	}
	b.WriteString(head + "\n")
	sorted := append([]Finding(nil), fs...)
	SortFindings(sorted)
	for _, f := range sorted {
		first, seen := remedies[f.Remedy]
		if f.Remedy == "" || !seen {
			if f.Remedy != "" {
				remedies[f.Remedy] = c.ID
			}
			textFinding(b, f)
			continue
		}
		if first == c.ID {
			f.Remedy = "" // given just above, for this call
		} else {
			f.Remedy = styleDim.Render("as for call " + first + " above")
		}
		textFinding(b, f)
	}
}

// listIDs names up to summaryIDs call IDs and counts the rest.
func listIDs(ids []string) string {
	if len(ids) <= summaryIDs {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:summaryIDs], ", ") + fmt.Sprintf(", … +%d", len(ids)-summaryIDs)
}

// problemCallsLine names the problem calls above the calls table, so they
// can be found in a table of a thousand rows ("" when there are none).
func problemCallsLine(calls []Call) string {
	var ids []string
	for _, c := range calls {
		if CallHasProblem(c) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return styleError.Render(fmt.Sprintf("%d of %d calls with problems (marked !): ", len(ids), len(calls))) + listIDs(ids) + "\n"
}
