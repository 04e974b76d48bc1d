package tlsdecrypt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A recorded session: each write of each side, in the order written.
type chunk struct {
	side int // 0 client, 1 server
	data []byte
}

type tap struct {
	net.Conn
	side int
	mu   *sync.Mutex
	log  *[]chunk
}

func (t tap) Write(b []byte) (int, error) {
	t.mu.Lock()
	*t.log = append(*t.log, chunk{t.side, append([]byte(nil), b...)})
	t.mu.Unlock()
	return t.Conn.Write(b)
}

var (
	certOnce sync.Once
	rsaCert  tls.Certificate
	ecCert   tls.Certificate
	rsaPEM   []byte
)

func testCerts(t testing.TB) {
	certOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rsaCert, ecCert = selfSigned(t, rk, &rk.PublicKey), selfSigned(t, ek, &ek.PublicKey)
		rsaPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	})
}

func selfSigned(t testing.TB, key any, pub any) tls.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sip.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"sip.example.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

const (
	clientSays = "INVITE sip:200@sip.example.test SIP/2.0\r\nCall-ID: tls-1\r\nContent-Length: 0\r\n\r\n"
	serverSays = "SIP/2.0 200 OK\r\nCall-ID: tls-1\r\nContent-Length: 0\r\n\r\n"
)

// goSession runs a Go crypto/tls client and server over a pipe, the client
// writing its secrets to a key log, each side sending its SIP message twice
// (the second large enough to span records).
func goSession(t *testing.T, version uint16, suite uint16, cert tls.Certificate) ([]chunk, []byte) {
	return goSessionSuite(t, version, suite, cert)
}

// goSessionF records a session for a fuzz seed.
func goSessionF(f *testing.F, version uint16) ([]chunk, []byte) {
	return goSessionSuite(f, version, 0, rsaCert)
}

func goSessionSuite(t testing.TB, version uint16, suite uint16, cert tls.Certificate) ([]chunk, []byte) {
	t.Helper()
	var mu sync.Mutex
	var log []chunk
	var keylog bytes.Buffer
	a, b := tcpPair(t)
	ccfg := &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version, KeyLogWriter: &keylog}
	scfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
	if suite != 0 {
		ccfg.CipherSuites, scfg.CipherSuites = []uint16{suite}, []uint16{suite}
	}
	client := tls.Client(tap{a, 0, &mu, &log}, ccfg)
	server := tls.Server(tap{b, 1, &mu, &log}, scfg)
	big := strings.Repeat("x", 20000)
	errs := make(chan error, 2)
	fromClient, fromServer := []string{clientSays, clientSays + big}, []string{serverSays, serverSays + big}
	go func() { errs <- talk(server, fromServer, fromClient) }()
	if err := talk(client, fromClient, fromServer); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if s := client.ConnectionState(); suite != 0 && s.CipherSuite != suite {
		t.Fatalf("negotiated %s", tls.CipherSuiteName(s.CipherSuite))
	}
	return log, keylog.Bytes()
}

// tcpPair is a connected pair of loopback TCP sockets: unlike net.Pipe,
// the kernel buffers, so both sides can write before reading.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// talk writes its messages and reads the peer's, in lockstep.
func talk(c *tls.Conn, send, receive []string) error {
	defer c.Close()
	for i, m := range send {
		if _, err := c.Write([]byte(m)); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, make([]byte, len(receive[i]))); err != nil {
			return err
		}
	}
	return nil
}

// replay feeds a recorded session to a Conn and returns what each side's
// stream decrypted to.
func replay(chunks []chunk, keys *Keys) (*Conn, [2]string) {
	c := NewConn(keys)
	var got [2]strings.Builder
	for _, ch := range chunks {
		// Feed in pieces, as TCP segments would arrive.
		for off := 0; off < len(ch.data); off += 1000 {
			c.Feed(ch.side, ch.data[off:min(off+1000, len(ch.data))], func(p []byte) { got[ch.side].Write(p) })
		}
	}
	return c, [2]string{got[0].String(), got[1].String()}
}

