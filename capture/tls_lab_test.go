//go:build linux

package capture

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
)

// sipOverTLS is a call's signalling as a phone (client) and a server
// exchange it, one message per write.
func sipOverTLS(callID string) (client, server []string) {
	sdp := func(ip string, port int) string {
		return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", ip, ip, port)
	}
	msg := func(start, cseq, tag, body string) string {
		h := fmt.Sprintf("%s\r\nVia: SIP/2.0/TLS 192.168.1.10:5061;branch=z9hG4bK-%s;rport\r\nFrom: <sip:100@sip.example.test>;tag=a1\r\n"+
			"To: <sip:200@sip.example.test>%s\r\nCall-ID: %s\r\nCSeq: %s\r\nContact: <sip:100@192.168.1.10:5061;transport=tls>\r\n",
			start, strings.Fields(cseq)[0], tag, callID, cseq)
		if body != "" {
			h += "Content-Type: application/sdp\r\n"
		}
		return h + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	client = []string{
		msg("INVITE sip:200@sip.example.test SIP/2.0", "1 INVITE", "", sdp("192.168.1.10", 10000)),
		msg("ACK sip:200@sip.example.test SIP/2.0", "1 ACK", ";tag=b2", ""),
		msg("BYE sip:200@sip.example.test SIP/2.0", "2 BYE", ";tag=b2", ""),
	}
	server = []string{
		msg("SIP/2.0 200 OK", "1 INVITE", ";tag=b2", sdp("203.0.113.20", 20000)),
		"", // nothing answers an ACK
		msg("SIP/2.0 200 OK", "2 BYE", ";tag=b2", ""),
	}
	return client, server
}

// tlsCall runs a SIP dialog over Go's crypto/tls between two lab
// namespaces, the client writing a key log, captured with tcpdump at the
// server. It returns the capture, the key log and the server's key (PEM).
func tlsCall(t *testing.T, cfg *tls.Config) (pcap string, keylog, keyPEM []byte) {
	key, cert := rsaCertificate(t)
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip-tls", "203.0.113.20")
	cliHost := lab.PublicHost("phone-tls", "203.0.113.10")
	pcap = filepath.Join(t.TempDir(), "tls.pcap")
	dump := srvHost.StartTcpdump(t, pcap, "tcp port 5061")
	l, err := srvHost.ListenTCP("tcp4", "203.0.113.20:5061")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fromClient, fromServer := sipOverTLS("tls-call-1@192.168.1.10")
	scfg := cfg.Clone()
	scfg.Certificates = []tls.Certificate{cert}
	errs := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errs <- err
			return
		}
		errs <- converse(tls.Server(c, scfg), fromServer, fromClient)
	}()
	raw, err := cliHost.DialTCP("tcp4", "203.0.113.20:5061", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var kl bytes.Buffer
	ccfg := cfg.Clone()
	ccfg.InsecureSkipVerify, ccfg.KeyLogWriter = true, &kl
	if err := converse(tls.Client(raw, ccfg), fromClient, fromServer); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	return pcap, kl.Bytes(), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// converse reads the peer's message before each of its own, in turn; the
// client (who speaks first) passes its own list as send.
func converse(c *tls.Conn, send, receive []string) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	client := strings.HasPrefix(send[0], "INVITE")
	for i := range send {
		if client && send[i] != "" {
			if _, err := io.WriteString(c, send[i]); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(c, make([]byte, len(receive[i]))); err != nil {
			return err
		}
		if !client && send[i] != "" {
			if _, err := io.WriteString(c, send[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func rsaCertificate(t *testing.T) (*rsa.PrivateKey, tls.Certificate) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sip.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestLabSIPOverTLS: a call's SIP over TLS, captured on the wire, is read
// with the client's key log (TLS 1.3 and 1.2) or the server's RSA key (TLS
// 1.2, RSA key exchange) and judged like clear SIP; without keys the
// signalling stays encrypted, and with the wrong key the report says so.
func TestLabSIPOverTLS(t *testing.T) {
	natlab.Require(t)
	rsaKex := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}
	for _, tc := range []struct {
		name     string
		cfg      *tls.Config
		byRSAKey bool
	}{
		{"TLS 1.3, key log", &tls.Config{MinVersion: tls.VersionTLS13}, false},
		{"TLS 1.2 ECDHE, key log", &tls.Config{MaxVersion: tls.VersionTLS12}, false},
		{"TLS 1.2 RSA key exchange, server key", rsaKex, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcap, keylog, keyPEM := tlsCall(t, tc.cfg)
			keys := tlsdecrypt.NewKeys()
			if tc.byRSAKey {
				if err := keys.ReadRSAKey(keyPEM); err != nil {
					t.Fatal(err)
				}
			} else if _, err := keys.ReadKeyLog(bytes.NewReader(keylog)); err != nil {
				t.Fatal(err)
			}
			res := analyzeWith(t, pcap, keys)
			if len(res.Calls) != 1 || res.Calls[0].CallID != "tls-call-1@192.168.1.10" || res.Calls[0].Verdict != report.VerdictIncompleteCapture {
				t.Fatalf("calls %+v", res.Calls)
			}
			if ids := findingIDs(res.Calls[0]); !strings.Contains(strings.Join(ids, ","), "sdp-private-address") {
				t.Errorf("the decrypted INVITE's private SDP address was not found: %v", ids)
			}
			if !hasCaptureFinding(res.Findings, IDTLSDecrypted) || hasCaptureFinding(res.Findings, "signalling-encrypted") {
				t.Errorf("findings %v", res.Findings)
			}
			if !tc.byRSAKey {
				embeddedKeys(t, pcap, keylog)
			}
			clear := analyzePath(t, pcap)
			if len(clear.Calls) != 0 || !hasCaptureFinding(clear.Findings, "signalling-encrypted") {
				t.Errorf("without keys: %d calls, findings %v", len(clear.Calls), clear.Findings)
			}
			other, _ := rsaCertificate(t)
			wrong := tlsdecrypt.NewKeys()
			_ = wrong.ReadRSAKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}))
			bad := analyzeWith(t, pcap, wrong)
			if len(bad.Calls) != 0 || !hasCaptureFinding(bad.Findings, IDTLSNotDecrypted) {
				t.Errorf("with a wrong key: %d calls, findings %v", len(bad.Calls), bad.Findings)
			}
			for _, f := range bad.Findings {
				t.Logf("wrong key: %s: %s", f.ID, f.Title)
			}
		})
	}
}

// embeddedKeys has Wireshark's editcap write the key log into the capture
// (a pcapng Decryption Secrets Block), as an engineer shares a capture of
// SIP over TLS, and checks that natdoc reads it with no keys given.
func embeddedKeys(t *testing.T, pcap string, keylog []byte) {
	t.Helper()
	dir := t.TempDir()
	keyFile, withKeys := filepath.Join(dir, "keys.log"), filepath.Join(dir, "with-keys.pcapng")
	if err := os.WriteFile(keyFile, keylog, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+keyFile, pcap, withKeys).CombinedOutput(); err != nil {
		t.Fatalf("editcap --inject-secrets: %v: %s", err, out)
	}
	res := analyzePath(t, withKeys)
	if len(res.Calls) != 1 || res.Calls[0].CallID != "tls-call-1@192.168.1.10" {
		t.Fatalf("with the keys in the capture: calls %+v, findings %v", res.Calls, res.Findings)
	}
	f := captureFinding(res, IDTLSDecrypted)
	if f == nil || !strings.Contains(f.Title, "the keys the capture carries") {
		t.Errorf("with the keys in the capture: findings %v", res.Findings)
	}
}

func analyzeWith(t *testing.T, path string, keys *tlsdecrypt.Keys) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), Options{Files: []string{path}, Detail: true, TLSKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// hasCaptureFinding looks in the capture-wide findings.
func hasCaptureFinding(fs []report.Finding, id report.FindingID) bool {
	return hasFinding(report.Call{Findings: fs}, id)
}
