package proxy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/internal/sipcall"
)

const offerPrivate = "v=0\r\no=alice 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtcp:4001\r\na=candidate:1 1 UDP 1 192.168.1.10 4000 typ host\r\na=sendrecv\r\n" +
	"m=video 4002 RTP/AVP 96\r\n"

func TestAnchor(t *testing.T) {
	relayAddr := netip.MustParseAddr("203.0.113.5")
	out, orig, err := Anchor([]byte(offerPrivate), relayAddr, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if orig.RTP != netip.MustParseAddrPort("192.168.1.10:4000") || orig.RTCP.Port() != 4001 || orig.Inactive {
		t.Errorf("orig %+v", orig)
	}
	s := string(out)
	for _, want := range []string{"c=IN IP4 203.0.113.5", "m=audio 10000 RTP/AVP 0 101", "a=rtcp:10001", "m=video 0 RTP/AVP 96", "o=alice 1 1 IN IP4 203.0.113.5"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "192.168.1.10") || strings.Contains(s, "candidate") {
		t.Errorf("private address or ICE left in\n%s", s)
	}
	got, err := sipcall.AudioAddr(out)
	if err != nil || got.RTP != netip.MustParseAddrPort("203.0.113.5:10000") {
		t.Errorf("re-read %+v %v", got, err)
	}
}

// FuzzAnchor: any body either fails cleanly or yields SDP that parses again
// and points at the relay.
func FuzzAnchor(f *testing.F) {
	f.Add([]byte(offerPrivate))                                                                                   // typical private offer with ICE and video
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n")) // hold
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 5000/2 RTP/AVP 0\r\n"))    // port count
	f.Add([]byte("v=0\r\nm=audio 99999 RTP/AVP 0\r\n"))                                                           // out of range
	relayAddr := netip.MustParseAddr("198.51.100.7")
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, err := Anchor(body, relayAddr, 20000)
		if err != nil {
			return
		}
		got, err := sipcall.AudioAddr(out)
		if err != nil {
			t.Fatalf("anchored SDP does not parse: %v\n%q", err, out)
		}
		if !got.Inactive && got.RTP != netip.AddrPortFrom(relayAddr, 20000) {
			t.Fatalf("anchored to %v\n%q", got.RTP, out)
		}
	})
}
