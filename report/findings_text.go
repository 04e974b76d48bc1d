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

// findingsDigest is what the findings section needs of the calls, taken
// one call at a time (add), so a report written as the calls come keeps
// no call: the problem calls kept whole (up to limit; past it their
// findings are counted by ID), each informational finding ID with the
// calls it came in, and the findings of the first summariseAt-1 calls of
// an ID, which are listed call by call when no more calls share it.
type findingsDigest struct {
	limit int // problem calls kept whole; 0: all
	calls int
	// problem lists the problem calls with findings, kept whole;
	// problemMore counts the findings of those past limit by ID.
	problem     []Call
	problemMore []*idSummary
	// problems counts the problem calls, problemIDs names the first
	// summaryIDs of them (problemCallsLine).
	problems   int
	problemIDs []string
	info       []*idSummary
	infoByID   map[FindingID]*idSummary
	kept       []keptFinding
	// unanswered groups the calls not answered (unanswered_text.go).
	unanswered unansweredDigest
}

// idSummary is one finding ID shared by calls: how many, the first
// summaryIDs of them, and the first call's finding to show what it says.
type idSummary struct {
	id       FindingID
	example  Finding
	calls    int
	ids      []string
	lastCall string
}

// note counts call id for the ID, once per call.
func (s *idSummary) note(id string) {
	if s.calls > 0 && s.lastCall == id {
		return
	}
	s.calls++
	s.lastCall = id
	if len(s.ids) < summaryIDs {
		s.ids = append(s.ids, id)
	}
}

// keptFinding is a finding of a call without problems that may be listed
// under the call: seq orders the calls, index the call's findings.
type keptFinding struct {
	seq, index int
	call       Call // what the call's heading needs
	f          Finding
}

// findingsHeadOf is c without what its findings' heading does not need.
func findingsHeadOf(c Call) Call {
	return Call{ID: c.ID, CallID: c.CallID, Verdict: c.Verdict, CannotHear: c.CannotHear, NotAnswered: c.NotAnswered, Findings: c.Findings}
}

// newFindingsDigest digests calls (limit: problem calls kept whole, 0 for
// all).
func newFindingsDigest(limit int, calls []Call) *findingsDigest {
	d := &findingsDigest{limit: limit, infoByID: map[FindingID]*idSummary{}}
	for _, c := range calls {
		d.add(c)
	}
	return d
}

func (d *findingsDigest) add(c Call) {
	d.calls++
	d.unanswered.add(c)
	problem := CallHasProblem(c)
	if problem {
		d.problems++
		if len(d.problemIDs) < summaryIDs {
			d.problemIDs = append(d.problemIDs, c.ID)
		}
	}
	switch {
	case len(c.Findings) == 0:
	case problem && (d.limit == 0 || len(d.problem) < d.limit):
		d.problem = append(d.problem, findingsHeadOf(c))
	case problem:
		for _, f := range c.Findings {
			d.problemMore = noteIn(d.problemMore, f, c.ID)
		}
	default:
		d.addInfo(c)
	}
}

// addInfo digests the findings of a call without problems.
func (d *findingsDigest) addInfo(c Call) {
	head := Call{}
	for i, f := range c.Findings {
		s := d.infoByID[f.ID]
		if f.Severity == SeverityInfo {
			if s == nil {
				s = &idSummary{id: f.ID, example: f}
				d.infoByID[f.ID] = s
				d.info = append(d.info, s)
			}
			s.note(c.ID)
		}
		if f.Severity != SeverityInfo || s.calls < summariseAt {
			if head.ID == "" {
				head = findingsHeadOf(c)
				head.Findings = nil
			}
			d.kept = append(d.kept, keptFinding{seq: d.calls, index: i, call: head, f: f})
		}
	}
}

// noteIn notes call id under f's ID in list, adding the ID when new.
func noteIn(list []*idSummary, f Finding, id string) []*idSummary {
	for _, s := range list {
		if s.id == f.ID {
			s.note(id)
			return list
		}
	}
	s := &idSummary{id: f.ID, example: f}
	s.note(id)
	return append(list, s)
}

func (d *findingsDigest) hasFindings() bool {
	return len(d.problem) > 0 || len(d.problemMore) > 0 || len(d.info) > 0 || len(d.kept) > 0
}

// render writes the calls' findings: problem calls first with everything
// (past the limit, counted by ID), then the summaries of informational
// findings calls without problems share, then what is left of those calls
// call by call.
func (d *findingsDigest) render(b *strings.Builder, fixes *remedyNotes) {
	for _, c := range d.problem {
		textCallFindingsOf(b, c, c.Findings, fixes)
	}
	for _, s := range d.problemMore {
		fmt.Fprintf(b, "  %s %s%s in %d more calls with problems: %s %s\n", severityLabel(s.example.Severity), hang,
			styleDim.Render("["+string(s.id)+"]"), s.calls, listIDs(s.ids, s.calls), styleDim.Render("(--call ID for details)"))
		fmt.Fprintf(b, "        - %se.g. %s: %s\n", hang, s.ids[0], s.example.Title)
	}
	for _, s := range d.info {
		if s.calls < summariseAt {
			continue
		}
		fmt.Fprintf(b, "  %s %s%s in %d calls without problems: %s %s\n", severityLabel(SeverityInfo), hang,
			styleDim.Render("["+string(s.id)+"]"), s.calls, listIDs(s.ids, s.calls), styleDim.Render("(--call ID for details)"))
		fmt.Fprintf(b, "        - %se.g. %s: %s\n", hang, s.ids[0], s.example.Title)
	}
	for i := 0; i < len(d.kept); {
		head, seq := d.kept[i].call, d.kept[i].seq
		var left []Finding
		for ; i < len(d.kept) && d.kept[i].seq == seq; i++ {
			k := d.kept[i]
			if s := d.infoByID[k.f.ID]; k.f.Severity != SeverityInfo || s.calls < summariseAt {
				left = append(left, k.f)
			}
		}
		if len(left) > 0 {
			textCallFindingsOf(b, head, left, fixes)
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

// listIDs names the call IDs in ids, the first of total, and counts
// the rest.
func listIDs(ids []string, total int) string {
	if total <= len(ids) {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids, ", ") + fmt.Sprintf(", … +%d", total-len(ids))
}

// problemCallsLine names the problem calls above the calls table (below
// it in a streamed report), so they can be found in a table of a thousand
// rows ("" when there are none).
func problemCallsLine(d *findingsDigest) string {
	if d.problems == 0 {
		return ""
	}
	return hang + styleError.Render(fmt.Sprintf("%d of %d calls with problems (marked !): ", d.problems, d.calls)) + listIDs(d.problemIDs, d.problems) + "\n"
}
