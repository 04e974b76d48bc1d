package proxy

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceLifetime: a phone answers a challenge at once; five minutes covers
// slow retries without letting a captured nonce live long.
const nonceLifetime = 5 * time.Minute

// maxUsersFileLine bounds one line of a users file.
const maxUsersFileLine = 1024

// ReadUsers parses a users file: one "user:password" per line; blank lines
// and lines starting with # are ignored.
func ReadUsers(r io.Reader) (map[string]string, error) {
	users := make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, maxUsersFileLine), maxUsersFileLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("users file line %d: want user:password", n)
		}
		users[user] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return users, nil
}

// digestAuth checks RFC 3261 §22 digest credentials (RFC 2617 MD5) with
// stateless nonces: a timestamp and its HMAC, so no state grows per
// challenge.
type digestAuth struct {
	realm  string
	users  map[string]string
	secret []byte
	now    func() time.Time
}

func newDigestAuth(realm string, users map[string]string, now func() time.Time) *digestAuth {
	secret := make([]byte, 32)
	rand.Read(secret)
	return &digestAuth{realm: realm, users: users, secret: secret, now: now}
}

func (a *digestAuth) nonce() string {
	ts := strconv.FormatInt(a.now().Unix(), 16)
	return ts + "." + a.mac(ts)
}

func (a *digestAuth) mac(ts string) string {
	h := hmac.New(sha256.New, a.secret)
	h.Write([]byte(ts))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (a *digestAuth) nonceValid(n string) bool {
	ts, mac, ok := strings.Cut(n, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(a.mac(ts))) {
		return false
	}
	sec, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false
	}
	age := a.now().Sub(time.Unix(sec, 0))
	return age >= -time.Minute && age <= nonceLifetime
}

// challenge builds the 401 (REGISTER) or 407 (other requests) response.
func (a *digestAuth) challenge(req *sip.Request) *sip.Response {
	// qop=auth (RFC 2617 §3.2.1): the response then covers a client nonce and
	// count, so a captured response is no precomputed answer to a replayed
	// nonce. Phones that know no qop answer in RFC 2069 style; verify takes
	// both.
	chal := digest.Challenge{Realm: a.realm, Nonce: a.nonce(), Algorithm: "MD5", QOP: []string{"auth"}}
	code, reason, header := 407, "Proxy Authentication Required", "Proxy-Authenticate"
	if req.Method == sip.REGISTER {
		code, reason, header = 401, "Unauthorized", "WWW-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader(header, chal.String()))
	return res
}

// verify returns the authenticated user name, or "" when the request
// carries no valid credentials for this realm.
func (a *digestAuth) verify(req *sip.Request) string {
	name := "Proxy-Authorization"
	if req.Method == sip.REGISTER {
		name = "Authorization"
	}
	for _, h := range req.GetHeaders(name) {
		cred, err := digest.ParseCredentials(h.Value())
		if err != nil || cred.Realm != a.realm || !a.nonceValid(cred.Nonce) {
			continue
		}
		pass, ok := a.users[cred.Username]
		if !ok {
			continue
		}
		want, err := digest.Digest(&digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm, QOP: qopList(cred.QOP)},
			digest.Options{Method: string(req.Method), URI: cred.URI, Username: cred.Username, Password: pass, Cnonce: cred.Cnonce, Count: cred.Nc})
		if err != nil {
			continue
		}
		if hmac.Equal([]byte(want.Response), []byte(cred.Response)) {
			return cred.Username
		}
	}
	return ""
}

func qopList(q string) []string {
	if q == "" {
		return nil
	}
	return []string{q}
}
