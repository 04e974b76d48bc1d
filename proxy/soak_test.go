//go:build linux

package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/relay"
)

// The soak's shape: bench/soak.sh runs the same sipp scenarios
// (bench/sipp/soak) against the natdoc binary with 10,000 calls; this
// test runs a few hundred against the server in this process, where
// goroutines and the heap can be read directly.

// soakLoad is one kind of call: a sipp caller scenario, the callee that
// answers it, how many calls at what rate, and -d (the pause: talk time,
// ring time before a cancel, or time before a re-INVITE).
type soakLoad struct {
	scenario, callee string
	calls, rate      int
	pause            time.Duration
}

// soakCallee is a sipp callee registered as user at port.
type soakCallee struct {
	user, scenario string
	port, media    int
	pause          time.Duration
}

const soakIP, soakCallerIP = "127.0.8.2", "127.0.8.3"

// soakHeapSlack: what the heap may keep by design after the load, the
// summary's records of the 300 calls (at most maxEndedCalls are kept),
// measured at about 2 KB each, and a margin. A leak of what a call holds
// while it runs (its transactions and messages, 4 MB for these calls
// before they expire, or its relay session) exceeds it.
const soakHeapSlack = 300*2048 + 512<<10

var soakCallees = []soakCallee{
	{user: "answer", scenario: "uas-answer", port: 5170, media: 7100},
	{user: "ring", scenario: "uas-ring", port: 5171, media: 7110},
	{user: "noanswer", scenario: "uas-noanswer", port: 5172, media: 7120, pause: time.Second},
}

// TestSoakMixed: 300 calls, up to about 70 at once: short and long calls
// with audio both ways through the relay, re-INVITEs, cancelled calls and
// calls nobody answers. Every call ends and is counted once by kind, the
// relay's ports return, and goroutines, heap and open files come back to
// their level after a warm-up. The figures are read as serve --metrics
// exports them.
func TestSoakMixed(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	requireSipp(t)
	ts, m := startSoakServer(t)
	dir := soakDir(t)
	startCallees(t, ts.addr, dir)
	runLoads(t, ts.addr, dir, []soakLoad{{scenario: "uac-talk", callee: "answer", calls: 10, rate: 10, pause: 500 * time.Millisecond}})
	base := settle(t, m, soakStats{}, 0)
	loads := []soakLoad{
		{scenario: "uac-talk", callee: "answer", calls: 150, rate: 15, pause: time.Second},
		{scenario: "uac-talk", callee: "answer", calls: 40, rate: 4, pause: 8 * time.Second},
		{scenario: "uac-reinvite", callee: "answer", calls: 40, rate: 4, pause: 1500 * time.Millisecond},
		{scenario: "uac-cancel", callee: "ring", calls: 35, rate: 4, pause: 500 * time.Millisecond},
		{scenario: "uac-noanswer", callee: "noanswer", calls: 35, rate: 4},
	}
	runLoads(t, ts.addr, dir, loads)
	start := time.Now()
	after := settle(t, m, base, soakHeapSlack)
	t.Logf("settled %v after the load", time.Since(start).Round(time.Second))
	fig := scrapeFigures(t, m)
	t.Logf("after warm-up %+v; after the load %+v; metrics %v", base, after, fig)
	ended := fig[`natdoc_calls_ended_total{end="bye"}`] + fig[`natdoc_calls_ended_total{end="cancelled"}`] + fig[`natdoc_calls_ended_total{end="rejected"}`]
	if fig["natdoc_calls_started_total"] != 310 || ended != 310 || fig["natdoc_calls_active"] != 0 ||
		fig[`natdoc_calls_ended_total{end="bye"}`] != 10+150+40+40 || fig[`natdoc_calls_ended_total{end="cancelled"}`] != 35 {
		t.Errorf("calls: %v; want 310 started, 310 ended (bye 240, cancelled 35, rejected 35), none active", fig)
	}
	if fig["natdoc_relay_sessions"] != 0 || fig["natdoc_relay_ports_free"] != 400 {
		t.Errorf("relay: %v sessions open, %v of 400 ports free", fig["natdoc_relay_sessions"], fig["natdoc_relay_ports_free"])
	}
	if after.goroutines > base.goroutines+5 || after.files > base.files || after.heap > base.heap+soakHeapSlack {
		t.Errorf("leak: after warm-up %+v, after the load %+v", base, after)
	}
}

func requireSipp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		if os.Getenv(natlab.EnvLab) == "require" {
			t.Fatal("sipp not installed (apt-get install sip-tester)")
		}
		t.Skip("sipp not installed")
	}
}