func keysFrom(t *testing.T, keylog []byte, rsaKey []byte) *Keys {
	t.Helper()
	k := NewKeys()
	if keylog != nil {
		if _, err := k.ReadKeyLog(bytes.NewReader(keylog)); err != nil {
			t.Fatal(err)
		}
	}
	if rsaKey != nil {
		if err := k.ReadRSAKey(rsaKey); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func TestGoSessions(t *testing.T) {
	testCerts(t)
	big := strings.Repeat("x", 20000)
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
		ec      bool
		byRSA   bool // the server's RSA key instead of the key log
	}{
		{"TLS 1.3", tls.VersionTLS13, 0, false, false},
		{"TLS 1.2 ECDHE-RSA AES-128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false, false},
		{"TLS 1.2 ECDHE-ECDSA AES-256-GCM-SHA384", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true, false},
		{"TLS 1.2 ECDHE-RSA ChaCha20-Poly1305", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, false, false},
		{"TLS 1.2 ECDHE-RSA AES-128-CBC-SHA", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false, false},
		{"TLS 1.2 ECDHE-RSA AES-128-CBC-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, false, false},
		{"TLS 1.2 RSA AES-256-CBC-SHA by key log", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_256_CBC_SHA, false, false},
		{"TLS 1.2 RSA AES-128-GCM by RSA key", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, false, true},
		{"TLS 1.2 RSA AES-128-CBC-SHA by RSA key", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA, false, true},
		{"TLS 1.1 ECDHE-RSA AES-128-CBC-SHA", tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false, false},
		{"TLS 1.1 RSA AES-256-CBC-SHA by RSA key", tls.VersionTLS11, tls.TLS_RSA_WITH_AES_256_CBC_SHA, false, true},
		{"TLS 1.0 ECDHE-ECDSA AES-256-CBC-SHA", tls.VersionTLS10, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, true, false},
		{"TLS 1.0 RSA AES-256-CBC-SHA by RSA key", tls.VersionTLS10, tls.TLS_RSA_WITH_AES_256_CBC_SHA, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := rsaCert
			if tc.ec {
				cert = ecCert
			}
			chunks, keylog := goSession(t, tc.version, tc.suite, cert)
			keys := keysFrom(t, keylog, nil)
			if tc.byRSA {
				keys = keysFrom(t, nil, rsaPEM)
			}
			c, got := replay(chunks, keys)
			st := c.Status()
			t.Logf("%s %s: %d records, %d decrypted", VersionName(st.Version), st.Suite, st.Records, st.Decrypted)
			if st.Problem != "" || !st.Decrypting {
				t.Fatalf("problem: %s", st.Problem)
			}
			if got[0] != clientSays+clientSays+big || got[1] != serverSays+serverSays+big {
				t.Errorf("decrypted %d and %d bytes, want %d and %d", len(got[0]), len(got[1]), 2*len(clientSays)+len(big), 2*len(serverSays)+len(big))
			}
		})
	}
}

func TestProblems(t *testing.T) {
	testCerts(t)
	tls12, keylog12 := goSession(t, tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, rsaCert)
	tls13, keylog13 := goSession(t, tls.VersionTLS13, 0, rsaCert)
	wrong := func(keylog []byte) []byte { // every secret's last hex digit changed
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(keylog)), "\n") {
			last := line[len(line)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			out = append(out, line[:len(line)-1]+string(repl))
		}
		return []byte(strings.Join(out, "\n"))
	}
	for _, tc := range []struct {
		name   string
		chunks []chunk
		keys   *Keys
		want   string
	}{
		{"TLS 1.2, empty key log", tls12, NewKeys(), "no key in the key log for client random"},
		{"TLS 1.3, no keys at all", tls13, nil, "no key in the key log for client random"},
		{"TLS 1.2, wrong master secret", tls12, keysFrom(t, wrong(keylog12), nil), "does not decrypt"},
		{"TLS 1.3, wrong traffic secrets", tls13, keysFrom(t, wrong(keylog13), nil), "does not decrypt"},
		{"TLS 1.2 ECDHE, only an RSA key", tls12, keysFrom(t, nil, rsaPEM), "forward secrecy"},
		{"capture starts after the ClientHello", tls12[1:], keysFrom(t, keylog12, nil), "capture starts after the ClientHello"},
		{"not TLS", []chunk{{0, []byte("INVITE sip:x SIP/2.0\r\n\r\n")}}, nil, "not a TLS record stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, got := replay(tc.chunks, tc.keys)
			st := c.Status()
			if !strings.Contains(st.Problem, tc.want) || got[0]+got[1] != "" || st.Decrypting {
				t.Errorf("problem %q (want %q), decrypted %q %q", st.Problem, tc.want, got[0], got[1])
			}
			t.Logf("%s", st.Problem)
		})
	}
}
