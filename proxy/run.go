package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/sockbuf"
	"github.com/natdoc/natdoc/internal/srcaddr"
	"github.com/natdoc/natdoc/internal/udptcp"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/rtpengine"
)

// Options are everything a `natdoc serve` run is told: the server's
// addresses and policy, the relay's ports, and what to set up around it.
type Options struct {
	// Listen is the SIP address (UDP, and TCP when TCP is set).
	Listen netip.AddrPort
	TCP    bool
	// PublicAddr is the main address (IP or DNS name) for peers outside
	// the LAN; empty means the Listen address (or, with UPnP, the router's
	// external address). LocalAddr is the additional address for peers in
	// LAN (private ranges when LAN is empty).
	PublicAddr string
	// PublicPort is the SIP port peers outside the LAN reach the server
	// at, when a router forwards another outside port to Listen's (0:
	// Listen's port).
	PublicPort int
	LocalAddr  netip.Addr
	LAN        []netip.Prefix
	// Allow, Users, Realm and Open: who may register and call (Config).
	Allow []netip.Prefix
	Users map[string]string
	Realm string
	Open  bool
	// Fix anchors media in a relay on ports PortMin-PortMax.
	Fix              bool
	PortMin, PortMax int
	LatchAnySource   bool
	KernelForward    bool
	IdleTimeout      time.Duration
	// Engines, when set, anchors media in these rtpengines instead of the
	// built-in relay (fix mode); EngineDial opens their sockets and
	// EngineCheck is how often they are pinged (test seams; defaults
	// net.DialUDP and rtpengine.DefaultPingInterval).
	Engines     []rtpengine.EngineConfig
	EngineDial  func(netip.AddrPort) (*net.UDPConn, error)
	EngineCheck time.Duration
	// Echo and Mirror enable the built-in echo user and the diagnose mirror.
	Echo, Mirror bool
	Keepalive    time.Duration
	Rate         float64
	MaxBindings  int
	MaxCalls     int
	// Duration ends the run after this long (0: when ctx ends).
	Duration time.Duration
	// UPnP, when set, asks the router to forward the SIP port and RTP pairs.
	UPnP *UPnPOptions

	// Behind a router (a private Listen address, a public main address)
	// the start-up checks compare the main address with the router's
	// public address, asked of the router (RouterCheck: UPnP IGD, NAT-PMP)
	// or of STUN, and MirrorCheck, a natdoc mirror outside, proves that the
	// SIP port and a sample of the RTP range arrive here.
	RouterCheck bool
	STUN        netip.AddrPort
	MirrorCheck netip.AddrPort
	// AddrCheckInterval: how often the main address is resolved again and
	// compared with the router's public address while serving (0: never).
	AddrCheckInterval time.Duration
	// Resolve looks up a main address given as a name (test seam; default:
	// the system's resolver, IPv4).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)

	Log *slog.Logger
	// Notify receives one line per step of the start-up (where it listens,
	// what the router forwards), for a human.
	Notify func(msg string)
	// OnEvent receives registrations and call state changes.
	OnEvent func(Event)
	// Status, when set, receives a one-line summary (registrations, calls,
	// packets relayed) every StatusInterval while the server runs.
	Status func(line string)
	// Metrics, when set, exports the relay's sessions, ports and packets,
	// the registered contacts, SIP requests and responses, rejected input
	// and the findings of ended calls (serve --metrics, observe.go).
	Metrics *metrics.Metrics
	// HEPOut, when set, gets a copy of every SIP message the server reads
	// or sends, and each ended call's outcome as a JSON log (serve
	// --hep-out).
	HEPOut *hep.Sender
}

// StatusInterval: how often Options.Status is called.
const StatusInterval = time.Second

