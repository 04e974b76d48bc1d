package proxy

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
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/internal/ratelimit"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/internal/sockbuf"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/rtpengine"
)

// Server defaults and limits, each with its reason.
const (
	// DefaultKeepalive: below the 30 s UDP binding lifetime of Linux
	// conntrack and many home routers, so the NAT keeps the phone reachable.
	DefaultKeepalive = 20 * time.Second
	// DefaultMaxMessage: SIP over UDP must fit the path MTU unless it
	// switches to TCP (RFC 3261 §18.1.1); 8 KiB covers any real INVITE.
	DefaultMaxMessage = 8 << 10
	// DefaultRate and DefaultBurst: requests per second per source IP. A
	// phone sends a handful per call; a flood is cut without state growing.
	DefaultRate  = 200
	DefaultBurst = 400
	// DefaultMaxBindings and DefaultMaxCalls bound the server's state.
	DefaultMaxBindings = 10000
	DefaultMaxCalls    = 2000
	// forwardTimeout: Timer B (64*T1, RFC 3261 §17.1.1.2) plus ringing
	// time; an INVITE nobody answers in three minutes is abandoned.
	forwardTimeout = 3 * time.Minute
	// cancelDrain: how long a cancelled INVITE's client transaction may
	// take to see the callee's 487 (Timer B).
	cancelDrain = 32 * time.Second
	// sipReadBuffer: 4 MiB queues about a second of requests at 10,000/s.
	sipReadBuffer = 4 << 20
	// maxEndedCalls kept for the summary.
	maxEndedCalls = 1000
	// maxLimiterSources bounds the rate limiter's table: a spoofed-source
	// flood resets it rather than growing it.
	maxLimiterSources = 65536
	// EchoUser is the built-in test party.
	EchoUser = "echo"
)

// ErrOpenOnPublic: the server would be an open registrar/proxy on a public
// address.
var ErrOpenOnPublic = errors.New("serve: refusing to serve a public address without --users or --allow")

// Config configures a Server.
type Config struct {
	// PublicAddr is the main address (IP or DNS name) given to peers
	// outside the LAN in Record-Route and Via; PublicIP is its IP, used in
	// SDP (resolved from PublicAddr when empty).
	PublicAddr string
	PublicIP   netip.Addr
	// PublicPort is the SIP port given with PublicAddr when a router
	// forwards another outside port to the listen port (0: the listen
	// port).
	PublicPort int
	// LocalAddr is the additional address given to peers whose source is
	// in LAN (private ranges when LAN is empty).
	LocalAddr netip.Addr
	LAN       []netip.Prefix
	// Allow lists networks trusted without authentication; Users holds
	// user:password for digest authentication of REGISTER and INVITE.
	Allow []netip.Prefix
	Users map[string]string
	Realm string
	// Open allows serving with neither Allow nor Users on a public address.
	Open bool
	// Fix anchors media in Relay or, when Engines is set, in rtpengine
	// (one of them is required then). False forwards SDP as is.
	Fix     bool
	Relay   *relay.Relay
	Engines *rtpengine.Pool
	// pairs, with serve --upnp, forwards the relay's pairs as calls need
	// them (Run sets it up).
	pairs *pairDemand
	// PortMin and PortMax are the RTP range (the ports a router forwards
	// here): without a relay the echo user takes its media port from it.
	PortMin, PortMax int
	// Keepalive is the OPTIONS ping interval toward registered phones.
	Keepalive time.Duration
	// Limits.
	MaxMessage, MaxBindings, MaxCalls int
	Rate, Burst                       float64
	// Echo enables the built-in "echo" user.
	Echo bool
	// Mirror, when set, answers natdoc diagnose's mirror requests
	// (sip:mirror@..., see mirror.go) before authentication; the user
	// "mirror" cannot register then.
	Mirror *sipalg.Answerer
	// ListenUDP opens media sockets for the echo user (test seam; default
	// net.ListenUDP).
	ListenUDP func(network, addr string) (*net.UDPConn, error)
	Log       *slog.Logger
	// OnEvent receives registrations and call state changes as they happen.
	OnEvent func(Event)
	Now     func() time.Time
}

// Event is one thing the server did, for live display and --json.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // register, unregister, call-start, call-answered, call-end, reject, echo, mirror
	User   string    `json:"user,omitempty"`
	CallID string    `json:"call_id,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Addr   string    `json:"addr,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Counters are the server's anomaly and traffic counts.
