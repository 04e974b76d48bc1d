package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// bindingRowsShown bounds the registrations table of the text report: an
// SBC's capture may hold thousands, and the ones with problems come
// first. JSON lists them all.
const bindingRowsShown = 15

// maxPhoneCell bounds the phone column: a user part may be any length.
const maxPhoneCell = 24

// textRegistrations is the registrations section: a line counting them by
// outcome, then a table of those with problems first.
func textRegistrations(r *Report, opt Options) string {
	regs := r.Registrations
	if len(regs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Registrations"))
	fmt.Fprintf(&b, "  %s%s\n", hang, BindingsSummary(regs))
	// A column the same on every row is said once, above the table.
	from, registrar := sameForAll(regs, Binding.fromText), sameForAll(regs, func(g Binding) string { return g.Registrar })
	b.WriteString(kvLines("from", from, "registrar", registrar))
	shown, problemsLeft := pickBindings(regs, bindingRowsShown)
	marked := slices.ContainsFunc(shown, func(g Binding) bool { return g.Problem })
	b.WriteString(bindingsTable(shown, marked, from == "", registrar == "", textWidth(opt)) + "\n")
	var legend []string
	if marked {
		legend = append(legend, "!: a finding below concerns it")
	}
	if left := len(regs) - len(shown); left > 0 {
		more := fmt.Sprintf("%d more not shown", left)
		if problemsLeft > 0 {
			more += fmt.Sprintf(" (%d with problems)", problemsLeft)
		}
		legend = append(legend, more+": --json lists them all")
	}
	if len(legend) > 0 {
		fmt.Fprintf(&b, "  %s%s\n", hang, styleDim.Render(strings.Join(legend, "; ")))
	}
	return b.String()
}

// bindingsTable draws the registrations shown: a mark column when any has
// a problem, the from and registrar columns when asked for (they differ
// between rows), the result shortened to fit width.
func bindingsTable(shown []Binding, marked, withFrom, withRegistrar bool, width int) string {
	var headers []string
	if marked {
		headers = append(headers, "")
	}
	headers = append(headers, "phone")
	if withFrom {
		headers = append(headers, "from")
	}
	if withRegistrar {
		headers = append(headers, "registrar")
	}
	headers = append(headers, "result")
	rows := make([][]string, len(shown))
	for i, g := range shown {
		var row []string
		switch {
		case g.Problem:
			row = append(row, styleError.Render("!"))
		case marked:
			row = append(row, "")
		}
		row = append(row, ansi.Truncate(terminalSafe(bindingUser(g.AOR)), maxPhoneCell, "…"))
		if withFrom {
			row = append(row, g.fromText())
		}
		if withRegistrar {
			row = append(row, g.Registrar)
		}
		rows[i] = append(row, terminalSafe(bindingResult(g)))
	}
	fitLastColumn(headers, rows, width)
	return plainTable(headers, rows)
}

// fromText is where the phone's REGISTERs came from, and how many NAT
// mappings it had before.
func (g Binding) fromText() string {
	if n := len(g.EarlierMappings); n > 0 {
		return g.From + " (" + Plural(n, "earlier mapping") + ")"
	}
	return g.From
}

// BindingsSummary counts the registrations, the accounts (addresses of
// record) and registrars they name, and their outcomes.
func BindingsSummary(regs []Binding) string {
	phones, registrars := map[string]bool{}, map[string]bool{}
	counts := map[BindingOutcome]int{}
	for _, g := range regs {
		phones[g.AOR], registrars[g.Registrar] = true, true
		counts[g.Outcome]++
	}
	var parts []string
	for _, o := range bindingOutcomes {
		if n := counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o))
		}
	}
	return fmt.Sprintf("%s (%s, %s): %s", Plural(len(regs), "registration"), Plural(len(phones), "account"),
		Plural(len(registrars), "registrar"), strings.Join(parts, ", "))
}

// sameForAll is the value every registration has, "" when they differ.
func sameForAll(regs []Binding, value func(Binding) string) string {
	v := value(regs[0])
	for _, g := range regs[1:] {
		if value(g) != v {
			return ""
		}
	}
	return v
}

// pickBindings chooses at most n registrations to show, those with
// problems first, each group in the capture's order; problemsLeft counts
// those with problems left out.
func pickBindings(regs []Binding, n int) (shown []Binding, problemsLeft int) {
	for _, problem := range []bool{true, false} {
		for _, g := range regs {
			if g.Problem != problem {
				continue
			}
			if len(shown) < n {
				shown = append(shown, g)
			} else if problem {
				problemsLeft++
			}
		}
	}
	if len(regs) <= n {
		return regs, 0 // all fit: keep the capture's order
	}
	return shown, problemsLeft
}

// bindingUser is the user part of an address of record: the column is
// narrow, and the registrar's column names the domain's server.
func bindingUser(aor string) string {
	if user, _, ok := strings.Cut(aor, "@"); ok && user != "" {
		return user
	}
	return aor
}

// bindingResult says in a few words how a registration stood at the end.
func bindingResult(g Binding) string {
	status := strings.TrimSpace(strconv.Itoa(g.Status) + " " + g.Reason)
	var s string
	switch g.Outcome {
	case BindingRegistered:
		s = "registered"
		if g.Expires > 0 {
			s += " (" + shortDuration(g.Expires) + " granted)"
		}
	case BindingExpired:
		s = "expired " + g.Until.UTC().Format("15:04:05") + ", not renewed"
	case BindingRemoved:
		s = "removed by the phone"
	case BindingRefused:
		s = "refused " + status
	case BindingChallenged:
		s = "challenged " + strconv.Itoa(g.Status) + ", no credentials sent"
	case BindingUnanswered:
		s = fmt.Sprintf("no response (%s)", Plural(g.Requests, "REGISTER"))
	case BindingNoFinal:
		s = fmt.Sprintf("no final response (%s)", Plural(g.Requests, "REGISTER"))
	default:
		s = string(g.Outcome)
	}
	if g.Scanner {
		s += " (a SIP scanner)"
	}
	if g.UnansweredAfter >= 2 {
		s += fmt.Sprintf("; then %d REGISTERs unanswered", g.UnansweredAfter)
	}
	return s
}

// fitLastColumn shortens the last column's cells, with an ellipsis, so
// the table fits width columns, keeping at least a dozen of its own.
func fitLastColumn(headers []string, rows [][]string, width int) {
	last := len(headers) - 1
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = cellWidth(h)
	}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], cellWidth(cell))
		}
	}
	total := 1
	for _, w := range widths {
		total += w + 3
	}
	room := max(widths[last]-(total-width), 12)
	for _, row := range rows {
		if cellWidth(row[last]) > room {
			row[last] = ansi.Truncate(row[last], room, "…")
		}
	}
}

// shortDuration writes d to the second without the zero units Go's
// String keeps: "1h", "20m", "1h30m", "1m59s".
func shortDuration(d time.Duration) string {
	text := d.Round(time.Second).String()
	if strings.HasSuffix(text, "m0s") {
		text = strings.TrimSuffix(text, "0s")
	}
	if strings.HasSuffix(text, "h0m") {
		text = strings.TrimSuffix(text, "0m")
	}
	return text
}
