package diagnose

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/diagnose/hostinfo"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/diagnose/sipserver"
	"github.com/natdoc/natdoc/report"
)

// NATProber measures the NAT's mapping and filtering (natdoc stun's probe).
type NATProber interface {
	Probe(ctx context.Context) (*report.NATReport, []report.Finding, error)
}

// RouterProber asks the router's port-mapping services (UPnP IGD, NAT-PMP,
// PCP) what they offer, and removes whatever it mapped before returning.
type RouterProber interface {
	Probe(ctx context.Context) (*report.IGDReport, []report.Finding, error)
}

// DefaultTimeout bounds a whole run without --lifetime: every check runs at
// once and the slowest (UDP retransmissions to a silent server) gives up
// after about 5 s, so 10 s leaves room for DNS and a slow router.
const DefaultTimeout = 10 * time.Second

// maxPathHops: the first routers are all a double NAT needs.
const maxPathHops = 4

// Options configure a run. Zero values are "not given".
type Options struct {
	STUN    []string // HOST:PORT, RFC 5780 servers preferred
	Mirror  string   // HOST:PORT of a natdoc mirror
	Server  string   // HOST[:PORT] of the SIP server
	SIPPort int      // the phones' SIP port (5060)
	// SIPPublicPort is the outside port the router forwards to SIPPort,
	// when it forwards another (5080 to a PBX's 5060); 0: the same.
	SIPPublicPort int
	RTPLow        int // the phones' RTP range, inclusive
	RTPHigh       int
	// CheckForwarding tests inbound forwarding of SIPPort and the RTP range
	// (--sip-port / --rtp-ports given).
	CheckForwarding bool
	Timeout         time.Duration
	Env             netenv.Env
	// NAT and Router are optional; nil checks are reported as not run.
	NAT NATProber
	// RTPNAT probes the NAT from the phones' first RTP port. Built from
	// STUN when RTPLow is set and the forwarding check does not need the
	// RTP ports as its target (a probe from them would open the NAT).
	RTPNAT NATProber
	Router RouterProber
	// NoRouter skips the router check (no SSDP search).
	NoRouter bool
	// UPnPLimit > 0 measures the router's mapping limit up to that many
	// mappings (added and removed again; journalled in Journal).
	UPnPLimit int
	Journal   *igd.Journal
	// Lifetime asks the NAT probe for the binding lifetime (minutes).
	Lifetime bool
	// DNSServer sends every DNS query there (tests).
	DNSServer string
	Log       *slog.Logger
}

// Result is every check's raw outcome.
type Result struct {
	// SIPPublicPort is the SIP port checked from outside (Options'; the
	// SIPPort when not given).
	SIPPort, SIPPublicPort, RTPLow, RTPHigh int

	Host    *hostinfo.Info
	Path    *hostinfo.Path
	NAT     *report.NATReport
	NATFind []report.Finding
	// RTPNAT is what the NAT did with the first RTP port (nil: not probed).
	RTPNAT  *report.NATPortMapping
	Router  *report.IGDReport
	IGDFind []report.Finding
	ALG     *sipalg.Result
	// Fragments is the test of SIP too big for one packet, each way.
	Fragments *sipalg.FragmentResult
	Forward   *forward.Result
	Server    *sipserver.Result
	// STUNAnswered: a STUN server answered at least once over UDP (from
	// the forwarding check or the NAT probe); Tri so "not tried" differs.
	STUNAnswered report.Tri

	Checks []report.Check
}

// Check names, stable for scripts (Report.Checks).
const (
	CheckHost    = "host"
	CheckPath    = "path"
	CheckNAT     = "nat"
	CheckNATRTP  = "nat-rtp-port"
	CheckRouter  = "router"
	CheckALG     = "sip-alg"
	CheckFrags   = "sip-fragments"
	CheckForward = "port-forwarding"
	CheckServer  = "sip-server"
)

