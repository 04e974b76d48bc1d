package forward

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/internal/transact"
)

// callbackWait is how long the ports wait for the mirror's callback after
// its answer arrived: the callbacks leave the mirror just before the
// answer, so one round trip suffices; 1 s covers jitter on a slow path.
const callbackWait = time.Second

// mirrorSchedule: SIP's T1 (RFC 3261 §17.1.1.1) doubling for the callback
// request's retransmissions, for as long as the RESPONSE-PORT check waits.
var mirrorSchedule = transact.Schedule{RTO: 500 * time.Millisecond, Window: stunSchedule.Window}

// A Forward is a port of the public address to check and the port of this
// host it should reach: routers often forward an outside port to another
// inside one (5080 to a PBX's 5060). Local 0 is the same port.
type Forward struct{ Outside, Local int }

// local is the port of this host the forward should reach.
func (f Forward) local() int {
	if f.Local == 0 {
		return f.Outside
	}
	return f.Local
}

// Name names the forward for people: "5080 (to 5060 here)", or "5080"
// for a port forwarded to itself.
func (f Forward) Name() string {
	if f.local() != f.Outside {
		return fmt.Sprintf("%d (to %d here)", f.Outside, f.local())
	}
	return strconv.Itoa(f.Outside)
}

// CheckViaMirror tests the ports with a natdoc mirror's callback: an
// OPTIONS from an ephemeral port asks the mirror (sipalg.HeaderCallback)
// to send one packet from another port of its own to this network's public
// address at each port. Like RESPONSE-PORT, those packets match no NAT
// binding and arrive only through a forward.
func CheckViaMirror(ctx context.Context, mirror netip.AddrPort, ports []int, env envListener) *Result {
	return CheckForwardsViaMirror(ctx, mirror, Forwards(ports, 0, 0), env)
}

// CheckForwardsViaMirror is CheckViaMirror for forwards whose outside port
// may differ from the port they reach here: the mirror calls back the
// outside port (its packet names that port), and the check listens on the
// local one.
func CheckForwardsViaMirror(ctx context.Context, mirror netip.AddrPort, forwards []Forward, env envListener) *Result {
	res := &Result{Server: mirror, Via: "mirror", Ports: make([]PortResult, len(forwards))}
	targets, closeTargets := listenTargets(res, forwards, env)
	defer closeTargets()
	if len(targets) == 0 {
		return res
	}
	probe, err := env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		setAll(res, Failed, err.Error())
		return res
	}
	defer probe.Close()

	callID := "natdoc-fwd-" + transact.NewID()
	var want []string
	for p := range targets {
		want = append(want, fmt.Sprint(p))
	}
	req := callbackRequest(mirror, callID, strings.Join(want, ","))

	ctx, cancel := context.WithTimeout(ctx, mirrorSchedule.GiveUp()+callbackWait)
	defer cancel()
	arrived := listenCallbacks(ctx, targets, mirror.Addr(), callID)
	echo, sends := askMirror(ctx, probe, mirror, req, callID)
	for i := range res.Ports {
		res.Ports[i].Sends = sends
	}
	switch {
	case echo == nil:
		setAll(res, ServerSilent, "the mirror did not answer the callback request")
		return res
	case len(echo.CallbacksSent) == 0:
		setAll(res, Unsupported, "the mirror sends no callbacks (an older natdoc, or one without a callback socket)")
		return res
	}
	public, _ := netip.ParseAddrPort(echo.Source)
	time.Sleep(min(callbackWait, time.Until(deadlineOf(ctx))))
	cancel()
	markArrivals(res, public, arrived())
	return res
}

// listenTargets binds every forward's local port, by its outside port; a
// port another program holds is PortBusy.
func listenTargets(res *Result, forwards []Forward, env envListener) (map[uint16]*net.UDPConn, func()) {
	targets := map[uint16]*net.UDPConn{}
	for i, f := range forwards {
		res.Ports[i] = PortResult{Port: f.Outside, Local: f.Local}
		c, err := env.ListenUDP("udp4", &net.UDPAddr{Port: f.local()})
		if err != nil {
			res.Ports[i].Outcome, res.Ports[i].Err = PortBusy, err.Error()
			continue
		}
		targets[uint16(f.Outside)] = c
	}
	return targets, func() {
		for _, c := range targets {
			c.Close()
		}
	}
}

// markArrivals judges every checked port by whether its callback arrived.
func markArrivals(res *Result, public netip.AddrPort, got map[uint16]bool) {
	for i := range res.Ports {
		p := &res.Ports[i]
		if p.Outcome == PortBusy {
			continue
		}
		p.Public = public
		p.Outcome = NotReached
		if got[uint16(p.Port)] {
			p.Outcome = Reached
		}
	}
}

// envListener is the part of netenv.Env the check needs.
type envListener interface {
	ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func setAll(res *Result, o Outcome, why string) {
	for i := range res.Ports {
		if res.Ports[i].Outcome != PortBusy {
			res.Ports[i].Outcome, res.Ports[i].Err = o, why
		}
	}
}

func callbackRequest(mirror netip.AddrPort, callID, ports string) []byte {
	return fmt.Appendf(nil, "OPTIONS sip:mirror@%s SIP/2.0\r\nVia: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:natdoc@invalid>;tag=fwd\r\nTo: <sip:mirror@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n%s: %s\r\nContent-Length: 0\r\n\r\n",
		mirror, callID, mirror, callID, sipalg.HeaderCallback, ports)
}

// askMirror sends the request with SIP retransmissions until the mirror's
// echo for callID arrives.
func askMirror(ctx context.Context, c *net.UDPConn, mirror netip.AddrPort, req []byte, callID string) (*sipalg.Echo, int) {
	echo, st, _ := transact.UDP(ctx, mirrorSchedule, c, mirror, req, func(d transact.Datagram) (*sipalg.Echo, bool) {
		if d.From.Addr() != mirror.Addr() {
			return nil, false
		}
		echo, err := sipalg.DecodeEcho(d.Data)
		return echo, err == nil && echo.CallID == callID
	})
	return echo, st.Sends
}

// listenCallbacks reads every target until ctx ends and returns a function
// that waits for the readers and tells which ports got their callback.
func listenCallbacks(ctx context.Context, targets map[uint16]*net.UDPConn, from netip.Addr, callID string) func() map[uint16]bool {
	var mu sync.Mutex
	got := map[uint16]bool{}
	var wg sync.WaitGroup
	for port, c := range targets {
		wg.Go(func() {
			stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
			defer stop()
			want := string(sipalg.CallbackPayload(callID, port))
			buf := make([]byte, 256)
			for {
				n, src, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if src.Addr().Unmap() == from && string(buf[:n]) == want {
					mu.Lock()
					got[port] = true
					mu.Unlock()
					return
				}
			}
		})
	}
	return func() map[uint16]bool {
		wg.Wait()
		return got
	}
}
