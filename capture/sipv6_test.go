package capture

import (
	"strings"
	"testing"
)

func TestBracketIPv6Hosts(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		via      bool
	}{
		{"<sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060>", "<sip:9876@[fe80:0:0:0:21a:a0ff:fe07:32e0]:5060>", false},
		{"<sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c>;tag=x", "<sip:4321@[fec0:0:0:0:216:d3ff:fe0d:22c]>;tag=x", false},
		{"sip:fd00::1;transport=udp", "sip:[fd00::1];transport=udp", false},
		// With "::" a last group may be a port or part of the address: the
		// whole address wins (hence the brackets RFC 3261 asks for).
		{"\"A\" <sips:a:pw@2001:db8::1:5061>, <sip:b@2001:db8:0:0:0:0:0:2:5062>", "\"A\" <sips:a:pw@[2001:db8::1:5061]>, <sip:b@[2001:db8:0:0:0:0:0:2]:5062>", false},
		{"SIP/2.0/UDP fe80:0:0:0:21a:a0ff:fe07:32e0:5060;branch=z9hG4bK1", "SIP/2.0/UDP [fe80:0:0:0:21a:a0ff:fe07:32e0]:5060;branch=z9hG4bK1", true},
		{"SIP/2.0/TCP 2001:db8::5 ;rport", "SIP/2.0/TCP [2001:db8::5] ;rport", true},
		// Left alone: bracketed, IPv4, names, and what is no address.
		{"<sip:a@[fd00::1]:5060>", "<sip:a@[fd00::1]:5060>", false},
		{"<sip:a@192.0.2.1:5060>", "<sip:a@192.0.2.1:5060>", false},
		{"<sip:a@example.com>", "<sip:a@example.com>", false},
		{"<sip:a@b:c:d>", "<sip:a@b:c:d>", false},
		{"SIP/2.0/UDP 192.0.2.1:5060;branch=z", "SIP/2.0/UDP 192.0.2.1:5060;branch=z", true},
		{"", "", false},
	} {
		if got := bracketIPv6Hosts(tc.in, tc.via); got != tc.want {
			t.Errorf("bracketIPv6Hosts(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUnbracketedIPv6Message: a message from a phone that writes IPv6
// hosts without brackets keeps its parties, tags, Contact and Via.
func TestUnbracketedIPv6Message(t *testing.T) {
	msg := "INVITE sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060 SIP/2.0\r\n" +
		"Call-ID: c3@fe80:0:0:0:21a:a0ff:fe07:32e0\r\n" +
		"Contact: <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060>\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"From: <sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0>;tag=a3bhg\r\n" +
		"To: <sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c>\r\n" +
		"Via: SIP/2.0/UDP fe80:0:0:0:21a:a0ff:fe07:32e0:5060;branch=z9hG4bKkdjuw8376\r\n" +
		"Content-Length: 0\r\n\r\n"
	info, err := newSIPReader().parseSIPDatagram([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.extras().BadHeaders) > 0 {
		t.Errorf("headers left unparsed: %q", info.extras().BadHeaders)
	}
	info.addresses()
	if info.FromUser != "9876" || info.FromTag != "a3bhg" || info.ToUser != "4321" || info.RURIUser != "4321" {
		t.Errorf("From %s;tag=%s To %s R-URI user %s", info.FromUser, info.FromTag, info.ToUser, info.RURIUser)
	}
	if info.contactIP.String() != "fe80::21a:a0ff:fe07:32e0" || info.viaIP.String() != "fe80::21a:a0ff:fe07:32e0" || info.Via.Port != 5060 {
		t.Errorf("Contact %s, Via %s port %d", info.contactIP, info.viaIP, info.Via.Port)
	}
}

// FuzzBracketIPv6Hosts: brackets are all it ever adds, and a value it
// changes gains at least one pair.
func FuzzBracketIPv6Hosts(f *testing.F) {
	f.Add("<sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0:5060>", false)
	f.Add("SIP/2.0/UDP fe80::1:5060;branch=z", true)
	f.Add("<sips:a:b@2001:db8::1>, sip:fd00::2;x", false)
	f.Fuzz(func(t *testing.T, v string, via bool) {
		got := bracketIPv6Hosts(v, via)
		if got == v {
			return
		}
		strip := strings.NewReplacer("[", "", "]", "")
		if strip.Replace(got) != strip.Replace(v) || strings.Count(got, "[") <= strings.Count(v, "[") {
			t.Errorf("bracketIPv6Hosts(%q) = %q", v, got)
		}
	})
}
