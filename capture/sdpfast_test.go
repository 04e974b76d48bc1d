package capture

import (
	"reflect"
	"strings"
	"testing"
)

// plainSDPSeeds are bodies as phones, servers and gateways write them; want
// says whether the fast path must read them itself.
var plainSDPSeeds = []struct {
	name string
	body string
	want bool
}{
	{"a phone's offer", "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", true},
	{"Asterisk", "v=0\r\no=- 1480327411 1480327412 IN IP4 203.0.113.5\r\ns=Asterisk\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 17214 RTP/AVP 8 0 3 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=maxptime:150\r\na=sendrecv\r\n", true},
	{"FreeSWITCH with session attributes and b=", "v=0\r\no=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7\r\ns=FreeSWITCH\r\nc=IN IP4 198.51.100.7\r\nb=AS:84\r\nt=0 0\r\na=msid-semantic: WMS\r\nm=audio 24562 RTP/AVP 9 101\r\nb=TIAS:64000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:24563 IN IP4 198.51.100.7\r\na=ptime:20\r\n", true},
	{"media-level c= and i=, hold", "v=0\r\no=user 5 6 IN IP4 10.0.0.2\r\ns=call\r\ni=info\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:96 H264/90000\r\na=inactive\r\n", true},
	{"SRTP with a=crypto", "v=0\r\no=- 3 3 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32\r\na=rtcp-mux\r\n", true},
	{"IPv6", "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\n", true},
	{"WebRTC", "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2122260223 192.168.1.10 54321 typ host\r\na=fingerprint:sha-256 AB:CD\r\na=rtpmap:111 opus/48000/2\r\n", true},
	{"no media", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n", true},
	{"T.38 (pion refuses m=image)", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=image 4000 udptl t38\r\na=T38FaxVersion:0\r\n", false},
	{"LF line ends", "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n", false},
	{"no CRLF after the last line", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0", false},
	{"a port count", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000/2 RTP/AVP 0\r\n", false},
	{"a multicast TTL", "v=0\r\no=- 1 1 IN IP4 224.2.1.1\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", true},
	{"two spaces between fields", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4  192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"a tab", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\t-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"a blank line", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"repeat times", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nr=7d 1h 0 25h\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"c= after t=", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"an unknown protocol", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/XYZ 0\r\n", false},
	{"b= pion refuses", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nb=AS: 64\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", false},
	{"a key starting with a colon", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=:sendonly\r\na=\r\na=rtpmap:0\r\n", true},
}

// checkPlainSDP fails when the fast path, reading into p (used before),
// reads body otherwise than pion.
func checkPlainSDP(t *testing.T, p *plainSDP, body []byte) (read bool) {
	t.Helper()
	sd, ok := readPlainSDP(body, p)
	if !ok {
		return false
	}
	full, err := parseSDPFully(body)
	if err != nil {
		t.Fatalf("the fast path read a body pion and the tolerant reading refuse (%v):\n%q", err, body)
	}
	if fast := describeSession(sd); !reflect.DeepEqual(fast, full) {
		t.Fatalf("body read differently:\nfast %+v\npion %+v\n%q", fast, full, body)
	}
	return true
}

// TestPlainSDP: the fast path reads the bodies phones and servers write as
// pion does, and leaves the rest to pion.
func TestPlainSDP(t *testing.T) {
	p := new(plainSDP) // one for all, as parseSDP's are reused
	for _, tc := range plainSDPSeeds {
		t.Run(tc.name, func(t *testing.T) {
			if read := checkPlainSDP(t, p, []byte(tc.body)); read != tc.want {
				t.Errorf("fast path read it: %v, want %v", read, tc.want)
			}
			info, err := parseSDP([]byte(tc.body))
			full, ferr := parseSDPFully([]byte(tc.body))
			if (err == nil) != (ferr == nil) || !reflect.DeepEqual(info, full) {
				t.Errorf("parseSDP = %+v, %v; the full parse %+v, %v", info, err, full, ferr)
			}
		})
	}
}

// FuzzPlainSDP holds the SDP fast path equal to pion: any body it reads,
// it reads as the full parse does.
func FuzzPlainSDP(f *testing.F) {
	for _, tc := range plainSDPSeeds {
		f.Add([]byte(tc.body))
		// The same body cut short, a line at a time from the end.
		lines := strings.SplitAfter(tc.body, "\r\n")
		f.Add([]byte(strings.Join(lines[:len(lines)/2], "")))
	}
	p := new(plainSDP)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkPlainSDP(t, p, b)
	})
}
