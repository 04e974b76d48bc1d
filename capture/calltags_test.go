package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestCalleeRequestWithoutToTag: the callee's BYE whose To-tag is missing
// (sipp's scenario in ossobv/sipzamine puts the caller's tag inside the To
// URI's brackets, a URI parameter) and the caller's 200 OK to it belong to
// the call by the callee's From-tag, which its answer gave the dialog: the
// call ends, hung up by the callee. Before, both belonged to no call, and
// the call stayed answered.
func TestCalleeRequestWithoutToTag(t *testing.T) {
	alice, bob := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("198.51.100.1:5060")
	c := fileInCall(t,
		tableMsg(true, "INVITE", 0, 1, "a", "", alice, bob),
		tableMsg(false, "INVITE", 200, 1, "a", "b", bob, alice),
		tableMsg(true, "ACK", 0, 1, "a", "b", alice, bob),
		tableMsg(true, "BYE", 0, 2, "b", "", bob, alice),
		tableMsg(false, "BYE", 200, 2, "b", "", alice, bob),
	)
	if !c.ByeSeen || c.byeNs[callee] == 0 || c.byeNs[caller] != 0 {
		t.Errorf("BYE seen %v, by caller %d callee %d: want the callee's", c.ByeSeen, c.byeNs[caller], c.byeNs[callee])
	}
}

// A proxy's 486 without a To-tag, after a 180 with one, ends the early
// dialog the 180 made: the call's status is 486, not 180.
func TestFailureWithoutToTagEndsEarlyDialog(t *testing.T) {
	alice, proxy := netip.MustParseAddrPort("192.168.100.56:5060"), netip.MustParseAddrPort("192.168.100.55:5060")
	c := fileInCall(t,
		tableMsg(true, "INVITE", 0, 20, "a", "", alice, proxy),
		tableMsg(false, "INVITE", 100, 20, "a", "", proxy, alice),
		tableMsg(false, "INVITE", 180, 20, "a", "b", proxy, alice),
		tableMsg(false, "INVITE", 486, 20, "a", "", proxy, alice),
	)
	main, _ := c.dialogs()
	if main.Status != 486 {
		t.Errorf("the call's dialog has status %d, want 486", main.Status)
	}
}

// fileInCall files msgs, a second apart, in a new call table, each of
// them in a call, and returns the table's first call.
func fileInCall(t *testing.T, msgs ...*sipInfo) *sipCall {
	t.Helper()
	table := newCallTable()
	at := time.Unix(1000, 0)
	for i, m := range msgs {
		if c, _ := table.add(m, at.Add(time.Duration(i)*time.Second), nil, nil); c == nil {
			t.Fatalf("message %d (%s %d) belongs to no call", i, m.Method, m.Status)
		}
	}
	return table.order[0]
}