// ConfigError is a run refused because of what it was told (bad addresses,
// an unusable port range, an open server on a public address), not because
// the network failed.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Run sets up what o asks (router forwarding, relay, listeners), serves
// until ctx ends or o.Duration passed, undoes it all and fills rep with the
// run's summary and findings.
func Run(ctx context.Context, o Options, rep *report.Report) error {
	o.defaults()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	cfg := o.serverConfig()
	dep := &deployment{o: &o, rep: rep}
	if o.UPnP != nil {
		fw, err := forwardPorts(ctx, &o)
		if err != nil {
			return err
		}
		defer fw.releaseAndReport(o)
		dep.fw = fw
		rep.Add(fw.findings...)
		if cfg.PublicAddr == "" {
			cfg.PublicAddr = fw.external
		}
		cfg.PublicPort = o.PublicPort
		o.Notify("router forwards " + strings.Join(fw.mapped, ", "))
	}
	cfg.LocalAddr = o.lanAddr(cfg.PublicAddr)
	cfg.PortMin, cfg.PortMax = o.PortMin, o.PortMax
	if err := dep.check(ctx, &cfg); err != nil {
		return err
	}
	if o.Fix {
		stop, err := o.startMedia(ctx, &cfg, dep.fw)
		if err != nil {
			return err
		}
		defer stop()
	}
	err := serve(ctx, o, cfg, rep, dep.watch)
	if dep.fw != nil {
		rep.Add(dep.fw.laterFindings()...)
	}
	return err
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Notify == nil {
		o.Notify = func(string) {}
	}
	if o.Resolve == nil {
		o.Resolve = lookupIPv4
	}
}

// resolver resolves the main address: a literal IP is itself.
func (o *Options) resolver() func(ctx context.Context, host string) ([]netip.Addr, error) {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if ip, err := netip.ParseAddr(host); err == nil {
			return []netip.Addr{ip.Unmap()}, nil
		}
		return o.Resolve(ctx, host)
	}
}

func lookupIPv4(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, err
}

func (o *Options) serverConfig() Config {
	return Config{PublicAddr: o.PublicAddr, PublicPort: o.PublicPort, LocalAddr: o.LocalAddr, LAN: o.LAN, Allow: o.Allow, Users: o.Users, Realm: o.Realm,
		Open: o.Open, Fix: o.Fix, Keepalive: o.Keepalive, Echo: o.Echo, Log: o.Log, OnEvent: o.OnEvent,
		Rate: o.Rate, Burst: 2 * o.Rate, MaxBindings: o.MaxBindings, MaxCalls: o.MaxCalls}
}

// lanAddr is the additional address: the one given, else a private
// --listen address when the main address is another one. Phones on the
// LAN cannot use the router's public address unless the router loops
// packets for it back in (hairpin NAT), which many do not; this host's own
// private address always works for them.
func (o *Options) lanAddr(main string) netip.Addr {
	listen := o.Listen.Addr()
	if !o.LocalAddr.IsValid() && listen.IsUnspecified() && main != "" {
		o.Notify(fmt.Sprintf("listening on every interface: phones on the LAN get %s too, which reaches this host only if the router loops packets for it back in (NAT loopback); --local-addr gives them this host's LAN address", main))
	}
	if o.LocalAddr.IsValid() || !listen.IsPrivate() || main == "" || main == listen.String() {
		return o.LocalAddr
	}
	who := "phones on private networks"
	if len(o.LAN) > 0 {
		who = "phones in " + prefixList(o.LAN)
	}
	o.Notify(fmt.Sprintf("%s get %s (this host's --listen address) as the server's address, all others %s", who, listen, main))
	return listen
}

