package report

import (
	"fmt"
	"slices"
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
func textCallFindings(b *strings.Builder, calls []Call, fixes *remedyNotes) {
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
	for _, c := range problem {
		textCallFindingsOf(b, c, c.Findings, fixes)
	}
	summaries, summarised := summariseInfo(rest)
	for _, s := range summaries {
		fmt.Fprintf(b, "  %s %s%s in %d calls without problems: %s %s\n", severityLabel(SeverityInfo), hang,
			styleDim.Render("["+string(s.id)+"]"), len(s.calls), listIDs(s.calls), styleDim.Render("(--call ID for details)"))
		fmt.Fprintf(b, "        - %se.g. %s: %s\n", hang, s.calls[0], s.example.Title)
	}
	for _, c := range rest {
		var left []Finding
		for _, f := range c.Findings {
			if summarised[f.ID] == nil || f.Severity != SeverityInfo {
				left = append(left, f)
			}
		}
		if len(left) > 0 {
			textCallFindingsOf(b, c, left, fixes)
		}
	}
}

// textCallFindingsOf renders one call's heading and findings, most severe
// first; a problem call's heading says its verdict.
func textCallFindingsOf(b *strings.Builder, c Call, fs []Finding, fixes *remedyNotes) {
	head := "  " + hang + styleTitle.Render("Call "+c.ID) + " " + styleDim.Render(c.CallID)
	if CallHasProblem(c) {
		head += " " + verdictStyle(c.Verdict).Render(verdictText(c))
	}
	b.WriteString(head + "\n")
	sorted := append([]Finding(nil), fs...)
	SortFindings(sorted)
	for _, f := range sorted {
		textFinding(b, f, fixes.fix(f.Remedy, c.ID))
	}
}

// remedyNotes makes sure a report gives each remedy once. A remedy that is
// also in the report's ranked list is referred to by its number there; any
// other is written out the first time and referred to after: a hundred
// one-way calls of the same cause share one long remedy.
type remedyNotes struct {
	ref map[string]string // remedy text → what to write instead
	// given: remedy text → the call it was written out for ("" for none).
	given map[string]string
}

func newRemedyNotes(ranked []Remedy) *remedyNotes {
	n := &remedyNotes{ref: map[string]string{}, given: map[string]string{}}
	for i, m := range ranked {
		if m.Detail != "" {
			n.ref[m.Detail] = styleDim.Render(fmt.Sprintf("remedy %d below: ", i+1)) + m.Title
		}
	}
	return n
}

// fix says what to print after "fix:" for remedy text given in call
// (empty for a report-wide finding): the text, a reference, or "" when
// nothing is to be printed.
func (n *remedyNotes) fix(text, call string) string {
	if text == "" {
		return ""
	}
	if ref, ok := n.ref[text]; ok {
		return ref
	}
	first, seen := n.given[text]
	switch {
	case !seen:
		n.given[text] = call
		return text
	case first == call:
		return "" // given just above
	case first == "":
		return styleDim.Render("as above")
	}
	return styleDim.Render("as for call " + first + " above")
}

// visibleRemedies are the ranked remedies the text report lists: all of
// them, or with --call those that fix one of that call's findings.
func visibleRemedies(r *Report, opt Options) []Remedy {
	if opt.CallID == "" {
		return r.Remedies
	}
	c := r.FindCall(opt.CallID)
	if c == nil {
		return nil
	}
	var out []Remedy
	for _, m := range r.Remedies {
		for _, f := range c.Findings {
			if slices.Contains(m.Fixes, f.ID) {
				out = append(out, m)
				break
			}
		}
	}
	return out
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
	return hang + styleError.Render(fmt.Sprintf("%d of %d calls with problems (marked !): ", len(ids), len(calls))) + listIDs(ids) + "\n"
}
