package capture_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSRTPWithWrongKeys: the voipshark SDES-SRTP call, its a=crypto keys
// altered in every SDP (an SBC that rewrites them and encrypts with
// others), decrypts with none: each direction fails authentication, so
// its listener must discard every packet, though they all arrive. The
// same capture with its keys as sent has no such finding.
func TestSRTPWithWrongKeys(t *testing.T) {
	dir := capture.RealPcapDirOrEmpty()
	path := filepath.Join(dir, "voipshark__SIP-SRTP-Normal_Call_two_parties.pcap")
	if _, err := os.Stat(path); dir == "" || err != nil {
		t.Skip("the shared real captures are not present")
	}
	const udpSum = 40 // Ethernet, IPv4 without options, UDP
	wrongKeys := rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if !bytes.Contains(data, []byte("inline:")) {
			return data
		}
		data = append([]byte(nil), data...)
		for rest := data; ; {
			i := bytes.Index(rest, []byte("inline:"))
			if i < 0 {
				break
			}
			k := rest[i+len("inline:")+4:] // a character of the key itself
			if k[0] == 'A' {
				k[0] = 'B'
			} else {
				k[0] = 'A'
			}
			rest = k
		}
		data[udpSum], data[udpSum+1] = 0, 0 // no UDP checksum (IPv4)
		return data
	})
	for _, tc := range []struct {
		path  string
		fails bool
	}{{path, false}, {wrongKeys, true}} {
		res := capture.AnalyzePath(t, tc.path)
		if len(res.Calls) != 1 {
			t.Fatalf("%d calls, want 1", len(res.Calls))
		}
		n := 0
		for _, f := range res.Calls[0].Findings {
			if f.ID == capture.IDSRTPAuthFailed {
				n++
			}
		}
		if want := map[bool]int{false: 0, true: 2}[tc.fails]; n != want {
			t.Errorf("keys altered %v: %d srtp-authentication-failed findings, want %d: %v", tc.fails, n, want, capture.FindingIDs(res.Calls[0]))
		}
	}
}

// TestSRTPOfferAnsweredPlain: the caller offers SRTP (RTP/SAVP with a key)
// and the callee answers RTP/AVP, as a Zultys PBX does: the exchange
// settled on plain RTP, both sides send it, and no key is expected to
// authenticate it. Before, the callee's plain RTP read as SRTP failing
// authentication ("the caller hears nothing").
func TestSRTPOfferAnsweredPlain(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	contentLength := regexp.MustCompile(`Content-Length: \d+`)
	path = rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		p := udp.Payload
		if !bytes.HasPrefix(p, []byte("INVITE ")) || !bytes.Contains(p, []byte("RTP/AVP")) {
			return nil
		}
		head, body, _ := bytes.Cut(p, []byte("\r\n\r\n"))
		body = bytes.Replace(body, []byte("RTP/AVP"), []byte("RTP/SAVP"), 1)
		body = append(body, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"...)
		head = contentLength.ReplaceAll(head, []byte(fmt.Sprintf("Content-Length: %d", len(body))))
		return append(append(head, "\r\n\r\n"...), body...)
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	for _, id := range capture.FindingIDs(c) {
		if id == string(capture.IDSRTPAuthFailed) || id == string(capture.IDMediaEncrypted) || id == string(capture.IDSIPALGSuspected) {
			t.Errorf("finding %s on a call that settled on plain RTP: %v", id, capture.FindingIDs(c))
		}
	}
	if c.Verdict != report.VerdictTwoWay {
		t.Errorf("verdict %s, want two-way: %s", c.Verdict, c.Explain)
	}
}
