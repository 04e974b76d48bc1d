package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/internal/transact"
)

// stunSchedule: RFC 5389 §7.2.1 retransmits from RTO = 500 ms doubling;
// four sends (0, 0.5, 1.5, 3.5 s) survive a lost packet each way, and the
// wait for a late answer ends at 5 s, within diagnose's 10 s.
var stunSchedule = transact.Schedule{RTO: 500 * time.Millisecond, Sends: 4, Window: 5 * time.Second}

// Outcome of one port's check.
type Outcome string

const (
	// Reached: the server's answer arrived at the port: forwarding works.
	Reached Outcome = "reached"
	// NotReached: the server answered the plain request, but its answer to
	// the port never arrived: no forward to this host.
	NotReached Outcome = "not-reached"
	// PortBusy: another program here holds the port, so it cannot be
	// checked.
	PortBusy Outcome = "port-busy"
	// Unsupported: the server does not implement RESPONSE-PORT.
	Unsupported Outcome = "unsupported"
	// ServerSilent: the server did not answer a plain Binding request.
	ServerSilent Outcome = "server-silent"
	// Failed: a local error.
	Failed Outcome = "could-not-run"
)

// Config names the server and the ports.
type Config struct {
	// STUN is an RFC 5780 server (RESPONSE-PORT).
	STUN netip.AddrPort
	// Ports are checked as they are; Forwards, when given instead, from
	// their outside port to their local one.
	Ports    []int
	Forwards []Forward
	Env      netenv.Env
}

// PortResult is one port's check.
type PortResult struct {
	// Port is the public address's port checked; Local, when not 0, the
	// other port of this host it was to reach (a forward that changes
	// the port, CheckForwardsViaMirror).
	Port    int
	Local   int
	Outcome Outcome
	// Public is this network's public address as the server saw the probe.
	Public netip.AddrPort
	Sends  int
	Err    string
}

// Result is the forwarding check.
type Result struct {
	Server netip.AddrPort
	// Via is "stun" (RFC 5780 RESPONSE-PORT) or "mirror" (natdoc mirror
	// callback).
	Via   string
	Ports []PortResult
}

// Check tests every port at once.
func Check(ctx context.Context, cfg Config) *Result {
	forwards := cfg.Forwards
	if forwards == nil {
		forwards = Forwards(cfg.Ports, 0, 0)
	}
	res := &Result{Server: cfg.STUN, Via: "stun", Ports: make([]PortResult, len(forwards))}
	var wg sync.WaitGroup
	for i, f := range forwards {
		wg.Go(func() { res.Ports[i] = checkPort(ctx, cfg, f) })
	}
	wg.Wait()
	return res
}

// Forwards are the ports to check, each forwarded to itself but local,
// which the router forwards from outside when that is another port (a
// SIP port behind 5080-to-5060; outside 0: none).
func Forwards(ports []int, local, outside int) []Forward {
	forwards := make([]Forward, len(ports))
	for i, p := range ports {
		forwards[i] = Forward{Outside: p}
		if p == local && outside != 0 && outside != local {
			forwards[i] = Forward{Outside: outside, Local: local}
		}
	}
	return forwards
}

// Forward is the forward a port's check was of.
func (p PortResult) Forward() Forward { return Forward{Outside: p.Port, Local: p.Local} }

func checkPort(ctx context.Context, cfg Config, f Forward) PortResult {
	target, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{Port: f.local()})
	if err != nil {
		return PortResult{Port: f.Outside, Local: f.Local, Outcome: PortBusy, Err: err.Error()}
	}
	defer target.Close()
	pr := Probe(ctx, cfg.Env, cfg.STUN, target, uint16(f.Outside), true)
	pr.Port, pr.Local = f.Outside, f.Local
	return pr
}

