package proxy

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

// fakePairRouter forwards pairs from its first base up, at most limit
// held (0: no limit), as a router's table would. A unit-test tool: the
// lab tests run natdoc serve against a real miniupnpd.
type fakePairRouter struct {
	mu       sync.Mutex
	first    uint16
	limit    int
	held     map[uint16]bool
	busy     func(uint16) bool
	full     bool
	added    int
	released int
}

func newFakePairRouter(first uint16) *fakePairRouter {
	return &fakePairRouter{first: first, held: map[uint16]bool{}}
}

func (f *fakePairRouter) AddPairs(_ context.Context, n int) ([]uint16, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint16
	for b := f.first; len(out) < n; b += 2 {
		if f.limit > 0 && len(f.held) >= f.limit {
			f.full = true
			break
		}
		if !f.held[b] && (f.busy == nil || !f.busy(b)) {
			f.held[b] = true
			f.added++
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakePairRouter) ReleasePairs(_ context.Context, bases ...uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range bases {
		if !f.held[b] {
			return errors.New("release of a pair not held")
		}
		delete(f.held, b)
		f.released++
	}
	return nil
}

func (f *fakePairRouter) Stats() igd.PairStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := igd.PairStats{Held: len(f.held), Added: f.added, Released: f.released}
	if f.full {
		st.Limit = &igd.PairLimit{At: f.limit, Cause: igd.CauseTableSize}
	}
	return st
}

func (f *fakePairRouter) SkipBusy(busy func(uint16) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy = busy
}

func (f *fakePairRouter) setLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit, f.full = n, false
}

func (f *fakePairRouter) heldNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

// demandLab is a relay whose range is 26600-26603 (two pairs for LAN
// legs), pairs forwarded from 26700 by a fake router, and the demand
// between them; lines told and events are kept.
type demandLab struct {
	rl     *relay.Relay
	router *fakePairRouter
	d      *pairDemand
	mu     sync.Mutex
	told   []string
	events []Event
}

func newDemandLab(t *testing.T, start int, idle time.Duration) *demandLab {
	t.Helper()
	return startDemandLab(t, newDemandRelay(t), newFakePairRouter(26700), start, idle)
}

func newDemandRelay(t *testing.T) *relay.Relay {
	t.Helper()
	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 26600, PortMax: 26603, RouterForwards: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	return rl
}

// startDemandLab has router forward start pairs and keeps them in step
// with rl.
func startDemandLab(t *testing.T, rl *relay.Relay, router *fakePairRouter, start int, idle time.Duration) *demandLab {
	t.Helper()
	l := &demandLab{rl: rl, router: router}
	bases, _ := l.router.AddPairs(t.Context(), start)
	var err error
	o := &Options{UPnP: &UPnPOptions{IdleRelease: idle}, Log: slog.New(slog.DiscardHandler),
		Notify:  func(s string) { l.mu.Lock(); l.told = append(l.told, s); l.mu.Unlock() },
		OnEvent: func(e Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }}
	if l.d, err = startPairDemand(l.router, bases, rl, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.d.close)
	return l
}

func (l *demandLab) eventKinds() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, e := range l.events {
		out[e.Kind]++
	}
	return out
}

