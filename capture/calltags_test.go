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
	table := newCallTable()
	alice, bob := netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("198.51.100.1:5060")
	at := time.Unix(1000, 0)
	for i, m := range []*sipInfo{
		tableMsg(true, "INVITE", 0, 1, "a", "", alice, bob),
		tableMsg(false, "INVITE", 200, 1, "a", "b", bob, alice),
		tableMsg(true, "ACK", 0, 1, "a", "b", alice, bob),
		tableMsg(true, "BYE", 0, 2, "b", "", bob, alice),
		tableMsg(false, "BYE", 200, 2, "b", "", alice, bob),
	} {
		if c, _ := table.add(m, at.Add(time.Duration(i)*time.Second), nil, nil); c == nil {
			t.Fatalf("message %d (%s %d) belongs to no call", i, m.Method, m.Status)
		}
	}
	c := table.order[0]
	if !c.ByeSeen || c.byeNs[callee] == 0 || c.byeNs[caller] != 0 {
		t.Errorf("BYE seen %v, by caller %d callee %d: want the callee's", c.ByeSeen, c.byeNs[caller], c.byeNs[callee])
	}
}
