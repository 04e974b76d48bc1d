package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// attrResponsePort is RESPONSE-PORT (RFC 5780 §7.5); pion/stun has no type
// for it. It is comprehension-required, so a server without RFC 5780 answers
// 420 Unknown Attribute instead of silently answering to the wrong port.
const attrResponsePort stun.AttrType = 0x0027

// Timeouts. RFC 5389 §7.2.1 retransmits from RTO = 500 ms doubling; four
// sends (0, 0.5, 1.5, 3.5 s) survive a lost packet each way and keep the
// whole check within diagnose's 10 s.
const (
	rto      = 500 * time.Millisecond
	maxSends = 4
	giveUp   = 5 * time.Second
)

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
	STUN  netip.AddrPort
	Ports []int
	Env   netenv.Env
}

// PortResult is one port's check.
type PortResult struct {
	Port    int
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
	res := &Result{Server: cfg.STUN, Via: "stun", Ports: make([]PortResult, len(cfg.Ports))}
	var wg sync.WaitGroup
	for i, p := range cfg.Ports {
		wg.Go(func() { res.Ports[i] = checkPort(ctx, cfg, p) })
	}
	wg.Wait()
	return res
}

func checkPort(ctx context.Context, cfg Config, port int) PortResult {
	pr := PortResult{Port: port}
	target, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		pr.Outcome, pr.Err = PortBusy, err.Error()
		return pr
	}
	defer target.Close()
	probe, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		pr.Outcome, pr.Err = Failed, err.Error()
		return pr
	}
	defer probe.Close()

	// A plain Binding request first: it proves the server answers over UDP,
	// so that silence later means "not forwarded", not "server down".
	plain, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		pr.Outcome, pr.Err = Failed, err.Error()
		return pr
	}
	resp, _, sends := transact(ctx, probe, nil, cfg.STUN, plain)
	pr.Sends += sends
	if resp == nil {
		pr.Outcome = ServerSilent
		return pr
	}
	if resp.Type != stun.BindingSuccess {
		pr.Outcome, pr.Err = ServerSilent, fmt.Sprintf("server answered %s", resp.Type)
		return pr
	}
	pr.Public = mapped(resp)

	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, responsePort(port), stun.Fingerprint)
	if err != nil {
		pr.Outcome, pr.Err = Failed, err.Error()
		return pr
	}
	resp, viaTarget, sends := transact(ctx, probe, target, cfg.STUN, req)
	pr.Sends += sends
	switch {
	case resp == nil:
		pr.Outcome = NotReached
	case viaTarget && resp.Type == stun.BindingSuccess:
		pr.Outcome = Reached
	case resp.Type == stun.BindingError:
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(resp)
		pr.Outcome, pr.Err = Unsupported, fmt.Sprintf("server refused RESPONSE-PORT: %d %s", code.Code, code.Reason)
	default:
		// A success on the probe socket: the server ignored RESPONSE-PORT.
		pr.Outcome, pr.Err = Unsupported, "server ignored RESPONSE-PORT and answered the sender"
	}
	return pr
}

func responsePort(port int) stun.RawAttribute {
	// 16-bit port then 16 bits of padding (RFC 5780 §7.5).
	return stun.RawAttribute{Type: attrResponsePort, Value: []byte{byte(port >> 8), byte(port), 0, 0}}
}

func mapped(m *stun.Message) netip.AddrPort {
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		if a, ok := netip.AddrFromSlice(xor.IP); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(xor.Port))
		}
	}
	var ma stun.MappedAddress
	if err := ma.GetFrom(m); err == nil {
		if a, ok := netip.AddrFromSlice(ma.IP); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(ma.Port))
		}
	}
	return netip.AddrPort{}
}

// transact sends req from probe with RFC 5389 retransmissions and waits for
// the answer with req's transaction ID from server on probe or, when given,
// on target. It reports on which socket the answer came.
func transact(ctx context.Context, probe, target *net.UDPConn, server netip.AddrPort, req *stun.Message) (*stun.Message, bool, int) {
	ctx, cancel := context.WithTimeout(ctx, giveUp)
	defer cancel()
	type answer struct {
		m        *stun.Message
		onTarget bool
	}
	got := make(chan answer, 2)
	readers := []*net.UDPConn{probe}
	if target != nil {
		readers = append(readers, target)
	}
	var wg sync.WaitGroup
	for _, c := range readers {
		wg.Go(func() {
			if m := await(ctx, c, server, req.TransactionID); m != nil {
				got <- answer{m, c == target}
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	sends := 0
	interval := rto
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case a := <-got:
			return a.m, a.onTarget, sends
		case <-ctx.Done():
			return nil, false, sends
		case <-timer.C:
			if sends == maxSends {
				continue // wait out giveUp for a late answer
			}
			if _, err := probe.WriteToUDPAddrPort(req.Raw, server); err != nil {
				return nil, false, sends
			}
			sends++
			timer.Reset(interval)
			interval *= 2
		}
	}
}

// await reads c until a STUN message from server with transaction id
// arrives, or ctx ends. Anything else is ignored.
func await(ctx context.Context, c *net.UDPConn, server netip.AddrPort, id [stun.TransactionIDSize]byte) *stun.Message {
	_ = c.SetReadDeadline(time.Time{}) // an earlier transaction may have set one
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			continue
		}
		// The answer to RESPONSE-PORT comes from the server's address (RFC
		// 5780 §7.5 keeps the source); a different port would be OTHER-
		// ADDRESS, which we did not ask for.
		if from.Addr().Unmap() != server.Addr() {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := m.Decode(); err != nil || m.TransactionID != id {
			continue
		}
		return m
	}
	return nil
}
