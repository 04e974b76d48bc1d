package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestAnsweredUpstream: a proxy's INVITE with no response in the capture
// was answered out of sight when the proxy passed a 180 upstream after it
// on a leg of the same Call-ID, and it sent the INVITE once; not when it
// resent it (no response reached it: a PBX hunting a dead ATA's lines,
// then answering with its voicemail), nor on a B2BUA's leg of another
// Call-ID, nor when another leg it sent was answered in sight.
func TestAnsweredUpstream(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	caller, proxy := netip.MustParseAddrPort("203.0.113.10:5060"), netip.MustParseAddrPort("198.51.100.5:5060")
	callee, other := netip.MustParseAddrPort("198.51.100.20:5060"), netip.MustParseAddrPort("198.51.100.21:5060")
	legs := func(sent int, downCallID string, forkAnswered bool) []*sipCall {
		up := &sipCall{CallID: "a"}
		up.setup = setupTrack{sent: 1, src: caller, dst: proxy, sentAt: t0, responded: true,
			progress: response{status: 180, frame: 9, at: t0.Add(time.Second), src: proxy, dst: caller}}
		down := &sipCall{CallID: downCallID}
		down.setup = setupTrack{sent: sent, src: proxy, dst: callee, sentAt: t0.Add(100 * time.Millisecond)}
		calls := []*sipCall{up, down}
		if forkAnswered {
			fork := &sipCall{CallID: downCallID}
			fork.setup = setupTrack{sent: 1, src: proxy, dst: other, sentAt: t0.Add(100 * time.Millisecond), responded: true,
				progress: response{status: 180, frame: 8, at: t0.Add(900 * time.Millisecond), src: other, dst: proxy}}
			calls = append(calls, fork)
		}
		noteAnsweredUpstream(calls)
		return calls
	}
	for _, tc := range []struct {
		name       string
		sent       int
		callID     string
		fork       bool
		outOfSight bool
	}{
		{"sent once, answer passed on", 1, "a", false, true},
		{"resent: no response reached the proxy", 12, "a", false, false},
		{"a B2BUA's leg", 1, "b", false, false},
		{"another fork answered in sight", 1, "a", true, false},
	} {
		got := legs(tc.sent, tc.callID, tc.fork)[1].setup.passedOn.frame != 0
		if got != tc.outOfSight {
			t.Errorf("%s: answered out of sight %v, want %v", tc.name, got, tc.outOfSight)
		}
	}
}