// setDefaults fills what the options leave out, the probes included.
func (opt *Options) setDefaults() {
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.SIPPort == 0 {
		opt.SIPPort = 5060
	}
	if opt.SIPPublicPort == 0 {
		opt.SIPPublicPort = opt.SIPPort
	}
	if opt.NAT == nil && len(opt.STUN) > 0 {
		p := NewSTUNProber(opt.STUN, opt.Lifetime, opt.Env, opt.DNSServer)
		// From the phones' SIP port, so the report shows what the NAT does
		// with it (port preserved or not), unless the forwarding check
		// needs that port as its target.
		if !opt.CheckForwarding {
			p.Config.LocalPort = uint16(opt.SIPPort)
		}
		opt.NAT = p
	}
	if opt.RTPNAT == nil && len(opt.STUN) > 0 && opt.RTPLow > 0 && !opt.CheckForwarding {
		p := NewSTUNProber(opt.STUN, false, opt.Env, opt.DNSServer)
		p.Config.LocalPort, p.ExactPort, p.Config.MappingOnly = uint16(opt.RTPLow), true, true
		opt.RTPNAT = p
	}
	if opt.Router == nil && !opt.NoRouter {
		p := NewIGDProber(opt.Env)
		p.LimitMax, p.LimitStart, p.Journal = opt.UPnPLimit, uint16(opt.RTPLow), opt.Journal
		p.LimitRTP = igd.PortRange{Lo: uint16(opt.RTPLow), Hi: uint16(opt.RTPHigh)}
		if p.LimitStart == 0 {
			p.LimitStart = 10000
		}
		p.Options.Log = opt.Log
		opt.Router = p
	}
}

// Run performs every check the options allow, concurrently, and returns the
// facts. A check that cannot run is recorded in Result.Checks, not returned
// as an error.
func Run(ctx context.Context, opt Options) *Result {
	opt.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	res := &Result{SIPPort: opt.SIPPort, SIPPublicPort: opt.SIPPublicPort, RTPLow: opt.RTPLow, RTPHigh: opt.RTPHigh}
	var mu sync.Mutex
	record := func(c report.Check) {
		mu.Lock()
		res.Checks = append(res.Checks, c)
		mu.Unlock()
	}

	stunAddrs, stunErr := resolveAll(ctx, opt.Env, opt.DNSServer, opt.STUN)
	mirror, mirrorErr := resolveOne(ctx, opt.Env, opt.DNSServer, opt.Mirror)
	// Probe the path towards a STUN server when there is one (it answers
	// the probe's Binding request, which marks the end of the path), else
	// towards the mirror (it answers the OPTIONS the probe then carries).
	towards, pathPayload := mirror, sipalg.BuildOptions(mirror)
	if len(stunAddrs) > 0 {
		towards = stunAddrs[0]
		pathPayload = stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	}

	start := time.Now()
	host, err := hostinfo.Gather(ctx, opt.Env, towards)
	res.Host = host
	record(timed(CheckHost, start, err, "interfaces, addresses and default gateway"))

	var wg sync.WaitGroup
	wg.Go(func() { res.Path = runPath(ctx, opt, towards, pathPayload, record) })
	wg.Go(func() { res.NAT, res.NATFind = runNAT(ctx, opt, record) })
	wg.Go(func() { res.RTPNAT = runRTPNAT(ctx, opt, record) })
	wg.Go(func() { res.Router, res.IGDFind = runRouter(ctx, opt, record) })
	wg.Go(func() { res.ALG = runALG(ctx, opt, mirror, mirrorErr, host, record) })
	wg.Go(func() { res.Fragments = runFragments(ctx, opt, mirror, mirrorErr, host, record) })
	wg.Go(func() { res.Forward = runForward(ctx, opt, mirror, stunAddrs, stunErr, record) })
	wg.Go(func() { res.Server = runServer(ctx, opt, host, record) })
	wg.Wait()
	res.STUNAnswered = stunAnswered(res)
	sortChecks(res.Checks)
	return res
}

func timed(name string, start time.Time, err error, detail string) report.Check {
	c := report.Check{Name: name, Status: report.CheckPassed, Detail: detail, Took: time.Since(start).Round(time.Millisecond)}
	if err != nil {
		c.Status, c.Detail = report.CheckFailed, err.Error()
	}
	return c
}

func notRun(name, why string) report.Check {
	return report.Check{Name: name, Status: report.CheckNotRun, Detail: why}
}

func runPath(ctx context.Context, opt Options, towards netip.AddrPort, payload []byte, record func(report.Check)) *hostinfo.Path {
	if !towards.IsValid() {
		record(notRun(CheckPath, "no server to probe towards (give --stun or --mirror)"))
		return nil
	}
	start := time.Now()
	p, err := hostinfo.PathHops(ctx, opt.Env, towards, payload, maxPathHops)
	record(timed(CheckPath, start, err, "first routers towards "+towards.String()))
	return p
}

