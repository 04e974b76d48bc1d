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

// TestDropStrayCRs: a CR before a header line's CRLF is dropped (an old
// Zoiper ended its Call-ID line so), in the header block only; a message
// without one is returned as it is.
func TestDropStrayCRs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SIP/2.0 180 Ringing\r\nCall-ID: x@y\r\r\nCSeq: 102 INVITE\r\nContent-Length: 0",
			"SIP/2.0 180 Ringing\r\nCall-ID: x@y\r\nCSeq: 102 INVITE\r\nContent-Length: 0"},
		{"SIP/2.0 200 OK\r\nCall-ID: x@y\r\r\r\n\r\nv=0\r\r\n", "SIP/2.0 200 OK\r\nCall-ID: x@y\r\n\r\nv=0\r\r\n"},
		{"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\na=x\r\r\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\na=x\r\r\n"},
		{"", ""},
	} {
		if got := string(dropStrayCRs([]byte(tc.in))); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStrayCRMessageRead: a response whose Call-ID line ends in CR CR LF
// and whose header block runs to the datagram's end, as the Zoiper that
// an Asterisk answered sent it, is read whole.
func TestStrayCRMessageRead(t *testing.T) {
	msg := "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 172.16.8.103:5060;branch=z9hG4bK259f991c;rport=5060\r\n" +
		"To: <sip:200@172.16.1.2:9999>;tag=1a44dd19\r\nFrom: \"200\"<sip:200@172.16.8.103>;tag=as5d701719\r\n" +
		"Call-ID: 2e48d115@172.16.8.103\r\r\nCSeq: 102 INVITE\r\nUser-Agent: Zoiper rev.10106\r\nContent-Length: 0"
	info, err := newSIPReader().parseSIPDatagram([]byte(msg))
	if err != nil {
		t.Fatalf("message lost: %v", err)
	}
	if info.CallID != "2e48d115@172.16.8.103" || info.CSeq != 102 || info.Status != 180 || info.ToTag != "1a44dd19" {
		t.Errorf("read %d %q CSeq %d To-tag %q", info.Status, info.CallID, info.CSeq, info.ToTag)
	}
}

// TestUnendedHeaders: a datagram whose header block runs to its end after
// its end gets the blank line it lacks (and its last line's end); one
// already ended is left as it is.
func TestUnendedHeaders(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		unended  bool
	}{
		{"SIP/2.0 200 OK\r\nCall-ID: x\r\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", true},
		{"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", false},
		{"SIP/2.0 200 OK\r\nContent-Length: 0", "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"", "", false},
	} {
		got, unended := unendedHeaders([]byte(tc.in))
		if string(got) != tc.want || unended != tc.unended {
			t.Errorf("%q: %q, %v; want %q, %v", tc.in, got, unended, tc.want, tc.unended)
		}
	}
}
