package capture_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestCaptureOnNAT: the capture TestLabCaptureOnNAT took on r1 (tcpdump
// -i any): each packet twice, before and after the NAT. One call, one
// leg, one-way (the phone leaked its private address), its RTP counted
// once (the 401 packets the phone sent, not 802), one one-way finding,
// and the vantage names the NAT's mapping.
func TestCaptureOnNAT(t *testing.T) {
	res := capture.AnalyzePath(t, filepath.Join("..", "testdata", "natlab-capture-on-nat.pcap"))
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	pkts, _ := capture.DirectionCounts(c)
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" || len(c.Legs) > 1 || pkts != [2]uint64{401, 0} {
		t.Errorf("%s (%q), %d legs, RTP %v; want one-way, caller, one leg, [401 0]", c.Verdict, c.CannotHear, len(c.Legs), pkts)
	}
	oneWay := 0
	for _, f := range c.Findings {
		if f.ID == "one-way-audio" {
			oneWay++
		}
	}
	if oneWay != 1 {
		t.Errorf("%d one-way-audio findings, want 1: %v", oneWay, capture.FindingIDs(c))
	}
	if !strings.Contains(res.Capture.Vantage, "taken on a NAT itself, both its sides (it translates 192.168.1.10 to 203.0.113.1)") {
		t.Errorf("vantage %q", res.Capture.Vantage)
	}
}
