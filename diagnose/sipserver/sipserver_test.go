package sipserver

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const leakyAnswer = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-1;rport=40000;received=203.0.113.1\r\n" +
	"From: <sip:natdoc@192.168.1.10>;tag=1\r\nTo: <sip:203.0.113.2>;tag=2\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n" +
	"Contact: <sip:10.0.0.10:5060>\r\nRecord-Route: <sip:172.16.0.1;lr>\r\nServer: tiny-pbx\r\nContent-Type: application/sdp\r\n" +
	"Content-Length: 51\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.10\r\nc=IN IP4 10.0.0.10\r\n"

func TestInspect(t *testing.T) {
	msg, err := sip.ParseMessage([]byte(leakyAnswer))
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{}
	Inspect(msg.(*sip.Response), res)
	if res.Status != 200 || res.Rport != 40000 || res.Received != "203.0.113.1" || res.Server != "tiny-pbx" {
		t.Errorf("result %+v", res)
	}
	var where []string
	for _, l := range res.Leaks {
		where = append(where, l.Where+"="+l.Addr.String())
	}
	got := strings.Join(where, " ")
	for _, w := range []string{"Contact=10.0.0.10", "Record-Route=172.16.0.1", "SDP c==10.0.0.10", "SDP o==10.0.0.10"} {
		if !strings.Contains(got, w) {
			t.Errorf("leak %s missing in %s", w, got)
		}
	}
	if strings.Contains(got, "192.168.1.10") {
		t.Errorf("our own Via counted as a leak: %s", got)
	}
}

func TestSplitTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{"sip.example.org", "sip.example.org", 0, false},
		{"sip.example.org:5080", "sip.example.org", 5080, false},
		{"203.0.113.2", "203.0.113.2", 0, false},
		{"203.0.113.2:5060", "203.0.113.2", 5060, false},
		{"[2001:db8::1]:5060", "2001:db8::1", 5060, false},
		{"2001:db8::1", "2001:db8::1", 0, false},
		{"host:99999", "", 0, true},
		{"a:b:c", "", 0, true},
	} {
		h, p, err := splitTarget(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (h != tc.host || p != tc.port)) {
			t.Errorf("splitTarget(%q) = %q %d %v", tc.in, h, p, err)
		}
	}
}

func TestLeaksIn(t *testing.T) {
	for in, want := range map[string]string{
		"<sip:10.0.0.10:5060>":          "10.0.0.10",
		"<sip:pbx@192.168.0.5;lr>":      "192.168.0.5",
		"<sip:203.0.113.2:5060>":        "",
		"<sip:[fd00::5]:5060>":          "fd00::5",
		"c=IN IP4 100.64.3.4":           "100.64.3.4",
		"<sip:user@example.org>;cafe=1": "",
	} {
		got := ""
		if l := leaksIn("x", in); len(l) > 0 {
			got = l[0].Addr.String()
		}
		if got != want {
			t.Errorf("leaksIn(%q) = %q, want %q", in, got, want)
		}
	}
	_ = netip.Addr{}
}

// FuzzInspect: a hostile server answer never panics the inspection.
func FuzzInspect(f *testing.F) {
	f.Add([]byte(leakyAnswer))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;rport=abc\r\nContact: <sip:[::ffff:10.0.0.1]>\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := sip.ParseMessage(raw)
		if err != nil {
			return
		}
		if resp, ok := msg.(*sip.Response); ok {
			Inspect(resp, &Result{})
		}
	})
}
