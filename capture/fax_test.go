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

// TestFaxToAudioPort: after the switch to T.38 the callee keeps sending its
// fax to the caller's audio port, not the T.38 port the caller named: the
// packets reach the caller's host but not its fax, so the fax is one-way
// (the caller cannot hear), the evidence says where the fax went, and the
// remedy is the fax's port, not the NAT's.
func TestFaxToAudioPort(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.FaxToAudioPort}}, pcapgen.Options{Seed: 6})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	if len(res.Calls) != 1 {
		t.Fatalf("calls %+v", res.Calls)
	}
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || !strings.HasPrefix(f.Title, "One-way T.38 fax: the caller ") || !strings.Contains(f.Evidence[0].Text, "the caller's audio port, not port 6") ||
		!strings.Contains(evidenceText(f), "T.38 (UDPTL)") || len(res.Remedies) == 0 || res.Remedies[0].ID != "t38-to-the-fax-port" {
		t.Errorf("finding %+v, remedies %+v", f, res.Remedies)
	}

	// The same fax sent to the port the caller named (kind fax) is two-way.
	path, truths = generate(t, []pcapgen.Call{{Kind: pcapgen.Fax}}, pcapgen.Options{Seed: 6})
	res = capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
}

// evidenceText joins a finding's evidence lines.
func evidenceText(f *report.Finding) string {
	var b strings.Builder
	for _, e := range f.Evidence {
		b.WriteString(e.Text + "\n")
	}
	return b.String()
}