// sharedInterface says whether one of this host's interfaces has more
// than one unicast IPv4 address: replies to a peer leave from the one
// the kernel picks for its route, not from the one the peer sent to.
func sharedInterface() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		n := 0
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
				n++
			}
		}
		if n > 1 {
			return true
		}
	}
	return false
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// startMedia starts what anchors media: the built-in relay (whose pairs
// the router forwards as calls need them, with fw on demand), or the pool
// of rtpengines (at least one must answer its first ping).
func (o *Options) startMedia(ctx context.Context, cfg *Config, fw *upnpForward) (stop func(), err error) {
	if len(o.Engines) == 0 {
		onDemand := fw != nil && fw.onDemand
		bind := o.relayBind(cfg)
		if bind.IsUnspecified() && sharedInterface() {
			o.Notify("listening on every interface of a host with several addresses on one interface: relayed media leaves from the address " +
				"the kernel picks for each destination, and a phone that sent its media to another one loses it behind a NAT that filters by " +
				"address (most do); --listen with the address phones reach keeps it on one")
		}
		rl, err := o.newRelay(onDemand, bind)
		if err != nil {
			return nil, err
		}
		cfg.Relay = rl
		if !onDemand {
			return func() { rl.Close() }, nil
		}
		if cfg.pairs, err = startPairDemand(fw.fw, fw.fw.Bases(), rl, o); err != nil {
			rl.Close()
			return nil, err
		}
		return func() { cfg.pairs.close(); rl.Close() }, nil
	}
	pool, err := rtpengine.New(ctx, rtpengine.Config{Engines: o.Engines, Dial: o.EngineDial, PingInterval: o.EngineCheck,
		Log: o.Log, OnChange: o.engineEvent})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	for _, e := range pool.Engines() {
		st := e.Status()
		state := "answers"
		if !st.Up {
			state = "does not answer yet (" + st.LastError + "); calls go to the others until it does"
		}
		o.Notify(fmt.Sprintf("media on rtpengine %s (weight %d): %s", e.Config.Addr, e.Config.Weight, state))
	}
	cfg.Engines = pool
	return pool.Close, nil
}

// engineEvent tells the events' reader that an engine went down or came
// back.
func (o *Options) engineEvent(e *rtpengine.Engine, up bool) {
	if o.OnEvent == nil {
		return
	}
	st := e.Status()
	ev := Event{Time: time.Now(), Kind: "engine-up", Addr: e.Config.Addr.String(), Detail: "answers again; new calls go to it"}
	if !up {
		ev.Kind = "engine-down"
		ev.Detail = fmt.Sprintf("does not answer (%s): %d calls in progress there lose their media, new calls go to the others", st.LastError, st.Active)
	}
	o.OnEvent(ev)
}

// relayBind is the address the relay's sockets bind to: the --listen
// address, or, listening on every interface with every phone given the
// main address, that address when it is one of this host's, so that
// relayed media leaves from the address the phones send theirs to, not
// from the kernel's choice (several addresses on one interface), which a
// phone's NAT that filters by address keeps out.
func (o *Options) relayBind(cfg *Config) netip.Addr {
	listen := o.Listen.Addr()
	if !listen.IsUnspecified() || cfg.LocalAddr.IsValid() {
		return listen
	}
	main := cfg.PublicIP
	if !main.IsValid() {
		main, _ = netip.ParseAddr(cfg.PublicAddr)
	}
	if main.IsValid() && !main.IsLoopback() && hostHas(main.Unmap()) {
		return main.Unmap()
	}
	return listen
}

