//go:build linux

package tlsdecrypt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/internal/natlab"
)

// opensslLines are what the client types: SIP-like lines, with OpenSSL's
// "K" command between them (a TLS 1.3 KeyUpdate that asks the server to
// update too; left out for TLS 1.2, which has none).
var opensslLines = []string{"INVITE sip:200@sip.example.test SIP/2.0", "K", "BYE sip:200@sip.example.test SIP/2.0"}

// opensslSession runs openssl s_server (-rev: it answers each line
// reversed) and s_client with -keylogfile in two lab namespaces, captured
// with tcpdump at the server, and returns the capture's TCP payloads
// in capture order and the key log.
func opensslSession(t *testing.T, serverArgs, clientArgs []string) (chunks []chunk, keylog []byte) {
	t.Helper()
	testCerts(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rsaCert.Certificate[0]}))
	writeFile(t, keyFile, rsaPEM)
	lab := natlab.New(t)
	server := lab.PublicHost("tls-server", "203.0.113.20")
	client := lab.PublicHost("tls-client", "203.0.113.10")
	pcap := filepath.Join(dir, "tls.pcap")
	dump := server.StartTcpdump(t, pcap, "tcp port 5061")
	args := append([]string{"s_server", "-accept", "5061", "-cert", certFile, "-key", keyFile, "-rev", "-naccept", "1"}, serverArgs...)
	srv := server.Start(t, "openssl", args...)
	time.Sleep(700 * time.Millisecond)
	logFile := filepath.Join(dir, "keylog.txt")
	script := "sleep 0.5"
	for _, l := range opensslLines {
		if l == "K" && !strings.Contains(strings.Join(clientArgs, " "), "-tls1_3") {
			continue // TLS 1.2 has no KeyUpdate; s_client gives up
		}
		script += fmt.Sprintf("; echo '%s'; sleep 0.4", l)
	}
	cli := fmt.Sprintf("(%s) | openssl s_client -connect 203.0.113.20:5061 -keylogfile %s %s", script, logFile, strings.Join(clientArgs, " "))
	c := client.Start(t, "sh", "-c", cli)
	if err := c.Wait(); err != nil {
		t.Fatalf("s_client: %v\n%s", err, c.Log())
	}
	time.Sleep(300 * time.Millisecond)
	srv.Stop()
	dump.Stop()
	keylog, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	return tcpChunks(t, pcap), keylog
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tcpChunks lists the TCP payloads of a capture of one connection in
// capture order, side 0 the client (the SYN's sender), skipping
// retransmitted bytes by sequence number.
func tcpChunks(t *testing.T, path string) []chunk {
	t.Helper()
	var out []chunk
	var next [2]uint32
	var clientPort layers.TCPPort
	for _, p := range natlab.ReadPcap(t, path) {
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		if tcp.SYN && !tcp.ACK {
			clientPort = tcp.SrcPort
		}
		side := 1
		if tcp.SrcPort == clientPort {
			side = 0
		}
		if tcp.SYN {
			next[side] = tcp.Seq + 1
			continue
		}
		if d := int32(tcp.Seq - next[side]); d < 0 || len(tcp.Payload) == 0 {
			continue // a retransmission or a bare ACK
		}
		out = append(out, chunk{side, append([]byte(nil), tcp.Payload...)})
		next[side] = tcp.Seq + uint32(len(tcp.Payload))
	}
	return out
}

