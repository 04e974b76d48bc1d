package capture

import (
	"context"
	"net/netip"
	"runtime"
	"testing"

	"github.com/natdoc/natdoc/report"
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
)

// BatchEvents is the pipeline's event batch size.
const BatchEvents = batchEvents

// AnalyzeWithPeaks analyses path and returns the result with the most calls
// and streams the analysis kept at once.
func AnalyzeWithPeaks(t testing.TB, path string) (res *Result, peakCalls, peakFlows int) {
	s := analyzeState(t, path)
	return s.result([]string{path}, ""), s.peakCalls, s.peakFlows
}

// StreamCounts analyses path and returns a lookup of every RTP stream's
// packets and RFC 3550 loss: those the calls claimed and those left over.
func StreamCounts(t testing.TB, path string) func(src, dst netip.AddrPort, ssrc uint32) (packets uint64, lost int64, ok bool) {
	s := analyzeState(t, path)
	type count struct {
		packets uint64
		lost    int64
	}
	counts := map[flowKey]count{}
	for k, f := range s.flows {
		counts[k] = count{f.Packets, f.Lost()}
	}
	add := func(streams []report.MediaStream) {
		for _, st := range streams {
			for _, f := range st.Flows {
				k := flowKey{Src: netip.MustParseAddrPort(f.Src), Dst: netip.MustParseAddrPort(f.Dst), SSRC: f.SSRCs[0], RTCP: f.RTCP}
				counts[k] = count{f.Packets, f.Lost}
			}
		}
	}
	for _, c := range s.result([]string{path}, "").Calls {
		add(c.Streams)
		for _, l := range c.Legs {
			add(l.Streams)
		}
		for _, e := range c.EarlyDialogs {
			add(e.Streams)
		}
	}
	return func(src, dst netip.AddrPort, ssrc uint32) (uint64, int64, bool) {
		c, ok := counts[flowKey{Src: src, Dst: dst, SSRC: ssrc}]
		return c.packets, c.lost, ok
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
