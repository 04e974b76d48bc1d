package stunserver

import (
	"testing"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/pion/stun/v3"
)

// FuzzAnswer feeds arbitrary datagrams to the server: no panic, and no
// answer ever exceeds the amplification bound.
func FuzzAnswer(f *testing.F) {
	f.Add(rfc5769Request) // RFC 5769 §2.1
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stunprobe.ChangeRequest{ChangeIP: true, ChangePort: true}, stun.Fingerprint).Raw)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stunprobe.ResponsePort(5060)).Raw)
	f.Add([]byte{0, 1, 0, 0})
	s := testServer("203.0.113.10:3478", "203.0.113.11:3479")
	f.Fuzz(func(t *testing.T, raw []byte) {
		ans, err := s.answer(0, client, raw, nil)
		if err == nil && len(ans.raw) > maxAmplification*len(raw) {
			t.Fatalf("%d-byte answer to %d bytes", len(ans.raw), len(raw))
		}
	})
}
