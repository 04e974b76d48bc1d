package stunprobe

import (
	"bytes"
	"testing"

	"github.com/pion/stun/v3"
)

// FuzzParseResponse feeds arbitrary datagrams to the response parser: it
// must never panic, and whatever it accepts as a success must carry a
// usable mapped address.
func FuzzParseResponse(f *testing.F) {
	f.Add(rfc5769IPv4Response) // RFC 5769 §2.2
	f.Add(rfc5769IPv6Response) // RFC 5769 §2.3
	f.Add(rfc5769Request)      // a request, not a response
	f.Add([]byte{})
	m := stun.MustBuild(stun.TransactionID, stun.BindingSuccess,
		&stun.XORMappedAddress{IP: []byte{203, 0, 113, 1}, Port: 1},
		&stun.OtherAddress{IP: []byte{203, 0, 113, 11}, Port: 3479}, stun.Fingerprint)
	f.Add(m.Raw) // an RFC 5780 answer
	e := stun.MustBuild(stun.TransactionID, stun.BindingError, stun.CodeUnknownAttribute)
	f.Add(e.Raw) // an error answer
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseResponse(raw)
		if err == nil && r.Success && !r.Mapped.IsValid() {
			t.Fatalf("success without a mapped address accepted: %x", raw)
		}
	})
}

// FuzzReadTCPMessage checks the stream framing: bounded, no panic.
func FuzzReadTCPMessage(f *testing.F) {
	f.Add(rfc5769IPv4Response)
	f.Add([]byte("\x01\x01\xff\xff\x21\x12\xa4\x42")) // claims 64 KiB
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := readTCPMessage(bytes.NewReader(raw))
		if err == nil && len(msg) > maxTCPMessage {
			t.Fatalf("read %d bytes, bound is %d", len(msg), maxTCPMessage)
		}
	})
}