// Probe is the RESPONSE-PORT test of one port (RFC 5780 §7.5): from a
// fresh ephemeral socket it asks server to answer to this network's public
// address at externalPort, and waits for that answer on target, the socket
// bound to the forward's (or mapping's) internal port. The answer matches
// no NAT binding, so it arrives only through a forward. With control, a
// plain Binding request goes first, so that silence means "not forwarded"
// rather than "server down"; without it, silence is NotReached.
func Probe(ctx context.Context, env netenv.Env, server netip.AddrPort, target *net.UDPConn, externalPort uint16, control bool) PortResult {
	pr := PortResult{Port: target.LocalAddr().(*net.UDPAddr).Port}
	probe, err := env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		pr.Outcome, pr.Err = Failed, err.Error()
		return pr
	}
	defer probe.Close()
	if control {
		a, sends, err := binding(ctx, probe, nil, server, 0)
		pr.Sends += sends
		if err != nil || !a.resp.Success {
			pr.Outcome, pr.Err = ServerSilent, errorText(a.resp, err)
			return pr
		}
		pr.Public = a.resp.Mapped
	}
	a, sends, err := binding(ctx, probe, target, server, externalPort)
	pr.Sends += sends
	switch {
	case errors.Is(err, transact.ErrNoAnswer):
		pr.Outcome = NotReached
	case err != nil:
		pr.Outcome, pr.Err = Failed, err.Error()
	case a.onTarget && a.resp.Success:
		pr.Outcome = Reached
		if !pr.Public.IsValid() {
			pr.Public = a.resp.Mapped
		}
	case !a.resp.Success:
		pr.Outcome, pr.Err = Unsupported, fmt.Sprintf("server refused RESPONSE-PORT: %d %s", a.resp.ErrorCode, a.resp.ErrorReason)
	default:
		// A success on the probe socket: the server ignored RESPONSE-PORT.
		pr.Outcome, pr.Err = Unsupported, "server ignored RESPONSE-PORT and answered the sender"
	}
	return pr
}

func errorText(r stunprobe.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("server answered error %d %s", r.ErrorCode, r.ErrorReason)
}

// MappedAddress is the public address this network's packets to server
// come from: one plain Binding request from a fresh socket.
func MappedAddress(ctx context.Context, env netenv.Env, server netip.AddrPort) (netip.AddrPort, error) {
	conn, err := env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: listen: %w", err)
	}
	defer conn.Close()
	a, _, err := binding(ctx, conn, nil, server, 0)
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("stun: %v: %w", server, err)
	case !a.resp.Success:
		return netip.AddrPort{}, fmt.Errorf("stun: %v: error response %d %s", server, a.resp.ErrorCode, a.resp.ErrorReason)
	}
	return a.resp.Mapped, nil
}

// answer is a Binding response and whether it came to the target socket.
type answer struct {
	resp     stunprobe.Response
	onTarget bool
}

// binding sends a Binding request from probe to server (with
// RESPONSE-PORT when port is not 0) and waits for its answer on probe and,
// when given, on target.
func binding(ctx context.Context, probe, target *net.UDPConn, server netip.AddrPort, port uint16) (answer, int, error) {
	setters := []stun.Setter{}
	if port != 0 {
		setters = append(setters, stunprobe.ResponsePort(port))
	}
	req, err := stunprobe.NewBindingRequest(setters...)
	if err != nil {
		return answer{}, 0, err
	}
	var also []*net.UDPConn
	if target != nil {
		also = append(also, target)
	}
	a, st, err := transact.UDP(ctx, stunSchedule, probe, server, req.Raw, func(d transact.Datagram) (answer, bool) {
		// The answer to RESPONSE-PORT comes from the server's address
		// (RFC 5780 §7.5 keeps the source); another port would be
		// OTHER-ADDRESS, which we did not ask for.
		if d.From.Addr() != server.Addr() {
			return answer{}, false
		}
		r, err := stunprobe.ParseResponse(d.Data)
		if err != nil || r.TransactionID != req.TransactionID {
			return answer{}, false
		}
		return answer{resp: r, onTarget: d.On == 1}, true
	}, also...)
	return a, st.Sends, err
}