func runNAT(ctx context.Context, opt Options, record func(report.Check)) (*report.NATReport, []report.Finding) {
	if opt.NAT == nil {
		why := "no NAT probe available"
		if len(opt.STUN) == 0 {
			why = "no STUN server given (--stun)"
		}
		record(notRun(CheckNAT, why))
		return nil, nil
	}
	start := time.Now()
	nat, finds, err := opt.NAT.Probe(ctx)
	record(timed(CheckNAT, start, err, "mapping and filtering behaviour (RFC 5780)"))
	return nat, finds
}

// runRTPNAT repeats the NAT probe from the first RTP port: some NATs
// preserve or map 5060 (or a SIP ALG's port) unlike the RTP range, and
// audio is what the user hears. Without --rtp-ports nothing is recorded.
func runRTPNAT(ctx context.Context, opt Options, record func(report.Check)) *report.NATPortMapping {
	if opt.RTPLow == 0 {
		return nil
	}
	if opt.RTPNAT == nil {
		why := "no STUN server given (--stun)"
		if opt.CheckForwarding {
			why = "the port-forwarding check needs the RTP ports unopened"
		}
		record(notRun(CheckNATRTP, why))
		return nil
	}
	start := time.Now()
	nat, _, err := opt.RTPNAT.Probe(ctx)
	record(timed(CheckNATRTP, start, err, fmt.Sprintf("mapping and port preservation from UDP %d", opt.RTPLow)))
	return PortMapping(nat, err, opt.RTPLow)
}

// noAnswerNote: the probe ran and no STUN server answered from the port
// (unlike a probe that failed here, e.g. the port is in use).
const noAnswerNote = "no STUN server answered this port"

// PortMapping keeps what the RTP port's probe says about mapping and port
// preservation.
func PortMapping(n *report.NATReport, err error, port int) *report.NATPortMapping {
	m := &report.NATPortMapping{Local: fmt.Sprintf(":%d", port)}
	switch {
	case err != nil:
		m.Note = "probe failed: " + err.Error()
	case n == nil:
		m.Note = "no result"
	default:
		if n.LocalAddr != "" {
			m.Local = n.LocalAddr
		}
		m.Mapped, m.PortPreserved, m.Mapping = n.MappedAddr, n.PortPreserved, n.Mapping
		if m.Mapped == "" {
			m.Note = noAnswerNote
		}
	}
	return m
}

func runRouter(ctx context.Context, opt Options, record func(report.Check)) (*report.IGDReport, []report.Finding) {
	if opt.Router == nil {
		record(notRun(CheckRouter, "no router probe available"))
		return nil, nil
	}
	start := time.Now()
	igd, finds, err := opt.Router.Probe(ctx)
	record(timed(CheckRouter, start, err, "UPnP IGD, NAT-PMP and PCP"))
	return igd, finds
}

// mirrorReady says whether check can run against the mirror, recording
// why not when it cannot (none given, or its name did not resolve).
func mirrorReady(check, withoutIt string, opt Options, mirrorErr error, record func(report.Check)) bool {
	switch {
	case opt.Mirror == "":
		record(notRun(check, "no mirror given (--mirror HOST:PORT, a `natdoc mirror` or `natdoc serve` outside this network)"+withoutIt))
		return false
	case mirrorErr != nil:
		record(report.Check{Name: check, Status: report.CheckFailed, Detail: mirrorErr.Error()})
		return false
	}
	return true
}

