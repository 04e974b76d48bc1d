package report

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// DefaultWidth is the text report's width when the terminal's is unknown
// (output to a pipe or a file): the classic terminal.
const DefaultWidth = 80

// hang marks, inside a rendered line, the column where its wrapped
// continuation lines start: after "key: ", after a "- " or a severity
// label. Only lines that carry one are prose and may be wrapped; tables and
// ladder diagrams carry none and are laid out to fit by their own code.
// finishText removes every mark, so a NUL that came from a capture (a SIP
// user name is hostile input) never reaches the terminal either.
const hang = "\x00"

// textWidth is the width to lay text out for: opt.Width, else DefaultWidth.
func textWidth(opt Options) int {
	if opt.Width > 0 {
		return opt.Width
	}
	return DefaultWidth
}

// finishText wraps every marked line longer than width at word boundaries,
// continuation lines indented to the line's mark, and removes the marks.
func finishText(s string, width int) string {
	if !strings.Contains(s, hang) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/16)
	for len(s) > 0 {
		line, rest, found := strings.Cut(s, "\n")
		s = rest
		b.WriteString(wrapMarked(line, width))
		if found {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// wrapMarked wraps one line at its first hang mark (see hang).
func wrapMarked(line string, width int) string {
	i := strings.Index(line, hang)
	if i < 0 {
		return line
	}
	head, body := line[:i], strings.ReplaceAll(line[i+len(hang):], hang, "")
	indent := ansi.StringWidth(head)
	if indent+ansi.StringWidth(body) <= width {
		return head + body
	}
	return head + wrapWords(body, indent, width)
}

// wrapWords lays words out greedily from column start to width, breaking
// only at spaces; a word longer than a whole line stands on a line of its
// own, uncut. Continuation lines are indented to start.
func wrapWords(text string, start, width int) string {
	var b strings.Builder
	col := start
	pad := strings.Repeat(" ", start)
	for i, word := range strings.Fields(text) {
		w := ansi.StringWidth(word)
		switch {
		case i == 0:
		case col+1+w > width && col > start:
			b.WriteString("\n" + pad)
			col = start
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += w
	}
	return b.String()
}
