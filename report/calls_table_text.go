package report

import (
	"fmt"
	"net/netip"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The calls table fits the terminal instead of wrapping: when it is too
// wide, fitSteps shorten headers and verdicts and leave out columns, in a
// fixed order from the least important, and the parties column takes what
// width is left, names shortened to fit (IPv6 addresses in the middle,
// then hosts, then to the user alone). A legend under the table explains
// every abbreviation in use.

// callsCol is a column of the calls table, in display order.
type callsCol int

const (
	colMark callsCol = iota
	colCall
	colStart
	colParties
	colDuration
	colVerdict
	colRTP
	colQuality
	numCallsCols
)

// callsHeaders are the full and the short headers.
var callsHeaders = [numCallsCols][2]string{
	colMark:     {"", ""},
	colCall:     {"call", "call"},
	colStart:    {"start", "start"},
	colParties:  {"parties", "parties"},
	colDuration: {"duration", "duration"},
	colVerdict:  {"verdict", "verdict"},
	colRTP:      {"RTP pkts caller→callee / callee→caller", "RTP →/←"},
	colQuality:  {"MOS caller→callee / callee→caller", "MOS →/←"},
}

// callsLayout is what fitting has changed so far.
type callsLayout struct {
	short   bool // short headers and verdicts
	dropped [numCallsCols]bool
}

// variant is the index of the headers and cells in use: 1 for the short
// ones.
func (l callsLayout) variant() int {
	if l.short {
		return 1
	}
	return 0
}

// fitSteps are tried in order until the table fits.
var fitSteps = []func(*callsLayout){
	func(l *callsLayout) { l.short = true },
	func(l *callsLayout) { l.dropped[colDuration] = true },
	func(l *callsLayout) { l.dropped[colStart] = true },
	func(l *callsLayout) { l.dropped[colQuality] = true },
	func(l *callsLayout) { l.dropped[colRTP] = true },
}

const (
	// minParties is the narrowest parties column fitting accepts before
	// it leaves out another column: room for "user@h… → user@h…".
	minParties = 24
	// leastParties is the narrowest it ever gets.
	leastParties = 9
)

// callsRow holds one call's cells, full [0] and short [1].
type callsRow struct {
	cells   [numCallsCols][2]string
	caller  Party
	callee  Party
	verdict Verdict
}

func textCalls(r *Report, opt Options) string {
	if len(r.Calls) == 0 {
		if r.Capture != nil {
			return heading("Calls") + "  no SIP calls found\n"
		}
		return ""
	}
	rows := make([]callsRow, len(r.Calls))
	for i, c := range r.Calls {
		rows[i] = newCallsRow(c)
	}
	width := textWidth(opt)
	layout, parties := fitCalls(rows, width)
	digest := newFindingsDigest(0, r.Calls)
	return heading("Calls") + problemCallsLine(digest) + renderCalls(rows, layout, parties) + "\n" + callsLegend(rows, layout, width) +
		digest.unanswered.lines(digest.calls)
}

func newCallsRow(c Call) callsRow { return newCallsRowStyled(c, true, nil) }

// newCallsRowStyled makes a call's row, its mark and verdict styled
// unless the output is plain (no terminal, NO_COLOR): a streamed table
// of 50,000 rows spent a tenth of its time styling what the writer strips.
// The columns skip marks (a layout's dropped ones; nil: none) are left
// empty: a streamed table makes a row per call.
func newCallsRowStyled(c Call, styled bool, skip *[numCallsCols]bool) callsRow {
	var row callsRow
	paint := func(style lipgloss.Style, s string) string {
		if !styled {
			return s
		}
		return style.Render(s)
	}
	mark := ""
	if CallHasProblem(c) {
		mark = paint(styleError, "!")
	}
	wanted := func(col callsCol) bool { return skip == nil || !skip[col] }
	set := func(col callsCol, full, short string) { row.cells[col] = [2]string{full, short} }
	same := func(col callsCol, cell func(Call) string) {
		if wanted(col) {
			text := cell(c)
			set(col, text, text)
		}
	}
	set(colMark, mark, mark)
	set(colCall, c.ID, c.ID)
	same(colStart, func(c Call) string { return c.Start.UTC().Format("15:04:05") })
	same(colDuration, callDuration)
	style := verdictStyle(c.Verdict)
	set(colVerdict, paint(style, verdictText(c)), paint(style, shortVerdict(c)))
	same(colRTP, packetsEachWay)
	same(colQuality, qualityEachWay)
	row.caller, row.callee, row.verdict = c.Caller, c.Callee, c.Verdict
	return row
}

// shortVerdict is the verdict in few columns; shortVerdictNotes explain
// it in the legend.
func shortVerdict(c Call) string {
	switch {
	case c.Verdict == VerdictOneWay && c.CannotHear != "":
		return "one-way (" + c.CannotHear + ")"
	case c.Verdict == VerdictIncompleteCapture:
		return "incomplete"
	case c.Verdict == VerdictNoMediaExpected:
		return "no media"
	case c.Verdict == VerdictOneWayNegotiated:
		return "one-way (SDP)"
	case c.Verdict == VerdictNotAnswered && c.NotAnswered != nil:
		return strings.TrimSuffix(strings.TrimPrefix(notAnsweredText(*c.NotAnswered), string(VerdictNotAnswered)+" ("), ")")
	}
	return string(c.Verdict)
}

// shortVerdictNotes explain the short verdicts, in the legend's order.
var shortVerdictNotes = []struct {
	v    Verdict
	note string
}{
	{VerdictOneWay, "one-way (X): X cannot hear"},
	{VerdictOneWayNegotiated, "one-way (SDP): one-way-negotiated, as the SDP asked"},
	{VerdictNotAnswered, "rejected, cancelled, timed-out, unreachable: not-answered"},
	{VerdictNoMediaExpected, "no media: no-media-expected"},
	{VerdictIncompleteCapture, "incomplete: incomplete-capture"},
}

// colWidths measures every column once, full and short.
func colWidths(rows []callsRow) (w [numCallsCols][2]int) {
	for col := range numCallsCols {
		for v := range 2 {
			w[col][v] = cellWidth(callsHeaders[col][v])
		}
	}
	for _, row := range rows {
		for col := range numCallsCols {
			for v := range 2 {
				w[col][v] = max(w[col][v], cellWidth(row.cells[col][v]))
			}
		}
		pw := cellWidth(partyName(row.caller)) + 3 + cellWidth(partyName(row.callee))
		w[colParties] = [2]int{max(w[colParties][0], pw), max(w[colParties][1], pw)}
	}
	return w
}

// fitCalls chooses the layout and the parties column's width for width
// columns.
func fitCalls(rows []callsRow, width int) (callsLayout, int) {
	w := colWidths(rows)
	var l callsLayout
	for step := 0; ; step++ {
		v := 0
		if l.short {
			v = 1
		}
		others := 1 // the table's right border
		for col := range numCallsCols {
			if col != colParties && !l.dropped[col] {
				others += w[col][v] + 3
			}
		}
		budget := width - others - 3
		switch {
		case w[colParties][v] <= budget:
			return l, w[colParties][v]
		case (budget >= minParties && l.short) || step == len(fitSteps):
			// Names are cut only once the headers are short: a header
			// is cheaper to abbreviate than a party.
			return l, max(budget, leastParties)
		}
		fitSteps[step](&l)
	}
}

func renderCalls(rows []callsRow, l callsLayout, parties int) string {
	v := l.variant()
	var headers []string
	for col := range numCallsCols {
		if !l.dropped[col] {
			headers = append(headers, callsHeaders[col][v])
		}
	}
	cells := make([][]string, len(rows))
	for i, row := range rows {
		line := make([]string, 0, len(headers))
		for col := range numCallsCols {
			switch {
			case l.dropped[col]:
			case col == colParties:
				line = append(line, partiesCell(row.caller, row.callee, parties))
			default:
				line = append(line, row.cells[col][v])
			}
		}
		cells[i] = line
	}
	return plainTable(headers, cells)
}

// callsLegend explains the abbreviations in use and names the columns
// left out ("" when the table is as wide as it wants).
func callsLegend(rows []callsRow, l callsLayout, width int) string {
	if !l.short {
		return ""
	}
	var notes []string
	if !l.dropped[colRTP] {
		notes = append(notes, "RTP →/←: audio (or fax) packets caller→callee / callee→caller")
	}
	if !l.dropped[colQuality] {
		notes = append(notes, "MOS →/←: estimated listening quality each way (1-4.5)")
	}
	for _, n := range shortVerdictNotes {
		for _, row := range rows {
			if row.verdict == n.v && row.cells[colVerdict][0] != row.cells[colVerdict][1] {
				notes = append(notes, n.note)
				break
			}
		}
	}
	var gone []string
	for _, c := range []struct {
		col  callsCol
		name string
	}{{colStart, "start"}, {colDuration, "duration"}, {colQuality, "MOS"}, {colRTP, "RTP packets"}} {
		if l.dropped[c.col] {
			gone = append(gone, c.name)
		}
	}
	if len(gone) > 0 {
		notes = append(notes, fmt.Sprintf("left out to fit %d columns: %s (--call ID shows them)", width, strings.Join(gone, ", ")))
	}
	return "  " + hang + styleDim.Render(strings.Join(notes, "; ")) + "\n"
}

// partiesCell is "caller → callee" in at most width columns.
func partiesCell(caller, callee Party, width int) string {
	a, b := partyName(caller), partyName(callee)
	if cellWidth(a)+3+cellWidth(b) <= width {
		return a + " → " + b
	}
	room := width - 3
	wa, wb := fitNamed(caller, a, room), fitNamed(callee, b, room)
	half := room / 2
	switch {
	case cellWidth(wa) <= half:
		wb = fitNamed(callee, b, room-cellWidth(wa))
	case cellWidth(wb) <= room-half-room%2:
		wa = fitNamed(caller, a, room-cellWidth(wb))
	default:
		wa, wb = fitNamed(caller, a, room-half), fitNamed(callee, b, half)
	}
	return wa + " → " + wb
}

// minHost is the fewest columns of a shortened host worth showing; below
// it the user alone is clearer than "pbx…rg".
const minHost = 9

// fitName shortens a party's name to at most width columns: IPv6
// addresses in the middle first, then the host, then the user alone, and
// at last the user in the middle. The user (the number) is what a reader
// matches with the phone, so it goes last.
func fitName(p Party, width int) string {
	return fitNamed(p, partyName(p), width)
}

// fitNamed is fitName of p, whose whole name is full.
func fitNamed(p Party, full string, width int) string {
	if cellWidth(full) <= width {
		return full
	}
	host := p.Host
	if strings.Contains(host, ":") {
		for _, h := range ipv6Forms(p.Host)[1:] {
			host = h
			if s := joinUserHost(p.User, host); cellWidth(s) <= width {
				return s
			}
		}
	}
	if p.User == "" {
		return middleEllipsis(host, width)
	}
	if room := width - cellWidth(p.User) - 1; room >= minHost && host != "" {
		return p.User + "@" + middleEllipsis(host, room)
	}
	return middleEllipsis(p.User, width)
}

func joinUserHost(user, host string) string {
	switch {
	case user != "" && host != "":
		return user + "@" + host
	case user != "":
		return user
	}
	return host
}

// ipv6Forms lists a host as it is and, when it is an IPv6 address (bare
// or in brackets), ever shorter with its middle groups left out:
// "[fd17:625c:…:feb9:1521]", "[fd17:…:feb9:1521]", "[fd17:…:1521]". They
// keep the network and the interface part a reader compares.
func ipv6Forms(host string) []string {
	forms := []string{host}
	if !strings.Contains(host, ":") {
		return forms // a name or an IPv4 address: no shorter form
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is6() || a.Is4In6() {
		return forms
	}
	groups := strings.Split(a.String(), ":")
	for _, keep := range [][2]int{{2, 2}, {1, 2}, {1, 1}} {
		if keep[0]+keep[1] >= len(groups) {
			continue
		}
		short := strings.Join(groups[:keep[0]], ":") + ":…:" + strings.Join(groups[len(groups)-keep[1]:], ":")
		if inner != host {
			short = "[" + short + "]"
		}
		forms = append(forms, short)
	}
	return forms
}

// middleEllipsis cuts s to width columns by leaving out its middle.
func middleEllipsis(s string, width int) string {
	if cellWidth(s) <= width {
		return s
	}
	if width <= 1 {
		return ansi.Truncate(s, width, "")
	}
	tail := (width - 1) / 2
	head := width - 1 - tail
	if isPlainASCII(s) {
		return s[:head] + "…" + s[len(s)-tail:]
	}
	return ansi.Truncate(s, head, "") + "…" + ansi.TruncateLeft(s, cellWidth(s)-tail, "")
}
