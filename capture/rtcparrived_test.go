package capture_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
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
	path, callerMedia, calleeMedia := twoWayCall(t, 12*time.Second, 4)
	for _, tc := range []struct {
		name          string
		calleeReports bool
		want          report.Verdict
	}{
		{"the callee reports the caller's stream", true, report.VerdictTwoWay},
		{"no reports", false, report.VerdictOneWay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oneSide := rewriteMedia(t, path, func(src netip.Addr, rtp []byte) bool {
				rtcp := rtp[1] >= 200 && rtp[1] <= 204
				return src != callerMedia && !(src == calleeMedia && rtcp && !tc.calleeReports)
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
