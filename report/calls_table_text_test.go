package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// fitReport has what makes the calls table wide: long names, IPv6
// parties, every verdict, long findings.
func fitReport() *Report {
	r := sampleReport()
	t0 := r.Capture.First
	r.Calls = append(r.Calls,
		Call{ID: "C3", CallID: "v6", Caller: Party{User: "sipp", Host: "[fd17:625c:f037:2:a00:27ff:feb9:1521]"},
			Callee: Party{User: "mcr", Host: "[fd17:625c:f037:2:a00:27ff:feb9:3519]"}, Start: t0.Add(61 * time.Second),
			End: t0.Add(226 * time.Second), Verdict: VerdictIncompleteCapture},
		Call{ID: "C4", CallID: "long", Caller: Party{User: "1bdaa608131517540000", Host: "customer-gateway-17.voice.example.net"},
			Callee: Party{User: "+4930123456789", Host: "10.15.193.31"}, Start: t0.Add(62 * time.Second),
			End: t0.Add(63 * time.Second), Verdict: VerdictNoMediaExpected, Status: 200},
		Call{ID: "C5", CallID: "busy", Caller: Party{User: "102"}, Callee: Party{User: "202"}, Start: t0.Add(64 * time.Second),
			End: t0.Add(65 * time.Second), Verdict: VerdictNotAnswered, Status: 486,
			NotAnswered: &NotAnswered{Reason: NotAnsweredRejected, Status: 486}},
		Call{ID: "C6", CallID: "announce", Caller: Party{User: "103"}, Callee: Party{User: "ivr"}, Start: t0.Add(66 * time.Second),
			End: t0.Add(76 * time.Second), Verdict: VerdictOneWayNegotiated},
	)
	return r
}

func TestCallsTableFitsWidth(t *testing.T) {
	for _, width := range []int{80, 120, 200} {
		for _, color := range []struct {
			name string
			mode ColorMode
		}{{"plain", ColorNever}, {"tty", ColorAlways}} {
			name := fmt.Sprintf("text-%d-%s", width, color.name)
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, fitReport(), Options{Format: FormatText, Color: color.mode, Width: width}); err != nil {
					t.Fatal(err)
				}
				golden(t, name, buf.Bytes())
				for i, line := range strings.Split(buf.String(), "\n") {
					if w := ansi.StringWidth(line); w > width && !isUnbreakable(line, width) {
						t.Errorf("line %d is %d columns wide, more than %d:\n%s", i+1, w, width, line)
					}
				}
			})
		}
	}
}

// isUnbreakable: a line may pass the width only when one word alone is
// wider than the width (natdoc never cuts a word).
func isUnbreakable(line string, width int) bool {
	for _, w := range strings.Fields(ansi.Strip(line)) {
		if ansi.StringWidth(w) > width-10 {
			return true
		}
	}
	return false
}

func TestCallsTableDropsColumnsInOrder(t *testing.T) {
	rows := []callsRow{newCallsRow(fitReport().Calls[0]), newCallsRow(fitReport().Calls[3])}
	var prev callsLayout
	for width := 200; width >= 40; width-- {
		l, parties := fitCalls(rows, width)
		for col := range numCallsCols {
			if prev.dropped[col] && !l.dropped[col] {
				t.Errorf("width %d: column %d comes back after it was left out at a wider width", width, col)
			}
		}
		if prev.short && !l.short {
			t.Errorf("width %d: headers long again", width)
		}
		if l.dropped[colRTP] && !l.dropped[colStart] || l.dropped[colStart] && !l.dropped[colDuration] {
			t.Errorf("width %d: columns left out out of order: %+v", width, l.dropped)
		}
		if parties < leastParties {
			t.Errorf("width %d: parties %d columns", width, parties)
		}
		prev = l
	}
}

