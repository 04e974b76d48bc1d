package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/sipsim"
	"github.com/spf13/cobra"
)

// serveOptions are the flags of `natdoc serve`.
type serveOptions struct {
	Listen      string
	PublicAddr  string
	LocalAddr   string
	LAN         []string
	RTPPorts    string
	Allow       []string
	UsersFile   string
	Realm       string
	Fix         bool
	Open        bool
	TCP         bool
	Echo        bool
	Mirror      bool
	LatchAny    bool
	KernelFwd   bool
	Keepalive   time.Duration
	IdleTimeout time.Duration
	Duration    time.Duration
	Rate        float64
	MaxRegs     int
	MaxCalls    int
	Quiet       bool
	UPnP        bool
	UPnPURL     string
	UPnPPairs   int
	UPnPJournal string

	listen           netip.AddrPort
	local            netip.Addr
	lan, allow       []netip.Prefix
	portMin, portMax int
	users            map[string]string
}

func newServeCmd(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a SIP server with an RTP relay that anchors media (fix mode)",
		Long: `A temporary SIP registrar and proxy with an RTP relay, so that phones behind
NAT hear each other.

The registrar sends requests to where a phone's REGISTER really came from
(RFC 3581), not to its private Contact, and pings it every --keepalive so its
NAT stays open. Calls go only between users registered here (anyone else: 404;
it is no open proxy). In fix mode (the default) every SDP is rewritten so the
audio flows through the relay, which learns each phone's real media address
from its first packets; --fix=false forwards SDP untouched and so shows the
broken deployment for a before/after comparison.

Peers whose source is in --lan (private ranges by default) are given
--local-addr, everyone else --public-addr (an IP or a dynamic-DNS name).
The built-in user "echo" answers every call with a tone and reports what it
heard: one phone is enough to prove two-way audio.
It is also the mirror for natdoc diagnose's SIP ALG and port-forwarding
checks (natdoc diagnose --mirror THIS-HOST:PORT): requests to sip:mirror@...
are answered with the bytes received, before authentication and rate-limited
per source, and open nothing (--mirror=false turns this off).

Authentication: digest from --users FILE (lines "user:password"), networks in
--allow are trusted without it. On a public address natdoc refuses to start
with neither, unless --open.

Events go to standard error (JSON lines with --json); the summary report goes
to standard output on exit (Ctrl-C), which frees every relay port.
--upnp asks the router to forward the SIP port and the first --upnp-rtp-pairs
RTP/RTCP pairs (the relay then uses only those; many routers allow fewer than
30 mappings) and removes them on exit; the router's external address becomes
the main address unless --public-addr is given.
--kernel-forward moves each latched stream into the kernel (an nftables
netdev table named natdoc_relay_PID, removed on exit): packets no longer
wake natdoc, counters are read from nft every second, and RTP loss is then
not measured.`,
		Example: `  natdoc serve --public-addr 203.0.113.10 --allow 192.168.1.0/24
  natdoc serve --public-addr voip.example.net --local-addr 192.168.1.2 --users users.txt
  natdoc serve --fix=false --allow 0.0.0.0/0 --open     # the broken deployment, for comparison`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runServe(cmd.Context(), a, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "0.0.0.0:5060", "SIP `ADDR:PORT` (UDP, and TCP unless --tcp=false)")
	f.StringVar(&o.PublicAddr, "public-addr", "", "the main address (`IP or NAME`) given to peers outside the LAN; default: the --listen address")
	f.StringVar(&o.LocalAddr, "local-addr", "", "the additional address (`IP`) given to peers in --lan")
	f.StringSliceVar(&o.LAN, "lan", nil, "`CIDR`s whose peers get --local-addr (default: private ranges)")
	f.StringVar(&o.RTPPorts, "rtp-ports", "10000-20000", "relay port range `LO-HI`")
	f.StringSliceVar(&o.Allow, "allow", nil, "`CIDR`s trusted without authentication")
	f.StringVar(&o.UsersFile, "users", "", "digest users `FILE` (user:password per line)")
	f.StringVar(&o.Realm, "realm", "natdoc", "digest realm")
	f.BoolVar(&o.Fix, "fix", true, "anchor media in the relay (false: forward SDP untouched, the broken setup)")
	f.BoolVar(&o.Open, "open", false, "allow serving a public address with neither --users nor --allow")
	f.BoolVar(&o.TCP, "tcp", true, "also listen on TCP")
	f.BoolVar(&o.Echo, "echo", true, `answer calls to the built-in user "echo"`)
	f.BoolVar(&o.Mirror, "mirror", true, "answer natdoc diagnose's mirror requests (SIP ALG and port-forwarding checks)")
	f.BoolVar(&o.LatchAny, "latch-any-source", false, "let media latch from any source IP, not only the phone's SIP source (phones with separate media gateways)")
	f.BoolVar(&o.KernelFwd, "kernel-forward", false, "forward latched media in the kernel (nftables; Linux, root); falls back to user space with a warning")
	f.DurationVar(&o.Keepalive, "keepalive", sipsim.DefaultKeepalive, "OPTIONS ping interval toward registered phones (below the NAT's UDP timeout)")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", relay.DefaultIdleTimeout, "close relay streams without packets for this long")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.Float64Var(&o.Rate, "rate-limit", sipsim.DefaultRate, "SIP requests per second allowed per source IP (burst: twice that)")
	f.IntVar(&o.MaxRegs, "max-registrations", sipsim.DefaultMaxBindings, "registered users kept at most")
	f.BoolVar(&o.UPnP, "upnp", false, "ask the router (UPnP IGD, PCP or NAT-PMP) to forward the SIP port and the first --upnp-rtp-pairs RTP pairs; removed on exit")
	f.StringVar(&o.UPnPURL, "upnp-url", "", "the IGD's root description `URL` (skips SSDP discovery)")
	f.IntVar(&o.UPnPPairs, "upnp-rtp-pairs", defaultUPnPPairs, "RTP/RTCP port pairs to forward with --upnp (the relay then uses only those)")
	f.StringVar(&o.UPnPJournal, "upnp-journal", "", "journal `FILE` of mappings for `natdoc upnp cleanup` (default: natdoc's state directory)")
	f.BoolVar(&o.Quiet, "quiet", false, "do not print events as they happen (only the summary)")
	f.IntVar(&o.MaxCalls, "max-calls", sipsim.DefaultMaxCalls, "calls in progress at most")
	return cmd
}