// hostHas says whether a is one of this host's addresses.
func hostHas(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

func (o *Options) newRelay(routerForwards bool, bind netip.Addr) (*relay.Relay, error) {
	cfg := relay.Config{Bind: bind, PortMin: o.PortMin, PortMax: o.PortMax, IdleTimeout: o.IdleTimeout,
		LatchAnySource: o.LatchAnySource, MaxSessions: o.MaxCalls, KernelForward: o.KernelForward, Log: o.Log,
		RouterForwards: routerForwards}
	var closed metrics.RelayCounter
	if o.Metrics != nil {
		cfg.OnRelease = closed.Closed
	}
	rl, err := relay.New(cfg)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if on, _ := rl.KernelForwarding(); on {
		o.Notify("latched media is forwarded in the kernel (nftables); RTP loss is then not measured")
	}
	exportRelay(o.Metrics, rl, &closed)
	return rl, nil
}

// exportRelay exports rl's figures to m; closed holds the counts of the
// sessions rl released (its OnRelease).
func exportRelay(m *metrics.Metrics, rl *relay.Relay, closed *metrics.RelayCounter) {
	open := metrics.OpenSessions(rl)
	m.WatchRelay(func() metrics.RelayTotals {
		t := closed.Totals(open)
		t.PortsFree = 2 * rl.FreePairs() // an RTP and an RTCP port each
		return t
	})
}

// serve opens the listeners and runs the server until ctx ends; watch, when
// set, re-checks the main address meanwhile.
func serve(ctx context.Context, o Options, cfg Config, rep *report.Report, watch *addrWatch) error {
	udp, tcp, listen, err := openListeners(o)
	if err != nil {
		return err
	}
	defer udp.Close() // Serve closes them too; this covers the error paths
	if tcp != nil {
		defer tcp.Close()
	}
	obs := newObserver(o.Metrics, o.HEPOut)
	defer obs.hep.close()
	// The port the kernel gave, when o.Listen asked for any.
	bound := netip.AddrPortFrom(o.Listen.Addr(), uint16(udp.LocalAddr().(*net.UDPAddr).Port))
	var conn net.PacketConn = udp
	if o.Listen.Addr().IsUnspecified() {
		// Answer each phone from the address it sent to, not the one
		// the kernel picks (several addresses on an interface).
		c, err := srcaddr.Wrap(udp)
		if err != nil {
			o.Log.Warn("answers leave from the kernel's choice of address", "err", err)
		}
		conn = c
	}
	sipUDP, tcp := obs.wrap(conn, tcp, sipAddr(bound, cfg.PublicIP))
	if sipUDP != net.PacketConn(udp) {
		sockbuf.GrowReadBuffer(udp, sipReadBuffer) // Serve grows only a socket it is given bare
	}
	var srv *Server
	cfg.OnEvent = obs.onEvent(cfg.OnEvent, func() *Server { return srv })
	if o.Mirror {
		// Callbacks (diagnose's port-forwarding check) leave from a port of
		// their own, so they match no NAT binding the request opened.
		callback, err := net.ListenUDP("udp", &net.UDPAddr{IP: o.Listen.Addr().AsSlice()})
		if err != nil {
			return fmt.Errorf("mirror: callback socket: %w", err)
		}
		defer callback.Close()
		cfg.Mirror = sipalg.NewAnswerer(sipalg.DefaultRateLimit, callback)
	}
	srv, err = New(cfg)
	if err != nil {
		return &ConfigError{err}
	}
	if em, ok := srv.media.(*engineMedia); ok {
		o.Metrics.WatchRelay(em.totals)
	}
	mode := fmt.Sprint(o.Fix)
	if o.Fix && len(o.Engines) > 0 {
		mode = "on rtpengine"
	}
	o.Notify(fmt.Sprintf("listening on %s (fix mode %s, mirror %v); Ctrl-C ends and prints the summary", strings.Join(listen, ", "), mode, o.Mirror))
	stop := srv.startTickers(ctx, o, obs, watch)
	defer stop()
	if err := srv.Serve(ctx, sipUDP, tcp); err != nil {
		if errors.Is(err, ErrOpenOnPublic) {
			return &ConfigError{err}
		}
		return err
	}
	srv.fill(rep, listen, o)
	if watch != nil {
		rep.Add(watch.findings()...)
	}
	return nil
}

// openListeners opens the SIP sockets: UDP, and TCP on the same port
// when o.TCP (also when the kernel picks the port), and names them for
// the report.
func openListeners(o Options) (*net.UDPConn, net.Listener, []string, error) {
	if !o.TCP {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(o.Listen))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("listen udp %s: %w", o.Listen, err)
		}
		return udp, nil, []string{"udp " + udp.LocalAddr().String()}, nil
	}
	udp, tcp, err := udptcp.Listen("udp", o.Listen.String())
	if err != nil {
		return nil, nil, nil, err
	}
	return udp, tcp, []string{"udp " + udp.LocalAddr().String(), "tcp " + tcp.Addr().String()}, nil
}

