package relay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestKernelForwardFallback: without nft (or off Linux) KernelForward is a
// warning, not a failure: the relay forwards in user space. Runs on
// loopback in the host's namespace and runs no nft.
func TestKernelForwardFallback(t *testing.T) {
	var logs bytes.Buffer
	r := newTestRelay(t, Config{KernelForward: true, NftCommand: []string{"/nonexistent/nft"},
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	on, err := r.KernelForwarding()
	if on || err == nil {
		t.Fatalf("KernelForwarding() = %v, %v; want off with a reason", on, err)
	}
	if n := strings.Count(logs.String(), "kernel forwarding is off"); n != 1 {
		t.Errorf("want one warning, got %d:\n%s", n, logs.String())
	}
	s, caller, callee := openSession(t, r, "fallback")
	send(t, caller, relayAddr(s.A), seqs(1, 10)...)
	if got, _ := receive(t, callee, 10); got != 10 {
		t.Fatalf("callee got %d of 10", got)
	}
	send(t, callee, relayAddr(s.B), seqs(1, 10)...)
	if got, _ := receive(t, caller, 10); got != 10 {
		t.Fatalf("caller got %d of 10", got)
	}
}
