package capture

import (
	"strings"
	"testing"
)

// TestTolerantSIP: one header sipgo cannot parse costs that header, not
// the message: method or status, Call-ID, CSeq, tags and body are read,
// and the bad header is reported.
func TestTolerantSIP(t *testing.T) {
	const rest = "Max-Forwards: 70\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\r\n"
	const from = "From: <sip:100@example.org>;tag=a1\r\n"
	const to = "To: <sip:200@example.org>\r\n"
	tests := []struct {
		name    string
		msg     string
		bad     string // the header reported, "" for none
		fromTag string
		// fromUser is the caller read, "" when not checked.
		fromUser string
	}{
		{"clean", "INVITE sip:200@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" + from + to + "Contact: <sip:100@192.0.2.1>\r\n" + rest, "", "a1", ""},
		{"Via with an unclosed IPv6 bracket", "INVITE sip:200@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP [fd00::1:5060;branch=z9hG4bK1;rport\r\n" + from + to + rest, "via", "a1", ""},
		{"Contact that is no URI", "INVITE sip:200@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" + from + to + "Contact: <sip:100@[fd00::1>\r\n" + rest, "contact", "a1", ""},
		{"From without its closing bracket", "INVITE sip:200@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: \"A\" <sip:100@example.org;tag=a1\r\n" + to + rest, "from", "", ""},
		{"From whose display name escapes quotes outside a quoted string", "INVITE sip:200@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: \\\"arik\\\" <sip:816666@example.org>;tag=a1\r\n" + to + rest, "from", "a1", "816666"},
		{"Request-URI sipgo refuses", "INVITE sip:200@[fd00::2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" + from + to + rest, "Request-URI", "a1", ""},
	}
	r := newSIPReader()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := r.parseSIPDatagram([]byte(tt.msg))
			if err != nil {
				t.Fatalf("message lost: %v", err)
			}
			if info.Method != "INVITE" || info.CallID != "c1@x" || info.CSeq != 1 || info.sdpBody() == nil {
				t.Errorf("read %s %q CSeq %d body %q", info.Method, info.CallID, info.CSeq, info.Body)
			}
			if tt.fromTag != "" && info.FromTag != tt.fromTag {
				t.Errorf("From tag %q, want %q", info.FromTag, tt.fromTag)
			}
			if tt.fromUser != "" && (info.FromUser != tt.fromUser || info.FromHost != "example.org") {
				t.Errorf("From %q@%q, want %s@example.org", info.FromUser, info.FromHost, tt.fromUser)
			}
			switch {
			case tt.bad == "" && len(info.extras().BadHeaders) > 0:
				t.Errorf("bad headers %v in a clean message", info.extras().BadHeaders)
			case tt.bad != "" && (len(info.extras().BadHeaders) != 1 || !strings.HasPrefix(info.extras().BadHeaders[0], tt.bad)):
				t.Errorf("bad headers %v, want %s", info.extras().BadHeaders, tt.bad)
			}
		})
	}
}

// TestTelURIParties: From and To in tel: URIs (RFC 3966), as IMS, VoLTE
// and carriers write them, name the parties by their numbers, without
// the URI's parameters.
func TestTelURIParties(t *testing.T) {
	msg := "INVITE tel:122 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"From: <tel:+88270006>;tag=a1\r\nTo: <tel:122;phone-context=ims.example.net>\r\n" +
		"Call-ID: c1@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	info, err := newSIPReader().parseSIPDatagram([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if info.FromUser != "+88270006" || info.FromHost != "" || info.ToUser != "122" || info.ToHost != "" || info.FromTag != "a1" {
		t.Errorf("from %q@%q tag %q, to %q@%q", info.FromUser, info.FromHost, info.FromTag, info.ToUser, info.ToHost)
	}
}

// TestAnswersChallenge: credentials with a nonce answer a challenge; the
// empty nonce of an IMS phone's first REGISTER asks for one.
func TestAnswersChallenge(t *testing.T) {
	ims := `Digest username="310410010001002@ims.mnc410.mcc310.3gppnetwork.org",realm="ims.mnc410.mcc310.3gppnetwork.org",` +
		`uri="sip:ims.mnc410.mcc310.3gppnetwork.org",nonce="",response=""`
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{`Digest username="alice", realm="x", nonce="84f1c1ae", uri="sip:x", response="7587245234b3434cc3412213e5f113a5"`, true},
		{ims, false},
		{`Digest nonce="", username="a"`, false},
		{`Digest username="a", cnonce="0a4f113b", nonce="5f2a", qop=auth`, true},
		{`Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`, true},
	} {
		if got := answersChallenge(tc.value); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.value, got, tc.want)
		}
	}
}