// startTickers runs what serve does every so often while it serves: the
// metrics' counters, the live status line, the main address check. stop
// ends them.
func (s *Server) startTickers(ctx context.Context, o Options, obs *observer, watch *addrWatch) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	stopObserver := obs.watch(ctx, s)
	stopStatus := func() {}
	if o.Status != nil {
		stopStatus = s.reportStatus(ctx, o.Status)
	}
	if watch != nil && o.AddrCheckInterval > 0 && (!watch.literal || len(watch.sources) > 0) {
		go every(ctx, o.AddrCheckInterval, func() { watch.check(ctx, s) })
	}
	return func() {
		cancel()
		stopStatus()
		stopObserver()
	}
}

// fill writes the run's summary, findings and verdict into rep.
func (s *Server) fill(rep *report.Report, listen []string, o Options) {
	active, ended := s.Calls()
	calls := append(ended, active...)
	rep.Finished = time.Now()
	ports := fmt.Sprintf("%d-%d", o.PortMin, o.PortMax)
	if s.cfg.Engines != nil {
		ports = "" // the engines' own
	}
	rep.Serve = ServeReport(listen, s.EffectiveConfig(), ports, s.Registrations(), calls)
	rep.Serve.Counters = s.callCounters()
	rep.Add(ServeFindings(calls, s.Anomalies(), s.ownIP())...)
	if s.media != nil {
		rep.Serve.Media = s.media.kind()
	}
	if s.cfg.Engines != nil {
		ctx, cancel := context.WithTimeout(context.Background(), engineFinalCheck)
		s.cfg.Engines.Check(ctx) // their figures as of now
		cancel()
		sts := s.engineStatuses()
		rep.Serve.Engines = EngineReport(sts)
		rep.Add(EngineFindings(sts)...)
	}
	rep.Verdict = serveVerdict(rep.Serve)
}

// reportStatus calls status with StatusLine every StatusInterval until ctx
// ends or stop is called.
func (s *Server) reportStatus(ctx context.Context, status func(string)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every(ctx, StatusInterval, func() { status(s.statusLine()) })
	}()
	return func() { cancel(); <-done }
}

// engineFinalCheck bounds the engines' last ping and statistics for the
// report: one ng schedule.
const engineFinalCheck = 2 * time.Second

// statusLine is the live line: registrations, the first calls in
// progress with their packets each way (an engine's calls are queried
// for the next line), and each engine's state.
func (s *Server) statusLine() string {
	active, _ := s.Calls()
	slices.SortFunc(active, func(a, b CallRecord) int { return a.Start.Compare(b.Start) })
	for i, rec := range active {
		if i == statusCalls {
			break
		}
		if c := s.lookupCall(rec.CallID); c != nil && c.anchor() != nil {
			c.anchor().refresh()
		}
	}
	line := StatusLine(len(s.Registrations()), active)
	if s.cfg.Engines != nil {
		line += engineStatus(s.engineStatuses())
	}
	return line
}

func (s *Server) engineStatuses() []rtpengine.Status {
	var out []rtpengine.Status
	for _, e := range s.cfg.Engines.Engines() {
		out = append(out, e.Status())
	}
	return out
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func serveVerdict(s *report.ServeReport) string {
	mode := "in fix mode (media relayed)"
	if !s.Fix {
		mode = "without the fix (SDP forwarded untouched)"
	}
	return fmt.Sprintf("Served %s and %s %s.", count(s.Registered, "registered phone"), count(len(s.Calls), "call"), mode)
}

// count writes "1 call" or "3 calls".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
