//go:build linux

package natlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Host is one network namespace: a public host, a LAN host, a router or
// the core.
type Host struct {
	lab   *Lab
	name  string
	addrs []netip.Addr
}

// Name returns the namespace name (for `ip netns exec NAME`).
func (h *Host) Name() string { return h.name }

// Addr returns the host's primary address.
func (h *Host) Addr() netip.Addr {
	if len(h.addrs) == 0 {
		return netip.Addr{}
	}
	return h.addrs[0]
}

// Addrs returns every address the host was given, primary first.
func (h *Host) Addrs() []netip.Addr { return append([]netip.Addr(nil), h.addrs...) }

func (h *Host) destroy() {
	// Deleting the namespace removes its veths, bridges and nft tables;
	// processes still inside keep it alive, so Proc cleanups run first
	// (t.Cleanup is LIFO and processes are started after the namespace).
	_ = exec.Command("ip", "netns", "del", h.name).Run()
}

// Run runs a program inside the namespace and returns its combined output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runIn(ctx, h.name, name, args...)
}

func (h *Host) mustRun(name string, args ...string) {
	h.lab.t.Helper()
	if _, err := h.Run(context.Background(), name, args...); err != nil {
		h.lab.t.Fatal(err)
	}
}

func (h *Host) sysctl(key, value string) {
	h.lab.t.Helper()
	h.mustRun("sysctl", "-q", "-w", key+"="+value)
}

// Nft runs nft commands in the host, one per line (e.g. "add rule ip
// natlab ..."): a router's rules, or a host's own.
func (h *Host) Nft(t testing.TB, commands string) {
	t.Helper()
	if err := h.applyNft(commands + "\n"); err != nil {
		t.Fatal(err)
	}
}

func (h *Host) applyNft(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := execNft(ctx, h.name, script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("natlab: nft in %s: %w: %s\nruleset:\n%s", h.name, err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// Sysctl sets a kernel parameter inside the namespace (per-namespace ones
// only, e.g. net.netfilter.nf_conntrack_udp_timeout).
func (h *Host) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if _, err := h.Run(context.Background(), "sysctl", "-q", "-w", key+"="+value); err != nil {
		t.Fatal(err)
	}
}

// Do runs fn with the calling OS thread inside the namespace. Sockets that
// fn creates belong to the namespace for their whole life and may be used
// from any goroutine afterwards. Goroutines started inside fn do not run in
// the namespace.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	// The Go runtime starts new threads from a clean template thread while
	// this one is locked, so no other goroutine lands in the namespace.
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("natlab: open own netns: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(filepath.Join("/run/netns", h.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("natlab: open netns %s: %w", h.name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("natlab: enter netns %s: %w", h.name, err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime destroys it when this
		// goroutine exits instead of reusing a thread in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("natlab: leave netns %s: %w", h.name, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// ListenUDP opens a UDP socket inside the namespace.
func (h *Host) ListenUDP(network, addr string) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		ua, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP(network, ua)
		return err
	})
	return c, err
}

// DialUDP opens a connected UDP socket inside the namespace.
func (h *Host) DialUDP(network, addr string) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		ua, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			return err
		}
		c, err = net.DialUDP(network, nil, ua)
		return err
	})
	return c, err
}

// ListenTCP opens a TCP listener inside the namespace.
func (h *Host) ListenTCP(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// DialTCP connects from inside the namespace (the connect happens inside fn,
// so it is bounded by timeout).
func (h *Host) DialTCP(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Proc is a background process in a namespace.
type Proc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// stopGrace is how long a process gets after SIGTERM before SIGKILL; the
// daemons natlab runs exit in milliseconds.
const stopGrace = 3 * time.Second

// Start runs a program in the background inside the namespace. Its output
// goes to a log file (Log), shown when the test fails; it is stopped in
// t.Cleanup.
func (h *Host) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatalf("natlab: %v", err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("natlab: start %s in %s: %v", name, h.name, err)
	}
	p := &Proc{cmd: cmd, logPath: logFile.Name(), done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("natlab: log of %s %s in %s:\n%s", name, strings.Join(args, " "), h.name, p.Log())
		}
	})
	return p
}

// Stop ends the process (SIGTERM, then SIGKILL) and waits for it.
func (p *Proc) Stop() { p.Terminate(stopGrace) }

// Terminate sends SIGTERM and gives the process grace to exit by itself
// (as a service manager does) before SIGKILL; it reports whether it exited
// by itself.
func (p *Proc) Terminate(grace time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) // a paused one too
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return false
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait waits for the process to exit by itself and returns its error.
func (p *Proc) Wait() error {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Pid returns the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log returns what the process wrote so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// WaitLog waits until the process has logged every one of want, and fails
// the test with the log after timeout.
func (p *Proc) WaitLog(t testing.TB, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log, missing := p.Log(), ""
		for _, w := range want {
			if !strings.Contains(log, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natlab: %s did not log %q in %s:\n%s", p.cmd.Path, missing, timeout, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