func (o *serveOptions) validate() error {
	ap, err := netip.ParseAddrPort(o.Listen)
	if err != nil {
		return usageErrorf("--listen %q: want IP:PORT", o.Listen)
	}
	o.listen = ap
	if ap.Addr().IsUnspecified() && o.PublicAddr == "" && !o.UPnP {
		return usageErrorf("--listen %s is every interface: give --public-addr (the address phones reach this host at)", o.Listen)
	}
	if o.LocalAddr != "" {
		if o.local, err = netip.ParseAddr(o.LocalAddr); err != nil {
			return usageErrorf("--local-addr %q: want an IP", o.LocalAddr)
		}
	}
	if o.lan, err = parsePrefixes("--lan", o.LAN); err != nil {
		return err
	}
	if o.allow, err = parsePrefixes("--allow", o.Allow); err != nil {
		return err
	}
	lo, hi, err := parsePortRange(o.RTPPorts)
	if err != nil || lo < 1024 || hi-lo < 3 {
		return usageErrorf("--rtp-ports %q: want LO-HI within 1024-65535, at least 4 ports", o.RTPPorts)
	}
	o.portMin, o.portMax = int(lo), int(hi)
	if o.UsersFile != "" {
		f, err := os.Open(o.UsersFile)
		if err != nil {
			return usageErrorf("--users: %w", err)
		}
		defer f.Close()
		if o.users, err = sipsim.ReadUsers(f); err != nil {
			return usageErrorf("--users %s: %w", o.UsersFile, err)
		}
	}
	if o.UPnP && (o.UPnPPairs < 1 || o.UPnPPairs > 500) {
		return usageErrorf("--upnp-rtp-pairs %d: want 1-500", o.UPnPPairs)
	}
	if o.Rate <= 0 || o.MaxRegs <= 0 || o.MaxCalls <= 0 {
		return usageErrorf("--rate-limit, --max-registrations and --max-calls must be positive")
	}
	if o.Keepalive < time.Second {
		return usageErrorf("--keepalive %s: want at least 1s", o.Keepalive)
	}
	return nil
}

