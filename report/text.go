package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"charm.land/lipgloss/v2/table"
)

// Styles used by the text renderer. They always emit ANSI; writeStyled
// strips it where the output is no terminal.
var (
	styleTitle   = lipgloss.NewStyle().Bold(true)
	styleHeading = lipgloss.NewStyle().Bold(true).Underline(true)
	styleDim     = lipgloss.NewStyle().Faint(true)
	styleError   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
	styleWarning = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("11"))
	styleInfo    = lipgloss.NewStyle().Foreground(lipgloss.Color("12"))
	styleGood    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("10"))
)

// newTable returns the house table: normal border, one space of padding.
func newTable(headers ...string) *table.Table {
	cell := lipgloss.NewStyle().Padding(0, 1)
	return table.New().Border(lipgloss.NormalBorder()).Headers(headers...).
		StyleFunc(func(row, col int) lipgloss.Style { return cell })
}

// sectionRenderer renders one part of the report as text, or "" when the
// report has no such part. Each section lives in its own file.
type sectionRenderer func(r *Report, opt Options) string

// textSections is the order of the text report.
var textSections = []sectionRenderer{
	textVerdict,
	textHost,
	textCapture,
	textCalls,
	textCallDetail,
	textCallTest,
	textNAT,
	textIGD,
	textServe,
	textFindings,
	textRemedies,
	textChecks,
}

// RenderText returns the styled text report (ANSI included).
func RenderText(r *Report, opt Options) string {
	var b strings.Builder
	b.WriteString(styleTitle.Render("natdoc "+r.Command) + styleDim.Render(" "+r.Version) + "\n")
	for _, section := range textSections {
		if s := section(r, opt); s != "" {
			b.WriteString("\n")
			b.WriteString(s)
			if !strings.HasSuffix(s, "\n") {
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func textVerdict(r *Report, _ Options) string {
	if r.Verdict == "" {
		return ""
	}
	style := styleGood
	if r.ProblemsFound() {
		style = styleError
	}
	return style.Render(r.Verdict)
}

func heading(s string) string { return styleHeading.Render(s) + "\n" }

// kvLines renders aligned "key: value" lines, skipping empty values.
func kvLines(pairs ...string) string {
	width := 0
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" && len(pairs[i]) > width {
			width = len(pairs[i])
		}
	}
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s %s\n", styleDim.Render(fmt.Sprintf("%-*s", width+1, pairs[i]+":")), pairs[i+1])
	}
	return b.String()
}

func severityLabel(s Severity) string {
	switch s {
	case SeverityError:
		return styleError.Render("ERROR")
	case SeverityWarning:
		return styleWarning.Render("WARN ")
	default:
		return styleInfo.Render("INFO ")
	}
}

// SortFindings orders findings by severity, keeping the order of equals.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.Rank() < fs[j].Severity.Rank() })
}

func textFinding(b *strings.Builder, f Finding) {
	fmt.Fprintf(b, "  %s %s %s\n", severityLabel(f.Severity), f.Title, styleDim.Render("["+string(f.ID)+"]"))
	for _, e := range f.Evidence {
		fmt.Fprintf(b, "        - %s%s\n", e.Text, evidenceRefs(e))
	}
	if f.Remedy != "" {
		fmt.Fprintf(b, "        %s %s\n", styleGood.Render("fix:"), f.Remedy)
	}
}

func evidenceRefs(e Evidence) string {
	var parts []string
	if len(e.Frames) > 0 {
		parts = append(parts, "frames "+joinFrames(e.Frames))
	}
	for _, kv := range e.Values {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	if len(parts) == 0 {
		return ""
	}
	return styleDim.Render(" (" + strings.Join(parts, ", ") + ")")
}

// joinFrames lists up to eight frame numbers.
func joinFrames(frames []uint64) string {
	const most = 8
	var s []string
	for i, f := range frames {
		if i == most {
			s = append(s, fmt.Sprintf("… +%d", len(frames)-most))
			break
		}
		s = append(s, fmt.Sprint(f))
	}
	return strings.Join(s, ",")
}

func textFindings(r *Report, _ Options) string {
	if len(r.Findings) == 0 && !anyCallFindings(r) {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Findings"))
	fs := append([]Finding(nil), r.Findings...)
	SortFindings(fs)
	for _, f := range fs {
		textFinding(&b, f)
	}
	textCallFindings(&b, r.Calls) // findings_text.go
	return b.String()
}

func anyCallFindings(r *Report) bool {
	for _, c := range r.Calls {
		if len(c.Findings) > 0 {
			return true
		}
	}
	return false
}

func textRemedies(r *Report, _ Options) string {
	if len(r.Remedies) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Remedies, most likely to help first"))
	for i, m := range r.Remedies {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, styleTitle.Render(m.Title))
		if m.Detail != "" {
			fmt.Fprintf(&b, "     %s\n", m.Detail)
		}
	}
	return b.String()
}

func textChecks(r *Report, _ Options) string {
	if len(r.Checks) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Checks"))
	for _, c := range r.Checks {
		status := string(c.Status)
		switch c.Status {
		case CheckPassed:
			status = styleGood.Render(status)
		case CheckProblem:
			status = styleError.Render(status)
		default:
			status = styleWarning.Render(status)
		}
		fmt.Fprintf(&b, "  %-22s %s %s\n", c.Name, status, styleDim.Render(c.Detail))
	}
	return b.String()
}

func textHost(r *Report, _ Options) string {
	h := r.Host
	if h == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("This host"))
	b.WriteString(kvLines("hostname", h.Hostname, "gateway", h.Gateway, "public address", string(h.PublicAddress)))
	for _, i := range h.Interfaces {
		fmt.Fprintf(&b, "  %-10s %s\n", i.Name, strings.Join(i.Addrs, " "))
	}
	return b.String()
}

