package stunserver

import (
	"testing"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/pion/stun/v3"
)

// BenchmarkAnswer measures the per-request cost of an RFC 5780 answer
// (decode, checks, build), without sockets.
func BenchmarkAnswer(b *testing.B) {
	s := testServer("203.0.113.10:3478", "203.0.113.11:3479")
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stunprobe.ChangeRequest{ChangePort: true}, stun.Fingerprint).Raw
	buf := make([]byte, 0, maxDatagram)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := s.answer(0, client, req, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
