package report

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// BenchmarkRenderTextManyCalls renders the report of a busy trunk: 1,000
// calls, every tenth one-way, each with the informational NAT findings.
func BenchmarkRenderTextManyCalls(b *testing.B) {
	r := New("analyze", "bench")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		c := Call{ID: fmt.Sprintf("C%d", i+1), CallID: fmt.Sprintf("%08x@natdoc.test", i), Start: t0.Add(time.Duration(i) * 300 * time.Millisecond),
			Caller: Party{User: fmt.Sprint(100 + i), Host: "natdoc.test"}, Callee: Party{User: "gw", Host: "natdoc.test"}, Verdict: VerdictTwoWay,
			Findings: []Finding{{ID: "contact-private-address", Severity: SeverityInfo, Title: "Contact names a private address"}}}
		c.End = c.Start.Add(50 * time.Second)
		if i%10 == 9 {
			c.Verdict, c.CannotHear = VerdictOneWay, "caller"
			c.Findings = append(c.Findings, Finding{ID: "one-way-audio", Severity: SeverityError, Title: "One-way audio"})
		}
		r.Calls = append(r.Calls, c)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, r, Options{Format: FormatText, Color: ColorNever}); err != nil {
			b.Fatal(err)
		}
	}
}
