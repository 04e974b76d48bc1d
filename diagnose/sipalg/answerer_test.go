package sipalg

import (
	"net/netip"
	"testing"
)

func TestIsMirrorRequest(t *testing.T) {
	mirror := netip.MustParseAddrPort("203.0.113.10:5060")
	cfg := Config{Mirror: mirror, LocalAddr: netip.MustParseAddr("192.168.1.10")}
	for _, tc := range []struct {
		name string
		raw  string
		want bool
	}{
		{"ALG test INVITE", string(BuildInvite(cfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef")), true},
		{"path OPTIONS", string(BuildOptions(mirror)), true},
		{"upper-case scheme", "OPTIONS SIP:mirror@203.0.113.10:5060 SIP/2.0\r\n\r\n", true},
		{"a phone's INVITE", "INVITE sip:bob@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP sip:mirror@x\r\n\r\n", false},
		{"user mirror2", "INVITE sip:mirror2@203.0.113.10 SIP/2.0\r\n\r\n", false},
		{"response", "SIP/2.0 200 OK\r\nTo: <sip:mirror@x>\r\n\r\n", false},
		{"no SIP version", "INVITE sip:mirror@x HTTP/1.1\r\n\r\n", false},
		{"empty", "", false},
		{"CRLF", "\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsMirrorRequest([]byte(tc.raw)); got != tc.want {
				t.Errorf("IsMirrorRequest(%q) = %v, want %v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestAnswererRateLimit(t *testing.T) {
	a := NewAnswerer(RateLimit{Burst: 2, Per: 1 << 40}, nil)
	from := netip.MustParseAddrPort("198.51.100.7:5060")
	req := BuildOptions(netip.MustParseAddrPort("203.0.113.10:5060"))
	got := 0
	for range 4 {
		if a.Answer(req, from, "udp") != nil {
			got++
		}
	}
	if got != 2 || a.Stats().RateLimited.Load() != 2 || a.Stats().Answered.Load() != 2 {
		t.Errorf("answered %d, stats answered %d limited %d", got, a.Stats().Answered.Load(), a.Stats().RateLimited.Load())
	}
}

// FuzzIsMirrorRequest: natdoc serve runs it on every datagram.
func FuzzIsMirrorRequest(f *testing.F) {
	f.Add([]byte("OPTIONS sip:mirror@203.0.113.10:5060 SIP/2.0\r\n\r\n")) // the path probe
	f.Add([]byte("REGISTER sip:example.org SIP/2.0\r\n\r\n"))             // an ordinary request
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\n"))                               // a response
	f.Add([]byte("\r\n\r\n"))                                             // a keep-alive
	f.Add([]byte("INVITE sip:mirror@\xff\xfe SIP/2.0"))                   // no line end, bad bytes
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = IsMirrorRequest(raw)
	})
}
