//go:build linux

// Command rtpload is the RTP load generator of bench/relay.sh. It sets up
// N calls in each relay under test through rtpengine's ng control protocol
// (rtpengine itself, or natdoc's relay behind bench/cmd/ngrelay), sends
// G.711-like RTP through them in both directions (172-byte packets, 50 per
// second per stream), and measures per relay: delivered packets per second,
// loss, added latency p50/p99 (send stamp in the payload against the
// kernel's receive stamp) and the relay process's CPU time from
// /proc/PID/stat. It prints a table with the ratios natdoc/rtpengine.
//
// Loopback only: every address it sends to is 127.0.0.1 (checked).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
)

type options struct {
	targets    []target
	loads      []int
	stepup     []int
	warmup     time.Duration
	duration   time.Duration
	drain      time.Duration
	pairs      int
	profileDir string
	jsonOut    string
	relayCPU   int
}

// target is a relay under test: NAME,NG-ADDR,PID, or "direct" (no relay:
// the generator's sockets send to each other, the floor of the method).
type target struct {
	Name string
	NG   netip.AddrPort
	PID  int
}

func (t target) direct() bool { return !t.NG.IsValid() }

func main() {
	var o options
	var targets, loads, stepup string
	flag.StringVar(&targets, "targets", "", "relays under test: `NAME,NG-ADDR,PID;...` (NAME direct alone: no relay)")
	flag.StringVar(&loads, "loads", "100,1000", "fixed loads, in `CALLS` (each call: 2 streams of 50 packets/s)")
	flag.StringVar(&stepup, "stepup", "1200,1400,1600,2000,2500,3000", "step-up loads in `CALLS`, per relay until the first loss")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "traffic before the measurement window (latching, caches)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement window per load")
	flag.DurationVar(&o.drain, "drain", time.Second, "wait for late packets after sending")
	flag.IntVar(&o.pairs, "pairs", 4, "generator socket pairs (calls share them; the relay still has its own ports per call)")
	flag.StringVar(&o.profileDir, "profile", "", "`DIR` for CPU profiles of natdoc's relay (ngrelay) per load")
	flag.StringVar(&o.jsonOut, "json", "", "also write every result to `FILE`")
	flag.IntVar(&o.relayCPU, "relay-cpu", -1, "the `CORE` the relays are pinned to: its total busy time (every process, interrupts) is reported")
	flag.Parse()
	var err error
	if o.targets, err = parseTargets(targets); err != nil {
		log.Fatalf("rtpload: %v", err)
	}
	if o.loads, err = parseInts(loads); err != nil {
		log.Fatalf("rtpload: --loads: %v", err)
	}
	if o.stepup, err = parseInts(stepup); err != nil {
		log.Fatalf("rtpload: --stepup: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &o); err != nil {
		log.Fatalf("rtpload: %v", err)
	}
}

