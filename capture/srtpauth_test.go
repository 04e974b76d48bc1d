package capture_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
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
