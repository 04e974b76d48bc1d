package capture_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestUnseenDirectionReportedArriving: a capture point that sees one
// direction of a call's media only (a SPAN port of one direction,
// asymmetric routing: Cisco's multicast music-on-hold sample) holds the
// callee's RTP and RTCP and none of the caller's packets. The callee's
// RTCP reports the caller's stream arriving, so both ways worked: two-way,
// saying why. Before, it read "one-way, the callee cannot hear". Without
// the callee's reports nothing proves it, and it stays one-way.
func TestUnseenDirectionReportedArriving(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 12 * time.Second}}, pcapgen.Options{Seed: 4})
	plain := capture.AnalyzePath(t, path)
	if len(plain.Calls) != 1 || plain.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("the generated call is not one two-way call: %+v", plain.Calls)
	}
	s := plain.Calls[0].Streams[0]
	callerMedia := netip.MustParseAddrPort(s.Offer.Addr).Addr()
	calleeMedia := netip.MustParseAddrPort(s.Answer.Addr).Addr()
	for _, tc := range []struct {
		name          string
		calleeReports bool
		want          report.Verdict
	}{
		{"the callee reports the caller's stream", true, report.VerdictTwoWay},
		{"no reports", false, report.VerdictOneWay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oneSide := rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
				const ipSrc, udpDst, rtp = 26, 36, 42 // Ethernet, IPv4 without options, UDP
				if len(data) < rtp+8 || data[rtp]>>6 != 2 || int(data[udpDst])<<8|int(data[udpDst+1]) == 5060 {
					return data // not media
				}
				rtcp := data[rtp+1] >= 200 && data[rtp+1] <= 204
				switch netip.AddrFrom4([4]byte(data[ipSrc : ipSrc+4])) {
				case callerMedia:
					return nil
				case calleeMedia:
					if rtcp && !tc.calleeReports {
						return nil
					}
				}
				return data
			})
			res := capture.AnalyzePath(t, oneSide)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls, want 1", len(res.Calls))
			}
			c := res.Calls[0]
			if c.Verdict != tc.want {
				t.Errorf("verdict %s (%s), want %s", c.Verdict, c.Explain, tc.want)
			}
			if tc.calleeReports && !strings.Contains(c.Explain, "the callee's RTCP reports it arriving") {
				t.Errorf("the explanation does not name the reports: %s", c.Explain)
			}
		})
	}
}
