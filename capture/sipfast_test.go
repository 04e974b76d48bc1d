package capture

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// fastSIPSeeds are messages in the plain form and just outside it: the
// corpus of FuzzFastSIP and the cases of TestFastSIP.
var fastSIPSeeds = []struct {
	name  string
	msg   string
	plain bool // the fast path reads it
}{
	{"INVITE with SDP", "INVITE sip:gw@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1a2b;rport\r\nMax-Forwards: 70\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:gw@natdoc.test>\r\nCall-ID: 9acb0442-0@natdoc.test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@192.168.1.10:5060>\r\nUser-Agent: natdoc-pcapgen\r\nContent-Type: application/sdp\r\nContent-Length: 16\r\n\r\nv=0\r\ns=natdoc\r\n\r\n", true},
	{"response with received and rport", "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;received=203.0.113.1;rport=20000\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:gw@natdoc.test>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@198.51.100.20:5060>\r\nServer: natdoc-pcapgen\r\nContent-Length: 0\r\n\r\n", true},
	{"compact forms and display names", "BYE sip:100@203.0.113.1:20000;transport=udp SIP/2.0\r\nv: SIP/2.0/TCP gw.example.com;branch=z9hG4bK2\r\nv: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK3\r\n" +
		"f: \"Doe, John\" <sip:200@example.com>;tag=b2\r\nt: Alice <sips:100@natdoc.test;user=phone>;tag=a1\r\ni: c1\r\nCSeq: 2 BYE\r\nm: sip:200@198.51.100.30;expires=60\r\nl: 0\r\n\r\n", true},
	{"rejection with Reason and Warning", "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;rport=5060\r\n" +
		"From: <sip:100@natdoc.test>;tag=a1\r\nTo: <sip:0123456789@natdoc.test>;tag=gw\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
		"Reason: Q.850;cause=34;text=\"No circuit available\"\r\nReason: SIP ;cause=503\r\nWarning: 399 sip1 \"No other DNS entries to try\"\r\nContent-Length: 0\r\n\r\n", true},
	{"register answer with bindings", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1;received=203.0.113.1;rport=5060\r\nFrom: <sip:100@x>;tag=r\r\nTo: <sip:100@x>;tag=reg\r\n" +
		"Call-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:100@192.168.1.10:5060;alias=203.0.113.1~5060~1>;expires=3600\r\nContact: <sip:100@10.0.0.9>;expires=60;received=\"sip:203.0.113.9:1024\"\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n", true},
	{"B2BUA identity headers", "INVITE sip:200@198.51.100.30 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bK5\r\nFrom: <sip:proxy@198.51.100.20>;tag=c1\r\nTo: <sip:200@x>\r\n" +
		"Call-ID: b2b-1\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: \"Alice\" <sip:100@natdoc.test>\r\nDiversion: <sip:300@x>;reason=no-answer\r\nX-Orig-Call-ID: 9acb0442-0@natdoc.test\r\nRecord-Route: <sip:198.51.100.20;lr>\r\nContent-Length: 0\r\n\r\n", true},
	{"REGISTER with credentials", "REGISTER sip:natdoc.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK7\r\nFrom: <sip:100@natdoc.test>;tag=r2\r\nTo: <sip:100@natdoc.test>\r\n" +
		"Call-ID: reg-2\r\nCSeq: 2 REGISTER\r\nContact: <sip:100@192.168.1.10:5060>\r\nAuthorization: Digest username=\"100\", realm=\"natdoc.test\", nonce=\"abc\", uri=\"sip:natdoc.test\", response=\"0123\"\r\nContent-Length: 0\r\n\r\n", true},
	{"stale challenge", "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK7\r\nFrom: <sip:100@natdoc.test>;tag=r2\r\nTo: <sip:100@natdoc.test>;tag=s\r\n" +
		"Call-ID: reg-2\r\nCSeq: 2 REGISTER\r\nWWW-Authenticate: Digest realm=\"natdoc.test\", nonce=\"def\", stale=TRUE\r\nContent-Length: 0\r\n\r\n", true},
	{"datagram without Content-Length", "OPTIONS sip:gw@198.51.100.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10\r\nFrom: sip:100@x;tag=o\r\nTo: sip:gw@x\r\nCall-ID: o1\r\nCSeq: 5 OPTIONS\r\n\r\n", true},
	{"body longer than Content-Length", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4:5060\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nv=0\r\nextra\r\n", true},
	{"duplicate Via", "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", true},
	{"folded header", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>\r\n ;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"two Vias in one header", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4, SIP/2.0/UDP 5.6.7.8\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"IPv6", "INVITE sip:gw@[2001:db8:2::20] SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1\r\nFrom: <sip:a@[2001:db8::1]>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@[2001:db8::1]:5062>\r\n\r\n", true},
	{"IPv4-mapped Via", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::ffff:102:304]:5060\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"IPv6 with a zone", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [fe80::1%eth0]:5060\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"IPv6 without brackets", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP fd00::1:5060\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"tel URI", "INVITE tel:+4930123 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <tel:+4930123>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"short body", "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nv=0\r\n", false},
	{"bad Max-Forwards", "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nMax-Forwards: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"routes", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nRecord-Route: <sip:198.51.100.20;lr>\r\nRecord-Route: <sip:p2.example.com:5070;transport=tcp;lr>;x=1\r\nRoute: sip:1.2.3.4;lr\r\nRefer-To: \"Bob\" <sip:bob@c>\r\nReferred-By: <sip:a@b>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", true},
	{"Record-Route list", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", true},
	{"Record-Route list of addresses", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nRecord-Route: <sip:192.168.1.5;lr>, <sip:10.0.0.1:5070;lr>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", true},
	{"INVITE Record-Route list", "INVITE sip:b@203.0.113.11 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nRecord-Route: <sip:192.168.1.5;lr>, <sip:10.0.0.1:5070;lr>\r\nRecord-Route: <sip:10.0.0.2;lr>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", true},
	{"bad Record-Route", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nRecord-Route: <sip:[::1>\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"escaped display name", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: \"a\\\"b\" <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"no Call-ID", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"non-ASCII display name", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: \"M\xc3\xbcller\" <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n", false},
	{"bare LF", "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 1.2.3.4\nFrom: <sip:a@b>;tag=1\nTo: <sip:b@c>\nCall-ID: x\nCSeq: 1 INVITE\n\n", false},
}

// TestFastSIP: the fast path reads the plain messages exactly as sipgo
// does, as datagrams and from a stream, and leaves the others to sipgo.
func TestFastSIP(t *testing.T) {
	for _, tc := range fastSIPSeeds {
		t.Run(tc.name, func(t *testing.T) {
			r := newSIPReader()
			_, plain := r.fastDatagram([]byte(tc.msg))
			if plain != tc.plain {
				t.Fatalf("fast path took it: %v, want %v", plain, tc.plain)
			}
			checkFastSIP(t, r, []byte(tc.msg))
		})
	}
}

// checkFastSIP fails when the fast path reads b otherwise than sipgo.
func checkFastSIP(t *testing.T, r *sipReader, b []byte) {
	t.Helper()
	if fast, ok := r.fastDatagram(b); ok {
		full, err := r.parseSIPDatagramFully(b)
		if err != nil {
			t.Fatalf("the fast path read a datagram sipgo refuses (%v):\n%q", err, b)
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("datagram read differently:\nfast  %+v\nsipgo %+v\n%q", fast, full, b)
		}
	}
	if r.partialPlain(b) {
		if _, _, need, err := r.parseSIPStreamFully(b); !need {
			t.Fatalf("partialPlain took for the start of a message what sipgo reads whole or refuses (%v):\n%q", err, b)
		}
	}
	if fast, n, ok := r.fastStream(b); ok {
		full, m, need, err := r.parseSIPStreamFully(b)
		if err != nil || need {
			t.Fatalf("the fast path read a stream message sipgo refuses (need %v, %v):\n%q", need, err, b)
		}
		if n != m || !reflect.DeepEqual(fast, full) {
			t.Fatalf("stream message read differently:\nfast  %d %+v\nsipgo %d %+v\n%q", n, fast, m, full, b)
		}
	}
}

// FuzzFastSIP holds the SIP fast path equal to sipgo: any message it reads,
// it reads as the full parse does.
func FuzzFastSIP(f *testing.F) {
	for _, tc := range fastSIPSeeds {
		f.Add([]byte(tc.msg))
		f.Add([]byte(tc.msg[:len(tc.msg)/2])) // a stream's message not all come
	}
	r := newSIPReader()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastSIP(t, r, b)
		if strings.HasPrefix(string(b), "\r\n") { // keep-alives before a stream message
			_, _, _, _ = r.parseSIPStream(b)
		}
	})
}

// FuzzHeaderBlockEnd holds headerBlockEnd's one pass to the two it
// replaces: the first "\r\n\r\n", and a plain block before it.
func FuzzHeaderBlockEnd(f *testing.F) {
	for _, tc := range fastSIPSeeds {
		f.Add([]byte(tc.msg))
	}
	for _, s := range []string{"\r\n\r\n", "a\r\n b\r\n\r\n", "a\rb\r\n\r\n", "a\nb\r\n\r\n", "abc\r\n", "h\xc3\xa9llo\r\n\r\n",
		"a\tb\r\n\r\n\r\n", "a\r\n\r\r\n\r\n", "\x7f\r\n\r\n", "12345678\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := headerBlockEnd(b)
		wantEnd := bytes.Index(b, []byte("\r\n\r\n"))
		wantOK := wantEnd >= 0 && plainBlockOneByOne(b[:wantEnd+2])
		if ok != wantOK || (ok && end != wantEnd) {
			t.Fatalf("headerBlockEnd(%q) = %d, %v; want %d, %v", b, end, ok, wantEnd, wantOK)
		}
	})
}

// plainBlockOneByOne is what headerBlockEnd checks, a byte at a time.
func plainBlockOneByOne(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c >= 0x20 && c < 0x7f, c == '\t':
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			if i+2 < len(b) && (b[i+2] == ' ' || b[i+2] == '\t') {
				return false
			}
			i++
		default:
			return false
		}
	}
	return true
}