func runALG(ctx context.Context, opt Options, mirror netip.AddrPort, mirrorErr error, host *hostinfo.Info, record func(report.Check)) *sipalg.Result {
	if !mirrorReady(CheckALG, "; without one a SIP ALG cannot be seen", opt, mirrorErr, record) {
		return nil
	}
	start := time.Now()
	rtp := opt.RTPLow
	if rtp == 0 {
		rtp = 10000
	}
	// The NAT probe or the forwarding check holds the SIP port at the same
	// time; the kernel ALG and router ALGs act on the destination port
	// 5060 (the mirror's), so an ephemeral source port still shows them.
	res := sipalg.Test(ctx, sipalg.Config{Mirror: mirror, LocalAddr: host.PrimaryAddr(), SIPPort: 0, RTPPort: rtp, Env: opt.Env})
	c := timed(CheckALG, start, nil, "INVITE to mirror "+mirror.String()+" over UDP and TCP")
	switch {
	case res.UDP.Outcome == sipalg.Failed && res.TCP.Outcome == sipalg.Failed:
		c.Status, c.Detail = report.CheckFailed, "udp: "+res.UDP.Err+"; tcp: "+res.TCP.Err
	case res.UDP.Outcome == sipalg.NoAnswer:
		// Half a test is no pass: whatever ate the request is the finding.
		c.Status = report.CheckProblem
		c.Detail += fmt.Sprintf("; udp: no answer after %d sends, tcp: %s", res.UDP.Attempts, res.TCP.Outcome)
	case res.TCP.Outcome != sipalg.Unchanged && res.TCP.Outcome != sipalg.Rewritten:
		// SIP over TCP is rarer and the mirror's firewall may close it:
		// say so, without calling the UDP result into question.
		c.Detail += fmt.Sprintf("; tcp: %s %s", res.TCP.Outcome, res.TCP.Err)
	}
	record(c)
	return res
}

// runFragments sends SIP too big for one packet to the mirror and back,
// beside the ALG test's small INVITE.
func runFragments(ctx context.Context, opt Options, mirror netip.AddrPort, mirrorErr error, host *hostinfo.Info, record func(report.Check)) *sipalg.FragmentResult {
	if !mirrorReady(CheckFrags, "", opt, mirrorErr, record) {
		return nil
	}
	start := time.Now()
	res := sipalg.TestFragments(ctx, sipalg.Config{Mirror: mirror, LocalAddr: host.PrimaryAddr(), RTPPort: 10000, Env: opt.Env})
	c := timed(CheckFrags, start, nil, fmt.Sprintf("a %d-byte INVITE to mirror %s and a %d-byte one whose copy comes back, over UDP in IP fragments",
		res.Out.RequestBytes, mirror, res.In.RequestBytes))
	if res.Out.Err != "" && res.In.Err != "" {
		c.Status, c.Detail = report.CheckFailed, res.Out.Err
	}
	record(c)
	return res
}

func runForward(ctx context.Context, opt Options, mirror netip.AddrPort, stunAddrs []netip.AddrPort, stunErr error, record func(report.Check)) *forward.Result {
	if !opt.CheckForwarding {
		record(notRun(CheckForward, "no --sip-port or --rtp-ports given"))
		return nil
	}
	start := time.Now()
	forwards := forwardsToCheck(opt)
	ports := forwardsText(forwards)
	var res *forward.Result
	var how string
	// natdoc's own mirror first: it always supports the callback; public
	// STUN servers rarely implement RESPONSE-PORT.
	if mirror.IsValid() {
		res = forward.CheckForwardsViaMirror(ctx, mirror, forwards, opt.Env)
		how = fmt.Sprintf("callback from mirror %s to UDP %s", mirror, ports)
	}
	// Fall back to RESPONSE-PORT only when the mirror cannot call back; a
	// silent mirror means UDP silence, which STUN would only wait out again.
	if (res == nil || allOutcomes(res, forward.Unsupported)) && len(stunAddrs) > 0 {
		res = forward.Check(ctx, forward.Config{STUN: stunAddrs[0], Forwards: forwards, Env: opt.Env})
		how = fmt.Sprintf("RESPONSE-PORT via %s to UDP %s", stunAddrs[0], ports)
	}
	if res == nil {
		why := "needs a natdoc mirror (--mirror) or an RFC 5780 STUN server (--stun)"
		if stunErr != nil {
			why = stunErr.Error()
		}
		record(report.Check{Name: CheckForward, Status: report.CheckFailed, Detail: why})
		return nil
	}
	c := timed(CheckForward, start, nil, how)
	if why := forwardNotRunReason(res); why != "" {
		c.Status, c.Detail = report.CheckFailed, why
	}
	record(c)
	return res
}

func allOutcomes(res *forward.Result, o forward.Outcome) bool {
	for _, p := range res.Ports {
		if p.Outcome != o && p.Outcome != forward.PortBusy {
			return false
		}
	}
	return true
}

