package ng

import (
	"net/netip"
	"os"
	"reflect"
	"testing"
)

func TestBencodeRoundTrip(t *testing.T) {
	in := map[string]any{
		"command": "offer", "call-id": "c1", "n": int64(-42),
		"flags":  []any{"trust-address", int64(7)},
		"nested": map[string]any{"a": []any{map[string]any{"b": "c"}}},
	}
	b, err := Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip\n got %#v\nwant %#v", out, in)
	}
}

func TestBencodeKnownEncoding(t *testing.T) {
	// The example from the BitTorrent specification (BEP 3), keys sorted.
	b, _ := Encode(nil, map[string]any{"spam": []any{"a", "b"}, "cow": "moo"})
	if got, want := string(b), "d3:cow3:moo4:spaml1:a1:bee"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"length beyond end": "999999999:abc",
		"huge length":       "99999999999999999999:a",
		"negative length":   "-1:a",
		"unterminated list": "l1:a",
		"unterminated dict": "d1:a1:b",
		"non-string key":    "di1ei2ee",
		"bad integer":       "i12x4e",
		"empty integer":     "ie",
		"trailing bytes":    "1:ax",
		"too deep":          "lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
		"unknown type":      "x",
	} {
		t.Run(name, func(t *testing.T) {
			if v, err := Decode([]byte(in)); err == nil {
				t.Fatalf("accepted %q as %#v", in, v)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	cookie, d, err := Parse([]byte("abc_1 d6:result4:ponge"))
	if err != nil || cookie != "abc_1" || d["result"] != "pong" {
		t.Fatalf("got %q %v %v", cookie, d, err)
	}
	if _, _, err := Parse([]byte("nocookie")); err == nil {
		t.Fatal("datagram without cookie accepted")
	}
	if c, _, err := Parse([]byte("c li1ee")); err == nil || c != "c" {
		t.Fatalf("list accepted as a command dictionary (cookie %q)", c)
	}
}

func TestMediaAddr(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		want      string
	}{
		{"ours", AudioSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1), "127.0.0.1:4000"},
		{"media-level c= wins", "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\n", "127.0.0.2:5000"},
		{"later stream ignored", "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nm=video 6000 RTP/AVP 96\r\nc=IN IP4 10.9.9.9\r\n", "10.0.0.1:5000"},
		// rtpengine's answers carry a=rtcp and ICE-less lines after m=.
		{"rtpengine style", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp:30003\r\n", "127.0.0.1:30002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MediaAddr(tc.sdp)
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v %v, want %s", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "v=0\r\nc=IN IP4 1.2.3.4\r\n", "m=audio 99999 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\n", "m=audio 5 RTP/AVP 0\r\nc=IN IP4 nope\r\n"} {
		if got, err := MediaAddr(bad); err == nil {
			t.Errorf("MediaAddr(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParse: replies are parsed as hostile input; no panic, and whatever
// decodes re-encodes to something that decodes to the same value.
func FuzzParse(f *testing.F) {
	// Real rtpengine replies (testdata/README.md): pong, an error, a
	// query, a delete and the statistics.
	for _, name := range []string{"pong", "error", "query", "delete", "stats"} {
		b, err := os.ReadFile("testdata/" + name + "-reply.bin")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("abc_1 d6:result4:ponge"))                      // a ping reply
	f.Add([]byte("x d6:result5:error12:error-reason7:unknowne")) // an error reply
	f.Add([]byte("c d3:sdp20:v=0\r\nm=audio 1 RTP/e"))           // cut short
	f.Add([]byte("c d1:ali1ei-2ed1:b0:eee"))                     // nesting
	f.Fuzz(func(t *testing.T, b []byte) {
		_, d, err := Parse(b)
		if err != nil {
			return
		}
		ReadCallStats(d) // any dictionary reads, wrong types as zero
		ReadEngineStats(d)
		enc, err := Encode(nil, d)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		again, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(again, any(d)) {
			t.Fatalf("re-encoding changed the value: %v", err)
		}
	})
}

func FuzzMediaAddr(f *testing.F) {
	f.Add(AudioSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1))
	f.Add("m=audio 5000 RTP/AVP 0\r\nc=IN IP6 ::1\r\n")
	f.Add("c=IN IP4 \r\nm=audio  \r\n")
	f.Fuzz(func(t *testing.T, sdp string) { MediaAddr(sdp) })
}
