package stunprobe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/internal/transact"
	"github.com/natdoc/natdoc/report"
)

// DefaultServers are well-known public STUN servers for users' real runs
// (tests always name their own). stun.voipgate.com answers RFC 5780 tests
// with OTHER-ADDRESS; the others give the multi-destination comparison.
var DefaultServers = []string{
	"stun.voipgate.com:3478",
	"stun.l.google.com:19302",
	"stun.cloudflare.com:3478",
	"stun.nextcloud.com:443",
}

// defaultPort is the STUN port (RFC 5389 §9) used when a server is named
// without one.
const defaultPort = "3478"

// Named waits, with the reason for each value.
const (
	// firstContactRTO is RFC 5389 §7.2.1's initial RTO for a path whose
	// round trip we do not know yet.
	firstContactRTO = 500 * time.Millisecond
	// serverWindow bounds how long one server may stay silent: four sends
	// (0, 0.5, 1.5 and 2.5 s: the RFC's 500 ms initial RTO, doubled, capped
	// at 1 s), enough for a server a continent away on a lossy path;
	// RFC 5389's full 39.5 s would make a command with one dead server in
	// its list unusable.
	serverWindow = 3 * time.Second
	// resolveTimeout bounds DNS for the server names: a system resolver
	// that has not answered in 5 s (it retries its servers within that)
	// is not going to, and the probe should say so rather than hang.
	resolveTimeout = 5 * time.Second
	// minRTO keeps retransmissions on a LAN-like path from flooding: below
	// 50 ms the OS scheduler, not the network, dominates the round trip.
	minRTO = 50 * time.Millisecond
	// knownPathMaxRTO caps the RTO once the path's round trip is measured.
	knownPathMaxRTO = 500 * time.Millisecond
	// negativeMaxRTO caps the RTO of tests whose answer may never come
	// (filtering, hairpinning, lifetime checks): several sends must fit in
	// negativeWindow so that a lost packet is never read as a filter.
	negativeMaxRTO = 200 * time.Millisecond
	// negativeWindow is how long a test that expects silence waits: with
	// RTO capped at 200 ms it sends 5 to 7 times, so at 5 % loss each way
	// all sends are lost with probability below 1e-5.
	negativeWindow = time.Second
	// negativeRTTs stretches negativeWindow on a slow path: every send but
	// the last has at least this many round trips to be answered.
	negativeRTTs = 5
)

// knownPath is the schedule for a server whose round trip rtt is measured:
// RTO = 3·RTT, RFC 6298's first estimate (SRTT + 4·RTTVAR with RTTVAR =
// RTT/2), as RFC 5389 §7.2.1 allows.
func knownPath(rtt time.Duration) transact.Schedule {
	return transact.Schedule{RTO: clampDuration(3*rtt, minRTO, knownPathMaxRTO), MaxRTO: knownPathMaxRTO, Window: serverWindow}
}

// negativePath is the schedule of a test whose silence is a result.
func negativePath(rtt time.Duration) transact.Schedule {
	return transact.Schedule{
		RTO:    clampDuration(3*rtt, minRTO, negativeMaxRTO),
		MaxRTO: negativeMaxRTO,
		Window: max(negativeWindow, negativeRTTs*rtt),
	}
}

var firstContact = transact.Schedule{RTO: firstContactRTO, MaxRTO: 2 * firstContactRTO, Window: serverWindow}

func clampDuration(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }

// Config says what to probe. Zero values are sensible defaults except
// Servers, which the caller must name (DefaultServers for real runs).
type Config struct {
	Servers []string // host:port; port 3478 when omitted
	// Network is "udp4" (default) or "udp6".
	Network string
	// LocalPort binds the main socket (e.g. 5060, to test what the phone's
	// SIP port gets); 0 lets the kernel choose.
	LocalPort uint16
	// Lifetime runs the binding lifetime search (RFC 5780 §4.6); it takes
	// up to about twice LifetimeMax.
	Lifetime    bool
	LifetimeMax time.Duration // longest idle time tried; default 4 min
	// LifetimeResolution is the bracket width to stop at, as a fraction
	// of the lower bound (default 0.1) but never below one second.
	LifetimeResolution float64
	// TCP also asks the first server for a mapping over TCP.
	TCP bool
	// MappingOnly asks only how the NAT maps this socket: every server's
	// Binding answer and the RFC 5780 mapping tests (§4.3), without the
	// filtering and hairpin tests (§4.4, §4.5); Lifetime and TCP are
	// ignored. A second probe from another port (the RTP port beside the
	// SIP port) needs no more.
	MappingOnly bool

	// Env makes every socket of the probe, its DNS queries' included: the
	// way to run it in another network namespace (natlab's Host.Do). The
	// zero value uses the host's own network.
	Env netenv.Env
	// DNSServer, when set, receives every DNS query (tests).
	DNSServer string
	Log       *slog.Logger
}

// ErrNoServers: Config.Servers is empty.
var ErrNoServers = errors.New("stunprobe: no STUN servers given")

// ErrNoServerAddress: no server name resolved to an address of the
// probe's family (no DNS, or only names of the other family), so nothing
// could be asked and nothing about the NAT is known.
var ErrNoServerAddress = errors.New("stunprobe: no STUN server address")

