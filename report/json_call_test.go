package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// stdCallJSON is a call as encoding/json writes it for the JSON stream.
func stdCallJSON(t testing.TB, c *Call) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func checkCallJSON(t testing.TB, name string, c *Call) {
	t.Helper()
	got, err := appendCallJSON(nil, c)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := stdCallJSON(t, c); !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

// TestCallJSON holds appendCallJSON to encoding/json: on a call with no
// field set, one with every field of every type set (a field added
// without its line in json_call.go shows here), and the strings JSON
// escapes.
func TestCallJSON(t *testing.T) {
	checkCallJSON(t, "empty call", &Call{})
	for _, s := range []string{"plain", "", "quote \" backslash \\ slash /", "<html> & </html>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"é ü 中文 🎧", "bad \xff\xfe utf-8 \xc3", "line\u2028para\u2029", "\u2027\u202a", "sip:100@[2001:db8::1]:5060;tag=x"} {
		var c Call
		fillEveryField(reflect.ValueOf(&c).Elem(), s, 1)
		checkCallJSON(t, "every field, strings "+s, &c)
	}
	var c Call
	fillEveryField(reflect.ValueOf(&c).Elem(), "x", 1)
	c.Start = time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.FixedZone("", 3600+1800))
	c.Messages[0].Time = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) // zero, but not omitted
	checkCallJSON(t, "times", &c)
}

// TestCallJSONGolden compares the two on the calls of the JSON golden
// report: calls as natdoc reports them, with legs, streams and flows.
func TestCallJSONGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Calls) == 0 {
		t.Fatal("the golden report has no calls")
	}
	for i := range r.Calls {
		checkCallJSON(t, r.Calls[i].ID, &r.Calls[i])
	}
}

// TestCallJSONRefusesWhatEncodingJSONRefuses: a time outside RFC 3339 is
// an error, as encoding/json's.
func TestCallJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	c := Call{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := appendCallJSON(nil, &c); err == nil {
		t.Error("a start in year 10000 was written")
	}
	if _, err := json.Marshal(c); err == nil {
		t.Error("encoding/json wrote it")
	}
}

// FuzzCallJSON puts fuzzed text (its first 32 bytes) into every string
// field and a fuzzed number into every numeric one.
func FuzzCallJSON(f *testing.F) {
	f.Add("plain", int64(1))
	f.Add("\x00\"\\\u2028\xff", int64(-7))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		// The call has hundreds of string fields: a long input would make
		// each run write megabytes, and the escapes need only a few bytes.
		s = s[:min(len(s), 32)]
		var c Call
		fillEveryField(reflect.ValueOf(&c).Elem(), s, n)
		checkCallJSON(t, "fuzzed", &c)
	})
}

// fillEveryField sets every exported field under v: strings to s,
// numbers to n (or its absolute value, for unsigned ones), booleans
// true, times to a fixed instant, pointers to a filled value, slices to
// two filled elements. Floats stay finite.
func fillEveryField(v reflect.Value, s string, n int64) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !v.OverflowInt(n) {
			v.SetInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := uint64(n)
		if n < 0 {
			u = uint64(-n)
		}
		if !v.OverflowUint(u) {
			v.SetUint(u)
		}
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n%1000) / 8)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillEveryField(v.Elem(), s, n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillEveryField(v.Index(i), s, n+int64(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 4, 12, 0, 0, int(n%1e9+1e9)%1e9, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillEveryField(v.Field(i), s, n)
			}
		}
	}
}

func BenchmarkCallJSON(b *testing.B) {
	var c Call
	fillEveryField(reflect.ValueOf(&c).Elem(), "natdoc.test", 3)
	// Without RTP flows, which go through encoding/json either way.
	for _, streams := range [][]MediaStream{c.Streams, c.Legs[0].Streams, c.Legs[1].Streams, c.EarlyDialogs[0].Streams, c.EarlyDialogs[1].Streams} {
		for i := range streams {
			streams[i].Flows = nil
		}
	}
	b.Run("encoding/json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			enc.Encode(&c)
		}
	})
	b.Run("appendCallJSON", func(b *testing.B) {
		var line []byte
		for b.Loop() {
			line, _ = appendCallJSON(line[:0], &c)
		}
	})
}

// TestPlainWord: a word plainWord passes holds only bytes JSON keeps as
// they are, wherever the other byte sits and whatever its neighbours.
func TestPlainWord(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '~', 0x7f, '#', ']'} {
		for c := range 256 {
			for p := range 8 {
				w := bytes.Repeat([]byte{fill}, 8)
				w[p] = byte(c)
				if plainWord(string(w)) && !jsonPlain[c] {
					t.Errorf("plainWord(%q) passes byte %#x", w, c)
				}
				if jsonPlain[c] && !plainWord(string(w)) {
					t.Errorf("plainWord(%q) refuses a plain word", w)
				}
			}
		}
	}
}
