package capture

import (
	"context"
	"io"
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
	PcapReader         = pcapReader
	VerdictLines       = verdictLines
	LoopbackHEPSockets = loopbackHEPSockets
	MirrorSeed         = mirrorSeed
)

// RemedyAddressFamily is the remedy for media offered in an address
// family the peer does not use.
const RemedyAddressFamily = remedyAddressFamily

// BatchEvents is the pipeline's event batch size.
const BatchEvents = batchEvents

// AnalyzeWithPeaks analyses path and returns the result with the most calls
// and streams the analysis kept at once.
func AnalyzeWithPeaks(t testing.TB, path string) (res *Result, peakCalls, peakFlows int) {
	s := analyzeState(t, path)
	return s.result([]string{path}, ""), s.peakCalls, s.peakFlows
}

// SIPReads analyses path and returns how many SIP messages the fast path
// read and how many sipgo parsed.
func SIPReads(t testing.TB, path string) (fast, full uint64) {
	s := analyzeState(t, path)
	return s.sipr.fastReads, s.sipr.fullReads
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
	// A stream a TURN server relayed is also found by the addresses it had
	// on the wire between client and server, as tshark names it.
	for k, f := range flows {
		if !f.turn.server.IsValid() {
			continue
		}
		wire := flowKey{Src: f.turn.server, Dst: f.turn.client, SSRC: k.SSRC, RTCP: k.RTCP}
		if key, fromClient := s.side.dec.turn.relays[k.Src]; fromClient && key == f.turn {
			wire.Src, wire.Dst = f.turn.client, f.turn.server
		}
		flows[wire] = f
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
// RetainedHeapStreamed is RetainedHeap for an analysis whose calls go, as
// they are judged, to the text report written to io.Discard (natdoc
// analyze's text output): its live heap with the report's writer, and
// how many calls went to it.
func RetainedHeapStreamed(t testing.TB, path string) (heap uint64, finished int) {
	t.Helper()
	s := newState()
	cw, err := report.NewCallWriter(io.Discard, report.Options{Format: report.FormatText})
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.Begin(report.New("analyze", "test")); err != nil {
		t.Fatal(err)
	}
	s.ordered = newOrderedCalls(func(c report.Call) error { finished++; return cw.Call(c) }, nil)
	if err := analyzeFiles(context.Background(), s, Options{Files: []string{path}}, 0); err != nil {
		t.Fatal(err)
	}
	return liveHeap(s, cw), finished
}

// liveHeap is the live heap after a collection, with what it is given
// kept alive until then.
func liveHeap(alive ...any) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(alive)
	return ms.HeapAlloc
}

func RetainedHeap(t testing.TB, path string, detail bool) (heap uint64, finished int) {
	t.Helper()
	s := newState()
	s.setDetail(detail)
	if err := analyzeFiles(context.Background(), s, Options{Files: []string{path}}, 0); err != nil {
		t.Fatal(err)
	}
	return liveHeap(s), s.done.len()
}
