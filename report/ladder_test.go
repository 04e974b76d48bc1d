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

// TestCallDetailNamesTheStreamsLeg: a call seen across a B2BUA shows the
// media of one leg; the detail says which, and names that leg's SDP by
// who sent it (the B2BUA), not by the call's own callee.
func TestCallDetailNamesTheStreamsLeg(t *testing.T) {
	caller, b2bua, callee := Party{Role: "caller", User: "1001", SignalAddr: "198.51.100.7:5060"},
		Party{Role: "b2bua", Host: "10.154.0.3", SignalAddr: "10.154.0.3:5060"}, Party{Role: "callee", User: "1003", SignalAddr: "198.51.100.7:5062"}
	streams := []MediaStream{{Media: "audio", Verdict: VerdictTwoWay,
		Offer:  &MediaDescription{Party: "caller", Frame: 1, Addr: "198.51.100.7:4000"},
		Answer: &MediaDescription{Party: "callee", Frame: 13, Addr: "34.105.179.44:16728"}}}
	r := &Report{Calls: []Call{{ID: "C1", Caller: caller, Callee: callee, Verdict: VerdictTwoWay, Streams: streams, StreamsLeg: 1,
		Legs: []CallLeg{{Caller: caller, Callee: b2bua, Streams: streams}, {Caller: b2bua, Callee: callee}}}}}
	plain := plainText(RenderText(r, Options{CallID: "C1"}))
	for _, want := range []string{"media on leg 1, caller 1001 → b2bua 10.154.0.3", "b2bua  SDP (frame 13) receive at 34.105.179.44:16728", "caller SDP (frame 1)"} {
		if !strings.Contains(plain, want) {
			t.Errorf("missing %q in:\n%s", want, plain)
		}
	}
}