// SplitServer splits "host", "host:port" or "[v6]:port" into host and port
// (3478 when omitted), rejecting anything else.
func splitServer(name string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(name)
	if err != nil {
		host, port = name, defaultPort
		if strings.Contains(name, ":") {
			if _, perr := netip.ParseAddr(name); perr != nil {
				return "", "", fmt.Errorf("server %q: want HOST, HOST:PORT or [IPv6]:PORT", name)
			}
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("server %q: no host", name)
	}
	return host, port, nil
}

// ValidServer reports whether name is a usable server name, for commands
// to check their arguments before anything is sent.
func ValidServer(name string) error {
	_, port, err := splitServer(name)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("server %q: bad port %q", name, port)
	}
	return nil
}

func anyResolved(servers []ServerResult) bool {
	for _, s := range servers {
		if s.Addr.IsValid() {
			return true
		}
	}
	return false
}

func (c *Config) setDefaults() {
	if c.Network == "" {
		c.Network = "udp4"
	}
	if c.LifetimeMax == 0 {
		c.LifetimeMax = 4 * time.Minute
	}
	if c.LifetimeResolution == 0 {
		c.LifetimeResolution = 0.1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// probe is one run's state.
type probe struct {
	cfg       Config
	anomalies anomalies
	sockets   []*socket
	mu        sync.Mutex
}

// Run probes the NAT through the configured servers. Unreachable servers
// are results, not errors; Run fails only when it cannot probe at all
// (no servers, no socket) or ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Servers) == 0 {
		return nil, ErrNoServers
	}
	cfg.setDefaults()
	if cfg.Network != "udp4" && cfg.Network != "udp6" {
		return nil, fmt.Errorf("stunprobe: network %q: want udp4 or udp6", cfg.Network)
	}
	start := time.Now()
	p := &probe{cfg: cfg}
	defer p.closeAll()
	res := &Result{Network: cfg.Network}
	res.Servers = p.resolveAll(ctx)
	if !anyResolved(res.Servers) {
		return nil, fmt.Errorf("%w: %s", ErrNoServerAddress, res.Servers[0].Err)
	}
	main, err := p.open(netip.AddrPortFrom(p.unspecified(), cfg.LocalPort))
	if err != nil {
		return nil, err
	}
	res.Local = netip.AddrPortFrom(p.localIP(res.Servers), main.local.Port())
	p.cfg.Log.Info("asking STUN servers", "servers", len(res.Servers), "local", res.Local)
	p.discover(ctx, main, res)
	if cfg.TCP && !cfg.MappingOnly {
		res.TCP = p.askTCP(ctx, res.Servers)
	}
	if cfg.Lifetime && !cfg.MappingOnly {
		res.Lifetime = p.lifetime(ctx, res)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Anomalies = p.anomalies.list()
	res.Took = time.Since(start)
	return res, nil
}

func (p *probe) unspecified() netip.Addr {
	if p.cfg.Network == "udp6" {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// open makes a probe socket; it is closed when Run returns.
func (p *probe) open(laddr netip.AddrPort) (*socket, error) {
	c, err := p.cfg.Env.ListenUDP(p.cfg.Network, net.UDPAddrFromAddrPort(laddr))
	if err != nil {
		// net's error already names the network and address.
		return nil, fmt.Errorf("stunprobe: %w", err)
	}
	s := newSocket(c, &p.anomalies)
	p.mu.Lock()
	p.sockets = append(p.sockets, s)
	p.mu.Unlock()
	return s, nil
}

func (p *probe) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sockets {
		s.Close()
	}
	p.sockets = nil
}

// resolveAll turns the named servers into addresses of the probe's
// family, all names at once, each bounded by resolveTimeout.
func (p *probe) resolveAll(ctx context.Context) []ServerResult {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	out := make([]ServerResult, len(p.cfg.Servers))
	var wg sync.WaitGroup
	for i, name := range p.cfg.Servers {
		out[i].Server = name
		wg.Go(func() {
			addr, err := p.resolve(ctx, name)
			if err != nil {
				out[i].Err = err.Error()
				return
			}
			out[i].Addr = addr
		})
	}
	wg.Wait()
	return out
}

func (p *probe) resolve(ctx context.Context, name string) (netip.AddrPort, error) {
	host, port, err := splitServer(name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() != (p.cfg.Network == "udp4") {
			return netip.AddrPort{}, fmt.Errorf("%s is not an %s address", ip, p.cfg.Network)
		}
		return netip.AddrPortFrom(ip, uint16(n)), nil
	}
	ipNet := "ip4"
	if p.cfg.Network == "udp6" {
		ipNet = "ip6"
	}
	ips, err := p.cfg.Env.Resolver(p.cfg.DNSServer).LookupNetIP(ctx, ipNet, host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: no %s address (%v)", host, p.cfg.Network, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(n)), nil
}

// localIP finds the source address the kernel would use toward the first
// resolvable server; connecting a UDP socket sends nothing.
func (p *probe) localIP(servers []ServerResult) netip.Addr {
	for _, s := range servers {
		if !s.Addr.IsValid() {
			continue
		}
		if ip, err := p.cfg.Env.SourceAddr(p.cfg.Network, s.Addr); err == nil {
			return ip
		}
	}
	return p.unspecified()
}

// discover asks every server from the main socket at once and starts the
// RFC 5780 tests with the first server that answers with a usable
// OTHER-ADDRESS, without waiting for slower or dead servers: a dead server
// in the list costs its own window, not the tests' time on top of it.
func (p *probe) discover(ctx context.Context, main *socket, res *Result) {
	done := make(chan int, len(res.Servers))
	var asks sync.WaitGroup
	for i := range res.Servers {
		if !res.Servers[i].Addr.IsValid() {
			continue
		}
		asks.Go(func() {
			p.ask(ctx, main, &res.Servers[i], firstContact)
			done <- i
		})
	}
	go func() { asks.Wait(); close(done) }()
	var tests sync.WaitGroup
	started := false
	for i := range done {
		srv, ok := rfc5780Server(res.Servers[i : i+1])
		if started || !ok {
			continue
		}
		started = true
		res.RFC5780 = srv.Addr
		p.cfg.Log.Info("RFC 5780 mapping, filtering and hairpin tests", "server", srv.Server, "other", srv.Other)
		// The tests write only Mapping, Filtering and Hairpin; this loop
		// keeps reading only Servers.
		tests.Go(func() { p.rfc5780Tests(ctx, main, res, srv) })
	}
	tests.Wait()
	if !started {
		// Seeing our own address needs no RFC 5780: there is no NAT.
		if first := firstAnswer(res.Servers); first.Mapped == res.Local {
			res.Mapping = MappingResult{Test1: first.Mapped, Behaviour: report.BehaviourNoNAT}
		} else {
			res.Mapping.Note = "no server returned OTHER-ADDRESS (RFC 5780); mapping judged across servers only"
		}
		res.Filtering.Note = "no server supports RFC 5780 CHANGE-REQUEST"
		if !p.cfg.MappingOnly {
			res.Hairpin = p.hairpin(ctx, main, firstAnswer(res.Servers), res.Local)
		}
	}
	if p.cfg.MappingOnly {
		res.Filtering.Note = "not tested: mapping only"
		res.Hairpin.Note = "not tested: mapping only"
	}
}

func (p *probe) ask(ctx context.Context, s *socket, sr *ServerResult, sched transact.Schedule) {
	req, err := NewBindingRequest()
	if err != nil {
		sr.Err = err.Error()
		return
	}
	ex, err := exchangeOn(ctx, s, nil, sr.Addr, req, sched, fromExactly(sr.Addr))
	sr.Sent = ex.Sent
	if err != nil {
		sr.Err = err.Error()
		return
	}
	r, err := responseFrom(ex.Arrival.Msg)
	if err == nil && !r.Success {
		err = fmt.Errorf("error response %d %s", r.ErrorCode, r.ErrorReason)
	}
	if err != nil {
		sr.Err = err.Error()
		return
	}
	sr.Mapped, sr.Other, sr.Origin, sr.Software, sr.RTT = r.Mapped, r.Other, r.Origin, r.Software, ex.RTT
	p.cfg.Log.Debug("stun answer", "server", sr.Server, "mapped", sr.Mapped, "other", sr.Other, "rtt", ex.RTT, "sent", ex.Sent)
}

// rfc5780Server picks the first answering server whose OTHER-ADDRESS
// differs from it in both IP and port, as RFC 5780 §4.3 needs.
func rfc5780Server(servers []ServerResult) (ServerResult, bool) {
	for _, s := range servers {
		if s.Answered() && s.Other.IsValid() && s.Other.Addr() != s.Addr.Addr() && s.Other.Port() != s.Addr.Port() &&
			s.Other.Addr().Is4() == s.Addr.Addr().Is4() {
			return s, true
		}
	}
	return ServerResult{}, false
}

func firstAnswer(servers []ServerResult) ServerResult {
	for _, s := range servers {
		if s.Answered() {
			return s
		}
	}
	return ServerResult{}
}

// rfc5780Tests runs filtering (RFC 5780 §4.4) and hairpinning (§4.5) first,
// while the main socket has talked only to the servers' primary addresses,
// then the mapping tests II and III (§4.3), which open the NAT's filter
// toward the alternate address.
func (p *probe) rfc5780Tests(ctx context.Context, main *socket, res *Result, srv ServerResult) {
	if p.cfg.MappingOnly {
		res.Mapping = p.mapping(ctx, main, srv, res.Local)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { res.Filtering = p.filtering(ctx, main, srv) })
	wg.Go(func() { res.Hairpin = p.hairpin(ctx, main, srv, res.Local) })
	wg.Wait()
	res.Mapping = p.mapping(ctx, main, srv, res.Local)
	if f := res.Filtering.Behaviour; res.Mapping.Behaviour == report.BehaviourEndpointIndependent &&
		(f == report.BehaviourAddressDependent || f == report.BehaviourAddressAndPortDependent) {
		res.RefusedFirst = p.refusedFirst(ctx, srv)
	}
}
