package capture_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
)

// steppedCapture copies path with every record from the n-th on moved
// step later: a capture whose clock was set while it ran.
func steppedCapture(t *testing.T, path string, n int, step time.Duration) string {
	k := 0
	return rewriteCapture(t, path, func(data []byte, ci *gopacket.CaptureInfo) []byte {
		if k >= n {
			ci.Timestamp = ci.Timestamp.Add(step)
		}
		k++
		return data
	})
}

// TestClockSetMidCapture: a device without a real-time clock starts its
// capture in 1970 and gets the time from NTP while calls are up; another
// booted with a date in 2038 and learns the time the other way. The calls
// are judged as on a steady clock, and the step is an anomaly, once;
// without it every call in progress would time out at a step forward,
// and the packets after a step back would fall before their calls.
func TestClockSetMidCapture(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		base time.Time
	}{
		{"forward from 1970", time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)}, // pcapgen writes some packets before its base
		{"back from 2038", time.Date(2038, 1, 2, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 5, Base: tc.base})
			steady := capture.AnalyzePath(t, path)
			checkTruth(t, steady, truths)
			stepped := capture.AnalyzePath(t, steppedCapture(t, path, 200, now.Sub(tc.base)))
			if len(stepped.Calls) != len(steady.Calls) {
				t.Fatalf("%d calls after the clock step, %d on a steady clock", len(stepped.Calls), len(steady.Calls))
			}
			sameCalls(t, "after the step", stepped.Calls, steady.Calls)
			for i, c := range steady.Calls {
				s := stepped.Calls[i]
				// Times after the step are shifted by all of it but a
				// millisecond (fragments and SCTP too, which take another
				// path).
				if d := s.Start.Sub(c.Start); d < 0 || d > time.Second {
					t.Errorf("%s (%s): starts at %s after the step, %s on a steady clock", c.ID, c.CallID, s.Start, c.Start)
				}
			}
			steps := 0
			for _, a := range stepped.Capture.Anomalies {
				if a.Kind == "clock-jump" {
					steps += int(a.Count)
				}
			}
			if steps != 1 {
				t.Errorf("%d clock-jump anomalies, want 1: %+v", steps, stepped.Capture.Anomalies)
			}
		})
	}
}

// TestDaysBetweenCalls: a capture that records only during calls (a
// router's call trace) or runs for days has gaps of days between calls
// that all ended. That is time that passed, not a clock set: no anomaly,
// and the later calls keep their own times (0xSp3ctra/RTP-PARSING's trace
// of three carrier calls over three days had its last two moved back 73
// hours).
func TestDaysBetweenCalls(t *testing.T) {
	later := 73 * time.Hour
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal}, {Kind: pcapgen.LeakCallee, Start: later}}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, a := range res.Capture.Anomalies {
		if a.Kind == "clock-jump" {
			t.Errorf("clock-jump anomaly across days between ended calls: %+v", a)
		}
	}
	if len(res.Calls) == 2 {
		if gap := res.Calls[1].Start.Sub(res.Calls[0].Start); gap < later-time.Minute || gap > later+time.Minute {
			t.Errorf("the second call starts %s after the first, want about %s", gap, later)
		}
	}
}
