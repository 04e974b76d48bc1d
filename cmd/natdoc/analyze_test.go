package main

import (
	"bytes"
	"encoding/json"
	"os"
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
