package proxy

import "bytes"

// paramHeaders are the header fields whose parameters natdoc reads (tags,
// branches, Contact and route URIs), by long and compact name.
var paramHeaders = [][]byte{[]byte("from"), []byte("f"), []byte("to"), []byte("t"), []byte("via"), []byte("v"),
	[]byte("contact"), []byte("m"), []byte("route"), []byte("record-route")}

// tidyLWS rewrites the header section of one whole SIP message so that
// sipgo reads it as RFC 3261 means it: folded lines are joined (§7.3.1:
// a CRLF followed by whitespace is one SP), and in the header fields in
// paramHeaders whitespace around ";", "=" and "," outside quoted strings
// is dropped (SWS around SEMI, EQUAL and COMMA, §25.1). sipgo keeps such
// whitespace in parameter names and hosts (`; tag = 1` gives the key
// " tag "), which loses From and To tags of valid messages (RFC 4475
// wsinv). The body is left as it is. A message with nothing to tidy is
// returned unchanged, without allocating.
func tidyLWS(msg []byte) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 || !needsTidy(msg[:end]) {
		return msg
	}
	head := unfold(msg[:end])
	out := make([]byte, 0, len(msg))
	for i, line := range bytes.Split(head, []byte("\r\n")) {
		if i > 0 {
			out = append(out, '\r', '\n')
		}
		if i > 0 && isParamHeader(line) {
			line = tightenSeparators(line)
		}
		out = append(out, line...)
	}
	return append(out, msg[end:]...)
}

// needsTidy: folded lines or whitespace beside a separator somewhere in
// the header section (the common message has neither).
func needsTidy(head []byte) bool {
	for _, p := range []string{"\r\n ", "\r\n\t", " ;", "; ", " =", "= ", "\t;", ";\t"} {
		if bytes.Contains(head, []byte(p)) {
			return true
		}
	}
	return false
}

// unfold joins continuation lines: CRLF and the whitespace after it
// become one SP.
func unfold(head []byte) []byte {
	out := make([]byte, 0, len(head))
	for i := 0; i < len(head); i++ {
		if head[i] == '\r' && i+2 < len(head) && head[i+1] == '\n' && (head[i+2] == ' ' || head[i+2] == '\t') {
			i += 2
			for i+1 < len(head) && (head[i+1] == ' ' || head[i+1] == '\t') {
				i++
			}
			out = append(out, ' ')
			continue
		}
		out = append(out, head[i])
	}
	return out
}

func isParamHeader(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return false
	}
	name := bytes.ToLower(bytes.TrimSpace(line[:colon]))
	for _, h := range paramHeaders {
		if bytes.Equal(name, h) {
			return true
		}
	}
	return false
}

// tightenSeparators drops whitespace next to ";", "=" and "," in a
// header field's value, outside quoted strings (display names keep
// theirs, with their backslash escapes).
func tightenSeparators(line []byte) []byte {
	colon := bytes.IndexByte(line, ':')
	out := append(make([]byte, 0, len(line)), line[:colon+1]...)
	quoted, escaped := false, false
	for _, c := range line[colon+1:] {
		switch {
		case quoted:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				quoted = false
			}
		case c == '"':
			quoted = true
		case (c == ' ' || c == '\t') && len(out) > colon+1 && isSeparator(out[len(out)-1]):
			continue // whitespace after a separator
		case isSeparator(c):
			out = bytes.TrimRight(out, " \t")
		}
		out = append(out, c)
	}
	return out
}

func isSeparator(c byte) bool { return c == ';' || c == '=' || c == ',' }
