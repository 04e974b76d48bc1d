package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// registerTimeout bounds registering before a call: one round trip and a
// digest challenge, with sipgo's retransmissions on a lossy path.
const registerTimeout = 10 * time.Second

// callSetupTimeout is added to the call's duration for ringing and setup.
const callSetupTimeout = time.Minute

// RunOptions are everything a `natdoc call` run is told.
type RunOptions struct {
	Config
	// SIPPort is the local SIP port (0: any).
	SIPPort int
	// Register before calling (answering always registers).
	Register bool
	// Target is who to call; with Answer the phone waits for a call
	// instead, at most Wait.
	Target   string
	Answer   bool
	Duration time.Duration
	Wait     time.Duration
	// Notify receives one line per step (registered, waiting), for a human.
	Notify func(msg string)
}

// Run is one `natdoc call`: open the phone, register, call or answer, and
// fill rep with what was measured. Errors are calls that could not be
// made; a call that was made is a result, whatever its audio.
func Run(ctx context.Context, o RunOptions, rep *report.Report) error {
	if o.Notify == nil {
		o.Notify = func(string) {}
	}
	if o.SIPPort != 0 {
		conn, err := listenSIP(o.LocalIP, o.SIPPort)
		if err != nil {
			return err
		}
		o.Conn = conn
	}
	p, err := New(o.Config)
	if err != nil {
		return err
	}
	defer p.Close()
	if o.Register || o.Answer {
		rctx, cancel := context.WithTimeout(ctx, registerTimeout)
		err := p.Register(rctx)
		cancel()
		if err != nil {
			return err
		}
		o.Notify(fmt.Sprintf("registered %s at %s from %s", o.User, o.Server, p.Addr()))
	}
	res, err := p.run(ctx, o)
	if err != nil {
		return err
	}
	rep.Finished = time.Now()
	rep.CallTest = CallTestReport(res)
	rep.Add(CallFindings(res)...)
	rep.Verdict = res.Explain
	return nil
}

// run answers or places the one call of a run.
func (p *Phone) run(ctx context.Context, o RunOptions) (*CallResult, error) {
	if o.Answer {
		o.Notify(fmt.Sprintf("waiting up to %s for a call", o.Wait))
		wctx, cancel := context.WithTimeout(ctx, o.Wait)
		defer cancel()
		return p.Answer(wctx, o.Duration+o.Wait)
	}
	cctx, cancel := context.WithTimeout(ctx, o.Duration+callSetupTimeout)
	defer cancel()
	return p.Call(cctx, o.Target, o.Duration)
}

// listenSIP opens the phone's SIP socket on a fixed port.
func listenSIP(ip netip.Addr, port int) (*net.UDPConn, error) {
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, fmt.Errorf("phone: sip port %d: %w", port, err)
	}
	return conn, nil
}
