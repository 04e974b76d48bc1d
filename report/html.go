package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

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
// resources, so it can be mailed or attached to a ticket. It reads at
// 1,000 pixels and prints: the capture summary first, the calls table
// with verdict colours and a legend, the registrations, the registered
// sections, each call
// with its legs, ladder, timelines, streams, RTCP and findings, the
// report-wide findings and the remedies; the full text report folded at
// the end.
func RenderHTML(w io.Writer, r *Report) error {
	var body strings.Builder
	for _, s := range htmlSections {
		body.WriteString(string(s(r)))
	}
	data := struct {
		R       *Report
		Plain   string
		Extra   template.HTML
		Details template.HTML
	}{r, stripANSI(RenderText(r, Options{Width: 120})), template.HTML(body.String()), htmlCallDetails(r)}
	if err := htmlPage.Execute(w, data); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}

// htmlVerdicts are the verdicts the legend explains, in its order.
var htmlVerdicts = []struct {
	V    Verdict
	Text string
}{
	{VerdictTwoWay, "audio flowed both ways"},
	{VerdictOneWay, "one party heard nothing"},
	{VerdictNoWay, "no audio either way"},
	{VerdictOnHold, "put on hold after the call was up"},
	{VerdictOneWayNegotiated, "the SDP asked for media one way only, and it flowed so"},
	{VerdictNotAnswered, "the call never connected (rejected, cancelled, timed out, unreachable)"},
	{VerdictNoMediaExpected, "answered, but no media negotiated"},
	{VerdictIncompleteCapture, "the capture lacks what the verdict needs"},
}

var htmlPage = template.Must(template.New("page").Funcs(template.FuncMap{
	"verdictText": verdictText,
	"party":       partyName,
	"duration":    callDuration,
	"eachWay":     packetsEachWay,
	"mosEachWay":  func(c Call) string { return stripANSI(qualityEachWay(c)) },
	"frames": func(e Evidence) string {
		if l := evidenceFrames(e); l != "" {
			return framesLabel(l)
		}
		return ""
	},
	"verdicts":      func() any { return htmlVerdicts },
	"bindingResult": bindingResult,
	"problem":       CallHasProblem,
	"span": func(c *CaptureInfo) string {
		if c.First.IsZero() {
			return ""
		}
		return c.First.UTC().Format("2006-01-02 15:04:05") + " … " + spanEnd(c.First, c.Last, "2006-01-02 15:04:05") + " UTC (" + c.Last.Sub(c.First).Round(time.Millisecond).String() + ")"
	},
}).Parse(htmlTemplate))

const htmlTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>natdoc {{.R.Command}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#222;line-height:1.35}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;max-width:100%}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}td.wrap{overflow-wrap:anywhere}td.nw{white-space:nowrap}td.rtcp{color:#444;font-size:.92em;border-top:none}p.leg{margin:.8em 0 0;font-weight:bold}
th{background:#f3f3f3}td.num{text-align:right;white-space:nowrap}
.two-way{color:#060}.one-way,.no-way{color:#b00;font-weight:bold}.on-hold,.no-media-expected{color:#555}.one-way-negotiated{color:#06c}.not-answered{color:#85a}.incomplete-capture{color:#a60}
.error{color:#b00;font-weight:bold}.warning{color:#a60;font-weight:bold}.info{color:#06c}
tr.problem{background:#fff3f3}.legend .item{margin-right:1.2em}td.stream{min-width:11em}table.streams{font-size:.92em}
svg{max-width:100%;height:auto}pre{background:#f6f6f6;padding:1em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
small,.dim{color:#666}dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.5em 0}dl.kv dt{color:#666}dl.kv dd{margin:0;overflow-wrap:anywhere}
ul.findings li{margin:.3em 0}code{overflow-wrap:anywhere}.fix{color:#060}
@media print{body{max-width:none;margin:0;font-size:10pt}details{display:none}h2,h3{break-after:avoid}table,svg{break-inside:avoid}a{color:inherit;text-decoration:none}}
</style></head><body>
<h1>natdoc {{.R.Command}} <small>{{.R.Version}}</small></h1>
{{with .R.Verdict}}<p><strong>{{.}}</strong></p>{{end}}
{{with .R.Capture}}<h2>Capture</h2><dl class="kv">
{{with .Files}}<dt>files</dt><dd>{{range $i, $f := .}}{{if $i}}, {{end}}{{$f}}{{end}}</dd>{{end}}
{{with .Live}}<dt>interface</dt><dd>{{.}}</dd>{{end}}
<dt>packets</dt><dd>{{.Packets}} ({{.Bytes}} bytes){{range .Counts}}; {{.Key}} {{.Value}}{{end}}</dd>
{{with span .}}<dt>time</dt><dd>{{.}}</dd>{{end}}
{{with .Vantage}}<dt>seen from</dt><dd>{{.}}</dd>{{end}}
{{range .Comments}}<dt>comment{{if .Frame}} (frame {{.Frame}}){{end}}</dt><dd>{{.Text}}</dd>{{end}}
{{range .Anomalies}}<dt class="warning">anomaly</dt><dd>{{.Count}} × {{.Kind}} <small>{{.Detail}}</small></dd>{{end}}{{with .CallsLeftOut}}<dt>not shown</dt><dd>{{.}} more calls judged and counted (--max-kept-calls; narrow with --host, --user, --verdict)</dd>{{end}}
</dl>{{end}}
{{if .R.Calls}}<h2>Calls</h2><table class="calls"><tr><th>call</th><th>start</th><th>parties</th><th>duration</th><th>verdict</th><th>RTP packets<br><small>audio (or fax), caller→callee / callee→caller</small></th><th>MOS<br><small>caller→callee / callee→caller</small></th></tr>
{{range .R.Calls}}<tr{{if problem .}} class="problem"{{end}}><td class="nw"><a href="#call-{{.ID}}">{{.ID}}</a></td><td class="nw">{{.Start.UTC.Format "15:04:05"}}</td><td class="wrap">{{party .Caller}} → {{party .Callee}}</td><td class="num">{{duration .}}</td><td class="{{.Verdict}}">{{verdictText .}}</td><td class="num">{{eachWay .}}</td><td class="num">{{mosEachWay .}}</td></tr>
{{end}}</table>
<p class="legend">{{range verdicts}}<span class="item"><span class="{{.V}}">{{.V}}</span>: {{.Text}}.</span> {{end}}MOS: estimated listening quality (1-4.5), “silent”: packets that carry no audio.</p>{{end}}
{{with .R.Registrations}}<h2>Registrations</h2><table class="registrations"><tr><th>account</th><th>from</th><th>registrar</th><th>result</th><th>REGISTERs</th><th>frames</th><th>findings</th></tr>
{{range .}}<tr{{if .Problem}} class="problem"{{end}}><td class="wrap">{{.AOR}}</td><td class="nw">{{.From}}{{with .SeenAs}}<br><small>seen as {{.}}</small>{{end}}{{with .EarlierMappings}}<br><small>before: {{range $i, $a := .}}{{if $i}}, {{end}}{{$a}}{{end}}</small>{{end}}</td><td class="nw">{{.Registrar}}{{with .Transport}} <small>{{.}}</small>{{end}}</td><td>{{bindingResult .}}</td><td class="num">{{.Requests}}</td><td class="num">{{.FirstFrame}}-{{.LastFrame}}</td><td>{{range $i, $f := .Findings}}{{if $i}}, {{end}}<code>{{$f}}</code>{{end}}</td></tr>
{{end}}</table>
{{end}}{{.Extra}}
{{.Details}}
{{if .R.Findings}}<h2>Findings</h2><ul class="findings">{{range .R.Findings}}<li><span class="{{.Severity}}">{{.Severity}}</span> {{.Title}} <code>{{.ID}}</code>
<ul>{{range .Evidence}}<li>{{.Text}}{{with frames .}} <small>{{.}}</small>{{end}}</li>{{end}}{{with .Remedy}}<li class="fix"><em>Fix:</em> {{.}}</li>{{end}}</ul></li>{{end}}</ul>{{end}}
{{if .R.Remedies}}<h2>Remedies</h2><ol>{{range .R.Remedies}}<li><strong>{{.Title}}</strong> {{.Detail}}</li>{{end}}</ol>{{end}}
<details><summary>Full text report</summary><pre>{{.Plain}}</pre></details>
</body></html>
`