type Counters struct {
	Requests, Registers, Invites, NotFound, AuthChallenges, Forbidden   atomic.Uint64
	Malformed, Oversize, RateLimited, Keepalives, UnknownDialog, Reject atomic.Uint64
	SDPRejected, RelayFull, MediaFailed, Mirror                         atomic.Uint64
	// Invalid: parsed, but against RFC 3261's rules for every request
	// (answered 400/416/420/501/505, see admitted). StrayResponses:
	// responses that match no transaction, dropped.
	Invalid, StrayResponses atomic.Uint64
}

// Server is the registrar, proxy and (in fix mode) media anchor.
type Server struct {
	cfg     Config
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	reg     *registrar
	auth    *digestAuth
	limiter *ratelimit.PerSource
	echo    *echoParty
	media   media // nil without fix mode

	listenIP   netip.Addr
	listenPort int
	udpAddr    *net.UDPAddr
	sipConn    net.PacketConn
	// mainIP is the main address's IP put in SDP: cfg.PublicIP at start,
	// then whatever SetPublicIP says (a dynamic-DNS name that moved).
	mainIP atomic.Pointer[netip.Addr]

	mu    sync.Mutex
	calls map[string]*call
	// nat64 are the peers behind NAT64 and their prefixes (nat64.go).
	nat64 nat64Peers
	ended []CallRecord
	// callsStarted and callsEnded count every call, endedBy by endKind:
	// the summary keeps only the latest maxEndedCalls records.
	callsStarted, callsEnded uint64
	endedBy                  map[string]uint64

	// tcpStreams counts the TCP messages sipgo cannot parse.
	tcpStreams *tcpStreams

	Counters Counters
}

// New checks cfg and builds a server; Serve runs it.
func New(cfg Config) (*Server, error) {
	c := cfg
	if c.Keepalive <= 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.MaxBindings <= 0 {
		c.MaxBindings = DefaultMaxBindings
	}
	if c.MaxCalls <= 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.Rate <= 0 {
		c.Rate, c.Burst = DefaultRate, DefaultBurst
	}
	if c.Realm == "" {
		c.Realm = "natdoc"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.ListenUDP == nil {
		c.ListenUDP = func(network, addr string) (*net.UDPConn, error) {
			ua, err := net.ResolveUDPAddr(network, addr)
			if err != nil {
				return nil, err
			}
			return net.ListenUDP(network, ua)
		}
	}
	if c.Fix && c.Relay == nil && c.Engines == nil {
		return nil, errors.New("serve: fix mode needs a relay or rtpengine")
	}
	s := &Server{cfg: c, reg: newRegistrar(c.MaxBindings), calls: make(map[string]*call), endedBy: make(map[string]uint64),
		limiter: ratelimit.New(c.Rate, c.Burst, maxLimiterSources)}
	s.tcpStreams = newTCPStreams(func() { s.Counters.Malformed.Add(1) })
	switch {
	case c.Fix && c.Engines != nil:
		s.media = &engineMedia{s: s, pool: c.Engines}
	case c.Fix:
		s.media = &relayMedia{s: s, rl: c.Relay, pairs: c.pairs}
	}
	if len(c.Users) > 0 {
		s.auth = newDigestAuth(c.Realm, c.Users, c.Now)
	}
	return s, nil
}

// Serve answers SIP on udp (and tcp when not nil) until ctx ends, then
// ends relayed media and returns. It closes udp and tcp.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	defer udp.Close()
	if tcp != nil {
		defer tcp.Close()
	}
	la, ok := udp.LocalAddr().(*net.UDPAddr)
	if !ok {
		return errors.New("serve: not a UDP socket")
	}
	s.listenIP, s.listenPort, s.udpAddr, s.sipConn = la.AddrPort().Addr().Unmap(), la.Port, la, udp
	if uc, ok := udp.(*net.UDPConn); ok {
		sockbuf.GrowReadBuffer(uc, sipReadBuffer)
	}
	if err := s.resolveAddrs(ctx); err != nil {
		return err
	}
	if err := s.checkSafe(); err != nil {
		return err
	}
	if err := s.newUA(); err != nil {
		return err
	}
	defer s.ua.Close()
	errc := s.serveConns(udp, tcp)
	if err := sipcall.WaitServing(s.ua, udp); err != nil {
		return err
	}
	go s.keepalive(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.shutdown()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveConns starts sipgo's read loops; the channel gets their errors.
func (s *Server) serveConns(udp net.PacketConn, tcp net.Listener) <-chan error {
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeUDP(udp) }()
	if tcp != nil {
		tcp = s.tcpStreams.listener(tcp)
	}
	if tcp != nil && s.cfg.Mirror != nil {
		tcp = newMirrorListener(tcp, s.cfg.Mirror, func(from net.Addr) {
			s.Counters.Mirror.Add(1)
			s.mirrorEvent(from, "tcp")
		})
	}
	if tcp != nil {
		go func() { errc <- s.srv.ServeTCP(tcp) }()
	}
	return errc
}

// errNameLookup is what sipgo's name lookups get from the server.
var errNameLookup = errors.New("serve: no DNS lookups for names read in messages")

// noNameLookups is sipgo's resolver in the server. The server routes by
// registrations and source addresses and never needs a name; sipgo would
// otherwise resolve (SRV, then A) a Via host it cannot answer by source,
// e.g. a request over TCP whose Via says UDP: a stranger could make the
// server query DNS for any name, and wait on it, with every such request.
var noNameLookups = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errNameLookup
}}