// The forwarded pairs follow the calls: the spare covers the first calls,
// the background grows it when it runs low, pairs idle beyond it go back,
// and at the router's limit a call waits only briefly and is refused.
func TestPairDemandGrowsAndShrinks(t *testing.T) {
	l := newDemandLab(t, upnpSparePairs, 200*time.Millisecond)
	m := &relayMedia{rl: l.rl, pairs: l.d}
	var sessions []*relay.Session
	for i := range 4 {
		s, err := m.allocate("call-"+string(rune('a'+i)), relay.ReachOutside, relay.ReachOutside)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		sessions = append(sessions, s)
	}
	// Four calls with both parties outside took eight pairs; at least the
	// low mark of the spare is free again on top.
	waitFor(t, func() bool { return l.rl.FreeForwarded() >= upnpSpareLow })
	if n := l.router.heldNow(); n < 8+upnpSpareLow || l.eventKinds()["upnp-forward"] == 0 {
		t.Errorf("router holds %d pairs, events %v", n, l.eventKinds())
	}
	for _, s := range sessions {
		s.Close()
		s.Wait()
	}
	// Idle beyond the spare: back to the router, down to the spare.
	waitFor(t, func() bool { return l.router.heldNow() == upnpSparePairs })
	if l.rl.FreeForwarded() != upnpSparePairs || l.eventKinds()["upnp-release"] == 0 {
		t.Errorf("relay has %d forwarded free, events %v", l.rl.FreeForwarded(), l.eventKinds())
	}
	time.Sleep(100 * time.Millisecond) // several checks: the spare itself stays
	if n := l.router.heldNow(); n != upnpSparePairs {
		t.Errorf("router holds %d pairs, want the spare %d", n, upnpSparePairs)
	}

	l.router.setLimit(upnpSparePairs)
	for i := range 2 {
		if _, err := m.allocate("full-"+string(rune('a'+i)), relay.ReachOutside, relay.ReachOutside); err != nil {
			t.Fatalf("call %d within the limit: %v", i, err)
		}
	}
	start := time.Now()
	_, err := m.allocate("beyond", relay.ReachOutside, relay.ReachLAN)
	if !errors.Is(err, relay.ErrNoForwardedPorts) || time.Since(start) > upnpGrowWait+time.Second {
		t.Errorf("beyond the limit: %v after %s", err, time.Since(start))
	}
	// A call between LAN phones needs nothing the router forwards.
	if _, err := m.allocate("lan", relay.ReachLAN, relay.ReachLAN); err != nil {
		t.Errorf("LAN call at the limit: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.told) != 1 || !strings.Contains(l.told[0], "forward the RTP range by hand") {
		t.Errorf("told %q", l.told)
	}
}

// Through SIP: with no forwarded pair to be had, the INVITE is refused
// with 503, Retry-After and the reason; once the router takes more, the
// same call goes through, two-way, on pairs forwarded for it.
func TestCallWaitsForForwardedPairs(t *testing.T) {
	router := newFakePairRouter(26700)
	router.setLimit(1) // both legs face outside: one pair is not enough
	l := startDemandLab(t, newDemandRelay(t), router, 0, time.Minute)
	ts := startServer(t, Config{Fix: true, Relay: l.rl, pairs: l.d}, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	alice, bob := registeredPhones(ctx, t, ts.addr)
	_, err := alice.Call(ctx, "bob", time.Second)
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) {
		t.Fatalf("call: %v, want a refusal", err)
	}
	retry, warning := de.Res.GetHeader("Retry-After"), de.Res.GetHeader("Warning")
	if de.Res.StatusCode != 503 || retry == nil || retry.Value() != "30" || warning == nil || !strings.Contains(warning.Value(), "router forwards") {
		t.Fatalf("refused with %s, Retry-After %v, Warning %v", de.Res.StartLine(), retry, warning)
	}
	l.router.setLimit(0)
	ra, rb := callPair(t, alice, bob, "bob")
	for _, r := range []*phone.CallResult{ra, rb} {
		if r.Verdict != report.VerdictTwoWay {
			t.Errorf("%s: %s (%s)", r.Local, r.Verdict, r.Explain)
		}
	}
	if p := ra.Received.From.Port(); p < 26700 {
		t.Errorf("alice's media came from port %d, not a forwarded pair", p)
	}
}

// Growth passes over the range's pairs a LAN leg holds (the router would
// forward them for nobody outside) and forwards the next ones; once that
// call ends they may be forwarded again.
func TestPairDemandSkipsPairsLANLegsHold(t *testing.T) {
	rl := newDemandRelay(t)
	lan, err := rl.AllocateReach(t.Context(), "lan", relay.ReachLAN, relay.ReachLAN)
	if err != nil {
		t.Fatal(err)
	}
	router := newFakePairRouter(26600)
	l := startDemandLab(t, rl, router, 0, time.Minute)
	waitFor(t, func() bool { return l.rl.FreeForwarded() == upnpSparePairs })
	router.mu.Lock()
	held := slices.Sorted(maps.Keys(router.held))
	router.mu.Unlock()
	if !slices.Equal(held, []uint16{26604, 26606, 26608, 26610}) {
		t.Errorf("router forwards %v, want the four pairs after the two the LAN call holds", held)
	}
	lan.Close()
	lan.Wait()
	if added, _ := router.AddPairs(t.Context(), 1); !slices.Equal(added, []uint16{26600}) {
		t.Errorf("after the LAN call, the router is given %v", added)
	}
}
