package report

import (
	"testing"
)

// TestPlainTableMatchesLipgloss: the calls table drawn by hand is what
// lipgloss's table draws, styled cells and wide characters included.
func TestPlainTableMatchesLipgloss(t *testing.T) {
	headers := []string{"", "call", "start", "parties", "verdict"}
	for _, tc := range []struct {
		name string
		rows [][]string
	}{
		{"no rows", nil},
		{"plain", [][]string{{"", "C1", "09:30:00", "100 → 200", "two-way"}, {"", "C22", "09:31:00", "a@b → c", "no-way"}}},
		{"styled", [][]string{{styleError.Render("!"), "C1", "09:30:00", "100@x → 200@y", styleError.Render("one-way (caller cannot hear)")}}},
		{"wide and empty", [][]string{{"", "C1", "", "電話 → 200", ""}, {"", "", "", "", ""}}},
		{"long cell", [][]string{{"", "C100000", "09:30:00", "a-very-long-user-name@a-long-host.example.org → b", "incomplete-capture"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := newTable(headers...).Rows(tc.rows...).String()
			if got := plainTable(headers, tc.rows); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
