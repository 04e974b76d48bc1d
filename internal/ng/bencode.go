package ng

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Limits on decoded input, each with its reason.
const (
	// maxDepth: ng replies nest two or three levels (a dictionary of lists
	// of dictionaries); deeper input is an attack on the decoder's stack.
	maxDepth = 16
	// maxMessage: one UDP datagram.
	maxMessage = 65535
)

// ErrBencode is wrapped by every decoding error.
var ErrBencode = errors.New("bencode")

// Encode appends the bencoding of v: string, []byte, int, int64, []any,
// map[string]any (keys sorted, as bencode requires).
func Encode(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		dst = strconv.AppendInt(dst, int64(len(x)), 10)
		return append(append(dst, ':'), x...), nil
	case []byte:
		dst = strconv.AppendInt(dst, int64(len(x)), 10)
		return append(append(dst, ':'), x...), nil
	case int:
		return append(strconv.AppendInt(append(dst, 'i'), int64(x), 10), 'e'), nil
	case int64:
		return append(strconv.AppendInt(append(dst, 'i'), x, 10), 'e'), nil
	case []any:
		dst = append(dst, 'l')
		for _, e := range x {
			var err error
			if dst, err = Encode(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	case []string:
		dst = append(dst, 'l')
		for _, e := range x {
			dst, _ = Encode(dst, e)
		}
		return append(dst, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, 'd')
		for _, k := range keys {
			dst, _ = Encode(dst, k)
			var err error
			if dst, err = Encode(dst, x[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	}
	return nil, fmt.Errorf("%w: cannot encode %T", ErrBencode, v)
}

// Decode parses one bencoded value that must fill b exactly. Strings come
// back as string, integers as int64, lists as []any, dictionaries as
// map[string]any.
func Decode(b []byte) (any, error) {
	if len(b) > maxMessage {
		return nil, fmt.Errorf("%w: %d bytes, more than one datagram", ErrBencode, len(b))
	}
	v, rest, err := decode(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrBencode, len(rest))
	}
	return v, nil
}

func decode(b []byte, depth int) (any, []byte, error) {
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", ErrBencode, maxDepth)
	}
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: unexpected end", ErrBencode)
	}
	switch c := b[0]; {
	case c == 'i':
		return decodeInt(b[1:])
	case c == 'l':
		return decodeList(b[1:], depth)
	case c == 'd':
		return decodeDict(b[1:], depth)
	case c >= '0' && c <= '9':
		return decodeString(b)
	default:
		return nil, nil, fmt.Errorf("%w: unexpected byte %q", ErrBencode, c)
	}
}

func decodeInt(b []byte) (any, []byte, error) {
	end := indexByte(b, 'e')
	if end < 1 || end > 20 {
		return nil, nil, fmt.Errorf("%w: bad integer", ErrBencode)
	}
	n, err := strconv.ParseInt(string(b[:end]), 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: integer: %v", ErrBencode, err)
	}
	return n, b[end+1:], nil
}

func decodeString(b []byte) (any, []byte, error) {
	colon := indexByte(b, ':')
	if colon < 1 || colon > 10 {
		return nil, nil, fmt.Errorf("%w: bad string length", ErrBencode)
	}
	n, err := strconv.Atoi(string(b[:colon]))
	// The length is checked against what is there before it is used.
	if err != nil || n < 0 || n > len(b)-colon-1 {
		return nil, nil, fmt.Errorf("%w: string length %q beyond the input", ErrBencode, b[:colon])
	}
	start := colon + 1
	return string(b[start : start+n]), b[start+n:], nil
}

func decodeList(b []byte, depth int) (any, []byte, error) {
	var out []any
	for {
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: unterminated list", ErrBencode)
		}
		if b[0] == 'e' {
			return out, b[1:], nil
		}
		v, rest, err := decode(b, depth+1)
		if err != nil {
			return nil, nil, err
		}
		out, b = append(out, v), rest
	}
}

func decodeDict(b []byte, depth int) (any, []byte, error) {
	out := map[string]any{}
	for {
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: unterminated dictionary", ErrBencode)
		}
		if b[0] == 'e' {
			return out, b[1:], nil
		}
		k, rest, err := decodeString(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: dictionary key: %v", ErrBencode, err)
		}
		v, rest, err := decode(rest, depth+1)
		if err != nil {
			return nil, nil, err
		}
		out[k.(string)], b = v, rest
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
