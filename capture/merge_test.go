package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// splitCapture writes the records of path alternately, in runs of n, into
// two files that overlap in time all along.
func splitCapture(t *testing.T, path string, n int) [2]string {
	t.Helper()
	r := capture.PcapReader(t, path)
	var out [2]string
	var ws [2]*pcapgo.Writer
	for i := range out {
		out[i], ws[i] = createPcap(t, filepath.Base(path)+string(rune('a'+i)), r.LinkType())
	}
	for k := 0; ; k++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := ws[(k/n)%2].WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameCalls reports each call of got (named by how) whose Call-ID,
// verdict or RTP per direction differs from the same call of want.
func sameCalls(t *testing.T, how string, got, want []report.Call) {
	t.Helper()
	for i, c := range want {
		g := got[i]
		pg, _ := capture.DirectionCounts(g)
		pc, _ := capture.DirectionCounts(c)
		if g.CallID != c.CallID || g.Verdict != c.Verdict || pg != pc {
			t.Errorf("%s: %s %s %s %v, want %s %s %v", c.ID, how, g.CallID, g.Verdict, pg, c.CallID, c.Verdict, pc)
		}
	}
}

// TestMergedFilesAreOneCapture: a capture split into two overlapping files
// reads as the whole: the same calls, verdicts and RTP each way, and -w
// writes a call from both.
func TestMergedFilesAreOneCapture(t *testing.T) {
	path, _ := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 9})
	whole := capture.AnalyzePath(t, path)
	parts := splitCapture(t, path, 7)
	merged, err := capture.Analyze(context.Background(), capture.Options{Files: parts[:], Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	if merged.Capture.Packets != whole.Capture.Packets || len(merged.Calls) != len(whole.Calls) {
		t.Fatalf("merged: %d packets, %d calls; whole: %d, %d", merged.Capture.Packets, len(merged.Calls), whole.Capture.Packets, len(whole.Calls))
	}
	sameCalls(t, "merged", merged.Calls, whole.Calls)
	out := filepath.Join(t.TempDir(), "c2.pcap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := capture.WriteCalls(context.Background(), parts[:], merged.Calls[1:2], f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	again := capture.AnalyzePath(t, out)
	if got := findCall(again.Calls, merged.Calls[1]); got == nil || got.Verdict != merged.Calls[1].Verdict {
		t.Errorf("call written from two files: %+v", again.Calls)
	}
}
