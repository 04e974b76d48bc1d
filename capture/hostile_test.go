package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// Hostile captures (internal/pcapgen), small: the state limits hold and
// what they turn away is counted. bench/hostile.sh runs them at full size
// and measures memory.

func writeHostile(t *testing.T, write func(f *os.File) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hostile.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func anomalyCount(res *capture.Result, kind string) uint64 {
	for _, a := range res.Capture.Anomalies {
		if a.Kind == kind {
			return a.Count
		}
	}
	return 0
}

func analyzeHostile(t *testing.T, path string, l capture.Limits) *capture.Result {
	t.Helper()
	res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Limits: l})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestHostileCallFlood: 3,000 INVITEs with new Call-IDs that never end,
// with room for 1,000 calls: 1,000 are followed and judged, the other
// 2,000 counted as calls-not-followed.
func TestHostileCallFlood(t *testing.T) {
	path := writeHostile(t, func(f *os.File) error { return pcapgen.WriteCallFlood(f, 3000) })
	res := analyzeHostile(t, path, capture.Limits{Calls: 1000})
	if len(res.Calls) != 1000 || anomalyCount(res, "calls-not-followed") != 2000 {
		t.Errorf("%d calls, %d not followed; want 1000 and 2000", len(res.Calls), anomalyCount(res, "calls-not-followed"))
	}
	for _, c := range res.Calls[:3] {
		if c.Verdict == report.VerdictTwoWay {
			t.Errorf("an INVITE never answered judged %s", c.Verdict)
		}
	}
	if res := analyzeHostile(t, path, capture.Limits{}); len(res.Calls) != 3000 {
		t.Errorf("with the default limit %d calls, want all 3000", len(res.Calls))
	}
}

// TestHostileFragmentFlood: 5,000 first fragments whose datagrams never
// complete, with room for 1,000 held: each time the limit is met the
// 1,000 held are dropped and counted (4,000 in all; the last 1,000 are
// still held when the capture ends).
func TestHostileFragmentFlood(t *testing.T) {
	path := writeHostile(t, func(f *os.File) error { return pcapgen.WriteFragmentFlood(f, 5000) })
	res := analyzeHostile(t, path, capture.Limits{Fragments: 1000})
	if got := anomalyCount(res, "ip-fragments-dropped"); got != 4000 {
		t.Errorf("%d fragments dropped, want 4000: %+v", got, res.Capture.Anomalies)
	}
}

// TestHostileEndlessTCP: a SIP message over TCP that never ends (2 MB of
// header lines) keeps at most 64 KiB and is reported as too large, once;
// the rest of it is skipped, not read as 1,400 broken messages.
func TestHostileEndlessTCP(t *testing.T) {
	path := writeHostile(t, func(f *os.File) error { return pcapgen.WriteEndlessTCP(f, 2<<20) })
	res := analyzeHostile(t, path, capture.Limits{})
	if anomalyCount(res, "sip-message-too-large") != 1 || anomalyCount(res, "malformed-sip") != 0 || len(res.Calls) != 0 {
		t.Errorf("anomalies %+v, %d calls; want one sip-message-too-large, its rest skipped, and no call", res.Capture.Anomalies, len(res.Calls))
	}
}
