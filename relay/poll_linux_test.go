//go:build linux

package relay

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The poller's epoll descriptor must land in the runtime's netpoller: the
// blocking epoll_wait fallback costs sysmon wake-ups and context switches
// (see waiter).
func TestPollerWaitsInRuntimePoller(t *testing.T) {
	p, err := newPoller(DefaultBatch)
	if err != nil {
		t.Skipf("epoll unavailable: %v", err)
	}
	w := p.newWaiter(nil)
	defer w.close()
	defer unix.Close(p.wakefd)
	if w.rc == nil {
		t.Fatal("epoll descriptor not pollable by the runtime; poller falls back to blocking epoll_wait")
	}
}

// A socket holding more than one batch when the loop gets to it must be
// drained although no new datagram arrives: edge-triggered epoll reports it
// once. The test holds the loop (its lock) while the backlog builds.
func TestPollerDrainsBacklog(t *testing.T) {
	r := newTestRelay(t, Config{})
	s, err := r.Allocate(t.Context(), "backlog")
	if err != nil {
		t.Fatal(err)
	}
	if s.poller == nil {
		t.Skip("no event loop (epoll unavailable)")
	}
	caller, callee := listen(t, "127.0.0.1"), listen(t, "127.0.0.1")
	s.A.Expect(loopback)
	s.B.SetSDPAddr(addrOf(callee), netip.AddrPort{})
	backlog := 4*r.cfg.Batch + 3
	s.poller.mu.Lock()
	send(t, caller, relayAddr(s.A), seqs(1, backlog)...)
	time.Sleep(50 * time.Millisecond) // the loop woke and waits for the lock
	s.poller.mu.Unlock()
	if got, _ := receive(t, callee, backlog); got != backlog {
		t.Fatalf("callee got %d of a %d-packet backlog", got, backlog)
	}
}
