package capture

import "testing"

// BenchmarkFastSIP reads typical messages of a call on the fast path.
func BenchmarkFastSIP(b *testing.B) {
	r := newSIPReader()
	msgs := [][]byte{[]byte(fastSIPSeeds[0].msg), []byte(fastSIPSeeds[1].msg)}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, ok := r.fastDatagram(m); !ok {
				b.Fatal("not plain")
			}
		}
	}
}

// BenchmarkFullSIP parses the same messages with sipgo.
func BenchmarkFullSIP(b *testing.B) {
	r := newSIPReader()
	msgs := [][]byte{[]byte(fastSIPSeeds[0].msg), []byte(fastSIPSeeds[1].msg)}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := r.parseSIPDatagramFully(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}
