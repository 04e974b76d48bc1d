//go:build linux

package natlab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// RtpengineConfig is one rtpengine media relay on a lab host.
type RtpengineConfig struct {
	// Interfaces are its --interface values: "ADDR", or "NAME/ADDR" for
	// a named logical interface (default: the host's first address).
	Interfaces []string
	// NG is its control address (default: the host's first address, port
	// 2223).
	NG netip.AddrPort
	// PortMin and PortMax are its media ports (default 30000-30999).
	PortMin, PortMax int
}

// Rtpengine is a running rtpengine.
type Rtpengine struct {
	Proc *Proc
	NG   netip.AddrPort
}

// StartRtpengine runs rtpengine on h forwarding in user space (--table=-1:
// no kernel module), logging to its Proc's log, calls freed at delete.
// The test is skipped when rtpengine is not installed.
func StartRtpengine(t testing.TB, h *Host, cfg RtpengineConfig) *Rtpengine {
	t.Helper()
	if _, err := exec.LookPath("rtpengine"); err != nil {
		t.Skip("rtpengine not installed (apt-get install rtpengine-daemon)")
	}
	if len(cfg.Interfaces) == 0 {
		cfg.Interfaces = []string{h.Addr().String()}
	}
	if !cfg.NG.IsValid() {
		cfg.NG = netip.AddrPortFrom(h.Addr(), 2223)
	}
	if cfg.PortMin == 0 {
		cfg.PortMin, cfg.PortMax = 30000, 30999
	}
	args := []string{"--config-file=none", "--foreground", "--log-stderr", "--table=-1", "--listen-ng=" + cfg.NG.String(),
		fmt.Sprintf("--port-min=%d", cfg.PortMin), fmt.Sprintf("--port-max=%d", cfg.PortMax),
		"--log-level=5", "--delete-delay=0", "--num-threads=2"}
	for _, i := range cfg.Interfaces {
		args = append(args, "--interface="+i)
	}
	r := &Rtpengine{Proc: h.Start(t, "rtpengine", args...), NG: cfg.NG}
	waitListening(t, h, "udp", cfg.NG)
	return r
}

// Pause stops the process (SIGSTOP) as an overloaded or hung daemon: its
// sockets stay open and nothing answers. It returns once the kernel shows
// it stopped (signals are delivered asynchronously). Resume lets it go on.
func (p *Proc) Pause() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	for range 200 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// The state follows the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); err != nil || (i > 0 && i+2 < len(b) && b[i+2] == 'T') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume continues a paused process (SIGCONT).
func (p *Proc) Resume() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) }
