package capture

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
)

// Hooks for the tests of package capture_test. Those tests generate
// captures with internal/pcapgen, which refers to capture's finding IDs, so
// tests inside package capture cannot import it.
var (
	AnalyzePath        = analyzePath
	DirectionCounts    = directionCounts
	HasFinding         = hasFinding
	FindingIDs         = findingIDs
	RecordOffsets      = recordOffsets
	AnalyseInBatches   = analyseInBatches
	RTPPathAllocations = rtpPathAllocations
	RealPcapDirOrEmpty = realPcapDirOrEmpty
	PcapReader         = pcapReader
)

// BatchEvents is the pipeline's event batch size.
const BatchEvents = batchEvents

// AnalyzeWithPeaks analyses path and returns the result with the most calls
// and streams the analysis kept at once.
func AnalyzeWithPeaks(t testing.TB, path string) (res *Result, peakCalls, peakFlows int) {
	s := analyzeState(t, path)
	return s.result([]string{path}, ""), s.peakCalls, s.peakFlows
}

// StreamStats are one RTP stream's figures as the analysis counted them.
type StreamStats struct {
	Packets uint64
	Lost    int64 // RFC 3550 A.3
	// MaxDeltaMs, JitterMeanMs and JitterMaxMs unrounded (quality.go).
	MaxDeltaMs, JitterMeanMs, JitterMaxMs float64
}

// StreamCounts analyses path and returns a lookup of every RTP stream's
// figures: those the calls claimed and those left over.
func StreamCounts(t testing.TB, path string) func(src, dst netip.AddrPort, ssrc uint32) (StreamStats, bool) {
	t.Helper()
	s := newState()
	s.setDetail(true)
	flows := map[flowKey]*rtpFlow{}
	s.flowDone = func(f *rtpFlow) { flows[f.Key] = f }
	if err := analyzeFiles(context.Background(), s, Options{Files: []string{path}}, 0); err != nil {
		t.Fatal(err)
	}
	s.finishCalls()
	for k, f := range s.flows {
		flows[k] = f
	}
	return func(src, dst netip.AddrPort, ssrc uint32) (StreamStats, bool) {
		f := flows[flowKey{Src: src, Dst: dst, SSRC: ssrc}]
		if f == nil {
			return StreamStats{}, false
		}
		return StreamStats{Packets: f.Packets, Lost: f.Lost(), MaxDeltaMs: float64(f.q.MaxDelta().Nanoseconds()) / 1e6,
			JitterMeanMs: f.q.JitterMeanMs(), JitterMaxMs: f.q.JitterMaxMs()}, true
	}
}

// RetainedHeap analyses path up to its last packet and returns the live
// heap then, with the analysis state alive, and how many calls finished.
func RetainedHeap(t testing.TB, path string, detail bool) (heap uint64, finished int) {
	t.Helper()
	s := newState()
	s.setDetail(detail)
	if err := analyzeFiles(context.Background(), s, Options{Files: []string{path}}, 0); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s)
	return ms.HeapAlloc, s.done.len()
}
