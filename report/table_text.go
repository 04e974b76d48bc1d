package report

import (
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// plainTable draws what newTable draws (normal border, one space of
// padding, left-aligned single-line cells) in a single pass. lipgloss's
// table measures and styles every cell several times: on a capture of
// 1,000 calls that took 60 ms, as long as a tenth of the whole analysis,
// and on one core while the other idled. It is used for the calls table,
// whose cells are one line each; TestPlainTableMatchesLipgloss holds the
// two to the same output.
func plainTable(headers []string, rows [][]string) string {
	for _, row := range rows {
		for i, cell := range row {
			row[i] = terminalSafe(cell) // before measuring: a NUL would be taken for the wrap mark
		}
	}
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = cellWidth(h)
	}
	cellWidths := make([][]int, len(rows))
	for r, row := range rows {
		cellWidths[r] = make([]int, len(headers))
		for i := range headers {
			if i < len(row) {
				w := cellWidth(row[i])
				cellWidths[r][i] = w
				widths[i] = max(widths[i], w)
			}
		}
	}
	var b strings.Builder
	b.WriteString(tableBorder(widths, "┌", "┬", "┐"))
	headerWidths := make([]int, len(headers))
	for i, h := range headers {
		headerWidths[i] = cellWidth(h)
	}
	b.WriteString(tableLine(headers, headerWidths, widths))
	b.WriteString(tableBorder(widths, "├", "┼", "┤"))
	for r, row := range rows {
		b.WriteString(tableLine(row, cellWidths[r], widths))
	}
	b.WriteString(tableBorder(widths, "└", "┴", "┘"))
	return strings.TrimSuffix(b.String(), "\n")
}

// tableBorder is a border line of a plain table with these column widths.
func tableBorder(widths []int, left, mid, right string) string {
	var b strings.Builder
	b.WriteString(left)
	for i, w := range widths {
		if i > 0 {
			b.WriteString(mid)
		}
		b.WriteString(strings.Repeat("─", w+2))
	}
	b.WriteString(right + "\n")
	return b.String()
}

// tableLine is one line of a plain table: cells of the measured widths cw
// in columns of widths.
func tableLine(cells []string, cw, widths []int) string {
	var b strings.Builder
	writeTableLine(&b, cells, cw, widths)
	return b.String()
}

// writeTableLine writes tableLine's line to b.
func writeTableLine(b io.StringWriter, cells []string, cw, widths []int) {
	for i, w := range widths {
		b.WriteString("│ ")
		cell, width := "", 0
		if i < len(cells) {
			cell, width = cells[i], cw[i]
		}
		b.WriteString(cell)
		writeSpaces(b, max(w-width, 0)+1)
	}
	b.WriteString("│\n")
}

// writeSpaces writes n spaces: a table line pads every cell.
func writeSpaces(b io.StringWriter, n int) {
	const spaces = "                                                                "
	for n > len(spaces) {
		b.WriteString(spaces)
		n -= len(spaces)
	}
	b.WriteString(spaces[:n])
}

// cellWidth is a cell's width on a terminal: one column per printable
// ASCII byte and per arrow or ellipsis natdoc writes between them, the
// common case, else what ansi measures (escapes, wide runes, combining
// marks). ansi's grapheme segmentation was a third of a streamed table's
// time, spent on the "→" of every parties cell.
func cellWidth(s string) int {
	n := 0
	for i := 0; i < len(s); n++ {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x80:
			i++
		case strings.HasPrefix(s[i:], "→"), strings.HasPrefix(s[i:], "…"):
			i += len("→")
		default:
			return ansi.StringWidth(s)
		}
	}
	return n
}

// isPlainASCII says whether s is printable ASCII, where a byte is a column.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
