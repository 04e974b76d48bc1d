package sipalg

import (
	"bufio"
	"bytes"
	"net/netip"
	"testing"
)

// FuzzDecodeEchoAndCompare feeds hostile mirror answers: decoding and
// comparing must never panic, and a valid echo of the sent message must
// compare equal.
func FuzzDecodeEchoAndCompare(f *testing.F) {
	sent := BuildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef")
	f.Add(MirrorResponse(sent, netip.MustParseAddrPort("203.0.113.1:5060"), "udp")) // a real echo
	f.Add(MirrorResponse(kernelALG(sent), netip.MustParseAddrPort("203.0.113.1:5060"), "udp"))
	f.Add([]byte("SIP/2.0 488 x\r\nContent-Type: application/x-natdoc-echo\r\nContent-Length: 4\r\n\r\n!!!!")) // bad base64
	f.Add([]byte("SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n"))
	f.Add([]byte("garbage"))
	big := buildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef", inviteExtras{size: FragmentOutBytes, headers: []string{HeaderEcho + ": digest"}})
	f.Add(MirrorResponse(big, netip.MustParseAddrPort("203.0.113.1:5060"), "udp")) // a digest
	f.Add([]byte("SIP/2.0 488 x\r\nContent-Type: application/x-natdoc-digest\r\nContent-Length: 18\r\n\r\nlength=-1 sha256=x"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		echo, err := DecodeEcho(raw)
		if err != nil {
			_ = Compare(sent, raw)
			return
		}
		diffs := Compare(sent, echo.Received)
		if bytes.Equal(echo.Received, sent) && len(diffs) != 0 {
			t.Fatalf("identical echo gave diffs %v", diffs)
		}
		_ = Classify(diffs)
	})
}

// FuzzMirrorResponse: whatever arrives, the mirror never panics, never
// answers more than about twice the request, and its answers decode.
func FuzzMirrorResponse(f *testing.F) {
	f.Add(BuildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef"))
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP x\r\ni: y\r\n\r\n"))
	f.Add([]byte("ACK sip:a@b SIP/2.0\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nX-Natdoc-Callback: 1,2,3,4,5,6,7,8,9,10\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nX-Natdoc-Echo: digest\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ports, _ := CallbackRequest(raw)
		if len(ports) > MaxCallbacks {
			t.Fatalf("%d callbacks", len(ports))
		}
		// The worst case: the mirror says it sent every asked callback.
		resp := MirrorResponseCallbacks(raw, netip.MustParseAddrPort("[2001:db8::1]:65535"), "udp", ports)
		if resp == nil {
			return
		}
		if len(resp) > 2*len(raw)+1024 {
			t.Fatalf("answered %d bytes to %d", len(resp), len(raw))
		}
	})
}

// FuzzReadStreamMessage: stream framing of hostile TCP input.
func FuzzReadStreamMessage(f *testing.F) {
	f.Add(BuildInvite(testCfg, "TCP", netip.MustParseAddrPort("192.168.1.10:40000"), "0123456789abcdef"))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nContent-Length: 999999999\r\n\r\n"))
	f.Add([]byte("\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := bufio.NewReader(bytes.NewReader(raw))
		for i := 0; i < 4; i++ {
			msg, err := ReadStreamMessage(r)
			if err != nil {
				return
			}
			if len(msg) > maxHeaderBytes+MaxMessage+4096 {
				t.Fatalf("message of %d bytes", len(msg))
			}
		}
	})
}