// newUA builds sipgo's user agent, server and client and the routes.
func (s *Server) newUA() error {
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("natdoc"), sipgo.WithUserAgentDNSResolver(noNameLookups),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {
			s.Counters.StrayResponses.Add(1)
		})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.readFilter),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: noDialOut()}),
			sip.WithTransportLayerLogger(slog.New(parseErrorCounter{next: s.cfg.Log.Handler(), count: &s.Counters.Malformed}))))
	if err != nil {
		return fmt.Errorf("serve: user agent: %w", err)
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(s.cfg.Log)); err == nil {
		s.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(s.cfg.PublicAddr), sipgo.WithClientPort(s.clientPort()))
	}
	if err != nil {
		ua.Close()
		return fmt.Errorf("serve: %w", err)
	}
	if s.cfg.Echo {
		echo := newEchoParty(s)
		s.mu.Lock()
		s.echo = echo
		s.mu.Unlock()
	}
	s.routes()
	return nil
}

// resolveAddrs fills PublicAddr/PublicIP from each other or the listen IP.
func (s *Server) resolveAddrs(ctx context.Context) error {
	c := &s.cfg
	if c.PublicAddr == "" && c.PublicIP.IsValid() {
		c.PublicAddr = c.PublicIP.String()
	}
	if c.PublicAddr == "" {
		if s.listenIP.IsUnspecified() {
			return errors.New("serve: listening on all interfaces: give the main address (--public-addr)")
		}
		c.PublicAddr, c.PublicIP = s.listenIP.String(), s.listenIP
	}
	if !c.PublicIP.IsValid() {
		if ip, err := netip.ParseAddr(c.PublicAddr); err == nil {
			c.PublicIP = ip
		} else {
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", c.PublicAddr)
			if err != nil || len(ips) == 0 {
				return fmt.Errorf("serve: resolve main address %q: %w", c.PublicAddr, err)
			}
			c.PublicIP = ips[0].Unmap()
		}
	}
	s.SetPublicIP(c.PublicIP)
	return nil
}

// SetPublicIP changes the main address's IP that SDP carries from now on
// (the name in Via and Record-Route stays).
func (s *Server) SetPublicIP(ip netip.Addr) {
	ip = ip.Unmap()
	s.mainIP.Store(&ip)
}

// publicIP is the main address's IP in use.
func (s *Server) publicIP() netip.Addr {
	if p := s.mainIP.Load(); p != nil {
		return *p
	}
	return s.cfg.PublicIP
}

// ownIP is the server's own address: the listen IP, or the additional
// (LAN) address when it listens on every interface.
func (s *Server) ownIP() netip.Addr {
	if s.listenIP.IsUnspecified() {
		return s.cfg.LocalAddr
	}
	return s.listenIP
}

// checkSafe refuses an open registrar/proxy on a public address.
func (s *Server) checkSafe() error {
	if len(s.cfg.Allow) > 0 || len(s.cfg.Users) > 0 || s.cfg.Open {
		return nil
	}
	for _, ip := range []netip.Addr{s.listenIP, s.publicIP()} {
		if isPublic(ip) {
			return ErrOpenOnPublic
		}
	}
	return nil
}

func isPublic(ip netip.Addr) bool {
	return ip.IsValid() && (ip.IsUnspecified() || (ip.IsGlobalUnicast() && !ip.IsPrivate()))
}

