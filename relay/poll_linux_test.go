//go:build linux

package relay

import (
	"testing"

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