func parseTargets(s string) ([]target, error) {
	var out []target
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		f := strings.Split(part, ",")
		if f[0] == "direct" && len(f) == 1 {
			out = append(out, target{Name: "direct"})
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("--targets %q: want NAME,NG-ADDR,PID", part)
		}
		ap, err := netip.ParseAddrPort(f[1])
		if err != nil || !ap.Addr().IsLoopback() {
			return nil, fmt.Errorf("--targets %q: the ng address must be on loopback", part)
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil || pid < 1 {
			return nil, fmt.Errorf("--targets %q: bad PID", part)
		}
		out = append(out, target{Name: f[0], NG: ap, PID: pid})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no --targets")
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%q: want 1-10000 calls", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// result is one relay at one load.
type result struct {
	Relay        string  `json:"relay"`
	Calls        int     `json:"calls"`
	TargetPPS    int     `json:"target_pps"`
	Sent         uint64  `json:"sent"`
	Received     uint64  `json:"received"`
	Lost         uint64  `json:"lost"`
	LossPct      float64 `json:"loss_pct"`
	DeliveredPPS float64 `json:"delivered_pps"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
	MaxUs        float64 `json:"max_us"`
	CPUPct       float64 `json:"cpu_pct_of_core"`
	CPUusPerPkt  float64 `json:"cpu_us_per_packet"`
	GenLagMs     float64 `json:"generator_max_lag_ms"`
	WindowSec    float64 `json:"window_s"`
	NominalSec   float64 `json:"nominal_window_s"`
	GenCPUPct    float64 `json:"generator_cpu_pct"`
	GenCPUusPkt  float64 `json:"generator_cpu_us_per_packet"`
	CoreBusyPct  float64 `json:"relay_core_busy_pct"`
	CoreSoftPct  float64 `json:"relay_core_softirq_pct"`
	// Whole machine (every core): a relay that forwards in the kernel does
	// its work in softirq on the sending core, the generator's, which no
	// process's CPU time shows. MachineUsPkt is all cores' busy time per
	// delivered packet; AddedMachineUsPkt subtracts the "direct" row's at
	// the same load (the generator's own sending and receiving), leaving
	// what relaying cost the machine.
	MachineBusyPct    float64 `json:"machine_busy_pct"`
	MachineUsPkt      float64 `json:"machine_us_per_packet"`
	AddedMachineUsPkt float64 `json:"added_machine_us_per_packet,omitempty"`
	// The same without other users' processes, which make the machine
	// figure noisy on a shared machine: relay process + generator process
	// + softirq time of every core (the part of the kernel's packet work
	// no process is charged with), per packet, less the direct row's
	// generator + softirq.
	SoftirqUsPkt float64 `json:"machine_softirq_us_per_packet"`
	// BacklogDrops: packets the kernel dropped because a core's input
	// backlog was full (/proc/net/softnet_stat, second column, all cores)
	// during the window: loss that happened before any relay saw a packet
	// (bench/relay.sh --rps moves every loopback receive to one core).
	BacklogDrops  uint64  `json:"backlog_drops"`
	AddedOwnUsPkt float64 `json:"added_relay_gen_softirq_us_per_packet,omitempty"`
	Stale         uint64  `json:"stale"`
	SetupErr      string  `json:"setup_error,omitempty"`
}

// genLimited: the generator's window took 2% longer than planned, so it
// did not hold the asked rate on average and the step proves nothing
// about the relay. (A single late tick on a busy machine, visible as
// GenLagMs, only makes a burst.)
func (r *result) genLimited() bool { return r.WindowSec > 1.02*r.NominalSec }

func run(ctx context.Context, o *options) error {
	var all []result
	runTag := uint32(time.Now().UnixNano())
	step := 0
	measure := func(t target, calls int) result {
		step++
		r := measureOne(ctx, o, t, calls, runTag+uint32(step), step)
		fmt.Fprintf(os.Stderr, "%-10s %5d calls: %s\n", t.Name, calls, r.short())
		all = append(all, r)
		return r
	}
	var fixed []result
	for _, calls := range o.loads {
		for _, t := range o.targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fixed = append(fixed, measure(t, calls))
		}
	}
	addMachineCPU(fixed)
	steps := map[string][]result{}
	for _, t := range o.targets {
		if t.direct() {
			continue
		}
		for _, calls := range o.stepup {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := measure(t, calls)
			steps[t.Name] = append(steps[t.Name], r)
			if r.Lost > 0 || r.SetupErr != "" || r.genLimited() {
				break
			}
		}
	}
	printTables(os.Stdout, o, fixed, steps)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		return os.WriteFile(o.jsonOut, b, 0o644)
	}
	return nil
}

func (r *result) short() string {
	if r.SetupErr != "" {
		return "setup failed: " + r.SetupErr
	}
	return fmt.Sprintf("%.0f pps delivered, loss %d (%.3f%%, backlog drops %d), p50 %.0f µs, p99 %.0f µs, relay CPU %.1f%%, %.2f µs/pkt, gen lag %.1f ms, gen CPU %.0f%%",
		r.DeliveredPPS, r.Lost, r.LossPct, r.BacklogDrops, r.P50us, r.P99us, r.CPUPct, r.CPUusPerPkt, r.GenLagMs, r.GenCPUPct)
}

// call is one relayed call in a measurement.
type call struct {
	id, fromTag string
}

func measureOne(ctx context.Context, o *options, t target, calls int, runTag uint32, step int) result {
	res := result{Relay: t.Name, Calls: calls, TargetPPS: calls * 2 * int(time.Second/packetInterval)}
	g, err := newGen(runTag, o.pairs)
	if err != nil {
		res.SetupErr = err.Error()
		return res
	}
	defer g.close()
	var cl *ng.Client
	var set []call
	if !t.direct() {
		if cl, err = ng.Dial(t.NG); err != nil {
			res.SetupErr = err.Error()
			return res
		}
		defer cl.Close()
		defer func() { teardown(ctx, cl, set) }()
	}
	if set, err = setupStreams(ctx, g, cl, o.pairs, calls, runTag, step); err != nil {
		res.SetupErr = err.Error()
		return res
	}
	perSec := uint32(time.Second / packetInterval)
	g.winFirst = uint32(o.warmup/packetInterval) + 1
	g.winLast = g.winFirst + uint32(o.duration/packetInterval)
	g.rounds = g.winLast + perSec/5 // 200 ms after the window: its last packets are not the run's last
	g.startReceivers()

	var start, end sample
	profile := o.profileDir != "" && t.Name == "natdoc" && cl != nil
	onWindow := func(begins bool) {
		if !begins {
			end = takeSample(o, t)
			if profile {
				cl.Request(ctx, map[string]any{"command": "x-profile-stop"})
			}
			return
		}
		start = takeSample(o, t)
		if profile {
			file, _ := filepath.Abs(filepath.Join(o.profileDir, fmt.Sprintf("natdoc-%dcalls.pprof", calls)))
			cl.Request(ctx, map[string]any{"command": "x-profile-start", "file": file})
		}
	}
	if err := g.send(onWindow); err != nil {
		res.SetupErr = "send: " + err.Error()
		return res
	}
	time.Sleep(o.drain)
	g.close()
	g.rxWG.Wait()
	res = summarize(res, g, end.at.Sub(start.at), end.cpu-start.cpu, end.gen-start.gen, t.PID)
	return end.addTo(res, start)
}

// setupStreams asks the relay (cl; nil: direct) for each call's two legs
// and gives the generator a stream each way. It returns the calls set up,
// for teardown, also after an error.
func setupStreams(ctx context.Context, g *gen, cl *ng.Client, pairs, calls int, runTag uint32, step int) ([]call, error) {
	var set []call
	for i := range calls {
		k := i % pairs
		caller, callee := g.addr(2*k), g.addr(2*k+1)
		toCaller, toCallee := caller, callee // direct: straight to each other
		if cl != nil {
			c := call{id: fmt.Sprintf("natdoc-bench-%x-%d-%d", runTag, step, i), fromTag: "caller"}
			var err error
			if toCallee, toCaller, err = setupCall(ctx, cl, c, caller, callee); err != nil {
				return set, fmt.Errorf("call %d: %v", i, err)
			}
			set = append(set, c)
		}
		if !toCaller.Addr().IsLoopback() || !toCallee.Addr().IsLoopback() {
			return set, fmt.Errorf("relay gave a non-loopback address (%s, %s): refusing to send", toCaller, toCallee)
		}
		// Stream from the caller enters the relay's caller-facing leg and
		// leaves toward the callee; and back.
		g.addStream(2*k, toCaller)
		g.addStream(2*k+1, toCallee)
	}
	return set, nil
}

// sample is what the CPU and drop counters read at one edge of the
// measurement window.
type sample struct {
	at         time.Time
	cpu, gen   time.Duration
	core, mach coreTimes
	drops      uint64
}

func takeSample(o *options, t target) sample {
	return sample{at: time.Now(), cpu: procCPU(t.PID), gen: selfCPU(), core: readCore(o.relayCPU), mach: readMachine(), drops: backlogDrops()}
}

// addTo fills res's machine-wide figures from the window start..end.
func (end sample) addTo(res result, start sample) result {
	res.CoreBusyPct = end.core.busyPct(start.core)
	res.CoreSoftPct = end.core.softirqPct(start.core)
	if end.drops >= start.drops {
		res.BacklogDrops = end.drops - start.drops
	}
	// USER_HZ is 100: ticks per second are percent of one core.
	res.MachineBusyPct = float64(end.mach.busy-start.mach.busy) / max(end.at.Sub(start.at).Seconds(), 1e-9)
	if res.Received > 0 {
		res.MachineUsPkt = float64(end.mach.busy-start.mach.busy) * 1e4 / float64(res.Received) // a tick is 10 ms = 1e4 µs
		res.SoftirqUsPkt = float64(end.mach.softirq-start.mach.softirq) * 1e4 / float64(res.Received)
	}
	return res
}

func summarize(res result, g *gen, window, cpu, genCPU time.Duration, pid int) result {
	h := newHistogram()
	for _, x := range g.hists {
		h.merge(x)
	}
	for _, s := range g.streams {
		sent, recv := s.sent.Load(), s.recv.Load()
		res.Sent += sent
		res.Received += recv
		if recv < sent {
			res.Lost += sent - recv
		}
	}
	if res.Sent > 0 {
		res.LossPct = 100 * float64(res.Lost) / float64(res.Sent)
	}
	if window > 0 {
		res.DeliveredPPS = float64(res.Received) / window.Seconds()
		res.GenCPUPct = 100 * genCPU.Seconds() / window.Seconds()
		if pid > 0 {
			res.CPUPct = 100 * cpu.Seconds() / window.Seconds()
		}
	}
	if res.Received > 0 && pid > 0 {
		res.CPUusPerPkt = float64(cpu.Microseconds()) / float64(res.Received)
	}
	if res.Received > 0 {
		res.GenCPUusPkt = float64(genCPU.Microseconds()) / float64(res.Received)
	}
	res.P50us, res.P99us = h.quantile(0.50), h.quantile(0.99)
	res.MaxUs = float64(h.max) / 1000
	res.GenLagMs = float64(g.maxLag.Load()) / 1e6
	res.WindowSec = window.Seconds()
	res.NominalSec = (time.Duration(g.winLast-g.winFirst) * packetInterval).Seconds()
	res.Stale = g.stale.Load()
	return res
}

// setupCall: offer with the caller's SDP (the reply is what the callee is
// told: the relay's callee-facing address), answer with the callee's.
func setupCall(ctx context.Context, cl *ng.Client, c call, caller, callee netip.AddrPort) (toCallee, toCaller netip.AddrPort, err error) {
	sdp, err := cl.Offer(ctx, c.id, c.fromTag, ng.AudioSDP(caller, 1))
	if err != nil {
		return
	}
	if toCallee, err = ng.MediaAddr(sdp); err != nil {
		return
	}
	if sdp, err = cl.Answer(ctx, c.id, c.fromTag, "callee", ng.AudioSDP(callee, 2)); err != nil {
		return
	}
	toCaller, err = ng.MediaAddr(sdp)
	return
}

// teardown deletes every call, even after ctx ended (the relay's ports
// must not stay taken).
func teardown(ctx context.Context, cl *ng.Client, calls []call) {
	bg := context.WithoutCancel(ctx)
	for _, c := range calls {
		cl.Delete(bg, c.id, c.fromTag)
	}
}

// procCPU is user+system time of process pid, all its threads, and of its
// children it waited for (nft runs of a kernel-forwarding relay), from
// /proc/PID/stat (fields 14-17, in USER_HZ = 100 ticks per second on
// Linux).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name (field 2) may hold spaces: fields count from ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, field := range f[11:15] { // utime stime cutime cstime
		v, _ := strconv.ParseInt(field, 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / 100)
}

func selfCPU() time.Duration { return procCPU(os.Getpid()) }

// coreTimes is one core's line of /proc/stat, in USER_HZ ticks.
type coreTimes struct{ busy, total, softirq int64 }

// readCore reads core n's times; the zero value when n < 0 or unreadable.
func readCore(n int) coreTimes {
	if n < 0 {
		return coreTimes{}
	}
	return readStat("cpu" + strconv.Itoa(n) + " ")
}

// readMachine reads the sum over all cores (the "cpu " line).
func readMachine() coreTimes { return readStat("cpu ") }

func readStat(prefix string) coreTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreTimes{}
	}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var c coreTimes
		// user nice system idle iowait irq softirq steal ...
		for i, f := range strings.Fields(line)[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			c.total += v
			if i != 3 && i != 4 {
				c.busy += v
			}
			if i == 6 {
				c.softirq += v
			}
		}
		return c
	}
	return coreTimes{}
}

// softirqPct is the share of the core spent in softirq: on loopback, a
// send delivers the packet into the receiving socket in softirq context on
// the sender's core, which the kernel does not always charge to the
// sending process's /proc/PID/stat.
func (c coreTimes) softirqPct(before coreTimes) float64 {
	if c.total <= before.total {
		return 0
	}
	return 100 * float64(c.softirq-before.softirq) / float64(c.total-before.total)
}

func (c coreTimes) busyPct(before coreTimes) float64 {
	if c.total <= before.total {
		return 0
	}
	return 100 * float64(c.busy-before.busy) / float64(c.total-before.total)
}

// addMachineCPU fills AddedMachineUsPkt of every relay row that has a
// "direct" row at the same load: the machine's busy time per packet with
// the relay, less what the generator alone spent per packet.
func addMachineCPU(rs []result) {
	for i := range rs {
		d := find(rs, "direct", rs[i].Calls)
		if rs[i].Relay == "direct" || d == nil || d.SetupErr != "" || rs[i].SetupErr != "" || d.MachineUsPkt == 0 {
			continue
		}
		rs[i].AddedMachineUsPkt = rs[i].MachineUsPkt - d.MachineUsPkt
		rs[i].AddedOwnUsPkt = rs[i].CPUusPerPkt + rs[i].GenCPUusPkt + rs[i].SoftirqUsPkt - d.GenCPUusPkt - d.SoftirqUsPkt
	}
}

// backlogDrops sums the "dropped" column of /proc/net/softnet_stat (hex,
// one line per core): packets refused because the core's input backlog
// (net.core.netdev_max_backlog) was full.
func backlogDrops() uint64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var sum uint64
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 16, 64)
		sum += n
	}
	return sum
}