// forwardNotRunReason says why no port could be judged, or "".
func forwardNotRunReason(res *forward.Result) string {
	for _, p := range res.Ports {
		if p.Outcome == forward.Reached || p.Outcome == forward.NotReached {
			return ""
		}
	}
	if len(res.Ports) == 0 {
		return "no ports to check"
	}
	p := res.Ports[0]
	return fmt.Sprintf("port %d: %s %s", p.Port, p.Outcome, p.Err)
}

// ForwardPorts chooses which ports to test: the SIP port, and from the RTP
// range its ends and middle (one inbound packet each; forwards are ranges,
// so the ends and a middle port show a range cut short).
func ForwardPorts(sip, lo, hi int) []int {
	ports := []int{sip}
	if lo > 0 && hi >= lo {
		for _, p := range []int{lo, lo + (hi-lo)/2, hi} {
			if !containsInt(ports, p) {
				ports = append(ports, p)
			}
		}
	}
	return ports
}

// forwardsToCheck are ForwardPorts as forwards: the SIP port from its
// public port, the RTP ports to themselves.
func forwardsToCheck(opt Options) []forward.Forward {
	return forward.Forwards(ForwardPorts(opt.SIPPort, opt.RTPLow, opt.RTPHigh), opt.SIPPort, opt.SIPPublicPort)
}

// forwardsText lists forwards as "[5080 (to 5060 here) 10000 10050]".
func forwardsText(fs []forward.Forward) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name()
	}
	return "[" + strings.Join(names, " ") + "]"
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func runServer(ctx context.Context, opt Options, host *hostinfo.Info, record func(report.Check)) *sipserver.Result {
	if opt.Server == "" {
		record(notRun(CheckServer, "no SIP server given (--server)"))
		return nil
	}
	start := time.Now()
	res := sipserver.Check(ctx, sipserver.Config{Target: opt.Server, LocalAddr: host.PrimaryAddr(), Env: opt.Env, DNSServer: opt.DNSServer})
	c := timed(CheckServer, start, nil, "DNS, OPTIONS ping, rport, private addresses in its answer")
	if res.ResolveErr != "" {
		c.Status, c.Detail = report.CheckFailed, res.ResolveErr
	} else if res.Err != "" {
		c.Status, c.Detail = report.CheckFailed, res.Err
	}
	record(c)
	return res
}

func stunAnswered(res *Result) report.Tri {
	t := report.TriUnknown
	if res.Forward != nil && res.Forward.Via == "stun" {
		for _, p := range res.Forward.Ports {
			switch p.Outcome {
			case forward.ServerSilent:
				if t == report.TriUnknown {
					t = report.TriNo
				}
			case forward.Reached, forward.NotReached, forward.Unsupported:
				return report.TriYes
			}
		}
	}
	if res.NAT != nil {
		switch res.NAT.UDPBlocked {
		case report.TriYes:
			t = report.TriNo
		case report.TriNo:
			return report.TriYes
		}
		if res.NAT.MappedAddr != "" {
			return report.TriYes
		}
	}
	return t
}

// resolveOne turns HOST:PORT into an address (IPv4 preferred). Empty gives
// the zero value.
func resolveOne(ctx context.Context, env netenv.Env, dns, hostport string) (netip.AddrPort, error) {
	if hostport == "" {
		return netip.AddrPort{}, nil
	}
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("diagnose: %q: want HOST:PORT", hostport)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return netip.AddrPort{}, fmt.Errorf("diagnose: %q: bad port", hostport)
	}
	addrs, err := env.Resolver(dns).LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("diagnose: resolve %s: %w", host, err)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, uint16(p)), nil
}

func resolveAll(ctx context.Context, env netenv.Env, dns string, list []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var firstErr error
	for _, s := range list {
		ap, err := resolveOne(ctx, env, dns, s)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, ap)
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, firstErr
}

// checkOrder is the order checks are listed in.
var checkOrder = []string{CheckHost, CheckPath, CheckNAT, CheckRouter, CheckALG, CheckFrags, CheckForward, CheckServer}

func sortChecks(cs []report.Check) {
	rank := func(n string) int {
		for i, c := range checkOrder {
			if c == n {
				return i
			}
		}
		return len(checkOrder)
	}
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && rank(cs[j].Name) < rank(cs[j-1].Name); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
