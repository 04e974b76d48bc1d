//go:build linux

package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// The kernel forwarding tests run the relay inside a lab namespace (its
// sockets through Host.ListenUDP, nft and ip through `ip netns exec`):
// nothing here touches the host's own nftables.

// kernelWait: the forwarder installs within kernelBatchDelay and reads
// counters every kernelCounterInterval; a few seconds mean it does not.
const kernelWait = 5 * time.Second

type kernelLab struct {
	lab                       *natlab.Lab
	relayHost, phoneA, phoneB *natlab.Host
	nat                       *natlab.Router
	relayIP                   netip.Addr
}

// newKernelLab: phone A behind an endpoint-independent NAT, phone B on
// the public side behind the core router (so the relay reaches B through a
// gateway and A on its own link), the relay on the public side.
func newKernelLab(t *testing.T) *kernelLab {
	natlab.Require(t)
	lab := natlab.New(t)
	kl := &kernelLab{lab: lab, relayIP: netip.MustParseAddr("203.0.113.10")}
	kl.relayHost = lab.PublicHost("relay", kl.relayIP.String())
	kl.nat = lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	kl.phoneA = kl.nat.LANHost("a", "192.168.1.10")
	kl.phoneB = lab.PublicHost("b", "198.51.100.20")
	return kl
}

func (kl *kernelLab) inRelay(prog string) []string {
	return []string{"ip", "netns", "exec", kl.relayHost.Name(), prog}
}

func (kl *kernelLab) newRelay(t *testing.T) *Relay { return kl.newRelayOn(t, kl.relayIP) }

