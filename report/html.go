package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// HTMLSection adds a block to the HTML report (a ladder diagram, a network
// picture). Packages register theirs in init so report stays free of their
// logic; each returns "" when the report has nothing for it.
type HTMLSection func(r *Report) template.HTML

var htmlSections []HTMLSection

// RegisterHTMLSection appends a section to every HTML report.
func RegisterHTMLSection(s HTMLSection) { htmlSections = append(htmlSections, s) }

func stripANSI(s string) string { return ansi.Strip(s) }

// RenderHTML writes one self-contained HTML file: no scripts, no external
// resources, so it can be mailed or attached to a ticket.
func RenderHTML(w io.Writer, r *Report) error {
	var body strings.Builder
	for _, s := range htmlSections {
		body.WriteString(string(s(r)))
	}
	data := struct {
		R     *Report
		Plain string
		Extra template.HTML
	}{r, stripANSI(RenderText(r, Options{})), template.HTML(body.String())}
	if err := htmlPage.Execute(w, data); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

var htmlPage = template.Must(template.New("page").Funcs(template.FuncMap{
	"verdictText": verdictText,
	"party":       partyName,
	"duration":    callDuration,
	"eachWay":     packetsEachWay,
	"frames":      evidenceFrames,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>natdoc {{.R.Command}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.two-way{color:#080}.one-way,.no-way{color:#c00;font-weight:bold}.error{color:#c00}.warning{color:#a60}.info{color:#06c}
pre{background:#f6f6f6;padding:1em;overflow:auto}small{color:#666}
</style></head><body>
<h1>natdoc {{.R.Command}} <small>{{.R.Version}}</small></h1>
{{with .R.Verdict}}<p><strong>{{.}}</strong></p>{{end}}
{{if .R.Calls}}<h2>Calls</h2><table><tr><th>call</th><th>start</th><th>parties</th><th>duration</th><th>verdict</th><th>RTP caller→callee / callee→caller</th></tr>
{{range .R.Calls}}<tr><td>{{.ID}}</td><td>{{.Start.UTC.Format "15:04:05"}}</td><td>{{party .Caller}} → {{party .Callee}}</td><td>{{duration .}}</td><td class="{{.Verdict}}">{{verdictText .}}</td><td>{{eachWay .}}</td></tr>
{{end}}</table>{{end}}
{{.Extra}}
{{if .R.Findings}}<h2>Findings</h2><ul>{{range .R.Findings}}<li><span class="{{.Severity}}">{{.Severity}}</span> {{.Title}} <code>{{.ID}}</code>
<ul>{{range .Evidence}}<li>{{.Text}}{{with frames .}} <small>frames {{.}}</small>{{end}}</li>{{end}}{{with .Remedy}}<li><em>Fix:</em> {{.}}</li>{{end}}</ul></li>{{end}}</ul>{{end}}
{{range .R.Calls}}{{if .Findings}}<h3>Call {{.ID}} <small>{{.CallID}}</small></h3><ul>{{range .Findings}}<li><span class="{{.Severity}}">{{.Severity}}</span> {{.Title}} <code>{{.ID}}</code>
<ul>{{range .Evidence}}<li>{{.Text}}{{with frames .}} <small>frames {{.}}</small>{{end}}</li>{{end}}{{with .Remedy}}<li><em>Fix:</em> {{.}}</li>{{end}}</ul></li>{{end}}</ul>{{end}}{{end}}
{{if .R.Remedies}}<h2>Remedies</h2><ol>{{range .R.Remedies}}<li><strong>{{.Title}}</strong> {{.Detail}}</li>{{end}}</ol>{{end}}
<h2>Full text report</h2><pre>{{.Plain}}</pre>
</body></html>
`))