// startSoakServer runs a server in fix mode on loopback with its figures
// in m, wired as serve --metrics wires them.
func startSoakServer(t *testing.T) (*testServer, *metrics.Metrics) {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 8, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	var closed metrics.RelayCounter
	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.8.1"), PortMin: 26600, PortMax: 26999, OnRelease: closed.Closed})
	if err != nil {
		t.Fatal(err)
	}
	exportRelay(m, rl, &closed)
	srv, err := New(Config{Fix: true, Relay: rl, Rate: 1e6, Burst: 1e6, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, relay: rl, addr: udp.LocalAddr().String(), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	stopWatch := newObserver(m, nil).watch(ctx, srv)
	go func() { defer close(ts.done); srv.Serve(ctx, udp, nil) }()
	t.Cleanup(func() { cancel(); <-ts.done; stopWatch(); rl.Close() })
	return ts, m
}

// soakDir is the directory sipp runs in: the scenarios' audio file and
// sipp's own files.
func soakDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// One second of G.711 u-law silence, looped by rtp_stream.
	if err := os.WriteFile(filepath.Join(dir, "soak-audio.ulaw"), bytes.Repeat([]byte{0xff}, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func scenario(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "bench", "sipp", "soak", name+".xml"))
	return p
}

// startCallees registers each callee and runs it until the test ends.
func startCallees(t *testing.T, server, dir string) {
	t.Helper()
	reg, _ := filepath.Abs(filepath.Join("..", "bench", "sipp", "register-uas.xml"))
	for _, c := range soakCallees {
		port := fmt.Sprint(c.port)
		out, err := sipp(t, dir, server, "-sf", reg, "-key", "user", c.user, "-i", soakIP, "-p", port, "-m", "1", "-timeout", "10s", "-timeout_error").CombinedOutput()
		if err != nil {
			t.Fatalf("registering %s: %v\n%s", c.user, err, out)
		}
		cmd := sipp(t, dir, "", "-sf", scenario(c.scenario), "-i", soakIP, "-p", port, "-mi", soakIP, "-mp", fmt.Sprint(c.media), "-rtp_echo",
			"-d", fmt.Sprint(c.pause.Milliseconds()), "-timeout", "300s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
}

func sipp(t *testing.T, dir, server string, args ...string) *exec.Cmd {
	t.Helper()
	if server != "" {
		args = append([]string{server}, args...)
	}
	cmd := exec.Command("sipp", append(args, "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))...)
	cmd.Dir = dir
	return cmd
}

// runLoads runs every load at once and waits: each sipp caller must end
// with all its calls successful.
func runLoads(t *testing.T, server, dir string, loads []soakLoad) {
	t.Helper()
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := sipp(t, dir, server, "-sf", scenario(l.scenario), "-key", "callee", l.callee, "-i", soakCallerIP, "-p", fmt.Sprint(5180+i),
				"-mi", soakCallerIP, "-d", fmt.Sprint(l.pause.Milliseconds()), "-r", fmt.Sprint(l.rate), "-m", fmt.Sprint(l.calls), "-l", "1000",
				"-timeout", "120s", "-timeout_error")
			if out, err := cmd.CombinedOutput(); err != nil {
				log, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
				t.Errorf("%s to %s: %v\n%s\n%s", l.scenario, l.callee, err, tail(out), tail(log))
			}
		}()
	}
	wg.Wait()
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// soakStats are the process's figures a leak would raise.
type soakStats struct {
	goroutines, files int
	heap              uint64
}

// settle waits until the server is quiet: no call in progress, every
// relay port back, goroutines down to base's level and the live heap
// (after a collection) no more than base's and slack, or until 40 s
// passed (sipgo keeps finished transactions, with their messages, for up
// to 32 s: RFC 3261 Timer J). It returns the figures then.
func settle(t *testing.T, m *metrics.Metrics, base soakStats, slack uint64) soakStats {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		runtime.GC() // go_gc_heap_live_bytes is the heap this collection marked
		fig := scrapeFigures(t, m)
		now := soakStats{goroutines: int(fig["go_goroutines"]), files: int(fig["process_open_fds"]), heap: uint64(fig["go_gc_heap_live_bytes"])}
		quiet := fig["natdoc_calls_active"] == 0 && fig["natdoc_relay_sessions"] == 0
		if quiet && (base.goroutines == 0 || now.goroutines <= base.goroutines+5 && now.heap <= base.heap+slack) || time.Now().After(deadline) {
			return now
		}
		time.Sleep(time.Second)
	}
}

// scrapeFigures reads m's gauges and counters by name, with the labels
// in braces when a metric has any (natdoc_calls_ended_total{end="bye"}).
func scrapeFigures(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			if lp := mt.GetLabel(); len(lp) > 0 {
				key += fmt.Sprintf("{%s=%q}", lp[0].GetName(), lp[0].GetValue())
			}
			switch {
			case mt.Gauge != nil:
				out[key] = mt.GetGauge().GetValue()
			case mt.Counter != nil:
				out[key] = mt.GetCounter().GetValue()
			}
		}
	}
	return out
}
