package capture

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// generate writes calls with pcapgen into a temporary file.
func generate(t testing.TB, calls []pcapgen.Call, opt pcapgen.Options) (string, []pcapgen.Truth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truths, err := pcapgen.Write(f, calls, opt)
	if err != nil {
		t.Fatal(err)
	}
	return path, truths
}

func analyzePath(t testing.TB, path string) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), Options{Files: []string{path}, Detail: true})
	if err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	return res
}

// directionCounts sums RTP (not RTCP) packets and loss per direction.
func directionCounts(c report.Call) (pkts [2]uint64, lost [2]int64) {
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if f.RTCP {
				continue
			}
			d := 0
			if f.Direction == "callee->caller" {
				d = 1
			}
			pkts[d] += f.Packets
			lost[d] += f.Lost
		}
	}
	return
}

func hasFinding(c report.Call, id report.FindingID) bool {
	for _, f := range c.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

// checkTruth compares every generated dialog with the analysis.
func checkTruth(t *testing.T, res *Result, truths []pcapgen.Truth) {
	t.Helper()
	byCallID := map[string][]report.Call{}
	for _, c := range res.Calls {
		byCallID[c.CallID] = append(byCallID[c.CallID], c)
	}
	used := map[string]int{}
	if len(res.Calls) != len(truths) {
		t.Errorf("got %d calls, want %d", len(res.Calls), len(truths))
	}
	for _, want := range truths {
		list := byCallID[want.CallID]
		k := used[want.CallID]
		used[want.CallID]++
		if k >= len(list) {
			t.Errorf("%s (%s): no such call in the analysis", want.Kind, want.CallID)
			continue
		}
		got := list[k]
		name := string(want.Kind)
		if got.Verdict != want.Verdict || got.CannotHear != want.CannotHear {
			t.Errorf("%s: verdict %s (cannot hear %q), want %s (%q); %s", name, got.Verdict, got.CannotHear, want.Verdict, want.CannotHear, got.Explain)
		}
		for _, st := range got.Streams {
			for _, f := range st.Flows {
				var sum uint64
				for _, v := range f.Timeline {
					sum += uint64(v)
				}
				if sum != f.Packets {
					t.Errorf("%s: flow %s → %s timeline holds %d packets, the flow %d", name, f.Src, f.Dst, sum, f.Packets)
				}
			}
		}
		pkts, lost := directionCounts(got)
		wantPkts := [2]uint64{want.Packets[0] + want.Undeliverable[0], want.Packets[1] + want.Undeliverable[1]}
		if pkts != wantPkts {
			t.Errorf("%s: RTP packets per direction %v, want %v", name, pkts, wantPkts)
		}
		if lost != want.Lost {
			t.Errorf("%s: lost per direction %v, want %v", name, lost, want.Lost)
		}
		if want.Transport != "" && got.Transport != want.Transport {
			t.Errorf("%s: transport %s, want %s", name, got.Transport, want.Transport)
		}
		if want.Kind == pcapgen.Normal && (hasFinding(got, "sip-alg-suspected") || hasFinding(got, "sdp-private-address")) {
			t.Errorf("%s: a STUN phone behind NAT was reported with %v", name, findingIDs(got))
		}
		if want.Finding != "" && !hasFinding(got, want.Finding) {
			t.Errorf("%s: finding %s missing; got %v", name, want.Finding, findingIDs(got))
		}
	}
}

func findingIDs(c report.Call) []string {
	var ids []string
	for _, f := range c.Findings {
		ids = append(ids, string(f.ID))
	}
	return ids
}

func TestGeneratedScenarios(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 1})
	res := analyzePath(t, path)
	checkTruth(t, res, truths)
	if len(res.Capture.Anomalies) != 0 {
		t.Errorf("anomalies in a clean capture: %+v", res.Capture.Anomalies)
	}
}

// TestStateFollowsActiveCalls checks the streaming promise: a long capture
// of sequential calls keeps only the calls in progress, and still judges
// every call.
func TestStateFollowsActiveCalls(t *testing.T) {
	var calls []pcapgen.Call
	for i := 0; i < 60; i++ {
		kind := pcapgen.Normal
		if i%3 == 2 {
			kind = pcapgen.LeakCaller
		}
		calls = append(calls, pcapgen.Call{Kind: kind, Start: time.Duration(i) * time.Minute, Media: 4 * time.Second})
	}
	path, truths := generate(t, calls, pcapgen.Options{Seed: 9})
	s := analyzeState(t, path)
	// Calls are swept at batch boundaries (1,024 packets, here about
	// three calls), so a few finished calls wait for the next sweep.
	if s.peakCalls > 8 || s.peakFlows > 16 {
		t.Errorf("kept up to %d calls and %d streams at once; want at most 8 and 16 of 60", s.peakCalls, s.peakFlows)
	}
	checkTruth(t, s.result([]string{path}, ""), truths)
}
