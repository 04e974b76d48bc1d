package report

import (
	"fmt"
	"strings"
)

// maxStreamCalls bounds the per-call stream tables of the Markdown and
// HTML reports: a capture of thousands of calls gets them for its problem
// calls first, then for the others up to this many.
const maxStreamCalls = 50

// callsToDraw picks the calls whose detail a report draws: problem calls
// first, then the rest, at most maxStreamCalls, each list in capture order.
func callsToDraw(calls []Call) []Call {
	var out []Call
	for pass := 0; pass < 2; pass++ {
		for _, c := range calls {
			if len(out) == maxStreamCalls {
				return out
			}
			if (pass == 0) == CallHasProblem(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// writeMDStreams writes, per call with RTP, a table of its streams with
// their quality figures.
func writeMDStreams(b *strings.Builder, calls []Call) {
	drawn := 0
	for _, c := range callsToDraw(calls) {
		rows := streamRows(c.Streams)
		if len(rows) == 0 {
			continue
		}
		if drawn == 0 {
			b.WriteString("## RTP streams\n\n")
		}
		drawn++
		fmt.Fprintf(b, "### Call %s (%s)\n\n| %s |\n|%s\n", c.ID, mdEscape(c.CallID), strings.Join(streamHeaders, " | "),
			strings.Repeat("---|", len(streamHeaders)))
		for _, row := range rows {
			for i := range row {
				row[i] = mdEscape(row[i])
			}
			fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
		}
		b.WriteString("\n")
	}
	if n := len(calls) - len(callsToDraw(calls)); n > 0 && drawn > 0 {
		fmt.Fprintf(b, "%d more calls not listed (the JSON report has every stream).\n\n", n)
	}
}

// streamHeaders are the columns of a per-stream quality table.
var streamHeaders = []string{"direction", "from → to", "codec", "packets", "lost", "late", "dup", "jitter mean / max ms", "max gap ms", "MOS", "level dBov mean / peak", "RTCP"}

// streamRows are the RTP flows of streams as rows under streamHeaders.
func streamRows(streams []MediaStream) [][]string {
	var rows [][]string
	for _, s := range streams {
		for _, f := range s.Flows {
			if f.RTCP || f.Quality == nil {
				continue
			}
			q := f.Quality
			to := f.Dst
			switch {
			case f.Refused != "":
				to += " (refused)"
			case f.Unreachable:
				to += " (unreachable)"
			}
			mos, level := "-", "-"
			if q.MOS > 0 {
				mos = fmt.Sprintf("%.2f", q.MOS)
			}
			if l := q.Level; l != nil {
				level = fmt.Sprintf("%.0f / %.0f", l.MeanDBov, l.PeakDBov)
				if l.Silent {
					level += " silent"
				}
			}
			rows = append(rows, []string{strings.Replace(f.Direction, "->", "→", 1), f.Src + " → " + to, orDash(q.Codec), fmt.Sprint(f.Packets),
				fmt.Sprintf("%d (%.1f%%)", f.Lost, q.LossPct), fmt.Sprint(q.OutOfOrder), fmt.Sprint(q.Duplicates),
				fmt.Sprintf("%.2f / %.2f", q.JitterMeanMs, q.JitterMaxMs), fmt.Sprintf("%.0f", f.MaxGapMs), mos, level, strings.TrimPrefix(stripANSI(rtcpText(f.Reports)), "RTCP: ")})
		}
	}
	return rows
}
