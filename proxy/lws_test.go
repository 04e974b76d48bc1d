package proxy

import (
	"bytes"
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestTidyLWS(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"untouched", "OPTIONS sip:a SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\r\nbody ; = x",
			"OPTIONS sip:a SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\r\nbody ; = x"},
		{"params", "X sip:a SIP/2.0\r\nTO :\r\n sip:v@h ;   tag    = 18\r\n\r\n",
			"X sip:a SIP/2.0\r\nTO : sip:v@h;tag=18\r\n\r\n"},
		{"folded params", "X sip:a SIP/2.0\r\nfrom   : \"J \\\\\\\"\"  <sip:j@e>\r\n  ;\r\n  tag = 98\r\n\r\n",
			"X sip:a SIP/2.0\r\nfrom   : \"J \\\\\\\"\"  <sip:j@e>;tag=98\r\n\r\n"},
		{"quoted kept", "X sip:a SIP/2.0\r\nm: \"a ; b = c\" <sip:x@y> ; q = 0.3\r\n\r\n",
			"X sip:a SIP/2.0\r\nm: \"a ; b = c\" <sip:x@y>;q=0.3\r\n\r\n"},
		{"other headers only unfolded", "X sip:a SIP/2.0\r\nSubject: a = b ;\r\n c\r\n\r\n",
			"X sip:a SIP/2.0\r\nSubject: a = b ; c\r\n\r\n"},
		{"no header end", "X sip:a SIP/2.0\r\nTo: a ; tag = 1\r\n", "X sip:a SIP/2.0\r\nTo: a ; tag = 1\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tidyLWS([]byte(tt.in))); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestTidyLWSWsinv: after tidying, sipgo reads RFC 4475's wsinv as the RFC
// means it (tags and hosts without the whitespace around them).
func TestTidyLWSWsinv(t *testing.T) {
	b, err := os.ReadFile("../testdata/torture/rfc4475/wsinv.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.NewParser().ParseSIP(tidyLWS(b))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	from, _ := req.From().Params.Get("tag")
	to, _ := req.To().Params.Get("tag")
	if from != "98asjd8" || to != "1918181833n" || req.To().Address.Host != "chair-dnrc.example.com" || len(req.Body()) != 150 {
		t.Errorf("from tag %q, to tag %q, to host %q, body %d bytes", from, to, req.To().Address.Host, len(req.Body()))
	}
}

func TestTidyLWSNoAllocation(t *testing.T) {
	msg := []byte("OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { tidyLWS(msg) }); n != 0 {
		t.Errorf("%v allocations for a message with nothing to tidy", n)
	}
}

// FuzzTidyLWS: any input; the body is never touched and tidying twice
// changes nothing more.
func FuzzTidyLWS(f *testing.F) {
	for _, name := range []string{"wsinv", "intmeth", "esc01", "lwsdisp", "quotbal", "baddn"} {
		if b, err := os.ReadFile("../testdata/torture/rfc4475/" + name + ".dat"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("X sip:a SIP/2.0\r\nTo: \"\\\" ; x\" <sip:a> ; tag = 1\r\n\r\n;=,"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := tidyLWS(msg)
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 && !bytes.HasSuffix(out, msg[i:]) {
			t.Fatalf("body changed: %q -> %q", msg, out)
		}
		if again := tidyLWS(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", msg, out, again)
		}
	})
}
