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
	// styleNotAnswered: a call that never connected, set apart from the
	// audio verdicts (the HTML report's purple).
	styleNotAnswered = lipgloss.NewStyle().Foreground(lipgloss.Color("13"))
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
	textRegistrations,
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
	return finishText(b.String(), textWidth(opt))
}

func textVerdict(r *Report, _ Options) string {
	if r.Verdict == "" {
		return ""
	}
	style := styleGood
	if r.ProblemsFound() {
		style = styleError
	}
	return hang + style.Render(r.Verdict)
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
		fmt.Fprintf(&b, "  %s %s%s\n", styleDim.Render(fmt.Sprintf("%-*s", width+1, pairs[i]+":")), hang, pairs[i+1])
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

// textFinding writes one finding; fix is what to print after "fix:" (the
// remedy, or a reference to where it was given), "" for none.
func textFinding(b *strings.Builder, f Finding, fix string) {
	fmt.Fprintf(b, "  %s %s%s %s\n", severityLabel(f.Severity), hang, f.Title, styleDim.Render("["+string(f.ID)+"]"))
	for _, e := range f.Evidence {
		fmt.Fprintf(b, "        - %s%s%s\n", hang, e.Text, evidenceRefs(e))
	}
	if fix != "" {
		fmt.Fprintf(b, "        %s %s%s\n", styleGood.Render("fix:"), hang, fix)
	}
}

func evidenceRefs(e Evidence) string {
	var parts []string
	if frames := evidenceFrames(e); frames != "" {
		parts = append(parts, framesLabel(frames))
	}
	for _, kv := range e.Values {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	if len(parts) == 0 {
		return ""
	}
	return styleDim.Render(" (" + strings.Join(parts, ", ") + ")")
}

func textFindings(r *Report, opt Options) string {
	calls := r.Calls
	var fs []Finding
	if opt.CallID != "" {
		// --call: that call's findings only.
		if c := r.FindCall(opt.CallID); c != nil {
			calls = []Call{*c}
		} else {
			calls = nil
		}
	} else {
		fs = append(fs, r.Findings...)
	}
	// Problem calls in full up to problemCallsShown, as a streamed report
	// lists them: past that a flood (a scanner's INVITEs, a registrar
	// gone) is the same findings again, counted by ID.
	digest := newFindingsDigest(problemCallsShown, calls)
	if len(fs) == 0 && !digest.hasFindings() {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Findings"))
	SortFindings(fs)
	fixes := newRemedyNotes(visibleRemedies(r, opt))
	for _, f := range fs {
		textFinding(&b, f, fixes.fix(f.Remedy, ""))
	}
	digest.render(&b, fixes) // findings_text.go
	return b.String()
}

func textRemedies(r *Report, opt Options) string {
	rs := visibleRemedies(r, opt)
	if len(rs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading("Remedies, most likely to help first"))
	for i, m := range rs {
		fmt.Fprintf(&b, "  %d. %s%s\n", i+1, hang, styleTitle.Render(m.Title))
		if m.Detail != "" && m.Detail != m.Title {
			fmt.Fprintf(&b, "     %s%s\n", hang, m.Detail)
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
		span = fmt.Sprintf("%s … %s (%s)", c.First.UTC().Format(time.RFC3339), spanEnd(c.First, c.Last, time.RFC3339), c.Last.Sub(c.First).Round(time.Millisecond))
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
	for _, cm := range c.Comments {
		where := "capture"
		if cm.Frame > 0 {
			where = fmt.Sprintf("frame %d", cm.Frame)
		}
		fmt.Fprintf(&b, "  %s %s%s\n", styleDim.Render("comment ("+where+"):"), hang, cm.Text)
	}
	if c.CallsLeftOut > 0 {
		fmt.Fprintf(&b, "  %s\n", styleDim.Render(fmt.Sprintf("%d more calls judged and counted, not shown (--max-kept-calls; narrow with --host, --user, --verdict)", c.CallsLeftOut)))
	}
	if c.CommentsLeftOut > 0 {
		fmt.Fprintf(&b, "  %s\n", styleDim.Render(fmt.Sprintf("%d more comments not kept", c.CommentsLeftOut)))
	}
	for _, a := range c.Anomalies {
		fmt.Fprintf(&b, "  %s %s%d × %s %s\n", styleWarning.Render("anomaly"), hang, a.Count, a.Kind, styleDim.Render(a.Detail+anomalyRefs(a)))
	}
	return b.String()
}

// anomalyRefs names where the first occurrences are: their frame numbers
// (as Wireshark counts them) and, where the file format tells them, their
// byte offsets in the file.
func anomalyRefs(a Anomaly) string {
	var parts []string
	if len(a.Frames) > 0 {
		parts = append(parts, framesLabel(joinNumbers(a.Frames)))
	}
	if len(a.Offsets) > 0 {
		parts = append(parts, "byte offsets "+joinNumbers(a.Offsets))
	}
	if len(parts) == 0 {
		return ""
	}
	return " at " + strings.Join(parts, ", ")
}

func joinNumbers[N int64 | uint64](ns []N) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func verdictStyle(v Verdict) lipgloss.Style {
	switch v {
	case VerdictTwoWay:
		return styleGood
	case VerdictOneWay, VerdictNoWay:
		return styleError
	case VerdictIncompleteCapture:
		return styleWarning
	case VerdictNotAnswered:
		return styleNotAnswered
	}
	return styleInfo // one-way-negotiated, on-hold, no-media-expected
}

func partyName(p Party) string {
	return joinUserHost(p.User, p.Host) // calls_table_text.go
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
	counted := verdictStreams(c)
	for _, s := range c.Streams {
		if !counted(&s) {
			continue
		}
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
	b.WriteString(kvLines("listening", strings.Join(s.Listen, ", "), "main address", s.PublicAddr, "fix mode", fmt.Sprint(s.Fix),
		"media", s.Media, "registered", fmt.Sprint(s.Registered)))
	for _, c := range s.Counters {
		b.WriteString(kvLines(c.Key, c.Value))
	}
	for _, e := range s.Engines {
		b.WriteString(textEngine(e))
	}
	for _, c := range s.Calls {
		fmt.Fprintf(&b, "  %s → %s %s\n", c.From, c.To, styleDim.Render(c.CallID))
		if c.Engine != "" {
			fmt.Fprintf(&b, "      media on rtpengine %s\n", c.Engine)
		}
		for _, l := range c.Legs {
			fmt.Fprintf(&b, "      to %-8s %d packets (latched %s, SDP %s)\n", l.Party, l.Packets, l.Latched, l.SDPAddr)
		}
	}
	return b.String()
}

// textEngine is one rtpengine: its state, its calls, its own figures.
func textEngine(e MediaEngine) string {
	state := "up"
	if !e.Up {
		state = "down: " + e.LastError
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  rtpengine %s %s\n", e.Address, state)
	fmt.Fprintf(&b, "      %d calls (%d active), %d failed requests, %d outages\n", e.Calls, e.Active, e.Failures, e.Outages)
	if len(e.Stats) > 0 {
		figures := make([]string, len(e.Stats))
		for i, kv := range e.Stats {
			figures[i] = kv.Key + " " + kv.Value
		}
		fmt.Fprintf(&b, "      %s\n", strings.Join(figures, ", "))
	}
	return b.String()
}

// spanEnd writes the end of a capture's time span: its time of day when it
// is on the day the capture starts, else whole in layout.
func spanEnd(first, last time.Time, layout string) string {
	first, last = first.UTC(), last.UTC()
	if first.YearDay() == last.YearDay() && first.Year() == last.Year() {
		return last.Format("15:04:05")
	}
	return last.Format(layout)
}
