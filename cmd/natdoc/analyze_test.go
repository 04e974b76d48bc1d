package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

const exampleCapture = "../../testdata/one-way-private-sdp.pcap"

func TestAnalyzeExampleExitsOneOnOneWay(t *testing.T) {
	code, out, stderr := run(t, "analyze", "--no-color", exampleCapture)
	if code != exitProblems {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitProblems, stderr)
	}
	for _, want := range []string{"one-way (caller cannot hear)", string(capture.IDSDPPrivateAddress), "192.168.1.11:10002", "150 / 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAnalyzeJSON(t *testing.T) {
	code, out, _ := run(t, "analyze", "--json", exampleCapture)
	if code != exitProblems {
		t.Fatalf("exit %d", code)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Calls) != 2 || rep.Calls[1].Verdict != report.VerdictOneWay || rep.Calls[1].CannotHear != "caller" {
		t.Fatalf("calls: %+v", rep.Calls)
	}
	// JSON is the full model: the ladder, the SDP and the timelines too.
	c := rep.Calls[1]
	if len(c.Messages) == 0 || len(c.Streams) == 0 || c.Streams[0].Offer == nil || len(c.Streams[0].Flows) == 0 || len(c.Streams[0].Flows[0].Timeline) == 0 {
		t.Errorf("JSON call lacks messages, SDP or timelines: %+v", c)
	}
}

// TestAnalyzeDetailFollowsOutput: calls are kept whole only when the
// report draws single calls or is the full model.
func TestAnalyzeDetailFollowsOutput(t *testing.T) {
	for _, tc := range []struct {
		json   bool
		format string
		callID string
		want   bool
	}{
		{format: "text", want: false},
		{format: "markdown", want: false},
		{format: "text", callID: "C2", want: true},
		{format: "html", want: true},
		{format: "json", want: true},
		{format: "jsonl", want: true},
		{json: true, format: "text", want: true},
	} {
		a := &app{opts: globalOptions{JSON: tc.json, Format: tc.format}}
		got, err := a.wantsCallDetail(tc.callID)
		if err != nil || got != tc.want {
			t.Errorf("--json=%v --format %s --call %q: detail %v (%v), want %v", tc.json, tc.format, tc.callID, got, err, tc.want)
		}
	}
}

func TestAnalyzeCallLadder(t *testing.T) {
	_, out, _ := run(t, "analyze", "--no-color", "--call", "C2", exampleCapture)
	for _, want := range []string{"INVITE (SDP)", "200 OK (SDP)", "BYE", "callee->caller", "unreachable private address"} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder output lacks %q:\n%s", want, out)
		}
	}
	code, _, _ := run(t, "analyze", "--call", "C9", exampleCapture)
	if code != exitUsage {
		t.Errorf("unknown call: exit %d, want %d", code, exitUsage)
	}
}

func TestAnalyzeUnreadableInput(t *testing.T) {
	code, _, _ := run(t, "analyze", "analyze_test.go")
	if code != exitUsage {
		t.Errorf("not a capture: exit %d, want %d", code, exitUsage)
	}
	code, _, _ = run(t, "analyze", "/nonexistent.pcap")
	if code != exitUsage {
		t.Errorf("missing file: exit %d, want %d", code, exitUsage)
	}
}

