package capture

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRouteEvidenceBySender: a private Record-Route a proxy gave both
// parties is told to each as its own route set: the callee's lost request
// names the INVITE, the caller's the 2xx; with one of them seen, that one.
func TestRouteEvidenceBySender(t *testing.T) {
	hop := netip.MustParseAddrPort("192.168.1.5:5060")
	caller, callee := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")
	both := &routedBy{invite: routeMessage{frame: 3, to: callee}, answer: routeMessage{frame: 7, to: caller}}
	for _, tc := range []struct {
		name   string
		by     *routedBy
		sender netip.Addr
		frame  uint64
		text   string
	}{
		{"callee, both seen", both, callee, 3, "an INVITE to a public party"},
		{"caller, both seen", both, caller, 7, "an answer Record-Routes"},
		{"caller, INVITE only", &routedBy{invite: both.invite}, caller, 3, "an INVITE to a public party"},
		{"callee, answer only", &routedBy{answer: both.answer}, callee, 7, "an answer Record-Routes"},
	} {
		ev := tc.by.evidence(hop, tc.sender)
		if len(ev.Frames) != 1 || ev.Frames[0] != tc.frame || !strings.HasPrefix(ev.Text, tc.text) {
			t.Errorf("%s: %v %q, want frame %d %q", tc.name, ev.Frames, ev.Text, tc.frame, tc.text)
		}
	}
}
