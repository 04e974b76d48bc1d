package capture_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestLoopbackSDPAddress: a party whose SDP names a loopback address
// (a softphone bound to localhost, a host name resolving to 127.0.1.1)
// while its SIP comes from a network address cannot be sent media: what
// is sent there stays on the sender's host. Before, it read as "a
// separate media server or relay, or a NAT" (sdp-address-differs).
func TestLoopbackSDPAddress(t *testing.T) {
	for _, tc := range []struct {
		kind  pcapgen.Kind
		party string // whose SDP names the loopback address
		want  report.Severity
	}{
		{pcapgen.LeakCallee, "callee", report.SeverityError}, // the callee cannot hear
		{pcapgen.Rejected, "caller", report.SeverityInfo},    // no media expected
	} {
		path, _ := generate(t, []pcapgen.Call{{Kind: tc.kind, Media: 2 * time.Second}}, pcapgen.Options{Seed: 5})
		res := capture.AnalyzePath(t, sdpAtLoopback(t, path, tc.party == "callee"))
		if len(res.Calls) != 1 {
			t.Fatalf("%s: %d calls", tc.kind, len(res.Calls))
		}
		var got []report.Finding
		for _, f := range res.Calls[0].Findings {
			if f.ID == capture.IDSDPLoopbackAddress {
				got = append(got, f)
			}
			if f.ID == capture.IDSDPAddressDiffers {
				t.Errorf("%s: also %s: %s", tc.kind, f.ID, f.Title)
			}
		}
		if len(got) != 1 || got[0].Severity != tc.want || !strings.HasPrefix(got[0].Title, "The "+tc.party+" ") ||
			!strings.Contains(got[0].Title, "a loopback address") || got[0].Remedy == "" {
			t.Errorf("%s (%s): %+v, want one %s finding about the %s", tc.kind, res.Calls[0].Verdict, got, tc.want, tc.party)
		}
	}
}

// sdpAtLoopback copies the capture at path with the c= address of every
// SDP in a response (the callee's) or in a request (the caller's)
// replaced by a loopback address of the same length, so Content-Length
// stays true.
func sdpAtLoopback(t *testing.T, path string, responses bool) string {
	return rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		p := udp.Payload
		i := bytes.Index(p, []byte("\r\nc=IN IP4 "))
		if bytes.HasPrefix(p, []byte("SIP/2.0 ")) != responses || i < 0 {
			return nil
		}
		start := i + len("\r\nc=IN IP4 ")
		end := start + bytes.Index(p[start:], []byte("\r\n"))
		loopback := fmt.Sprintf("127.0.0.%s", strings.Repeat("1", end-start-len("127.0.0.")))
		return append(append(append([]byte(nil), p[:start]...), loopback...), p[end:]...)
	})
}