// TestLabOpenSSL decrypts real OpenSSL sessions captured on the wire: TLS
// 1.3 with each suite and key updates both ways, TLS 1.2 with ECDHE and
// AES-CBC (OpenSSL negotiates encrypt-then-MAC and extended master
// secret), ChaCha20 and AES-GCM-SHA384, RSA key exchange opened with the
// server's private key alone, and TLS 1.0 and 1.1 with AES-CBC.
func TestLabOpenSSL(t *testing.T) {
	natlab.Require(t)
	for _, tc := range []struct {
		name           string
		server, client []string
		byRSAKey       bool
		etm            bool
	}{
		{"TLS 1.3 AES-256-GCM-SHA384", []string{"-tls1_3"}, []string{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"}, false, false},
		{"TLS 1.3 ChaCha20-Poly1305", []string{"-tls1_3"}, []string{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"}, false, false},
		{"TLS 1.2 ECDHE-RSA AES-128-CBC-SHA, encrypt-then-MAC", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"}, false, true},
		{"TLS 1.2 ECDHE-RSA ChaCha20-Poly1305", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"}, false, false},
		{"TLS 1.2 ECDHE-RSA AES-256-GCM-SHA384", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"}, false, false},
		{"TLS 1.2 RSA AES-256-CBC-SHA256, by the server's key", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "AES256-SHA256"}, true, true},
		{"TLS 1.2 RSA AES-128-CBC-SHA without encrypt-then-MAC, by the server's key", []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "AES128-SHA", "-no_etm"}, true, false},
		// TLS 1.0 and 1.1 need security level 0 in OpenSSL 3; PBXs on
		// old stacks still talk them (Asterisk's res_pjsip with TLS 1.0
		// and AES256-SHA, the voipshark lab captures).
		{"TLS 1.0 RSA AES-256-CBC-SHA without encrypt-then-MAC, by the server's key", []string{"-tls1", "-cipher", "ALL@SECLEVEL=0"}, []string{"-tls1", "-cipher", "AES256-SHA@SECLEVEL=0", "-no_etm"}, true, false},
		{"TLS 1.0 ECDHE-RSA AES-128-CBC-SHA, encrypt-then-MAC", []string{"-tls1", "-cipher", "ALL@SECLEVEL=0"}, []string{"-tls1", "-cipher", "ECDHE-RSA-AES128-SHA@SECLEVEL=0"}, false, true},
		{"TLS 1.1 RSA AES-128-CBC-SHA, encrypt-then-MAC, by the server's key", []string{"-tls1_1", "-cipher", "ALL@SECLEVEL=0"}, []string{"-tls1_1", "-cipher", "AES128-SHA@SECLEVEL=0"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks, keylog := opensslSession(t, tc.server, tc.client)
			keys := keysFrom(t, keylog, nil)
			if tc.byRSAKey {
				keys = keysFrom(t, nil, rsaPEM)
			}
			c, got := replay(chunks, keys)
			st := c.Status()
			t.Logf("%s %s: %d records, %d decrypted; problem %q", VersionName(st.Version), st.Suite, st.Records, st.Decrypted, st.Problem)
			if st.Problem != "" {
				t.Fatal(st.Problem)
			}
			if st.EncryptThenMAC != tc.etm || (st.Version != 0x0304 && !st.ExtendedMasterSecret) {
				t.Errorf("encrypt-then-MAC %v (want %v), extended master secret %v (OpenSSL always offers it)", st.EncryptThenMAC, tc.etm, st.ExtendedMasterSecret)
			}
			for _, l := range opensslLines {
				if l == "K" {
					continue
				}
				if !strings.Contains(got[0], l+"\n") || !strings.Contains(got[1], reverse(l)) {
					t.Errorf("line %q not decrypted both ways:\nclient: %q\nserver: %q", l, got[0], got[1])
				}
			}
		})
	}
	t.Run("wrong RSA key", func(t *testing.T) {
		chunks, _ := opensslSession(t, []string{"-tls1_2"}, []string{"-tls1_2", "-cipher", "AES128-GCM-SHA256"})
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		c, got := replay(chunks, keysFrom(t, nil, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})))
		if st := c.Status(); !strings.Contains(st.Problem, "no RSA key given opens its pre-master secret") || got[0]+got[1] != "" {
			t.Errorf("problem %q, decrypted %q", st.Problem, got)
		}
	})
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
