package report

import (
	"fmt"
	"html/template"
	"strings"
)

// htmlCallDetails writes, per call (problem calls first, at most
// maxStreamCalls), its streams with their quality figures, what RTCP
// said, and its findings with evidence and remedies.
func htmlCallDetails(r *Report) template.HTML {
	calls := callsToDraw(r.Calls)
	if len(calls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<h2>Calls in detail</h2>\n")
	fixes := newRemedyNotes(r.Remedies)
	for _, c := range calls {
		fmt.Fprintf(&b, "<h3 id=\"call-%s\">Call %s <small>%s</small> <span class=\"%s\">%s</span></h3>\n",
			esc(c.ID), esc(c.ID), esc(c.CallID), esc(string(c.Verdict)), esc(verdictText(c)))
		if c.Explain != "" {
			fmt.Fprintf(&b, "<p>%s</p>\n", esc(c.Explain))
		}
		htmlStreams(&b, c)
		htmlCallFindings(&b, c, fixes)
	}
	if n := len(r.Calls) - len(calls); n > 0 {
		fmt.Fprintf(&b, "<p><small>%d more calls not shown in detail (the JSON report has all).</small></p>\n", n)
	}
	return template.HTML(b.String())
}

// htmlStreams is a call's per-stream quality table; what RTCP said about
// a stream is a full-width row under it.
func htmlStreams(b *strings.Builder, c Call) {
	rows := streamRows(c)
	if len(rows) == 0 {
		return
	}
	last := len(streamHeaders) - 1 // the RTCP column
	b.WriteString("<table class=\"streams\"><tr><th>stream</th>")
	for _, h := range streamHeaders[2:last] {
		fmt.Fprintf(b, "<th>%s</th>", esc(h))
	}
	b.WriteString("</tr>\n")
	for _, row := range rows {
		from, to, _ := strings.Cut(row[1], " → ")
		fmt.Fprintf(b, "<tr><td class=\"wrap stream\"><strong>%s</strong><br>%s<br>→ %s</td>", esc(row[0]), esc(from), esc(to))
		for _, cell := range row[2:last] {
			fmt.Fprintf(b, "<td class=\"num\">%s</td>", esc(cell))
		}
		b.WriteString("</tr>\n")
		if row[last] != "" {
			fmt.Fprintf(b, "<tr><td class=\"wrap rtcp\" colspan=\"%d\">RTCP: %s</td></tr>\n", last-1, esc(row[last]))
		}
	}
	b.WriteString("</table>\n")
}

// htmlCallFindings lists a call's findings, most severe first; each
// remedy is written once (remedyNotes).
func htmlCallFindings(b *strings.Builder, c Call, fixes *remedyNotes) {
	if len(c.Findings) == 0 {
		return
	}
	fs := append([]Finding(nil), c.Findings...)
	SortFindings(fs)
	b.WriteString("<ul class=\"findings\">\n")
	for _, f := range fs {
		fmt.Fprintf(b, "<li><span class=\"%s\">%s</span> %s <code>%s</code><ul>", esc(string(f.Severity)), esc(string(f.Severity)), esc(f.Title), esc(string(f.ID)))
		for _, e := range f.Evidence {
			fmt.Fprintf(b, "<li>%s", esc(e.Text))
			if fr := evidenceFrames(e); fr != "" {
				fmt.Fprintf(b, " <small>frames %s</small>", esc(fr))
			}
			b.WriteString("</li>")
		}
		if fix := stripANSI(fixes.fix(f.Remedy, c.ID)); fix != "" {
			fmt.Fprintf(b, "<li class=\"fix\"><em>Fix:</em> %s</li>", esc(fix))
		}
		b.WriteString("</ul></li>\n")
	}
	b.WriteString("</ul>\n")
}
