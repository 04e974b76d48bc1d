package report

import (
	"fmt"
	"io"
	"strings"
)

// RenderMarkdown writes the report as GitHub-flavoured Markdown, for tickets
// and wikis. It carries the same facts as the text report.
func RenderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# natdoc %s\n\n", r.Command)
	if r.Verdict != "" {
		fmt.Fprintf(&b, "**%s**\n\n", mdEscape(r.Verdict))
	}
	if len(r.Calls) > 0 {
		b.WriteString("## Calls\n\n| call | start | parties | duration | verdict | RTP caller→callee / callee→caller | MOS caller→callee / callee→caller |\n|---|---|---|---|---|---|---|\n")
		for _, c := range r.Calls {
			fmt.Fprintf(&b, "| %s | %s | %s → %s | %s | %s | %s | %s |\n", c.ID, c.Start.UTC().Format("15:04:05"),
				mdEscape(partyName(c.Caller)), mdEscape(partyName(c.Callee)), callDuration(c), verdictText(c), packetsEachWay(c),
				stripANSI(qualityEachWay(c)))
		}
		b.WriteString("\n")
		writeMDStreams(&b, r.Calls) // quality_markdown.go
	}
	// The remaining sections are the plain text report's, fenced, so that
	// nothing is lost between formats.
	var rest strings.Builder
	for _, section := range []sectionRenderer{textHost, textCapture, textRegistrations, textCallTest, textNAT, textIGD, textServe} {
		if s := section(r, Options{}); s != "" {
			rest.WriteString(s + "\n")
		}
	}
	if rest.Len() > 0 {
		b.WriteString("## Details\n\n```\n" + stripANSI(finishText(rest.String(), DefaultWidth)) + "```\n\n")
	}
	fixes := newRemedyNotes(r.Remedies) // each remedy written once
	writeMDFindings(&b, "## Findings", r.Findings, fixes, "")
	for _, c := range r.Calls {
		writeMDFindings(&b, "### Call "+c.ID+" ("+mdEscape(c.CallID)+")", c.Findings, fixes, c.ID)
	}
	if len(r.Remedies) > 0 {
		b.WriteString("## Remedies\n\n")
		for i, m := range r.Remedies {
			fmt.Fprintf(&b, "%d. **%s** %s\n", i+1, mdEscape(m.Title), mdEscape(m.Detail))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, terminalSafe(b.String())) // it is read on terminals too
	return err
}

func writeMDFindings(b *strings.Builder, title string, fs []Finding, fixes *remedyNotes, call string) {
	if len(fs) == 0 {
		return
	}
	fs = append([]Finding(nil), fs...)
	SortFindings(fs)
	b.WriteString(title + "\n\n")
	for _, f := range fs {
		fmt.Fprintf(b, "- **%s** %s `%s`\n", strings.ToUpper(string(f.Severity)), mdEscape(f.Title), f.ID)
		for _, e := range f.Evidence {
			fmt.Fprintf(b, "  - %s%s\n", mdEscape(e.Text), stripANSI(evidenceRefs(e)))
		}
		if fix := stripANSI(fixes.fix(f.Remedy, call)); fix != "" {
			fmt.Fprintf(b, "  - *Fix:* %s\n", mdEscape(fix))
		}
	}
	b.WriteString("\n")
}

var mdEscaper = strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;")

func mdEscape(s string) string { return mdEscaper.Replace(s) }
