package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// TestDigestQOP: the challenge offers qop=auth; a phone answering with
// qop (client nonce and count) and one answering in RFC 2069 style (no
// qop) both get in with the right password; a response whose client nonce
// was changed after computing it does not.
func TestDigestQOP(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newDigestAuth("natdoc", map[string]string{"alice": "secret"}, func() time.Time { return now })
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.net"})
	res := a.challenge(req)
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatal("401 without WWW-Authenticate")
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.Value(), `qop="auth"`) || len(chal.QOP) != 1 || chal.QOP[0] != "auth" {
		t.Fatalf("challenge %q does not offer qop=auth", h.Value())
	}
	answer := func(c *digest.Challenge, password, cnonce string) string {
		cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:example.net", Username: "alice", Password: password, Cnonce: cnonce, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		return cred.String()
	}
	noQOP := *chal
	noQOP.QOP = nil
	tampered := strings.Replace(answer(chal, "secret", "aaaa"), `cnonce="aaaa"`, `cnonce="bbbb"`, 1)
	for _, tc := range []struct {
		name, auth, want string
	}{
		{"qop=auth", answer(chal, "secret", "0a4f113b"), "alice"},
		{"RFC 2069 style", answer(&noQOP, "secret", ""), "alice"},
		{"wrong password", answer(chal, "nope", "0a4f113b"), ""},
		{"client nonce changed", tampered, ""},
	} {
		r := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.net"})
		r.AppendHeader(sip.NewHeader("Authorization", tc.auth))
		if got := a.verify(r); got != tc.want {
			t.Errorf("%s: verify = %q, want %q (%s)", tc.name, got, tc.want, tc.auth)
		}
	}
}