func TestFitName(t *testing.T) {
	for _, tc := range []struct {
		p     Party
		width int
		want  string
	}{
		{Party{User: "100", Host: "pbx.example.org"}, 40, "100@pbx.example.org"},
		{Party{User: "100", Host: "pbx.example.org"}, 17, "100@pbx.ex…le.org"},
		{Party{User: "100", Host: "pbx.example.org"}, 12, "100"},
		{Party{User: "sipp", Host: "[fd17:625c:f037:2:a00:27ff:feb9:1521]"}, 30, "sipp@[fd17:625c:…:feb9:1521]"},
		{Party{Host: "200.57.7.195"}, 9, "200.….195"},
		{Party{User: "1bdaa608131517540000"}, 9, "1bda…0000"},
	} {
		if got := fitName(tc.p, tc.width); got != tc.want {
			t.Errorf("fitName(%+v, %d) = %q, want %q", tc.p, tc.width, got, tc.want)
		}
		if got := fitName(tc.p, tc.width); cellWidth(got) > tc.width {
			t.Errorf("fitName(%+v, %d) = %q: wider than asked", tc.p, tc.width, got)
		}
	}
}

func TestPartiesCellShares(t *testing.T) {
	short, long := Party{User: "101"}, Party{User: "customer", Host: "gateway.voice.example.net"}
	if got := partiesCell(short, long, 30); got != "101 → customer@gateway…ple.net" {
		t.Errorf("partiesCell = %q: the short name should leave its room to the long one", got)
	}
	if got := partiesCell(long, long, 24); cellWidth(got) > 24 {
		t.Errorf("partiesCell = %q: wider than 24", got)
	}
}

// TestCellWidthFastPaths: the widths and shortenings worked out without
// ansi equal ansi's own.
func TestCellWidthFastPaths(t *testing.T) {
	for _, s := range []string{"", "C1", "100@natdoc.test → gw@natdoc.test", "50096@natdo…test → gw", "→…→",
		"x\u0301 → y", "电话 → 100", "\x1b[31mred\x1b[0m → b", "tab\there", "…\u0301"} {
		if got, want := cellWidth(s), ansi.StringWidth(s); got != want {
			t.Errorf("cellWidth(%q) = %d, ansi says %d", s, got, want)
		}
	}
	for _, s := range []string{"natdoc.example.test", "pbx.example.org", "ab"} {
		for width := 2; width <= len(s); width++ {
			tail := (width - 1) / 2
			want := ansi.Truncate(s, width-1-tail, "") + "…" + ansi.TruncateLeft(s, len(s)-tail, "")
			if width >= len(s) {
				want = s
			}
			if got := middleEllipsis(s, width); got != want {
				t.Errorf("middleEllipsis(%q, %d) = %q, want %q", s, width, got, want)
			}
		}
	}
}

// TestCountsVerdictStreams: the calls table's packets and MOS are of the
// streams the verdict counts (the audio of a video call, the fax once
// T.38 decided), not of every stream; a report that marks none counts
// all, as before InVerdict.
func TestCountsVerdictStreams(t *testing.T) {
	flow := func(dir string, packets uint64, mos float64) RTPFlow {
		return RTPFlow{Direction: dir, Packets: packets, Quality: &StreamQuality{MOS: mos}}
	}
	audio := MediaStream{Media: "audio", InVerdict: true, Flows: []RTPFlow{flow(dirForward, 611, 4.1)}}
	video := MediaStream{Index: 1, Media: "video", Flows: []RTPFlow{flow(dirForward, 900, 0), flow(dirBack, 700, 0)}}
	c := Call{Streams: []MediaStream{audio, video}}
	if got := packetsEachWay(c); got != "611 / 0" {
		t.Errorf("audio and video: packets %q, want the audio's 611 / 0", got)
	}
	if f := MainFlow(c, dirForward); f == nil || f.Packets != 611 {
		t.Errorf("audio and video: main flow %+v, want the audio's", f)
	}
	if f := MainFlow(c, dirBack); f != nil {
		t.Errorf("audio and video: main flow back %+v, want none (no audio came back)", f)
	}
	c.Streams[0].InVerdict = false
	if got := packetsEachWay(c); got != "1511 / 700" {
		t.Errorf("no stream marked: packets %q, want every stream's 1511 / 700", got)
	}
}
