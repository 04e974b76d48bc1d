package capture_test

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestHungUpAtOnce: a call hung up the moment it was answered leaves no
// time for RTP to begin; the direction that did not start yet is no
// one-way audio. The same call held for seconds is one.
func TestHungUpAtOnce(t *testing.T) {
	for _, tc := range []struct {
		media time.Duration
		want  report.Verdict
	}{
		{500 * time.Millisecond, report.VerdictIncompleteCapture}, // BYE 0.62 s after the 200 OK
		{4 * time.Second, report.VerdictOneWay},
	} {
		path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.LeakCaller, Media: tc.media}}, pcapgen.Options{Seed: 3})
		res := capture.AnalyzePath(t, path)
		if len(res.Calls) != 1 {
			t.Fatalf("%d calls, want 1", len(res.Calls))
		}
		c := res.Calls[0]
		if c.Verdict != tc.want {
			t.Errorf("media %s: verdict %s (%s), want %s", tc.media, c.Verdict, c.Explain, tc.want)
		}
		if tc.want == report.VerdictIncompleteCapture && !strings.Contains(c.Explain, "the caller hung up 620ms after the answer") {
			t.Errorf("media %s: explained %q", tc.media, c.Explain)
		}
	}
}