func parsePrefixes(flag string, in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, err2 := netip.ParseAddr(s); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, usageErrorf("%s %q: want a CIDR", flag, s)
			}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func runServe(ctx context.Context, a *app, o *serveOptions) error {
	rep := newReport("serve")
	rep.Started = time.Now()
	silenceSipgo(a)
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	cfg := sipsim.Config{
		PublicAddr: o.PublicAddr, LocalAddr: o.local, LAN: o.lan, Allow: o.allow, Users: o.users, Realm: o.Realm,
		Open: o.Open, Fix: o.Fix, Keepalive: o.Keepalive, Echo: o.Echo, Log: a.log,
		Rate: o.Rate, Burst: 2 * o.Rate, MaxBindings: o.MaxRegs, MaxCalls: o.MaxCalls,
	}
	var live *liveStatus
	if !o.Quiet {
		if isTerminal(a.stderr) && !a.opts.JSON {
			live = &liveStatus{w: a.stderr}
		}
		cfg.OnEvent = eventPrinter(a, live)
	}
	if o.UPnP {
		fw, err := o.forwardPorts(ctx, a)
		if err != nil {
			return err
		}
		defer func() {
			if n, err := fw.release(); err != nil {
				fmt.Fprintf(a.stderr, "natdoc serve: removing UPnP mappings: %d removed, %v (run natdoc upnp cleanup)\n", n, err)
			}
		}()
		rep.Add(fw.findings...)
		if cfg.PublicAddr == "" {
			cfg.PublicAddr = fw.external
		}
		if fw.pairs >= 2 {
			o.portMax = o.portMin + 2*fw.pairs - 1
		}
		fmt.Fprintf(a.stderr, "natdoc serve: router forwards %s\n", strings.Join(fw.mapped, ", "))
	}
	var rl *relay.Relay
	if o.Fix {
		var err error
		rl, err = relay.New(relay.Config{Bind: o.listen.Addr(), PortMin: o.portMin, PortMax: o.portMax, IdleTimeout: o.IdleTimeout, LatchAnySource: o.LatchAny, MaxSessions: o.MaxCalls,
			KernelForward: o.KernelFwd, Log: a.log})
		if err != nil {
			return usageErrorf("%w", err)
		}
		defer rl.Close()
		cfg.Relay = rl
		if on, _ := rl.KernelForwarding(); on {
			fmt.Fprintln(a.stderr, "natdoc serve: latched media is forwarded in the kernel (nftables); RTP loss is then not measured")
		}
	}
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(o.listen))
	if err != nil {
		return cannotRunErrorf("listen udp %s: %w", o.listen, err)
	}
	listen := []string{"udp " + o.listen.String()}
	var tcp net.Listener
	if o.TCP {
		if tcp, err = net.Listen("tcp", o.listen.String()); err != nil {
			udp.Close()
			return cannotRunErrorf("listen tcp %s: %w", o.listen, err)
		}
		listen = append(listen, "tcp "+o.listen.String())
	}
	if o.Mirror {
		// Callbacks (diagnose's port-forwarding check) leave from a port of
		// their own, so they match no NAT binding the request opened.
		callback, err := net.ListenUDP("udp", &net.UDPAddr{IP: o.listen.Addr().AsSlice()})
		if err != nil {
			udp.Close()
			if tcp != nil {
				tcp.Close()
			}
			return cannotRunErrorf("mirror: callback socket: %w", err)
		}
		defer callback.Close()
		cfg.Mirror = sipalg.NewAnswerer(sipalg.DefaultRateLimit, callback)
	}
	srv, err := sipsim.New(cfg)
	if err != nil {
		udp.Close()
		if tcp != nil {
			tcp.Close()
		}
		return usageErrorf("%w", err)
	}
	fmt.Fprintf(a.stderr, "natdoc serve: listening on %s (fix mode %v, mirror %v); Ctrl-C ends and prints the summary\n", strings.Join(listen, ", "), o.Fix, o.Mirror)
	if live != nil {
		stopLive := live.run(ctx, srv)
		defer stopLive()
	}
	if err := srv.Serve(ctx, udp, tcp); err != nil {
		if err == sipsim.ErrOpenOnPublic {
			return usageErrorf("%w (give --users FILE, --allow CIDR, or --open)", err)
		}
		return cannotRunErrorf("%w", err)
	}
	active, ended := srv.Calls()
	calls := append(ended, active...)
	rep.Finished = time.Now()
	rep.Serve = sipsim.ServeReport(listen, srv.EffectiveConfig(), o.RTPPorts, srv.Registrations(), calls)
	rep.Add(sipsim.ServeFindings(calls, srv.Anomalies())...)
	if o.UPnP && o.Fix {
		rep.Serve.RTPPorts = fmt.Sprintf("%d-%d", o.portMin, o.portMax)
	}
	rep.Verdict = serveVerdict(rep.Serve)
	return a.emit(rep)
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

