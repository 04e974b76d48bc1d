package report

import (
	"strings"
	"testing"
)

// TestLadderIPv6Headers: every hop is a column, and IPv6 addresses wrap
// under their column instead of running into the next one.
func TestLadderIPv6Headers(t *testing.T) {
	caller := "[fd17:625c:f037:2:a00:27ff:feb9:1521]:15060"
	proxy := "[fd17:625c:f037:2:a00:27ff:feb9:3519]:5062"
	callee := "[fd17:625c:f037:2:a00:27ff:feb9:4222]:25060"
	c := Call{
		Caller: Party{Role: "caller", SignalAddr: caller}, Callee: Party{Role: "callee", SignalAddr: callee},
		Legs: []CallLeg{{Caller: Party{Role: "caller", SignalAddr: caller}, Callee: Party{Role: "proxy", SignalAddr: proxy}},
			{Caller: Party{Role: "proxy", SignalAddr: proxy}, Callee: Party{Role: "callee", SignalAddr: callee}}},
		Messages: []SIPMessage{{Frame: 1, Src: caller, Dst: proxy, Summary: "INVITE"}, {Frame: 2, Src: proxy, Dst: callee, Summary: "INVITE"}},
	}
	out := Ladder(c)
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "caller") || !strings.Contains(lines[0], "proxy") || !strings.Contains(lines[0], "callee") {
		t.Errorf("no role line: %q", lines[0])
	}
	for _, l := range lines[1:3] {
		for _, f := range strings.Fields(l) {
			if len(f) > ladderColWidth-2 {
				t.Errorf("header %q wider than a column", f)
			}
		}
		if n := len(strings.Fields(l)); n != 3 {
			t.Errorf("header line %q has %d pieces, want one per column", l, n)
		}
	}
	if strings.Count(out, "INVITE") != 2 {
		t.Errorf("ladder:\n%s", out)
	}
	if svg := svgLadder(c); strings.Count(svg, "<tspan") != 9 {
		t.Errorf("SVG header lines: %d, want role + two address lines per column", strings.Count(svg, "<tspan"))
	}
}
