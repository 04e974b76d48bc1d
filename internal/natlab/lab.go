//go:build linux

package natlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// EnvLab is the environment variable that decides what happens when the lab
// cannot be built: "require" fails the test (CI), anything else skips it.
const EnvLab = "NATDOC_LAB"

// namePrefix starts every namespace natlab makes; the creating process's PID
// follows, so a later run can remove what a crashed run left behind.
const namePrefix = "ndl-"

// commandTimeout bounds one ip/nft/sysctl call; they finish in milliseconds
// unless the kernel is wedged.
const commandTimeout = 20 * time.Second

var (
	labCounter   atomic.Int64
	staleOnce    sync.Once
	requireOnce  sync.Once
	requireError error
)

// Require skips (or, with NATDOC_LAB=require, fails) the test when the lab
// cannot run here.
func Require(t testing.TB) {
	t.Helper()
	requireOnce.Do(func() { requireError = checkPrerequisites() })
	if requireError == nil {
		return
	}
	if os.Getenv(EnvLab) == "require" {
		t.Fatalf("natlab: %v (NATDOC_LAB=require)", requireError)
	}
	t.Skipf("natlab: %v; set NATDOC_LAB=require to make this a failure", requireError)
}

func checkPrerequisites() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "nft", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s (apt-get install iproute2 nftables procps)", tool)
		}
	}
	name := fmt.Sprintf("%s%d-probe", namePrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot create a network namespace: %v: %s", err, out)
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
	return nil
}

// Lab is one test's set of namespaces. Everything it creates is removed in
// t.Cleanup, in reverse order.
type Lab struct {
	t      testing.TB
	prefix string
	core   *Host
	ports  atomic.Int64 // counter for veth names in the core namespace
	// bridges counts the bridges made, each given its own fixed address.
	bridges atomic.Int64
}

// New builds the core ("internet") namespace of a new lab.
func New(t testing.TB) *Lab {
	t.Helper()
	Require(t)
	staleOnce.Do(removeStaleNamespaces)
	l := &Lab{t: t, prefix: fmt.Sprintf("%s%d-%d-", namePrefix, os.Getpid(), labCounter.Add(1))}
	l.core = l.newHost("core")
	l.addBridge(l.core, "br0")
	l.core.mustRun("ip", "addr", "add", "203.0.113.254/24", "dev", "br0")
	l.core.mustRun("ip", "addr", "add", "198.51.100.254/24", "dev", "br0")
	l.core.mustRun("ip", "link", "set", "br0", "up")
	l.core.sysctl("net.ipv4.ip_forward", "1")
	return l
}

// Core returns the namespace that routes the public side.
func (l *Lab) Core() *Host { return l.core }

// removeStaleNamespaces deletes namespaces left by natlab runs whose process
// is gone (a test binary killed mid-run cannot run its cleanups).
func removeStaleNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// newHost creates an empty namespace with loopback up and IPv6 off (lab
// captures and probes stay IPv4 unless a test asks otherwise).
func (l *Lab) newHost(role string) *Host {
	l.t.Helper()
	h := &Host{lab: l, name: l.prefix + role}
	if out, err := exec.Command("ip", "netns", "add", h.name).CombinedOutput(); err != nil {
		l.t.Fatalf("natlab: ip netns add %s: %v: %s", h.name, err, out)
	}
	l.t.Cleanup(func() { h.destroy() })
	h.mustRun("ip", "link", "set", "lo", "up")
	h.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
	h.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
	return h
}

// addBridge makes a bridge in h with a fixed, locally administered MAC
// address. Left to itself, Linux gives a bridge the lowest MAC of its ports,
// so a host plugged in later may change it: every neighbour that cached the
// old one then sends into a black hole (the bridge delivers only frames to
// its current address) until its ARP entry goes stale, half a minute or
// more: a caller added mid-call would cut the callee's answers off.
func (l *Lab) addBridge(h *Host, name string) {
	l.t.Helper()
	n := l.bridges.Add(1)
	mac := fmt.Sprintf("02:6e:64:00:%02x:%02x", byte(n>>8), byte(n))
	h.mustRun("ip", "link", "add", name, "address", mac, "type", "bridge")
}

// plug connects host h to a bridge in namespace sw with a new veth pair:
// "eth0"-like name ifName inside h, a generated name inside sw.
func (l *Lab) plug(h *Host, ifName string, sw *Host, bridge string) {
	l.t.Helper()
	peer := fmt.Sprintf("p%d", l.ports.Add(1))
	h.lab.t.Helper()
	if out, err := exec.Command("ip", "link", "add", ifName, "netns", h.name, "type", "veth", "peer", "name", peer, "netns", sw.name).CombinedOutput(); err != nil {
		l.t.Fatalf("natlab: veth %s/%s - %s/%s: %v: %s", h.name, ifName, sw.name, peer, err, out)
	}
	sw.mustRun("ip", "link", "set", peer, "master", bridge)
	sw.mustRun("ip", "link", "set", peer, "up")
	h.mustRun("ip", "link", "set", ifName, "up")
}

// publicGateway returns the core's address on the public /24 of a.
func publicGateway(a netip.Addr) (netip.Prefix, netip.Addr, error) {
	for _, p := range []string{"203.0.113.0/24", "198.51.100.0/24"} {
		pfx := netip.MustParsePrefix(p)
		if pfx.Contains(a) {
			b := pfx.Addr().As4()
			b[3] = 254 // the core's address on every public /24
			return pfx, netip.AddrFrom4(b), nil
		}
	}
	return netip.Prefix{}, netip.Addr{}, fmt.Errorf("%s is not in 203.0.113.0/24 or 198.51.100.0/24", a)
}

// PublicHost adds a host on the internet with the given addresses (the
// first is primary; all are reachable from everywhere in the lab).
func (l *Lab) PublicHost(role string, addrs ...string) *Host {
	l.t.Helper()
	if len(addrs) == 0 {
		l.t.Fatalf("natlab: PublicHost %s needs an address", role)
	}
	h := l.newHost(role)
	l.plug(h, "eth0", l.core, "br0")
	for i, s := range addrs {
		a := mustAddr(l.t, s)
		pfx, gw, err := publicGateway(a)
		if err != nil {
			l.t.Fatalf("natlab: PublicHost %s: %v", role, err)
		}
		h.mustRun("ip", "addr", "add", fmt.Sprintf("%s/%d", a, pfx.Bits()), "dev", "eth0")
		h.addrs = append(h.addrs, a)
		if i == 0 {
			h.mustRun("ip", "route", "add", "default", "via", gw.String())
		}
	}
	return h
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("natlab: %v", err)
	}
	return a
}

// runIn runs a command inside namespace ns and returns its combined output.
func runIn(ctx context.Context, ns string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	full := append([]string{"netns", "exec", ns, name}, args...)
	out, err := exec.CommandContext(ctx, "ip", full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("natlab: %s %s in %s: %w: %s", name, strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
