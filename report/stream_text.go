package report

import (
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// The text report of an analysis written as the calls come (CallWriter).
// A capture of up to textHoldCalls calls gets the report RenderText
// writes, verdict first. A longer one gets its calls table written row by
// row as the calls are judged, laid out for the first textHoldCalls (and
// room for the widest cells any call has), then the summary: the problem
// calls, the capture, the findings (problem calls in full up to
// problemCallsShown, the rest counted by finding ID; informational
// findings summarised across calls), the remedies and, last, the verdict.

// textHoldCalls is how many calls the text report holds before it starts
// writing the calls table.
const textHoldCalls = 1000

// problemCallsShown is how many problem calls a streamed text report
// lists with all their findings.
const problemCallsShown = 100

// textStream is the text CallWriter.
type textStream struct {
	w    io.Writer
	opt  Options
	head *Report
	held []Call
	// Once streaming: the layout, the shown columns' widths, the calls'
	// digest, and one row per verdict for the legend.
	streaming bool
	styled    bool // rows carry styles: the output keeps them
	layout    callsLayout
	widths    []int
	parties   int
	digest    *findingsDigest
	legend    map[Verdict]callsRow
	out       bytes.Buffer // rows not yet written (kept between flushes)
	// cells and cellWidths are a row's, kept for the next row's room.
	cells      []string
	cellWidths []int
}

func newTextStream(w io.Writer, opt Options) *textStream {
	styled := opt.Color == ColorAlways
	if opt.Color == ColorAuto {
		styled = colorprofile.Detect(w, os.Environ()) != colorprofile.NoTTY
	}
	return &textStream{w: w, opt: opt, styled: styled}
}

func (s *textStream) Begin(r *Report) error {
	s.head = r
	return nil
}

func (s *textStream) Call(c Call) error {
	if s.streaming {
		s.row(c)
		if s.out.Len() > 32<<10 {
			return s.flush()
		}
		return nil
	}
	s.held = append(s.held, c)
	if len(s.held) <= textHoldCalls {
		return nil
	}
	return s.start()
}

// flush writes the rows gathered; plain rows without control characters
// need no styles stripped nor controls replaced (writeStyled).
func (s *textStream) flush() error {
	var err error
	if text := s.out.Bytes(); !s.styled && !hasControl(text) {
		_, err = s.w.Write(text)
	} else {
		err = writeStyled(s.w, string(text), s.opt.Color)
	}
	s.out.Reset()
	return err
}

// start lays the calls table out for the calls held and the widest cells
// of any call, writes its head and the held calls' rows, and lets them go.
func (s *textStream) start() error {
	s.streaming = true
	s.digest = &findingsDigest{limit: problemCallsShown, infoByID: map[FindingID]*idSummary{}}
	s.legend = map[Verdict]callsRow{}
	rows := make([]callsRow, 0, len(s.held)+len(widestCallsRows))
	for _, c := range s.held {
		rows = append(rows, newCallsRow(c))
	}
	rows = append(rows, widestCallsRows...)
	width := textWidth(s.opt)
	s.layout, s.parties = fitCalls(rows, width)
	w := colWidths(rows)
	v := s.layout.variant()
	var headers []string
	s.widths = nil
	for col := range numCallsCols {
		if s.layout.dropped[col] {
			continue
		}
		headers = append(headers, callsHeaders[col][v])
		s.widths = append(s.widths, w[col][v])
		if col == colParties {
			s.widths[len(s.widths)-1] = s.parties
		}
	}
	s.out.WriteString(styleTitle.Render("natdoc "+s.head.Command) + styleDim.Render(" "+s.head.Version) + "\n\n")
	s.out.WriteString(heading("Calls"))
	s.out.WriteString(tableBorder(s.widths, "┌", "┬", "┐"))
	s.line(headers)
	s.out.WriteString(tableBorder(s.widths, "├", "┼", "┤"))
	for _, c := range s.held {
		s.row(c)
	}
	s.held = nil
	return s.flush()
}

// row writes one call's row and digests the call.
func (s *textStream) row(c Call) {
	r := newCallsRowStyled(c, s.styled, &s.layout.dropped)
	v := s.layout.variant()
	cells := s.cells[:0]
	for col := range numCallsCols {
		switch {
		case s.layout.dropped[col]:
		case col == colParties:
			cells = append(cells, partiesCell(r.caller, r.callee, s.parties))
		default:
			cells = append(cells, r.cells[col][v])
		}
	}
	s.line(cells)
	s.cells = cells
	s.digest.add(c)
	if _, ok := s.legend[c.Verdict]; !ok {
		s.legend[c.Verdict] = r
	}
}

// line writes a table line of cells, each cut to its column.
func (s *textStream) line(cells []string) {
	cw := s.cellWidths[:0]
	for i, cell := range cells {
		cell = terminalSafe(cell) // before measuring: a NUL would be taken for the wrap mark
		cells[i] = cell
		cw = append(cw, cellWidth(cell))
		if cw[i] > s.widths[i] {
			cells[i] = ansi.Truncate(cell, s.widths[i], "…")
			cw[i] = cellWidth(cells[i])
		}
	}
	writeTableLine(&s.out, cells, cw, s.widths)
	s.cellWidths = cw
}

// End writes what follows the calls: the whole report when the calls fit
// the hold, else the table's end and the summary.
func (s *textStream) End(r *Report) error {
	if !s.streaming {
		all := *r
		all.Calls = s.held
		return writeStyled(s.w, RenderText(&all, s.opt), s.opt.Color)
	}
	s.out.WriteString(tableBorder(s.widths, "└", "┴", "┘"))
	var rows []callsRow
	for _, n := range shortVerdictNotes {
		if row, ok := s.legend[n.v]; ok {
			rows = append(rows, row)
		}
	}
	var b strings.Builder
	b.WriteString(callsLegend(rows, s.layout, textWidth(s.opt)))
	b.WriteString(problemCallsLine(s.digest))
	b.WriteString(s.digest.unanswered.lines(s.digest.calls))
	for _, section := range []sectionRenderer{textCapture, textRegistrations, s.findings, textRemedies, s.verdict} {
		if text := section(r, s.opt); text != "" {
			b.WriteString("\n" + text)
			if !strings.HasSuffix(text, "\n") {
				b.WriteString("\n")
			}
		}
	}
	s.out.WriteString(finishText(b.String(), textWidth(s.opt)))
	return s.flush()
}

// findings is the findings section of a streamed report: the report's own
// findings, then the calls' digest.
func (s *textStream) findings(r *Report, opt Options) string {
	if len(r.Findings) == 0 && !s.digest.hasFindings() {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Findings"))
	fs := append([]Finding(nil), r.Findings...)
	SortFindings(fs)
	fixes := newRemedyNotes(visibleRemedies(r, opt))
	for _, f := range fs {
		textFinding(&b, f, fixes.fix(f.Remedy, ""))
	}
	s.digest.render(&b, fixes)
	return b.String()
}

// verdict is the report's verdict, in red when any call had a problem.
func (s *textStream) verdict(r *Report, _ Options) string {
	if r.Verdict == "" {
		return ""
	}
	style := styleGood
	if r.ProblemsFound() || s.digest.problems > 0 {
		style = styleError
	}
	return hang + style.Render(r.Verdict)
}

// widestCallsRows hold the widest cells a call can have, so a table laid
// out before the calls are known has room for them: the longest verdicts,
// start times, RTP counts and MOS.
var widestCallsRows = func() []callsRow {
	var rows []callsRow
	for _, c := range []Call{
		{ID: "C999999", Verdict: VerdictOneWay, CannotHear: "caller"},
		{ID: "C999999", Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredCancelled, Rang: false}},
		{ID: "C999999", Verdict: VerdictNotAnswered, NotAnswered: &NotAnswered{Reason: NotAnsweredUnreachable}},
		{ID: "C999999", Verdict: VerdictOneWayNegotiated},
		{ID: "C999999", Verdict: VerdictIncompleteCapture},
	} {
		r := newCallsRow(c)
		r.cells[colStart] = [2]string{"00:00:00", "00:00:00"}
		r.cells[colDuration] = [2]string{"10h0m0s", "10h0m0s"}
		r.cells[colRTP] = [2]string{"999999 / 999999", "999999 / 999999"}
		r.caller, r.callee = Party{}, Party{}
		rows = append(rows, r)
	}
	return rows
}()
