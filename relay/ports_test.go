package relay

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// testClock is a settable Config.Now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A router forwards only some pairs (serve --upnp): a leg facing outside
// takes only those, even outside the range; a leg facing the LAN takes
// the range's other pairs first and a forwarded one only when they are
// gone.
func TestRouterForwardedPairs(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	r := newTestRelay(t, Config{PortMin: 24800, PortMax: 24803, RouterForwards: true, Now: clock.Now})
	if _, err := r.AllocateReach(t.Context(), "none", ReachOutside, ReachLAN); !errors.Is(err, ErrNoForwardedPorts) {
		t.Fatalf("nothing forwarded: %v, want ErrNoForwardedPorts", err)
	}
	if r.FreePairs() != 2 || r.FreeForwarded() != 0 {
		t.Fatalf("free %d forwarded %d after the refusal", r.FreePairs(), r.FreeForwarded())
	}
	for _, b := range []int{24802, 24900} {
		if err := r.AddForwarded(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddForwarded(24901); err == nil {
		t.Error("an odd base was taken")
	}
	s, err := r.AllocateReach(t.Context(), "a", ReachOutside, ReachLAN)
	if err != nil {
		t.Fatal(err)
	}
	if s.A.Port() != 24802 && s.A.Port() != 24900 || s.B.Port() != 24800 {
		t.Errorf("outside leg on %d, LAN leg on %d", s.A.Port(), s.B.Port())
	}
	if r.FreePairs() != 1 || r.FreeForwarded() != 1 {
		t.Errorf("free %d forwarded %d", r.FreePairs(), r.FreeForwarded())
	}
	// The range's own pair is taken: a LAN leg falls back to a forwarded one.
	s2, err := r.AllocateReach(t.Context(), "b", ReachLAN, ReachOutside)
	if !errors.Is(err, ErrNoForwardedPorts) {
		t.Fatalf("second call: %v (session %v), want ErrNoForwardedPorts", err, s2)
	}
	if r.RemoveForwarded(s.A.Port()) {
		t.Error("removed a forwarded pair a leg holds")
	}
	s.Close()
	s.Wait()
	if r.FreeForwarded() != 2 {
		t.Fatalf("forwarded free %d after close", r.FreeForwarded())
	}
	clock.advance(time.Minute)
	if !r.RemoveForwarded(24900) || r.FreeForwarded() != 1 || r.FreePairs() != 2 {
		t.Errorf("after removing 24900: free %d forwarded %d", r.FreePairs(), r.FreeForwarded())
	}
	if got := r.IdleForwarded(30 * time.Second); !slices.Equal(got, []int{24802}) {
		t.Errorf("idle forwarded %v", got)
	}
	if got := r.IdleForwarded(2 * time.Minute); len(got) != 0 {
		t.Errorf("idle for 2 minutes %v", got)
	}
	// An in-range pair no longer forwarded stays for LAN legs.
	if !r.RemoveForwarded(24802) || r.FreePairs() != 2 || r.FreeForwarded() != 0 {
		t.Errorf("after removing 24802: free %d forwarded %d", r.FreePairs(), r.FreeForwarded())
	}
	if _, err := r.AllocateReach(t.Context(), "c", ReachLAN, ReachLAN); err != nil {
		t.Errorf("LAN call on the range: %v", err)
	}
}

// A pair the router is being asked to forward is kept from LAN legs (a
// call starting meanwhile takes another), until the router forwards it or
// the hold passes; a pair a leg holds is busy, and stays the leg's.
func TestHoldForForwarding(t *testing.T) {
	clock := &testClock{now: time.Unix(1e9, 0)}
	r := newTestRelay(t, Config{PortMin: 24820, PortMax: 24825, RouterForwards: true, Now: clock.Now})
	if r.HoldForForwarding(24820) {
		t.Fatal("a free pair is busy")
	}
	s, err := r.AllocateReach(t.Context(), "lan", ReachLAN, ReachLAN)
	if err != nil {
		t.Fatal(err)
	}
	if s.A.Port() == 24820 || s.B.Port() == 24820 {
		t.Errorf("LAN legs on %d and %d: one took the pair held for the router", s.A.Port(), s.B.Port())
	}
	if !r.HoldForForwarding(s.A.Port()) {
		t.Error("a pair a leg holds is not busy")
	}
	if err := r.AddForwarded(24820); err != nil || r.FreeForwarded() != 1 {
		t.Fatalf("forwarding the held pair: %v, %d free forwarded", err, r.FreeForwarded())
	}
	s.Close()
	s.Wait()
	// A hold the router never answered lapses.
	if !r.RemoveForwarded(24820) {
		t.Fatal("could not take the pair back")
	}
	r.HoldForForwarding(24820)
	clock.advance(forwardingHold + time.Second)
	b, err := r.AllocateReach(t.Context(), "after the hold", ReachLAN, ReachLAN)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.A.Port() != 24820 && b.B.Port() != 24820 {
		t.Errorf("after the hold lapsed the LAN legs took %d and %d, not 24820", b.A.Port(), b.B.Port())
	}
}

// Without RouterForwards the reach changes nothing: every pair of the
// range serves every leg.
func TestReachIgnoredWithoutRouter(t *testing.T) {
	r := newTestRelay(t, Config{PortMin: 24810, PortMax: 24813})
	if _, err := r.AllocateReach(t.Context(), "a", ReachOutside, ReachOutside); err != nil {
		t.Fatal(err)
	}
	if r.FreePairs() != 0 || r.FreeForwarded() != 0 {
		t.Errorf("free %d forwarded %d", r.FreePairs(), r.FreeForwarded())
	}
}
