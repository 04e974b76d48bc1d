// Command ngrelay runs natdoc's RTP relay (package relay, the one `natdoc
// serve` anchors media in) as its own process, controlled through the
// subset of rtpengine's ng protocol that bench/relay.sh uses: ping, offer,
// answer, delete. One load generator (bench/cmd/rtpload) can so set up the
// same calls in natdoc's relay and in rtpengine, and the relay's CPU time is
// that of a process of its own, pinned to its own core.
//
// It is a benchmark harness, not a product: it listens on loopback only and
// trusts its one client. Two extra commands, "x-profile-start" (key "file")
// and "x-profile-stop", bracket a CPU profile around one measurement.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/relay"
)

func main() {
	ngAddr := flag.String("ng", "127.0.0.1:2224", "ng control `ADDR:PORT` (loopback only)")
	ports := flag.String("ports", "20000-39999", "relay port range `LO-HI`")
	maxSessions := flag.Int("max-sessions", 6000, "relay session limit")
	batch := flag.Int("batch", 0, "packets per recvmmsg/sendmmsg (0: the relay's default)")
	goroutines := flag.Bool("goroutines", false, "one goroutine per socket instead of the epoll event loops")
	kernel := flag.Bool("kernel-forward", false, "move latched streams into the kernel (nftables; root)")
	flag.Parse()
	if err := run(*ngAddr, *ports, *maxSessions, *batch, *goroutines, *kernel); err != nil {
		log.Fatalf("ngrelay: %v", err)
	}
}

func run(ngAddr, ports string, maxSessions, batch int, goroutines, kernel bool) error {
	ap, err := netip.ParseAddrPort(ngAddr)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("--ng %q: want a loopback ADDR:PORT (benchmarks stay on loopback)", ngAddr)
	}
	lo, hi, ok := strings.Cut(ports, "-")
	pmin, err1 := strconv.Atoi(lo)
	pmax, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("--ports %q: want LO-HI", ports)
	}
	r, err := relay.New(relay.Config{Bind: ap.Addr(), PortMin: pmin, PortMax: pmax, MaxSessions: maxSessions, Batch: batch, Goroutines: goroutines, KernelForward: kernel})
	if err != nil {
		return err
	}
	defer r.Close()
	kernelOn, _ := r.KernelForwarding()
	if kernel && kernelOn {
		log.Printf("ngrelay: kernel forwarding on")
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return fmt.Errorf("ng listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); conn.Close() }()
	h := &handler{relay: r, media: ap.Addr(), calls: map[string]*relay.Session{}, kernel: kernelOn}
	defer h.stopProfile()
	buf := make([]byte, 65535)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		cookie, cmd, err := ng.Parse(buf[:n])
		if err != nil {
			continue // not ng: nothing to answer
		}
		conn.WriteToUDPAddrPort(ng.Reply(cookie, h.handle(ctx, cmd)), from)
	}
}

type handler struct {
	relay   *relay.Relay
	media   netip.Addr
	calls   map[string]*relay.Session
	profile *os.File
	kernel  bool
}

func fail(format string, a ...any) map[string]any {
	return map[string]any{"result": "error", "error-reason": fmt.Sprintf(format, a...)}
}

func (h *handler) handle(ctx context.Context, cmd map[string]any) map[string]any {
	name, _ := cmd["command"].(string)
	callID, _ := cmd["call-id"].(string)
	sdp, _ := cmd["sdp"].(string)
	switch name {
	case "ping":
		return map[string]any{"result": "pong"}
	case "offer":
		return h.offer(ctx, callID, sdp)
	case "answer":
		return h.answer(callID, sdp)
	case "delete":
		s, ok := h.calls[callID]
		if !ok {
			return fail("unknown call-id")
		}
		delete(h.calls, callID)
		s.Close()
		if !h.kernel {
			// With kernel forwarding the ports come back once the next nft
			// batch removed the call's rules (tens of ms): waiting here
			// would serialise a teardown of thousands of calls.
			s.Wait()
		}
		return map[string]any{"result": "ok"}
	case "x-profile-start":
		file, _ := cmd["file"].(string)
		return h.startProfile(file)
	case "x-profile-stop":
		h.stopProfile()
		return map[string]any{"result": "ok"}
	}
	return fail("unsupported command %q", name)
}

// offer: leg A faces the caller (whose SDP this is); the callee is given
// leg B's address.
func (h *handler) offer(ctx context.Context, callID, sdp string) map[string]any {
	caller, err := ng.MediaAddr(sdp)
	if err != nil {
		return fail("offer: %v", err)
	}
	s, ok := h.calls[callID]
	if !ok {
		if s, err = h.relay.Allocate(ctx, callID); err != nil {
			return fail("offer: %v", err)
		}
		h.calls[callID] = s
	}
	// The expected source is the SDP's IP: on loopback it is also where the
	// signalling came from, as `natdoc serve` would set it.
	s.A.Expect(caller.Addr())
	s.A.SetSDPAddr(caller, netip.AddrPort{})
	return map[string]any{"result": "ok", "sdp": ng.AudioSDP(netip.AddrPortFrom(h.media, uint16(s.B.Port())), 1)}
}

func (h *handler) answer(callID, sdp string) map[string]any {
	callee, err := ng.MediaAddr(sdp)
	if err != nil {
		return fail("answer: %v", err)
	}
	s, ok := h.calls[callID]
	if !ok {
		return fail("answer: unknown call-id")
	}
	s.B.Expect(callee.Addr())
	s.B.SetSDPAddr(callee, netip.AddrPort{})
	return map[string]any{"result": "ok", "sdp": ng.AudioSDP(netip.AddrPortFrom(h.media, uint16(s.A.Port())), 1)}
}

func (h *handler) startProfile(file string) map[string]any {
	h.stopProfile()
	f, err := os.Create(file)
	if err != nil {
		return fail("profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fail("profile: %v", err)
	}
	h.profile = f
	return map[string]any{"result": "ok"}
}

func (h *handler) stopProfile() {
	if h.profile != nil {
		pprof.StopCPUProfile()
		h.profile.Close()
		h.profile = nil
	}
}