// TestPartialPlain: the start of a plain message, cut anywhere after its
// start line and before its blank line, is one to wait for without asking
// sipgo; a message cut in its start line or between a CR and its LF, or
// one not plain, is sipgo's to judge.
func TestPartialPlain(t *testing.T) {
	r := newSIPReader()
	msg := fastSIPSeeds[0].msg
	end := strings.Index(msg, "\r\n\r\n")
	startLine := strings.Index(msg, "\r\n")
	for cut := 1; cut <= end+2; cut++ {
		b := []byte(msg[:cut])
		// A CR without its LF yet is sipgo's to judge (a bare CR it refuses).
		want := cut >= startLine+2 && b[cut-1] != '\r'
		if got := r.partialPlain(b); got != want {
			t.Fatalf("partialPlain(%q) = %v, want %v", b, got, want)
		}
		checkFastSIP(t, r, b)
	}
	if r.partialPlain([]byte(msg)) {
		t.Error("a whole message taken for a part")
	}
	if r.partialPlain([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP fd00::1:5060\r\nFrom: <sip")) {
		t.Error("a message outside the plain form taken for a plain part")
	}
}

// TestRouteHop: a 2xx to an INVITE names the first hop of its caller's
// route set, the last Record-Route entry, and an INVITE the first hop of
// its callee's, the first entry, read alike from one header or a list; a
// name is no address.
func TestRouteHop(t *testing.T) {
	r := newSIPReader()
	for name, want := range map[string]string{
		"routes":                         "", // the last entry is p2.example.com
		"Record-Route list of addresses": "10.0.0.1:5070",
		"INVITE Record-Route list":       "192.168.1.5:5060",
	} {
		for _, tc := range fastSIPSeeds {
			if tc.name != name {
				continue
			}
			info, err := r.parseSIPDatagramFully([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.extras().RouteHop; (want == "" && got.IsValid()) || (want != "" && got.String() != want) {
				t.Errorf("%s: route hop %v, want %q", name, got, want)
			}
			checkFastSIP(t, r, []byte(tc.msg))
		}
	}
}
