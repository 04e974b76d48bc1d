package main

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Minimal bencode for rtpengine's ng control protocol: dictionaries of
// strings (and lists/ints in answers).

func bencode(v any) []byte {
	var b bytes.Buffer
	encodeTo(&b, v)
	return b.Bytes()
}

func encodeTo(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		fmt.Fprintf(b, "%d:%s", len(x), x)
	case int:
		fmt.Fprintf(b, "i%de", x)
	case []any:
		b.WriteByte('l')
		for _, e := range x {
			encodeTo(b, e)
		}
		b.WriteByte('e')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('d')
		for _, k := range keys {
			encodeTo(b, k)
			encodeTo(b, x[k])
		}
		b.WriteByte('e')
	}
}

var errBencode = errors.New("bad bencode")

// bdecode decodes one value and returns the rest.
func bdecode(s []byte) (any, []byte, error) {
	if len(s) == 0 {
		return nil, nil, errBencode
	}
	switch {
	case s[0] == 'i':
		end := bytes.IndexByte(s, 'e')
		if end < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.Atoi(string(s[1:end]))
		return n, s[end+1:], err
	case s[0] == 'l':
		var out []any
		s = s[1:]
		for len(s) > 0 && s[0] != 'e' {
			v, rest, err := bdecode(s)
			if err != nil {
				return nil, nil, err
			}
			out, s = append(out, v), rest
		}
		if len(s) == 0 {
			return nil, nil, errBencode
		}
		return out, s[1:], nil
	case s[0] == 'd':
		out := map[string]any{}
		s = s[1:]
		for len(s) > 0 && s[0] != 'e' {
			k, rest, err := bdecode(s)
			if err != nil {
				return nil, nil, err
			}
			v, rest, err := bdecode(rest)
			if err != nil {
				return nil, nil, err
			}
			ks, _ := k.(string)
			out[ks], s = v, rest
		}
		if len(s) == 0 {
			return nil, nil, errBencode
		}
		return out, s[1:], nil
	default:
		colon := bytes.IndexByte(s, ':')
		if colon < 0 {
			return nil, nil, errBencode
		}
		n, err := strconv.Atoi(string(s[:colon]))
		if err != nil || n < 0 || colon+1+n > len(s) {
			return nil, nil, errBencode
		}
		return string(s[colon+1 : colon+1+n]), s[colon+1+n:], nil
	}
}
