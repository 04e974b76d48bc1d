package capture_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestOnlyDTMFCaptured: a capture filtered to a call's DTMF (RFC 4733
// telephone events, as one taken to look at DTMF is: Wireshark's rtpevent
// filter, then "export specified packets") holds the events and none of
// the voice. Voice and events share the stream's addresses and path, so
// the missing voice is the filter's doing: incomplete-capture, not one-way
// audio. Found in a Cisco lab capture whose caller sent 84 event packets
// and the callee nothing: it read "one-way, the caller cannot hear", an
// error. Events beside voice the other way stay as they were: a direction
// with events alone may be a phone that suppresses silence.
func TestOnlyDTMFCaptured(t *testing.T) {
	path, callerMedia, _ := twoWayCall(t, 4*time.Second, 3)
	for _, tc := range []struct {
		name          string
		callerEvents  bool // the caller's RTP made telephone events
		calleeEvents  bool
		calleeDropped bool // the callee's RTP filtered out
		want          report.Verdict
	}{
		{"events one way, nothing back", true, false, true, report.VerdictIncompleteCapture},
		{"events both ways", true, true, false, report.VerdictIncompleteCapture},
		{"events one way, voice back", true, false, false, report.VerdictTwoWay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			filtered := rewriteMedia(t, path, func(src netip.Addr, rtp []byte) bool {
				if rtp[1]&0x7f != 0 {
					return true // not the generator's PCMU
				}
				fromCaller := src == callerMedia
				if !fromCaller && tc.calleeDropped {
					return false
				}
				if fromCaller && tc.callerEvents || !fromCaller && tc.calleeEvents {
					rtp[1] = rtp[1]&0x80 | 101 // the SDP's telephone-event
				}
				return true
			})
			res := capture.AnalyzePath(t, filtered)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls, want 1", len(res.Calls))
			}
			c := res.Calls[0]
			if c.Verdict != tc.want {
				t.Errorf("verdict %s (%s), want %s", c.Verdict, c.Explain, tc.want)
			}
			if tc.want == report.VerdictIncompleteCapture && !strings.Contains(c.Explain, "telephone events") {
				t.Errorf("the explanation does not name the events: %s", c.Explain)
			}
		})
	}
}
