package capture

import "testing"

// TestCRLFHeaders: header lines ending in a bare LF get CRLF, the body
// after the blank line stays byte for byte; a message already in CRLF
// is copied unchanged.
func TestCRLFHeaders(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"INVITE sip:a SIP/2.0\r\nCall-ID: x\r\n\r\nv=0\n", "INVITE sip:a SIP/2.0\r\nCall-ID: x\r\n\r\nv=0\n"},
		{"INVITE sip:a SIP/2.0\nCall-ID: x\nContent-Length: 4\n\nv=0\n", "INVITE sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: 4\r\n\r\nv=0\n"},
		{"SIP/2.0 200 OK\nCall-ID: x\nContent-Length: 0\r\n\r\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"},
		{"SIP/2.0 200 OK\nCall-ID: x\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\n"},
		{"\n\n", "\r\n\r\n"},
		// A stray LF at the end of a CRLF line is dropped, not made an
		// empty line that would end the headers.
		{"INVITE sip:a SIP/2.0\r\nRecord-Route: <sip:p;lr>\n\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
			"INVITE sip:a SIP/2.0\r\nRecord-Route: <sip:p;lr>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"},
		// Bare LF lines before a CRLF blank line keep their blank line.
		{"SIP/2.0 200 OK\nCall-ID: x\nCSeq: 1 INVITE\n\r\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"},
		{"", ""},
	} {
		if got := string(crlfHeaders([]byte(tc.in))); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
