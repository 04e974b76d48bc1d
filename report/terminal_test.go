package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTextIsTerminalSafe: control characters in what the network sent (a
// user with an OSC 52 clipboard write, a reason with a cursor move, a
// stray control byte) reach no terminal: each becomes U+FFFD, in the
// report rendered whole and streamed, styled or plain; the styles stay.
func TestTextIsTerminalSafe(t *testing.T) {
	hostile := "3510\x14723\x1b]52;c;ZXZpbA==\x07"
	r := New("analyze", "test")
	r.Calls = []Call{{ID: "C1", Verdict: VerdictNotAnswered, Caller: Party{User: hostile}, Callee: Party{User: "200"},
		NotAnswered: &NotAnswered{Reason: NotAnsweredRejected, Status: 403, Phrase: "Forbidden\x1b[2J\x1b[H"},
		Findings:    []Finding{{ID: "x", Severity: SeverityWarning, Title: "title " + hostile, Evidence: []Evidence{{Text: "evidence \x9b6n"}}}}}}
	r.Registrations = []Binding{{AOR: hostile + "@example.org", From: "192.0.2.1:5060", Registrar: "198.51.100.1:5060", Outcome: BindingRefused, Status: 403, Reason: "No\x1b[1A"}}
	for _, color := range []ColorMode{ColorNever, ColorAlways} {
		var whole bytes.Buffer
		if err := Render(&whole, r, Options{Format: FormatText, Color: color}); err != nil {
			t.Fatal(err)
		}
		var streamed bytes.Buffer
		cw, _ := NewCallWriter(&streamed, Options{Format: FormatText, Color: color})
		rest := *r
		rest.Calls = nil
		cw.Begin(&rest)
		cw.Call(r.Calls[0])
		cw.End(&rest)
		for name, out := range map[string]string{"whole": whole.String(), "streamed": streamed.String()} {
			for _, bad := range []string{"\x14", "\x07", "\x1b]", "\x1b[2J", "\x1b[H", "\x1b[1A", "\u009b"} {
				if strings.Contains(out, bad) {
					t.Errorf("%s, colour %v: %q reaches the terminal:\n%q", name, color, bad, out)
				}
			}
			if !strings.Contains(out, "3510\uFFFD723") {
				t.Errorf("%s, colour %v: the control character is not shown as U+FFFD:\n%s", name, color, out)
			}
			if color == ColorAlways && !strings.Contains(out, "\x1b[") {
				t.Errorf("%s: the styles are gone", name)
			}
		}
	}
}

// FuzzTerminalSafe: whatever the network wrote, the text written holds no
// control character a terminal obeys outside an SGR sequence, text
// without one passes unchanged, and making it safe twice changes nothing.
func FuzzTerminalSafe(f *testing.F) {
	for _, seed := range []string{"plain", "3510\x14723", "\x1b]52;c;ZXZpbA==\x07", "\x1b[1;31m!\x1b[m ok", "\x1b[2J\x1b[H", "a\x00b", "\u009b6n", "tab\tnew\nline", "\x1b[", "\xc2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		safe := terminalSafe(s)
		if !hasControl(s) && safe != s {
			t.Fatalf("%q changed to %q", s, safe)
		}
		if again := terminalSafe(safe); again != safe {
			t.Fatalf("not idempotent: %q then %q", safe, again)
		}
		for i := 0; i < len(safe); {
			if n := sgrLen(safe[i:]); n > 0 {
				i += n
				continue
			}
			r, size := utf8.DecodeRuneInString(safe[i:])
			if isTerminalControl(r) {
				t.Fatalf("%q left control %U at %d in %q", s, r, i, safe)
			}
			i += size
		}
	})
}
