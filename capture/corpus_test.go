package capture

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/report"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/corpus/verdicts.golden from this run")

// corpusDir holds public captures from other projects (README.md there
// names each one's origin and licence) and the verdicts an engineer
// reading their packets agrees with.
const corpusDir = "../testdata/corpus"

// TestCorpusVerdicts judges every capture in testdata/corpus and holds the
// judgement (calls, verdicts, packets each way, finding IDs, anomalies) to
// verdicts.golden. A change there is a change of natdoc's reading of real
// traffic: rerun with -update-corpus and say in the commit why the new
// reading is the right one.
func TestCorpusVerdicts(t *testing.T) {
	files, err := corpusFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d captures in %s, want the 30 its README lists", len(files), corpusDir)
	}
	var got strings.Builder
	for _, f := range files {
		writeCorpusSummary(&got, filepath.Base(f), analyzePath(t, f))
	}
	golden := filepath.Join(corpusDir, "verdicts.golden")
	if *updateCorpus {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-corpus to write it)", err)
	}
	if diff := firstLineDiff(string(want), got.String()); diff != "" {
		t.Errorf("the judgement of the corpus changed (go test ./capture -run TestCorpusVerdicts -update-corpus rewrites it):\n%s", diff)
	}
}

func corpusFiles() ([]string, error) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".pcap", ".pcapng", ".libpcap":
			files = append(files, filepath.Join(corpusDir, e.Name()))
		}
	}
	return files, nil
}

// writeCorpusSummary writes what an engineer checks of a capture's
// judgement, in a form whose diff reads well.
func writeCorpusSummary(b *strings.Builder, name string, res *Result) {
	fmt.Fprintf(b, "== %s\n", name)
	fmt.Fprintf(b, "packets %d; %s\n", res.Capture.Packets, res.Verdict)
	for _, a := range res.Capture.Anomalies {
		fmt.Fprintf(b, "anomaly %s ×%d\n", a.Kind, a.Count)
	}
	if ids := severityIDs(res.Findings); ids != "" {
		fmt.Fprintf(b, "capture findings %s\n", ids)
	}
	for _, c := range res.Calls {
		fmt.Fprintf(b, "%s %s%s status=%d state=%s transport=%s", c.ID, c.Verdict, cannotHear(c.CannotHear), c.Status, c.State, c.Transport)
		if c.NotAnswered != nil {
			fmt.Fprintf(b, " not-answered=%s", c.NotAnswered.Reason)
			if c.NotAnswered.Cause != "" {
				fmt.Fprintf(b, " cause=%q", c.NotAnswered.Cause)
			}
		}
		fmt.Fprintf(b, " findings=%s\n", severityIDs(c.Findings))
		for _, l := range c.Legs {
			fmt.Fprintf(b, "  leg %s→%s %s%s status=%d\n", l.Caller.Role, l.Callee.Role, l.Verdict, cannotHear(l.CannotHear), l.Status)
		}
		for _, s := range c.Streams {
			fmt.Fprintf(b, "  m=%d %s %s%s %s\n", s.Index, s.Media, s.Verdict, map[bool]string{true: " (in verdict)"}[s.InVerdict], flowsEachWay(s.Flows))
		}
	}
}

func cannotHear(party string) string {
	if party == "" {
		return ""
	}
	return " (" + party + " cannot hear)"
}

// severityIDs lists a report's finding IDs with their severities and
// remedies (by their IDs), sorted, each once.
func severityIDs(fs []report.Finding) string {
	var ids []string
	for _, f := range fs {
		id := fmt.Sprintf("%s:%s", f.ID, f.Severity)
		if f.Remedy != "" {
			id += ":" + remedyID(f.Remedy)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), ",")
}

// flowsEachWay sums a stream's packets by direction and kind (RTP, RTCP,
// T.38).
func flowsEachWay(flows []report.RTPFlow) string {
	sums := map[string]uint64{}
	for _, f := range flows {
		kind := "rtp"
		switch {
		case f.RTCP:
			kind = "rtcp"
		case f.UDPTL:
			kind = "t38"
		}
		sums[kind+" "+f.Direction] += f.Packets
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, sums[k]))
	}
	if len(parts) == 0 {
		return "no flows"
	}
	return strings.Join(parts, " ")
}

// firstLineDiff shows the first lines where two texts differ, with the
// capture they belong to, or "" when they are equal.
func firstLineDiff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out strings.Builder
	capture, shown := "", 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		wl, gl := lineAt(w, i), lineAt(g, i)
		if strings.HasPrefix(gl, "== ") {
			capture = gl
		}
		if wl == gl {
			continue
		}
		if shown == 0 {
			fmt.Fprintf(&out, "in %s (line %d):\n", capture, i+1)
		}
		fmt.Fprintf(&out, "- %s\n+ %s\n", wl, gl)
		shown++
	}
	return out.String()
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}
