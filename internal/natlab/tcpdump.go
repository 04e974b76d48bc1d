//go:build linux

package natlab

import (
	"testing"
	"time"
)

// tcpdumpStartTimeout bounds how long tcpdump may take to open its
// interface; a loaded machine takes seconds.
const tcpdumpStartTimeout = 10 * time.Second

// StartTcpdump records the packets on h's eth0 that match filter into
// path (every byte, written as they come), and returns once tcpdump
// listens: a capture started and slept on misses the first packets when
// the machine is loaded. Stop the process to finish the file.
func (h *Host) StartTcpdump(t testing.TB, path string, filter ...string) *Proc {
	t.Helper()
	return h.StartTcpdumpOn(t, "eth0", path, filter...)
}

// StartTcpdumpOn is StartTcpdump on another interface of h's, such as
// nflog:5 (what the firewall's `log group 5` rules hand over).
func (h *Host) StartTcpdumpOn(t testing.TB, iface, path string, filter ...string) *Proc {
	t.Helper()
	p := h.Start(t, "tcpdump", append([]string{"-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-w", path}, filter...)...)
	p.WaitLog(t, tcpdumpStartTimeout, "listening on")
	return p
}