// eventPrinter shows server events on standard error as they happen: one
// line each, or JSON lines with --json.
func eventPrinter(a *app, live *liveStatus) func(sipsim.Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(a.stderr)
	return func(e sipsim.Event) {
		mu.Lock()
		defer mu.Unlock()
		if live != nil {
			live.clear()
			defer live.redraw()
		}
		if a.opts.JSON {
			enc.Encode(e)
			return
		}
		line := fmt.Sprintf("%s %-13s", e.Time.Format("15:04:05"), e.Kind)
		for _, kv := range [][2]string{{"user", e.User}, {"from", e.From}, {"to", e.To}, {"addr", e.Addr}, {"call", e.CallID}} {
			if kv[1] != "" {
				line += " " + kv[0] + "=" + kv[1]
			}
		}
		if e.Detail != "" {
			line += "  " + e.Detail
		}
		fmt.Fprintln(a.stderr, line)
	}
}

// sipgoLoggerOnce: sipgo's default logger is a process-wide global, and
// serve and call may start in one process (tests, the echo demo).
var sipgoLoggerOnce sync.Once

// silenceSipgo sends sipgo's own logging to natdoc's logger (warn by
// default), not to the process's default logger on standard error. The
// first command's logger wins.
func silenceSipgo(a *app) {
	sipgoLoggerOnce.Do(func() { sip.SetDefaultLogger(a.log) })
}

func listenUDP(network, addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP(network, ua)
}

// liveStatusInterval: the status line on a terminal refreshes this often.
const liveStatusInterval = time.Second

// liveStatus keeps one status line (registrations, calls, relayed packets
// each way) at the bottom of a terminal; events print above it.
type liveStatus struct {
	w    io.Writer
	mu   sync.Mutex
	line string
}

func (l *liveStatus) run(ctx context.Context, srv *sipsim.Server) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(liveStatusInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				l.clear()
				return
			case <-t.C:
				active, _ := srv.Calls()
				l.set(sipsim.StatusLine(len(srv.Registrations()), active))
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (l *liveStatus) set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line = s
	fmt.Fprint(l.w, "\r\x1b[K"+s)
}

func (l *liveStatus) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r\x1b[K")
}

func (l *liveStatus) redraw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r\x1b[K"+l.line)
}