func (kl *kernelLab) newRelayOn(t *testing.T, bind netip.Addr) *Relay {
	t.Helper()
	r, err := New(Config{Bind: bind, PortMin: 20000, PortMax: 20099, KernelForward: true,
		ListenUDP: kl.relayHost.ListenUDP, NftCommand: kl.inRelay("nft"), IPCommand: kl.inRelay("ip")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if on, err := r.KernelForwarding(); !on {
		t.Fatalf("kernel forwarding is off: %v", err)
	}
	return r
}

func (kl *kernelLab) nft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kl.relayHost.Run(context.Background(), "nft", args...)
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (kl *kernelLab) relayTables(t *testing.T) []string {
	t.Helper()
	tables, err := parseTables([]byte(kl.nft(t, "-j", "list", "tables", "netdev")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range tables {
		names = append(names, name)
	}
	return names
}

func mustListen(t *testing.T, h *natlab.Host) *net.UDPConn {
	t.Helper()
	c, err := h.ListenUDP("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// flow sends n packets each way (a to the relay's leg A, b to leg B) and
// returns how many arrived at each end, checking they came from the
// relay's other-leg address.
func flow(t *testing.T, a, b *net.UDPConn, toA, toB netip.AddrPort, n int, seq uint16) (gotB, gotA int) {
	t.Helper()
	send(t, a, toA, seqs(int(seq), n)...)
	gotB, fromB := receive(t, b, n)
	send(t, b, toB, seqs(int(seq), n)...)
	gotA, fromA := receive(t, a, n)
	if gotB > 0 && fromB != toB {
		t.Errorf("B got media from %v, want the relay's leg B %v", fromB, toB)
	}
	if gotA > 0 && fromA != toA {
		t.Errorf("A got media from %v, want the relay's leg A %v", fromA, toA)
	}
	return gotB, gotA
}

// waitKernel waits until the kernel forwarded for both legs, sending a
// packet each way every 20 ms meanwhile.
// flowThroughKernel sends n packets each way once the kernel rules are in
// and returns the session's counters before and after, the latter once the
// kernel counters were read back (up to kernelWait).
func flowThroughKernel(t *testing.T, s *Session, a, b *net.UDPConn, toA, toB netip.AddrPort, n int) (before, after SessionStats) {
	t.Helper()
	before = s.Stats()
	if gotB, gotA := flow(t, a, b, toA, toB, n, 2000); gotB != n || gotA != n {
		t.Fatalf("through kernel rules: B got %d, A got %d of %d", gotB, gotA, n)
	}
	counted := func() bool {
		st := s.Stats()
		return st.A.RTP.Kernel >= before.A.RTP.Kernel+uint64(n) && st.B.RTP.Kernel >= before.B.RTP.Kernel+uint64(n)
	}
	for deadline := time.Now().Add(kernelWait); time.Now().Before(deadline) && !counted(); {
		time.Sleep(100 * time.Millisecond)
	}
	return before, s.Stats()
}

func waitKernel(t *testing.T, s *Session, a, b *net.UDPConn, toA, toB netip.AddrPort, aKernel, bKernel uint64) {
	t.Helper()
	deadline := time.Now().Add(kernelWait)
	for seq := 1000; time.Now().Before(deadline); seq++ {
		st := s.Stats()
		if st.A.RTP.Kernel > aKernel && st.B.RTP.Kernel > bKernel {
			drain(a)
			drain(b)
			settle(t, s)
			return
		}
		send(t, a, toA, uint16(seq))
		send(t, b, toB, uint16(seq))
		time.Sleep(20 * time.Millisecond)
	}
	st := s.Stats()
	t.Fatalf("kernel did not take over within %v: A %+v, B %+v", kernelWait, st.A.RTP, st.B.RTP)
}

// settle waits until the kernel counters stop moving over more than one
// read interval: the last packets sent may have passed the kernel after
// its counters were read, and a snapshot taken next must hold them.
func settle(t *testing.T, s *Session) {
	t.Helper()
	deadline := time.Now().Add(kernelWait)
	prev := s.Stats()
	for time.Now().Before(deadline) {
		time.Sleep(kernelCounterInterval + 200*time.Millisecond)
		cur := s.Stats()
		if cur.A.RTP.Kernel == prev.A.RTP.Kernel && cur.B.RTP.Kernel == prev.B.RTP.Kernel {
			return
		}
		prev = cur
	}
	t.Fatal("kernel counters did not settle")
}

func drain(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

func TestKernelForwardLab(t *testing.T) {
	kl := newKernelLab(t)
	r := kl.newRelay(t)
	// Ingress chains from the start on lo and on the bind address's device.
	for _, dev := range []string{`device "lo"`, `device "eth0"`} {
		if out := kl.nft(t, "list", "table", "netdev", r.kfwd.table); !strings.Contains(out, dev) {
			t.Errorf("no ingress chain with %s:\n%s", dev, out)
		}
	}
	s, err := r.Allocate(t.Context(), "kfwd-1")
	if err != nil {
		t.Fatal(err)
	}
	s.A.Expect(kl.nat.WAN())
	s.B.Expect(kl.phoneB.Addr())
	a, b := mustListen(t, kl.phoneA), mustListen(t, kl.phoneB)
	// B's SDP is right; A's is private: the relay learns A from its packets.
	s.B.SetSDPAddr(netip.AddrPortFrom(kl.phoneB.Addr(), uint16(addrOf(b).Port())), netip.AddrPort{})
	toA := netip.AddrPortFrom(kl.relayIP, uint16(s.A.Port()))
	toB := netip.AddrPortFrom(kl.relayIP, uint16(s.B.Port()))

	// User space first: media flows before any rule is in.
	if gotB, gotA := flow(t, a, b, toA, toB, 5, 1); gotB != 5 || gotA != 5 {
		t.Fatalf("before kernel rules: B got %d, A got %d of 5", gotB, gotA)
	}
	waitKernel(t, s, a, b, toA, toB, 0, 0)

	t.Run("media flows both ways through the kernel", func(t *testing.T) {
		const n = 50
		before, after := flowThroughKernel(t, s, a, b, toA, toB, n)
		userA := func(st SessionStats) uint64 { return st.A.RTP.Packets - st.A.RTP.Kernel }
		userB := func(st SessionStats) uint64 { return st.B.RTP.Packets - st.B.RTP.Kernel }
		if userA(after) != userA(before) || userB(after) != userB(before) {
			t.Errorf("the relay's sockets still saw packets: user-space A %d→%d, B %d→%d",
				userA(before), userA(after), userB(before), userB(after))
		}
		if got := after.A.RTP.Kernel - before.A.RTP.Kernel; got != n {
			t.Errorf("kernel counter A grew by %d, want %d", got, n)
		}
		if got := after.B.RTP.Kernel - before.B.RTP.Kernel; got != n {
			t.Errorf("kernel counter B grew by %d, want %d", got, n)
		}
		if got := after.A.RTP.Bytes - before.A.RTP.Bytes; got != n*172 {
			t.Errorf("kernel bytes A grew by %d, want %d (payload bytes)", got, n*172)
		}
		if !after.A.RTP.LossNotMeasured {
			t.Error("loss is reported as measured although the kernel forwarded")
		}
		if !s.LastActivity().After(before.A.RTP.Last) {
			t.Error("kernel traffic did not count as activity (idle timeout would close the call)")
		}
	})

	t.Run("re-latch to a new source port", func(t *testing.T) {
		// A's NAT rebinding: the phone's media now comes from another
		// public port. Its packets miss the rule, reach user space, and
		// latch once the old source was silent for relatchSilence.
		a2 := mustListen(t, kl.phoneA)
		first := s.Stats().A.Latched
		deadline := time.Now().Add(relatchSilence + kernelWait)
		for seq := 3000; ; seq++ {
			if s.Stats().A.Latched != first {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no re-latch: %+v", s.Stats().A)
			}
			send(t, a2, toA, uint16(seq))
			time.Sleep(50 * time.Millisecond)
		}
		before := s.Stats()
		waitKernel(t, s, a2, b, toA, toB, before.A.RTP.Kernel, before.B.RTP.Kernel)
		// Until the re-latch reached the kernel, B's packets still took
		// the old rule to the old source. A's counter grew through the new
		// rule, installed in one transaction with B's new destination: from
		// here on nothing may go to the old source.
		drain(a)
		if gotB, gotA := flow(t, a2, b, toA, toB, 20, 4000); gotB != 20 || gotA != 20 {
			t.Fatalf("after re-latch: B got %d, A (new port) got %d of 20", gotB, gotA)
		}
		if n, _ := receive(t, a, 1); n != 0 {
			t.Error("the old source still gets media")
		}
	})

	t.Run("close removes the rules", func(t *testing.T) {
		s.Close()
		s.Wait()
		out := kl.nft(t, "list", "table", "netdev", r.kfwd.table)
		if strings.Contains(out, "jump") || strings.Contains(out, "chain s") || strings.Contains(out, "counter c") {
			t.Errorf("rules left after the session closed:\n%s", out)
		}
		r.Close()
		if tables := kl.relayTables(t); len(tables) != 0 {
			t.Errorf("tables left after Close: %v", tables)
		}
	})
}

// TestKernelForwardStaleTable: a relay killed with SIGKILL leaves its table;
// the next relay in that namespace removes it, with kernel forwarding or
// without (its ports would otherwise be taken by the dead one's rules).
func TestKernelForwardStaleTable(t *testing.T) {
	kl := newKernelLab(t)
	for _, kernel := range []bool{true, false} {
		p := kl.relayHost.Start(t, "env", kernelHelperEnv+"=1", os.Args[0], "-test.run=^TestKernelForwardHelperProcess$")
		deadline := time.Now().Add(kernelWait)
		for len(kl.relayTables(t)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the helper relay made no table; its log:\n%s", p.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.Kill()
		if tables := kl.relayTables(t); len(tables) != 1 {
			t.Fatalf("after SIGKILL: tables %v, want the dead relay's one", tables)
		}
		if kernel {
			r := kl.newRelay(t)
			tables := kl.relayTables(t)
			if len(tables) != 1 || tables[0] != r.kfwd.table {
				t.Errorf("after a new relay started: tables %v, want only its own %s", tables, r.kfwd.table)
			}
			r.Close()
			continue
		}
		r, err := New(Config{Bind: kl.relayIP, PortMin: 20000, PortMax: 20099, ListenUDP: kl.relayHost.ListenUDP, NftCommand: kl.inRelay("nft")})
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if tables := kl.relayTables(t); len(tables) != 0 {
			t.Errorf("a user-space relay left the dead relay's table: %v", tables)
		}
	}
}

const kernelHelperEnv = "NATDOC_KFWD_HELPER"

// TestKernelForwardHelperProcess is not a test: TestKernelForwardStaleTable
// runs the test binary as a relay process inside the lab namespace and
// kills it.
func TestKernelForwardHelperProcess(t *testing.T) {
	if os.Getenv(kernelHelperEnv) != "1" {
		t.Skip("helper process for TestKernelForwardStaleTable")
	}
	r, err := New(Config{Bind: netip.MustParseAddr("203.0.113.10"), PortMin: 21000, PortMax: 21099, KernelForward: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	on, err := r.KernelForwarding()
	fmt.Println("kernel forwarding:", on, err)
	time.Sleep(time.Minute) // until killed

}

// TestKernelForwardLabIPv6: the same on IPv6 (fwd ip6), three hosts on one
// link of the lab's public segment.
func TestKernelForwardLabIPv6(t *testing.T) {
	kl := newKernelLab(t)
	phoneA := kl.phoneB // any two hosts on the public bridge; A needs no NAT here
	phoneB := kl.lab.PublicHost("b6", "198.51.100.21")
	relay6, a6, b6 := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::30"), netip.MustParseAddr("2001:db8::20")
	for h, a := range map[*natlab.Host]netip.Addr{kl.relayHost: relay6, phoneA: a6, phoneB: b6} {
		// natlab turns IPv6 off in its namespaces; on here.
		for _, dev := range []string{"all", "lo", "eth0"} {
			h.Sysctl(t, "net.ipv6.conf."+dev+".disable_ipv6", "0")
		}
		// nodad: the address is usable at once (no duplicate detection wait).
		if out, err := h.Run(context.Background(), "ip", "-6", "addr", "add", a.String()+"/64", "dev", "eth0", "nodad"); err != nil {
			t.Skipf("no IPv6 in the lab: %v: %s", err, out)
		}
	}
	r := kl.newRelayOn(t, relay6)
	s, err := r.Allocate(t.Context(), "kfwd-6")
	if err != nil {
		t.Fatal(err)
	}
	s.A.Expect(a6)
	s.B.Expect(b6)
	listen6 := func(h *natlab.Host, ip netip.Addr) *net.UDPConn {
		c, err := h.ListenUDP("udp6", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := listen6(phoneA, a6), listen6(phoneB, b6)
	s.B.SetSDPAddr(addrOf(b), netip.AddrPort{})
	toA, toB := netip.AddrPortFrom(relay6, uint16(s.A.Port())), netip.AddrPortFrom(relay6, uint16(s.B.Port()))
	if gotB, gotA := flow(t, a, b, toA, toB, 5, 1); gotB != 5 || gotA != 5 {
		t.Fatalf("before kernel rules: B got %d, A got %d of 5", gotB, gotA)
	}
	waitKernel(t, s, a, b, toA, toB, 0, 0)
	const n = 30
	before, after := flowThroughKernel(t, s, a, b, toA, toB, n)
	if after.A.RTP.Kernel-before.A.RTP.Kernel != n || after.B.RTP.Kernel-before.B.RTP.Kernel != n {
		t.Errorf("kernel counters grew by A %d, B %d; want %d each", after.A.RTP.Kernel-before.A.RTP.Kernel, after.B.RTP.Kernel-before.B.RTP.Kernel, n)
	}
	if got := after.B.RTP.Bytes - before.B.RTP.Bytes; got != n*172 {
		t.Errorf("kernel bytes B grew by %d, want %d (payload bytes)", got, n*172)
	}
	if after.A.RTP.Packets-after.A.RTP.Kernel != before.A.RTP.Packets-before.A.RTP.Kernel {
		t.Error("the relay's socket still saw packets after the IPv6 rule was in")
	}
}
