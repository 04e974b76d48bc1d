package capture

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestHeldResponsesBounded: responses to INVITEs nobody sent (a capture
// that began mid-call, or a hostile feed) wait at most maxHeld at a time
// and at most reorderWindow, and are then filed as before: no call.
func TestHeldResponsesBounded(t *testing.T) {
	table := newCallTable()
	at := time.Unix(1000, 0)
	for i := range maxHeld + 10 {
		m := &sipInfo{sipHeaders: &sipHeaders{Method: "INVITE", Status: 200, CallID: fmt.Sprintf("%d@test", i), FromTag: "a", ToTag: "b", CSeq: 1}, Src: netip.MustParseAddrPort("203.0.113.9:5060"), Dst: netip.MustParseAddrPort("192.0.2.1:5060")}
		if c, _ := table.add(m, at, nil, nil); c != nil {
			t.Fatalf("a response without its INVITE made a call")
		}
	}
	if len(table.held) != maxHeld {
		t.Errorf("%d responses held, want at most %d", len(table.held), maxHeld)
	}
	table.add(legInvite("192.0.2.1", "198.51.100.1", 1, "x"), at.Add(reorderWindow+time.Millisecond), nil, nil)
	if len(table.held) != 0 || len(table.order) != 1 {
		t.Errorf("after reorderWindow: %d held, %d calls; want none held, one call", len(table.held), len(table.order))
	}
}
