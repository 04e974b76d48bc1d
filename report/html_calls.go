package report

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// The drawings of one call in the HTML report (quality_html.go places
// them): its legs, its SIP ladder and its RTP timeline each way.

func esc(s string) string { return html.EscapeString(s) }

// htmlLegs lists the hops of a call seen at a proxy or B2BUA, each with
// its verdict.
func htmlLegs(c Call) string {
	if len(c.Legs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<ol class=\"legs\">\n")
	for _, l := range c.Legs {
		v := verdictText(Call{Verdict: l.Verdict, CannotHear: l.CannotHear, NotAnswered: l.NotAnswered})
		fmt.Fprintf(&b, "<li>%s → %s: <span class=\"%s\">%s</span> <small>%s</small></li>\n",
			esc(partyLabel(l.Caller)), esc(partyLabel(l.Callee)), esc(string(l.Verdict)), esc(v), esc(l.Explain))
	}
	b.WriteString("</ol>\n")
	return b.String()
}

// svgLadder draws one column per signalling address and one arrow per
// message.
func svgLadder(c Call) string {
	cols := ladderColumns(c)
	if len(cols) == 0 {
		return ""
	}
	// A header line holds 30 characters of 11 px monospace (about 6.6 px
	// each); longer addresses (IPv6) wrap onto more lines.
	const colW, rowH, left, lineH, headChars = 220, 22, 70, 13, 30
	roles := ladderRoles(c)
	heads := make([][]string, len(cols))
	lines := 1
	for i, a := range cols {
		heads[i] = wrapAddr(a, headChars)
		if r := roles[a]; r != "" {
			heads[i] = append([]string{r}, heads[i]...)
		}
		lines = max(lines, len(heads[i]))
	}
	top := 20 + lines*lineH
	width := left + len(cols)*colW
	height := top + len(c.Messages)*rowH + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="11">`, width, height)
	b.WriteString(`<defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>`)
	for i, a := range cols {
		x := left + i*colW + colW/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold"><title>%s</title>`, x, 16, esc(a))
		for k, line := range heads[i] {
			fmt.Fprintf(&b, `<tspan x="%d" dy="%d">%s</tspan>`, x, min(k, 1)*lineH, esc(line))
		}
		b.WriteString(`</text>`)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, x, top-8, x, height)
	}
	for i, m := range c.Messages {
		y := top + i*rowH + rowH/2
		x1 := left + indexOf(cols, m.Src)*colW + colW/2
		x2 := left + indexOf(cols, m.Dst)*colW + colW/2
		label := m.Summary
		if m.HasSDP {
			label += " (SDP)"
		}
		color := "#06c"
		if strings.HasPrefix(m.Summary, "4") || strings.HasPrefix(m.Summary, "5") || strings.HasPrefix(m.Summary, "6") {
			color = "#c00"
		}
		ts := ""
		if !c.Start.IsZero() {
			ts = fmt.Sprintf("%.3f", m.Time.Sub(c.Start).Seconds())
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" fill="#666">%s #%d</text>`, y+4, ts, m.Frame)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" marker-end="url(#a)"/>`, x1, y, x2, y, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, (x1+x2)/2, y-3, color, esc(label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// svgTimeline draws one lane per direction with a bar per time step whose
// height is the RTP packet count, over the call's whole span.
func svgTimeline(c Call) string {
	start, end := c.Start, c.End
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if !f.First.IsZero() && (start.IsZero() || f.First.Before(start)) {
				start = f.First
			}
			if f.Last.After(end) {
				end = f.Last
			}
		}
	}
	span := end.Sub(start)
	if span <= 0 {
		return ""
	}
	const width, laneH, left = 800, 40, 130
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`, left+width+10, 2*laneH+30)
	timeAxis(&b, span, left, width, 2, laneH) // timeline_axis.go
	for lane, dir := range []string{"caller->callee", "callee->caller"} {
		y := lane * laneH
		fmt.Fprintf(&b, `<text x="0" y="%d">%s</text><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>`, y+laneH/2+4, dir, left, y+laneH-2, left+width, y+laneH-2)
		peak := lanePeakRate(c, dir)
		rateScale(&b, peak, left, width, y)
		for _, s := range c.Streams {
			for _, f := range s.Flows {
				if f.Direction != dir || f.RTCP || f.TimelineStepMs <= 0 {
					continue
				}
				drawFlowBars(&b, f, start, span, left, width, y, laneH, peak)
			}
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// drawFlowBars draws a flow's packets per step as bars scaled to the
// lane's peak rate (packets per second).
func drawFlowBars(b *strings.Builder, f RTPFlow, start time.Time, span time.Duration, left, width, y, laneH int, peakRate float64) {
	step := time.Duration(f.TimelineStepMs) * time.Millisecond
	if peakRate <= 0 {
		return
	}
	color := "#080"
	if f.Unreachable {
		color = "#c00" // sent, but to an address it cannot arrive at
	}
	for i, v := range f.Timeline {
		if v == 0 {
			continue
		}
		t0 := f.First.Add(time.Duration(i) * step).Sub(start)
		x := left + int(float64(width)*float64(t0)/float64(span))
		w := max(1, int(float64(width)*float64(step)/float64(span)))
		h := max(1, int(float64(laneH-6)*float64(v)/step.Seconds()/peakRate))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%d packets %s → %s</title></rect>`,
			x, y+laneH-2-h, w, h, color, v, esc(f.Src), esc(f.Dst))
	}
}
