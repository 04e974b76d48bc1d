//go:build linux

package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		h.add(int64(i) * int64(time.Microsecond) * 10) // 10 µs .. 1 ms
	}
	for _, tc := range []struct {
		q        float64
		min, max float64 // µs: the bin's upper edge
	}{{0.5, 500, 520}, {0.99, 990, 1010}, {0, 10, 11}} {
		if got := h.quantile(tc.q); got < tc.min || got > tc.max {
			t.Errorf("q%.2f = %.0f µs, want %.0f-%.0f", tc.q, got, tc.min, tc.max)
		}
	}
	if h.max != int64(time.Millisecond) {
		t.Errorf("max %d", h.max)
	}
	h.add(-5) // a stepped wall clock counts as 0, not a panic
	h.add(int64(time.Hour))
	if h.under != 1 || h.bins[len(h.bins)-1] != 1 {
		t.Errorf("under %d, overflow %d", h.under, h.bins[len(h.bins)-1])
	}
}

func TestBinsAreMonotonic(t *testing.T) {
	prev := -1
	for ns := int64(0); ns < int64(10*time.Second); ns += 997 * 1000 { // then the overflow bin
		b := binOf(ns)
		if b < prev {
			t.Fatalf("bin of %d ns = %d, below %d", ns, b, prev)
		}
		if float64(ns)/1000 > upper(b) {
			t.Fatalf("%d ns above its bin's upper edge %.0f µs", ns, upper(b))
		}
		prev = b
	}
}

func TestParseTargetsLoopbackOnly(t *testing.T) {
	if _, err := parseTargets("natdoc,192.0.2.1:2223,1"); err == nil {
		t.Fatal("a non-loopback ng address was accepted")
	}
	ts, err := parseTargets("direct;rtpengine,127.0.8.1:2223,42")
	if err != nil || len(ts) != 2 || !ts[0].direct() || ts[1].PID != 42 {
		t.Fatalf("got %+v %v", ts, err)
	}
}

func TestKernelStamp(t *testing.T) {
	buf := make([]byte, 64)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(16))
	ts := (*unix.Timespec)(unsafe.Pointer(&buf[unix.CmsgLen(0)]))
	*ts = unix.NsecToTimespec(1_700_000_000_123_456_789)
	if got := kernelStamp(buf[:unix.CmsgSpace(16)]); got != 1_700_000_000_123_456_789 {
		t.Fatalf("got %d", got)
	}
	h.SetLen(1 << 20) // a length beyond the buffer: ignored, not a panic
	if got := kernelStamp(buf); got != 0 {
		t.Fatalf("bad length gave %d", got)
	}
}

func TestProcCPU(t *testing.T) {
	start := procCPU(os.Getpid())
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	if end := procCPU(os.Getpid()); end < start || end == 0 {
		t.Fatalf("CPU time %v then %v", start, end)
	}
	if c := readCore(0); c.total == 0 {
		t.Fatal("no cpu0 line in /proc/stat")
	}
}

func TestAddMachineCPU(t *testing.T) {
	rs := []result{
		{Relay: "direct", Calls: 100, MachineUsPkt: 5, GenCPUusPkt: 4, SoftirqUsPkt: 0.5},
		{Relay: "natdoc-kernel", Calls: 100, MachineUsPkt: 7.5, CPUusPerPkt: 0.25, GenCPUusPkt: 6, SoftirqUsPkt: 0.5},
		{Relay: "rtpengine", Calls: 100, MachineUsPkt: 20, CPUusPerPkt: 9, GenCPUusPkt: 5, SoftirqUsPkt: 1.5},
		{Relay: "rtpengine", Calls: 1000, MachineUsPkt: 20}, // no direct row at 1000 calls
	}
	addMachineCPU(rs)
	for i, want := range []struct{ machine, own float64 }{{0, 0}, {2.5, 2.25}, {15, 11}, {0, 0}} {
		if rs[i].AddedMachineUsPkt != want.machine || rs[i].AddedOwnUsPkt != want.own {
			t.Errorf("%s at %d calls: added machine %.2f, own %.2f; want %.2f, %.2f", rs[i].Relay, rs[i].Calls,
				rs[i].AddedMachineUsPkt, rs[i].AddedOwnUsPkt, want.machine, want.own)
		}
	}
}

func TestProcCPUCountsChildren(t *testing.T) {
	// A waited-for child's CPU time shows in the parent's (cutime): a
	// relay's nft runs count as the relay's.
	before := procCPU(os.Getpid())
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	child := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if child < 50*time.Millisecond {
		t.Skipf("the child ran only %v: too short to see in 10 ms ticks", child)
	}
	if got := procCPU(os.Getpid()) - before; got < child-20*time.Millisecond {
		t.Errorf("own CPU grew by %v, the child used %v", got, child)
	}
	if readMachine().total <= 0 {
		t.Error("readMachine: no cpu line in /proc/stat")
	}
}

func TestBacklogDropsReads(t *testing.T) {
	if _, err := os.Stat("/proc/net/softnet_stat"); err != nil {
		t.Skip("no /proc/net/softnet_stat")
	}
	a := backlogDrops()
	if b := backlogDrops(); b < a {
		t.Errorf("backlog drops went back from %d to %d", a, b)
	}
}
