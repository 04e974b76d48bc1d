package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/report"
)

// run executes natdoc in-process and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != exitOK || !strings.Contains(out, "analyze") || !strings.Contains(out, "Exit status") {
		t.Errorf("--help: code %d, output:\n%s", code, out)
	}
	code, out, _ = run(t, "--version")
	if code != exitOK || !strings.HasPrefix(out, "natdoc version ") {
		t.Errorf("--version: code %d, output %q", code, out)
	}
	code, out, _ = run(t, "analyze", "--help")
	if code != exitOK || !strings.Contains(out, "pcap") {
		t.Errorf("analyze --help: code %d, output:\n%s", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"nosuchcommand"},
		{"report"},
		{"report", "--format", "xml", "x.json"},
		{"report", "--log-level", "loud", "x.json"},
		{"report", "/nonexistent/report.json"},
	} {
		if code, _, errOut := run(t, args...); code != exitUsage {
			t.Errorf("natdoc %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

// writeSample saves a report with a problem finding as JSON.
func writeSample(t *testing.T, problem bool) string {
	t.Helper()
	r := newReport("analyze")
	r.Verdict = "sample"
	if problem {
		r.Add(report.Finding{ID: "one-way-audio", Severity: report.SeverityError, Title: "caller cannot hear"})
	}
	path := filepath.Join(t.TempDir(), "r.json")
	var buf bytes.Buffer
	if err := report.RenderJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportCommandFormatsAndExitCodes(t *testing.T) {
	clean, bad := writeSample(t, false), writeSample(t, true)
	if code, _, _ := run(t, "report", clean); code != exitOK {
		t.Errorf("clean report: exit %d, want 0", code)
	}
	code, out, _ := run(t, "report", "--json", bad)
	if code != exitProblems {
		t.Errorf("report with an error finding: exit %d, want 1", code)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(out), &back); err != nil || back["schema"] != report.SchemaVersion {
		t.Errorf("--json output is not a schema-versioned report: %v\n%s", err, out)
	}
	if _, out, _ := run(t, "report", "--format", "markdown", bad); !strings.HasPrefix(out, "# natdoc analyze") {
		t.Errorf("markdown output:\n%s", out)
	}
	if _, out, _ := run(t, "report", "--format", "html", bad); !strings.Contains(out, "<!DOCTYPE html>") {
		t.Errorf("html output:\n%s", out)
	}
	if _, out, _ := run(t, "report", bad); strings.Contains(out, "\x1b[") {
		t.Error("text output to a pipe contains ANSI escapes")
	}
	file := filepath.Join(t.TempDir(), "out.json")
	if _, out, _ := run(t, "report", "--json", "-o", file, clean); out != "" {
		t.Errorf("-o FILE still wrote to stdout: %q", out)
	}
	if data, err := os.ReadFile(file); err != nil || !json.Valid(data) {
		t.Errorf("-o FILE did not get valid JSON: %v", err)
	}
}

func TestJSONAndFormatDisagree(t *testing.T) {
	if code, _, _ := run(t, "report", "--json", "--format", "html", writeSample(t, false)); code != exitUsage {
		t.Errorf("--json with --format html: exit %d, want 2", code)
	}
}

// TestReportReadsSchemaV1: a report saved by a natdoc that wrote payload
// types as base64 (natdoc.report/v1) is still read, and written as v2.
func TestReportReadsSchemaV1(t *testing.T) {
	const v1 = `{"schema":"natdoc.report/v1","tool":"natdoc","command":"analyze","calls":[{"id":"C1","call_id":"x","caller":{"role":"caller"},"callee":{"role":"callee"},"verdict":"two-way","streams":[{"index":0,"media":"audio","verdict":"two-way","flows":[{"direction":"caller-\u003ecallee","src":"192.0.2.1:4000","dst":"192.0.2.2:4000","payload_types":"AGU=","packets":1,"bytes":172,"lost":0,"jitter_ms":0,"max_gap_ms":0,"matched_sdp":true}]}]}]}`
	path := filepath.Join(t.TempDir(), "v1.json")
	if err := os.WriteFile(path, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "report", "--json", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"schema": "natdoc.report/v2"`) || !strings.Contains(out, "\"payload_types\": [\n") {
		t.Errorf("v1 report not read into v2:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "v9.json")
	_ = os.WriteFile(bad, []byte(`{"schema":"natdoc.report/v9"}`), 0o644)
	if code, _, _ := run(t, "report", bad); code != exitUsage {
		t.Errorf("unknown schema: exit %d, want %d", code, exitUsage)
	}
}
