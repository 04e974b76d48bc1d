package capture

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestHeldResponsesBounded: responses to INVITEs the capture lacks (a
// capture that began mid-call, or a hostile feed) wait at most maxHeld at
// a time and at most reorderWindow, and then start legs of their own
// (unseeninvite.go), no more than the table's limit of calls.
func TestHeldResponsesBounded(t *testing.T) {
	table := newCallTable()
	table.maxCalls = 100
	at := time.Unix(1000, 0)
	for i := range maxHeld + 10 {
		m := &sipInfo{sipHeaders: &sipHeaders{Method: "INVITE", Status: 200, CallID: fmt.Sprintf("%d@test", i), FromTag: "a", ToTag: "b", CSeq: 1}, Src: netip.MustParseAddrPort("203.0.113.9:5060"), Dst: netip.MustParseAddrPort("192.0.2.1:5060")}
		if c, _ := table.add(m, at, nil, nil); c != nil {
			t.Fatalf("a response made a call before its wait for the INVITE was over")
		}
	}
	if len(table.held) != maxHeld || len(table.order) != 10 {
		t.Errorf("%d responses held, %d calls; want %d held, the 10 pushed out as calls", len(table.held), len(table.order), maxHeld)
	}
	table.add(legInvite("192.0.2.1", "198.51.100.1", 1, "x"), at.Add(reorderWindow+time.Millisecond), nil, nil)
	if len(table.held) != 0 || len(table.order) != table.maxCalls {
		t.Errorf("after reorderWindow: %d held, %d calls; want none held, %d calls (the limit)", len(table.held), len(table.order), table.maxCalls)
	}
	if c := table.order[0]; c.inviteUnseen == nil || c.CallerSig.String() != "192.0.2.1:5060" || c.StartSeen {
		t.Errorf("first leg %+v: want it followed from its 200 OK, the caller at 192.0.2.1:5060, its start unseen", c)
	}
}
