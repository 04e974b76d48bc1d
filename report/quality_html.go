package report

import (
	"fmt"
	"html/template"
	"strings"
)

// htmlCallDetails writes, per call (problem calls first, at most
// maxStreamCalls), everything about it in one place: its legs, the SIP
// ladder (html_calls.go), the RTP timeline each way, its streams with
// their quality figures and what RTCP said, and its findings with
// evidence and remedies.
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
		b.WriteString(htmlLegs(c))
		b.WriteString(svgLadder(c))
		b.WriteString(svgTimeline(c))
		htmlCallStreams(&b, c)
		htmlCallFindings(&b, c, fixes)
	}
	if n := len(r.Calls) - len(calls); n > 0 {
		fmt.Fprintf(&b, "<p><small>%d more calls not shown in detail (the JSON report has all).</small></p>\n", n)
	}
	return template.HTML(b.String())
}

// htmlCallStreams writes the quality tables of a call: one, or one per
// leg of a call seen at a proxy or B2BUA.
func htmlCallStreams(b *strings.Builder, c Call) {
	if len(c.Legs) == 0 {
		htmlStreams(b, "", c.Streams)
		return
	}
	for i, l := range c.Legs {
		htmlStreams(b, fmt.Sprintf("Leg %d: %s → %s", i+1, partyLabel(l.Caller), partyLabel(l.Callee)), l.Streams)
	}
}

// htmlStreams is a per-stream quality table under its caption (if any);
// what RTCP said about a stream is a full-width row under it.
func htmlStreams(b *strings.Builder, caption string, streams []MediaStream) {
	rows := streamRows(streams)
	if len(rows) == 0 {
		return
	}
	if caption != "" {
		fmt.Fprintf(b, "<p class=\"leg\">%s</p>\n", esc(caption))
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
				fmt.Fprintf(b, " <small>%s</small>", esc(framesLabel(fr)))
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