func TestAnalyzeStdinAndHTML(t *testing.T) {
	data, err := readFile(exampleCapture)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main([]string{"analyze", "--format", "html", "-"}, bytes.NewReader(data), &out, &errOut)
	if code != exitProblems {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "<svg") {
		t.Error("HTML report has no SVG ladder")
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

// TestAnalyzeWidth: a pipe gets 80 columns, --width another width.
func TestAnalyzeWidth(t *testing.T) {
	_, out, _ := run(t, "analyze", "--no-color", exampleCapture)
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > report.DefaultWidth {
			t.Errorf("piped output has a line of %d columns:\n%s", n, line)
		}
	}
	_, wide, _ := run(t, "analyze", "--no-color", "--width", "200", exampleCapture)
	if !strings.Contains(wide, "RTP pkts caller→callee / callee→caller") || !strings.Contains(wide, "one-way (caller cannot hear) │") {
		t.Errorf("--width 200 still abbreviates the calls table:\n%s", wide)
	}
	if code, _, _ := run(t, "analyze", "--width", "-3", exampleCapture); code != exitUsage {
		t.Errorf("--width -3: exit %d, want %d", code, exitUsage)
	}
}

// TestAnalyzeFilters: filters select calls by their judged verdict, keep
// their names, and refuse what they cannot read.
func TestAnalyzeFilters(t *testing.T) {
	_, out, _ := run(t, "analyze", "--json", "--verdict", "problem", exampleCapture)
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Calls) != 1 || rep.Calls[0].ID != "C2" || rep.Calls[0].Verdict != report.VerdictOneWay {
		t.Errorf("--verdict problem: %+v", rep.Calls)
	}
	if code, out, _ := run(t, "analyze", "--no-color", "--verdict", "two-way", exampleCapture); code != exitOK || strings.Contains(out, "C2") {
		t.Errorf("--verdict two-way: exit %d (the one-way call is left out, so no problem is found):\n%s", code, out)
	}
	for _, bad := range [][]string{{"--verdict", "loud"}, {"--host", "pbx"}, {"--since", "yesterday"}} {
		if code, _, _ := run(t, append(append([]string{"analyze"}, bad...), exampleCapture)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}

// TestAnalyzeWriteCall: -w saves the call shown, which reads back alike.
func TestAnalyzeWriteCall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "c2.pcap")
	code, _, errOut := run(t, "analyze", "--call", "C2", "-w", out, exampleCapture)
	if code != exitProblems || !strings.Contains(errOut, "wrote 307 packets of 1 call(s)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, again, _ := run(t, "analyze", "--json", out)
	var rep report.Report
	if err := json.Unmarshal([]byte(again), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Calls) != 1 || rep.Calls[0].Verdict != report.VerdictOneWay || rep.Calls[0].CallID != "0abf105b-1@natdoc.test" {
		t.Errorf("written file: %+v", rep.Calls)
	}
	if code, _, _ := run(t, "analyze", "-w", out, "-"); code != exitUsage {
		t.Errorf("-w with standard input: exit %d, want %d", code, exitUsage)
	}
}

// TestAnalyzeJSONLines: one object per call, then the report without its
// calls.
func TestAnalyzeJSONLines(t *testing.T) {
	code, out, _ := run(t, "analyze", "--format", "jsonl", exampleCapture)
	if code != exitProblems {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 2 calls and the summary:\n%s", len(lines), out)
	}
	var c report.Call
	var rep report.Report
	if err := json.Unmarshal([]byte(lines[1]), &c); err != nil || c.ID != "C2" || c.Verdict != report.VerdictOneWay || len(c.Messages) == 0 {
		t.Errorf("second line: %v %+v", err, c)
	}
	if err := json.Unmarshal([]byte(lines[2]), &rep); err != nil || rep.Schema != report.SchemaVersion || len(rep.Calls) != 0 || rep.Capture == nil {
		t.Errorf("summary line: %v %+v", err, rep)
	}
}

// TestAnalyzeMaxCalls: a report that keeps its calls holds at most
// --max-kept-calls of them (and the one --call names), and says how many it
// left out; its summary counts them all.
func TestAnalyzeMaxCalls(t *testing.T) {
	_, out, _ := run(t, "analyze", "--no-color", "--format", "markdown", "--max-kept-calls", "1", exampleCapture)
	if !strings.Contains(out, "1 more calls judged and counted, not shown") || !strings.Contains(out, "1 of 2 call(s) had audio problems") {
		t.Errorf("markdown with --max-calls 1:\n%s", out)
	}
	if code, out, _ := run(t, "analyze", "--no-color", "--max-kept-calls", "1", "--call", "C2", exampleCapture); code != exitProblems || !strings.Contains(out, "INVITE (SDP)") {
		t.Errorf("--call C2 past --max-kept-calls: exit %d\n%s", code, out)
	}
}
