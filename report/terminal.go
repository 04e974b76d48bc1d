package report

import (
	"strings"
	"unicode/utf8"
)

// terminalSafe makes text from hostile input safe to print on a terminal.
// A SIP user, reason phrase or User-Agent may carry control characters a
// terminal obeys ("\x1b]52;c;…\a" writes the clipboard, others move the
// cursor, retitle the window or make the terminal type a reply): each
// becomes U+FFFD, one column wide like most of what it stands for. Newlines
// and tabs stay, and the SGR sequences (ESC [ … m) the styles are made of.
func terminalSafe(s string) string {
	if !hasControl(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if isTerminalControl(r) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// hasControl says whether s holds a byte terminalSafe would look at: a C0
// control but newline and tab, DEL, or the first byte of a C1 control.
func hasControl[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] < 0xa0) {
			return true
		}
	}
	return false
}

// isTerminalControl: C0 but newline and tab, DEL, C1.
func isTerminalControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0)
}

// sgrLen is the length of the SGR sequence s starts with (ESC [, digits
// and semicolons, m), 0 when it starts with none.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != '\x1b' || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'm':
			return i + 1
		case (c < '0' || c > '9') && c != ';':
			return 0
		}
	}
	return 0
}
