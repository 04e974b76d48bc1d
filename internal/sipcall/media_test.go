package sipcall

import (
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123)
	p := buildPayload(nil, "alice", 42, now, toneFrame())
	if len(p) != frameSamples {
		t.Fatalf("payload %d bytes, want %d", len(p), frameSamples)
	}
	label, rx, sent, ok := parsePayload(p)
	if !ok || label != "alice" || rx != 42 || !sent.Equal(now) {
		t.Fatalf("%q %d %v %v", label, rx, sent, ok)
	}
}

// FuzzParsePayload: RTP payloads come from the network.
func FuzzParsePayload(f *testing.F) {
	f.Add(buildPayload(nil, "bob", 7, time.Unix(1, 0), toneFrame())) // a real payload
	f.Add([]byte("NATDOC\xff"))                                      // label length beyond the data
	f.Add([]byte("NATDOC\x10short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		label, _, _, ok := parsePayload(b)
		if ok && len(label) > maxLabel {
			t.Fatalf("label %d bytes", len(label))
		}
	})
}

// FuzzParseStats: INFO bodies come from the other phone.
func FuzzParseStats(f *testing.F) {
	f.Add([]byte("received=12\r\n"))
	f.Add([]byte("received=-1"))
	f.Add([]byte("received=99999999999999999999"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, ok := ParseStats(b); ok && n < 0 {
			t.Fatalf("negative count %d accepted", n)
		}
	})
}
