package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestPerSource(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(10, 3, 100)
	ip := netip.MustParseAddr("198.51.100.7")
	for i := range 3 {
		if !l.Allow(ip, now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.Allow(ip, now) {
		t.Fatal("fourth request in a burst of 3 allowed")
	}
	if !l.Allow(netip.MustParseAddr("198.51.100.8"), now) {
		t.Fatal("another source suffers from the first one's limit")
	}
	now = now.Add(100 * time.Millisecond) // one token at 10/s
	if !l.Allow(ip, now) || l.Allow(ip, now) {
		t.Fatal("refill is not one token per 100 ms")
	}
}

func TestPerSourceMemoryBounded(t *testing.T) {
	const bound = 1000
	l := New(10, 3, bound)
	now := time.Unix(0, 0)
	for i := range bound * 3 {
		l.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := l.Tracked(); n > bound {
		t.Fatalf("%d sources tracked, bound %d", n, bound)
	}
}

// A sweep forgets refilled sources first, so a throttled flooder is kept.
func TestSweepKeepsThrottledSources(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1, 2, 3)
	flooder := netip.MustParseAddr("203.0.113.66")
	for l.Allow(flooder, now) {
	}
	l.Allow(netip.MustParseAddr("203.0.113.1"), now)
	l.Allow(netip.MustParseAddr("203.0.113.2"), now)
	// 1.5 s on, the others have refilled (1 + 1.5 ≥ 2) and the flooder has
	// not (0 + 1.5 < 2): a new source makes the sweep forget only them.
	later := now.Add(1500 * time.Millisecond)
	l.Allow(netip.MustParseAddr("203.0.113.3"), later)
	if !l.Allow(flooder, later) || l.Allow(flooder, later) {
		t.Error("the sweep forgot the flooder and gave it a new burst")
	}
}

func TestBurstAtLeastOne(t *testing.T) {
	l := New(0.5, 0, 10)
	if !l.Allow(netip.MustParseAddr("192.0.2.1"), time.Unix(0, 0)) {
		t.Error("a limiter with burst 0 refuses everything")
	}
}
