package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func sampleBindings() []Binding {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	b := func(aor string, o BindingOutcome, status int, reason string, problem bool) Binding {
		return Binding{AOR: aor, Contact: "192.168.1.2:5060", From: "192.168.1.2:5060", Registrar: "212.242.33.35:5060",
			Outcome: o, Status: status, Reason: reason, Requests: 2, First: t0, Last: t0, Problem: problem}
	}
	reg := b("35104723@example.org", BindingRegistered, 200, "OK", false)
	reg.Expires = 20 * time.Minute
	return []Binding{
		b("voi18063@example.org", BindingRefused, 401, "nonce has changed", true),
		reg,
		b("voi18062@example.org", BindingUnanswered, 0, "", true),
	}
}

// TestRegistrationsText: a line counting the registrations by outcome,
// the columns all rows share said once above the table, a row each.
func TestRegistrationsText(t *testing.T) {
	r := New("analyze", "test")
	r.Registrations = sampleBindings()
	var out bytes.Buffer
	if err := Render(&out, r, Options{Format: FormatText, Color: ColorNever}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"3 registrations (3 accounts, 1 registrar): 1 registered, 1 refused, 1\n  unanswered\n",
		"  from:      192.168.1.2:5060\n  registrar: 212.242.33.35:5060\n",
		"│   │ phone    │ result                        │\n",
		"│ ! │ voi18063 │ refused 401 nonce has changed",
		"│   │ 35104723 │ registered (20m granted)",
		"│ ! │ voi18062 │ no response (2 REGISTERs)",
		"!: a finding below concerns it\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if got := stream(t, r, FormatText); !bytes.Contains(got, []byte("│ ! │ voi18063 │ refused 401 nonce has changed")) {
		t.Errorf("the streamed text report has no registrations:\n%s", got)
	}
	var back Report
	if err := json.Unmarshal(stream(t, r, FormatJSON), &back); err != nil || len(back.Registrations) != 3 || back.Registrations[1].Expires != 20*time.Minute {
		t.Errorf("streamed JSON registrations %+v (%v)", back.Registrations, err)
	}
}

// TestRegistrationsTextBounded: of many registrations the text shows
// bindingRowsShown, those with problems first, and says how many it left
// out and how many of those had problems; the columns that differ stay,
// the result shortened to fit 80 columns.
func TestRegistrationsTextBounded(t *testing.T) {
	var regs []Binding
	for i := range 40 {
		g := Binding{AOR: fmt.Sprintf("%d@example.org", 100+i), From: fmt.Sprintf("203.0.113.%d:5060", 1+i), Registrar: "198.51.100.20:5060",
			Outcome: BindingRegistered, Status: 200}
		if i%2 == 1 {
			g.Outcome, g.Status, g.Reason, g.Problem = BindingRefused, 403, "Forbidden: this account is disabled until the invoice is paid", true
		}
		regs = append(regs, g)
	}
	r := New("analyze", "test")
	r.Registrations = regs
	text := stripANSI(RenderText(r, Options{Color: ColorNever}))
	if n := strings.Count(text, "│ ! │"); n != bindingRowsShown {
		t.Errorf("%d problem rows shown, want %d (problems first):\n%s", n, bindingRowsShown, text)
	}
	if !strings.Contains(text, "25 more not shown (5 with problems): --json\n  lists them all") {
		t.Errorf("no count of those left out:\n%s", text)
	}
	if !strings.Contains(text, "│ from ") || strings.Contains(text, "│ registrar ") {
		t.Errorf("the differing column (from) should stay, the shared one (registrar) go:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if w := cellWidth(line); w > DefaultWidth {
			t.Errorf("line of %d columns: %q", w, line)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 20 * time.Minute: "20m", 90 * time.Minute: "1h30m", 119 * time.Second: "1m59s",
		45 * time.Second: "45s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}