func textCapture(r *Report, _ Options) string {
	c := r.Capture
	if c == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Capture"))
	span := ""
	if !c.First.IsZero() {
		span = fmt.Sprintf("%s … %s (%s)", c.First.UTC().Format(time.RFC3339), c.Last.UTC().Format("15:04:05"), c.Last.Sub(c.First).Round(time.Millisecond))
	}
	var counts []string
	for _, kv := range c.Counts {
		counts = append(counts, kv.Key+" "+kv.Value)
	}
	dups := ""
	if c.Duplicates > 0 {
		dups = fmt.Sprintf("%d packets identical to one just seen (copies from a SPAN or ERSPAN port, merged captures, a packet sent twice), counted once", c.Duplicates)
	}
	b.WriteString(kvLines(
		"files", strings.Join(c.Files, ", "),
		"interface", c.Live,
		"packets", fmt.Sprintf("%d (%d bytes)", c.Packets, c.Bytes),
		"decoded", strings.Join(counts, ", "),
		"duplicates", dups,
		"time", span,
		"seen from", c.Vantage,
	))
	for _, a := range c.Anomalies {
		fmt.Fprintf(&b, "  %s %d × %s %s\n", styleWarning.Render("anomaly"), a.Count, a.Kind, styleDim.Render(a.Detail+offsetsText(a.Offsets)))
	}
	return b.String()
}

func offsetsText(offs []int64) string {
	if len(offs) == 0 {
		return ""
	}
	var s []string
	for _, o := range offs {
		s = append(s, fmt.Sprint(o))
	}
	return " at byte offsets " + strings.Join(s, ",")
}

func verdictStyle(v Verdict) lipgloss.Style {
	switch v {
	case VerdictTwoWay:
		return styleGood
	case VerdictOneWay, VerdictNoWay:
		return styleError
	case VerdictIncompleteCapture:
		return styleWarning
	}
	return styleInfo
}

func textCalls(r *Report, _ Options) string {
	if len(r.Calls) == 0 {
		if r.Capture != nil {
			return heading("Calls") + "  no SIP calls found\n"
		}
		return ""
	}
	rows := make([][]string, 0, len(r.Calls))
	for _, c := range r.Calls {
		mark := ""
		if CallHasProblem(c) {
			mark = styleError.Render("!")
		}
		rows = append(rows, []string{
			mark,
			c.ID,
			c.Start.UTC().Format("15:04:05"),
			partyName(c.Caller) + " → " + partyName(c.Callee),
			callDuration(c),
			verdictStyle(c.Verdict).Render(verdictText(c)),
			packetsEachWay(c),
		})
	}
	t := plainTable([]string{"", "call", "start", "parties", "duration", "verdict", "RTP pkts caller→callee / callee→caller"}, rows)
	return heading("Calls") + problemCallsLine(r.Calls) + t + "\n"
}

func partyName(p Party) string {
	switch {
	case p.User != "" && p.Host != "":
		return p.User + "@" + p.Host
	case p.User != "":
		return p.User
	}
	return p.Host
}

func verdictText(c Call) string {
	switch {
	case c.Verdict == VerdictOneWay && c.CannotHear != "":
		return fmt.Sprintf("one-way (%s cannot hear)", c.CannotHear)
	case c.Verdict == VerdictNotAnswered && c.NotAnswered != nil:
		return notAnsweredText(*c.NotAnswered)
	}
	return string(c.Verdict)
}

func callDuration(c Call) string {
	if c.Start.IsZero() || c.End.IsZero() {
		return "-"
	}
	return c.End.Sub(c.Start).Round(time.Second).String()
}

func packetsEachWay(c Call) string {
	var fwd, back uint64
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if f.RTCP || f.Unreachable {
				continue
			}
			if f.Direction == "caller->callee" {
				fwd += f.Packets
			} else if f.Direction == "callee->caller" {
				back += f.Packets
			}
		}
	}
	return fmt.Sprintf("%d / %d", fwd, back)
}

func textCallTest(r *Report, _ Options) string {
	c := r.CallTest
	if c == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Call test"))
	b.WriteString(kvLines(
		"local", c.Local, "remote", c.Remote, "SDP address", c.SDPAddr,
		"duration", c.Duration.String(),
		"sent", fmt.Sprintf("%d packets", c.Sent.Packets),
		"received", fmt.Sprintf("%d packets, %d lost, jitter %.1f ms", c.Received.Packets, c.Received.Lost, c.Received.JitterMs),
	))
	fmt.Fprintf(&b, "  %s %s\n", verdictStyle(c.Verdict).Render(string(c.Verdict)), c.Explain)
	return b.String()
}

func textServe(r *Report, _ Options) string {
	s := r.Serve
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Server"))
	b.WriteString(kvLines("listening", strings.Join(s.Listen, ", "), "main address", s.PublicAddr, "fix mode", fmt.Sprint(s.Fix), "registered", fmt.Sprint(s.Registered)))
	for _, c := range s.Counters {
		b.WriteString(kvLines(c.Key, c.Value))
	}
	for _, c := range s.Calls {
		fmt.Fprintf(&b, "  %s → %s %s\n", c.From, c.To, styleDim.Render(c.CallID))
		for _, l := range c.Legs {
			fmt.Fprintf(&b, "      to %-8s %d packets (latched %s, SDP %s)\n", l.Party, l.Packets, l.Latched, l.SDPAddr)
		}
	}
	return b.String()
}
