package capture_test

import (
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestFaxOneWayNamed: a call whose audio flowed both ways and whose T.38
// fax then flowed one way is one-way for its fax, and says so: the title
// names the fax, the evidence counts its UDPTL packets, not the audio's.
func TestFaxOneWayNamed(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.FaxOneWay}}, pcapgen.Options{Seed: 5})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || !strings.HasPrefix(f.Title, "One-way T.38 fax: ") || !strings.HasPrefix(f.Evidence[0].Text, "no T.38 (UDPTL) from the caller to the callee was seen") ||
		f.Evidence[0].Values[0].Value != "0" {
		t.Errorf("finding %+v", f)
	}
}