func (s *Server) routes() {
	on := func(m sip.RequestMethod, h sipgo.RequestHandler) { s.srv.OnRequest(m, s.admitted(h)) }
	on(sip.REGISTER, s.onRegister)
	on(sip.INVITE, s.onInvite)
	on(sip.ACK, s.onAck)
	on(sip.BYE, s.inDialog)
	on(sip.CANCEL, func(req *sip.Request, tx sip.ServerTransaction) {
		// A CANCEL matching a transaction is answered by sipgo; this one
		// matched nothing (RFC 3261 §9.2).
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
	})
	on(sip.OPTIONS, func(req *sip.Request, tx sip.ServerTransaction) {
		if sipcall.HasToTag(req) {
			s.inDialog(req, tx)
			return
		}
		s.respond(tx, req, 200, "OK")
	})
	for _, m := range []sip.RequestMethod{sip.UPDATE, sip.PRACK, sip.INFO, sip.NOTIFY, sip.REFER} {
		on(m, s.inDialog)
	}
	// Methods natdoc knows but does not serve (MESSAGE, SUBSCRIBE,
	// PUBLISH); unknown ones got 501 from admitted.
	s.srv.OnNoRoute(s.admitted(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
		s.send(tx, req, res)
	}))
}

// allowedMethods is the Allow header of a 405 (RFC 3261 §21.4.6).
const allowedMethods = "INVITE, ACK, CANCEL, BYE, REGISTER, OPTIONS, UPDATE, PRACK, INFO, NOTIFY, REFER"

func (s *Server) event(e Event) {
	e.Time = s.cfg.Now()
	s.cfg.Log.Info("sip "+e.Kind, "user", e.User, "call", e.CallID, "from", e.From, "to", e.To, "addr", e.Addr, "detail", e.Detail)
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// respond answers req at its real source (symmetric response routing, as
// RFC 3581 §4 does for rport, applied always: phones behind NAT often
// forget rport).
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	s.send(tx, req, res)
}

func (s *Server) send(tx sip.ServerTransaction, req *sip.Request, res *sip.Response) {
	res.SetDestination(req.Source())
	err := tx.Respond(res)
	if errors.Is(err, sip.ErrUDPMTUCongestion) {
		// sipgo sends nothing over UDP above 1,300 bytes, a rule RFC 3261
		// §18.1.1 makes for requests only: a response to a UDP request
		// goes back over UDP (§18.2.2), so it is written here, once.
		err = s.writeUDP(res, req.Source())
	}
	if err != nil {
		s.cfg.Log.Debug("sip respond", "err", err)
	}
}

// writeUDP sends m from the SIP socket to addr, outside any transaction.
func (s *Server) writeUDP(m sip.Message, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	_, err = s.sipConn.WriteTo([]byte(m.String()), ua)
	return err
}

// readFilter runs on every datagram before sipgo parses it: oversize,
// floods and unparsable messages are dropped and counted here, so they
// never reach a handler (and never end sipgo's read loop: it stops on a
// filter error, so this never returns one).
func (s *Server) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if len(data) > s.cfg.MaxMessage {
		s.Counters.Oversize.Add(1)
		return nil, nil
	}
	if isCRLFKeepalive(data) {
		s.Counters.Keepalives.Add(1)
		return nil, nil
	}
	if s.mirrorUDP(sipTransportProps{transport: p.Transport, remote: p.RemoteAddr}, data) {
		return nil, nil
	}
	if ip, ok := addrOf(p.RemoteAddr); ok && !s.limiter.Allow(ip, s.cfg.Now()) {
		s.Counters.RateLimited.Add(1)
		return nil, nil
	}
	if p.Transport == "UDP" {
		// A datagram is one whole message; a TCP read may end anywhere.
		// Unparsable datagrams are counted by parseErrorCounter when
		// sipgo's parser rejects them: parsing twice would halve the rate.
		return tidyLWS(data), nil
	}
	s.tcpStreams.check(p.RemoteAddr.String(), data)
	return data, nil
}

func isCRLFKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort().Addr().Unmap(), true
	case *net.TCPAddr:
		return v.AddrPort().Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func sourceOf(req *sip.Request) netip.AddrPort {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// inLAN: the peer gets the additional (local) address.
func (s *Server) inLAN(ip netip.Addr) bool {
	if len(s.cfg.LAN) > 0 {
		return inPrefixes(ip, s.cfg.LAN)
	}
	return ip.IsPrivate() || ip.IsLoopback()
}

// givenLocal: a peer at ip is given the additional (LAN) address.
func (s *Server) givenLocal(ip netip.Addr) bool { return s.cfg.LocalAddr.IsValid() && s.inLAN(ip) }

// addrFor picks the server's address peer can reach: the additional
// address for LAN peers, the main one in its NAT64 prefix for a peer
// behind NAT64 (nat64.go), the main one for everyone else.
func (s *Server) addrFor(peer netip.AddrPort) (host string, addr netip.Addr) {
	if s.givenLocal(peer.Addr()) {
		return s.cfg.LocalAddr.String(), s.cfg.LocalAddr
	}
	if a, ok := s.nat64.addrOf(peer, s.publicIP()); ok {
		return a.String(), a
	}
	return s.cfg.PublicAddr, s.publicIP()
}

// clientPort is the port of the requests sipgo makes (the echo's BYE):
// the main address's.
func (s *Server) clientPort() int {
	if s.cfg.PublicPort != 0 {
		return s.cfg.PublicPort
	}
	return s.listenPort
}

// portFor is the SIP port given to a peer at ip: the outside port a
// router forwards to this server for peers given the main address, else
// the listen port.
func (s *Server) portFor(ip netip.Addr) int {
	if s.cfg.PublicPort == 0 || s.givenLocal(ip) {
		return s.listenPort
	}
	return s.cfg.PublicPort
}

// isOurs reports whether a Route URI names this server.
func (s *Server) isOurs(u sip.Uri) bool {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	if port != s.listenPort && port != s.cfg.PublicPort {
		return false
	}
	switch u.Host {
	case s.cfg.PublicAddr, s.cfg.PublicIP.String(), s.publicIP().String(), s.listenIP.String():
		return true
	}
	if s.nat64.names(u.Host, s.publicIP()) {
		return true
	}
	return s.cfg.LocalAddr.IsValid() && u.Host == s.cfg.LocalAddr.String()
}

// authorize lets trusted networks in, checks digest credentials otherwise,
// and answers the challenge or 403 itself. It returns the authenticated
// user ("" when trusted by network).
func (s *Server) authorize(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) (string, bool) {
	if inPrefixes(src.Addr(), s.cfg.Allow) {
		return "", true
	}
	if s.auth == nil {
		if len(s.cfg.Allow) == 0 {
			return "", true // open: only allowed on private addresses or with Open
		}
		s.Counters.Forbidden.Add(1)
		s.respond(tx, req, 403, "Forbidden")
		return "", false
	}
	if u := s.auth.verify(req); u != "" {
		return u, true
	}
	s.Counters.AuthChallenges.Add(1)
	s.send(tx, req, s.auth.challenge(req))
	return "", false
}

// shutdown ends every call's media and frees its relay ports.
func (s *Server) shutdown() {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); s.hangUp(c) }()
	}
	wg.Wait()
	for _, c := range calls {
		s.endCall(c, "shutdown")
	}
	if s.echo != nil {
		s.echo.close()
	}
}

// EffectiveConfig is the configuration with defaults and resolved
// addresses (PublicIP: the one in use now).
func (s *Server) EffectiveConfig() Config {
	c := s.cfg
	c.PublicIP = s.publicIP()
	return c
}

// Anomalies are the counts of dropped or refused input, for the summary.
func (s *Server) Anomalies() []report.KeyValue {
	c := &s.Counters
	var out []report.KeyValue
	for _, kv := range []struct {
		k string
		v uint64
	}{{"malformed", c.Malformed.Load()}, {"invalid", c.Invalid.Load()}, {"stray-response", c.StrayResponses.Load()}, {"oversize", c.Oversize.Load()}, {"rate-limited", c.RateLimited.Load()},
		{"sdp-rejected", c.SDPRejected.Load()}, {"unknown-dialog", c.UnknownDialog.Load()}, {"forbidden", c.Forbidden.Load()}, {"relay-full", c.RelayFull.Load()},
		{"media-failed", c.MediaFailed.Load()}} {
		if kv.v > 0 {
			out = append(out, report.KeyValue{Key: kv.k, Value: strconv.FormatUint(kv.v, 10)})
		}
	}
	return out
}

// parseErrorCounter counts sipgo's "failed to parse" log records (its
// parser rejected a datagram) and keeps the hostile bytes out of the log.
//
// The process-wide logger sipgo gives transports it did not build (the
// server's TCP transport, see noDialOut) gets one without a count, from
// DropParseErrors: the server counts those in tcpStreams.
type parseErrorCounter struct {
	next  slog.Handler
	count *atomic.Uint64
}

func (h parseErrorCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h parseErrorCounter) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "failed to parse") {
		if h.count != nil {
			h.count.Add(1)
		}
		return nil
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h parseErrorCounter) WithAttrs(a []slog.Attr) slog.Handler {
	return parseErrorCounter{next: h.next.WithAttrs(a), count: h.count}
}

func (h parseErrorCounter) WithGroup(g string) slog.Handler {
	return parseErrorCounter{next: h.next.WithGroup(g), count: h.count}
}

// DropParseErrors wraps the handler of sipgo's process-wide default
// logger (sip.SetDefaultLogger): a peer's unparsable message is counted
// by the server that got it, and its hostile bytes stay out of the log.
func DropParseErrors(next slog.Handler) slog.Handler {
	return parseErrorCounter{next: next}
}
