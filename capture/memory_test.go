package capture_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestDetailAddsOnlyWhatCallViewsDraw: without Options.Detail every call
// is judged and reported as with it, minus what only a call's own view
// draws: the SIP message list, the SDP media descriptions, the RTCP flows
// and the RTP flows' packet timelines.
func TestDetailAddsOnlyWhatCallViewsDraw(t *testing.T) {
	// Every scenario, and a call long enough to send RTCP (every 5 s).
	calls := append(pcapgen.AllKinds(), pcapgen.Call{Kind: pcapgen.Normal, Start: time.Minute, Media: 12 * time.Second})
	path, _ := generate(t, calls, pcapgen.Options{Seed: 1})
	full, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	compact, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	var n detailCounts
	for i := range full.Calls {
		c := &full.Calls[i]
		n.messages += len(c.Messages)
		c.Messages = nil
		n.strip(c.Streams)
		for j := range c.Legs {
			n.strip(c.Legs[j].Streams)
		}
		for j := range c.EarlyDialogs {
			n.strip(c.EarlyDialogs[j].Streams)
		}
	}
	messages, timelines, descriptions, rtcp := n.messages, n.timelines, n.descriptions, n.rtcp
	if messages == 0 || timelines == 0 || descriptions == 0 || rtcp == 0 {
		t.Fatalf("detailed analysis has %d messages, %d timeline steps, %d media descriptions and %d RTCP flows; want some of each",
			messages, timelines, descriptions, rtcp)
	}
	if !reflect.DeepEqual(full, compact) {
		t.Errorf("results differ beyond messages and timelines:\nfull    %+v\ncompact %+v", full.Calls, compact.Calls)
	}
}

// detailCounts counts what only the detailed views draw.
type detailCounts struct{ messages, timelines, descriptions, rtcp int }

// strip removes from streams, in place, what only the detailed views draw,
// counting it.
func (n *detailCounts) strip(streams []report.MediaStream) {
	for j := range streams {
		s := &streams[j]
		if s.Offer != nil || s.Answer != nil {
			n.descriptions++
		}
		s.Offer, s.Answer = nil, nil
		var flows []report.RTPFlow
		for _, f := range s.Flows {
			n.timelines += len(f.Timeline)
			if f.RTCP {
				n.rtcp++
				continue
			}
			f.Timeline, f.TimelineStepMs = nil, 0
			flows = append(flows, f)
		}
		s.Flows = flows
	}
}

// sequentialCalls is a long capture's worth of calls, about 5 in progress at
// once, every tenth one-way as in bench/analyze.sh.
func sequentialCalls(n int) []pcapgen.Call {
	calls := make([]pcapgen.Call, n)
	for i := range calls {
		kind := pcapgen.Normal
		if i%10 == 9 {
			kind = pcapgen.LeakCaller
		}
		calls[i] = pcapgen.Call{Kind: kind, Start: time.Duration(i) * 500 * time.Millisecond, Media: 2 * time.Second}
	}
	return calls
}

// retainedHeap analyses a generated capture of n calls up to its last
// packet and returns the live heap then, with the analysis state alive:
// the finished calls' results plus the calls still in progress (those of
// the last 40 s or so, judged only at the end), and how many finished.
func retainedHeap(t *testing.T, n int, detail bool) (heap uint64, finished int) {
	t.Helper()
	path, _ := generate(t, sequentialCalls(n), pcapgen.Options{Seed: 4})
	heap, finished = capture.RetainedHeap(t, path, detail)
	if finished < n/2 {
		t.Fatalf("only %d of %d calls finished before the capture's end", finished, n)
	}
	return heap, finished
}

// maxBytesPerFinishedCall bounds what a finished call keeps when the run
// draws no single call: its row in the calls table, verdict, RTP counts and
// findings. Measured 2.8-2.9 KB (4.9-5.0 KB kept whole, with the ladder, SDP, RTCP
// flows and timelines of these 2 s calls; calls of 48 s keep longer
// timelines); the bound leaves room for allocator variation and still fails
// when calls are no longer compacted.
const maxBytesPerFinishedCall = 4 << 10

// TestFinishedCallHeap holds memory flat as a capture grows: four times
// the calls may cost only a bounded amount per extra finished call.
func TestFinishedCallHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and analyses 2,000 calls in four captures")
	}
	const n = 200
	perCall := func(detail bool) float64 {
		small, smallDone := retainedHeap(t, n, detail)
		big, bigDone := retainedHeap(t, 4*n, detail)
		return (float64(big) - float64(small)) / float64(bigDone-smallDone)
	}
	compact, detailed := perCall(false), perCall(true)
	t.Logf("retained heap per finished call: %.0f bytes, %.0f with messages and timelines", compact, detailed)
	if compact > maxBytesPerFinishedCall {
		t.Errorf("a finished call keeps %.0f bytes, want at most %d", compact, maxBytesPerFinishedCall)
	}
	// The measurement must see per-call data at all: messages and
	// timelines cost more than the bound.
	if detailed <= compact {
		t.Errorf("with detail a call keeps %.0f bytes, no more than without (%.0f): the measurement is broken", detailed, compact)
	}
}
