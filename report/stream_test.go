package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// stream writes r through the CallWriter of format f, its calls one at a
// time.
func stream(t *testing.T, r *Report, f Format) []byte {
	t.Helper()
	var b bytes.Buffer
	cw, err := NewCallWriter(&b, Options{Format: f, Color: ColorNever})
	if err != nil {
		t.Fatal(err)
	}
	rest := *r
	rest.Calls = nil
	head := rest
	if err := cw.Begin(&head); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Calls {
		if err := cw.Call(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.End(&rest); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJSONStreamIsOneReport: the streamed JSON is one natdoc.report
// document that reads back as the report RenderJSON writes, the calls
// first after the head and one per line.
func TestJSONStreamIsOneReport(t *testing.T) {
	r := sampleReport()
	out := stream(t, r, FormatJSON)
	var got, want Report
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("streamed JSON does not parse: %v\n%s", err, out)
	}
	var b bytes.Buffer
	if err := RenderJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("streamed report differs:\n%s", out)
	}
	lines := strings.Split(string(out), "\n")
	k := slices.Index(lines, `  "calls": [`)
	if k != 5 || !strings.HasPrefix(lines[k+1], `    {"id":"C1"`) || !strings.HasPrefix(lines[k+2], `    {"id":"C2"`) {
		t.Errorf("calls not one per line after the head:\n%s", out)
	}
	empty := *r
	empty.Calls = nil
	if err := json.Unmarshal(stream(t, &empty, FormatJSON), &got); err != nil || len(got.Calls) != 0 {
		t.Errorf("no calls: %v", err)
	}
}

// TestJSONLines: one object per call, then the report without its calls.
func TestJSONLines(t *testing.T) {
	r := sampleReport()
	sc := bufio.NewScanner(bytes.NewReader(stream(t, r, FormatJSONL)))
	sc.Buffer(nil, 1<<20)
	var calls []Call
	var summary Report
	for n := 0; sc.Scan(); n++ {
		if n < len(r.Calls) {
			var c Call
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.ID != r.Calls[n].ID {
				t.Fatalf("line %d: %v %q", n+1, err, sc.Text())
			}
			calls = append(calls, c)
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &summary); err != nil || summary.Schema != SchemaVersion || len(summary.Calls) != 0 || summary.Verdict != r.Verdict {
			t.Fatalf("summary line %d: %v %q", n+1, err, sc.Text())
		}
	}
	if len(calls) != len(r.Calls) || summary.Schema == "" {
		t.Errorf("%d calls and summary %q, want %d and the summary", len(calls), summary.Schema, len(r.Calls))
	}
}

// TestTextStreamOfFewCallsIsRenderText: a capture of up to textHoldCalls
// calls gets the report RenderText writes.
func TestTextStreamOfFewCallsIsRenderText(t *testing.T) {
	r := sampleReport()
	var want bytes.Buffer
	if err := Render(&want, r, Options{Format: FormatText, Color: ColorNever}); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, r, FormatText); string(got) != want.String() {
		t.Errorf("streamed:\n%s\nRenderText:\n%s", got, want.String())
	}
}

// TestTextStreamOfManyCalls: past textHoldCalls the calls table is written
// row by row, every call in it, and the summary after it: problem calls in
// full up to problemCallsShown and counted by finding beyond, the
// informational findings summarised, the verdict last.
func TestTextStreamOfManyCalls(t *testing.T) {
	r := sampleReport()
	r.Calls = nil
	t0 := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	const n = textHoldCalls + 500
	for i := 1; i <= n; i++ {
		c := Call{ID: fmt.Sprintf("C%d", i), CallID: fmt.Sprintf("id-%d", i), Caller: Party{User: "100", Host: "pbx"}, Callee: Party{User: "200", Host: "pbx"},
			Start: t0, End: t0.Add(time.Minute), Verdict: VerdictIncompleteCapture,
			Findings: []Finding{{ID: "contact-private-address", Severity: SeverityInfo, Title: "Contact is private"}}}
		if i%5 == 0 {
			c.Verdict, c.CannotHear = VerdictOneWay, "caller"
			c.Findings = append(c.Findings, Finding{ID: "one-way-audio", Severity: SeverityError, Title: "One-way audio", Remedy: "open the path"})
		}
		r.Calls = append(r.Calls, c)
	}
	out := string(stream(t, r, FormatText))
	for _, want := range []string{"│ C1 ", fmt.Sprintf("│ C%d ", n), fmt.Sprintf("%d of %d calls with problems", n/5, n),
		"Call C500 id-500 one-way", "[one-way-audio] in 200 more calls with problems", "[contact-private-address] in 1200 calls without problems"} {
		if !strings.Contains(out, want) {
			t.Errorf("streamed report lacks %q", want)
		}
	}
	if strings.Contains(out, "Call C505 ") {
		t.Error("more than problemCallsShown problem calls listed in full")
	}
	if !strings.HasSuffix(out, r.Verdict+"\n") {
		t.Errorf("verdict not last:\n%s", out[len(out)-300:])
	}
	if strings.Index(out, "Calls") > strings.Index(out, "Capture") {
		t.Error("the calls table does not come first")
	}
}
