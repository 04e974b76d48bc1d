package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/proxy"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/rtpengine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	Media       []string
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
	UPnPIdle    time.Duration
	UPnPJournal string
	RouterCheck bool
	STUN        string
	MirrorCheck string
	AddrCheck   time.Duration
	Metrics     string
	HEPOut      hepOutFlags

	run proxy.Options // what validate made of the flags
}

// serveLong is natdoc serve's help text.
const serveLong = `A temporary SIP registrar and proxy with an RTP relay, so that phones behind
NAT hear each other.

The registrar sends requests to where a phone's REGISTER really came from
(RFC 3581), not to its private Contact, and pings it every --keepalive so its
NAT stays open. Calls go only between users registered here (anyone else: 404;
it is no open proxy). In fix mode (the default) every SDP is rewritten so the
audio flows through the relay, which learns each phone's real media address
from its first packets; --fix=false forwards SDP untouched and so shows the
broken deployment for a before/after comparison.

Peers whose source is in --lan (private ranges by default) are given
--local-addr, everyone else --public-addr (an IP or a dynamic-DNS name). A
router that forwards another outside port to the --listen port (5080 to
5060) needs that port in --public-addr (voip.example.net:5080): it goes in
the Via, Record-Route and Contact peers outside send their requests to.
The built-in user "echo" answers every call with a tone and reports what it
heard: one phone is enough to prove two-way audio. Its media goes through
the relay like every call's; with --fix=false it sends to the caller's SDP
address, as a phone that knows nothing of NAT does.

Behind a router (a private --listen address, --public-addr the router's
public address or a dynamic-DNS name): LAN phones get the --listen address
unless --local-addr says otherwise (most routers do not pass packets for
their own public address back into the LAN). At start natdoc asks the
router (UPnP IGD, NAT-PMP; or --stun) for its public address and compares
--public-addr, and with --mirror-check HOST:PORT a natdoc mirror outside
proves that the SIP port and a sample of the RTP range arrive here. A name
is resolved again every --public-addr-check; when it no longer points at
the router, natdoc warns and puts the router's address in SDP.
It is also the mirror for natdoc diagnose's SIP ALG and port-forwarding
checks (natdoc diagnose --mirror THIS-HOST:PORT): requests to sip:mirror@...
are answered with the bytes received, before authentication and rate-limited
per source, and open nothing (--mirror=false turns this off).

Authentication: digest from --users FILE (lines "user:password"), networks in
--allow are trusted without it. On a public address natdoc refuses to start
with neither, unless --open.

Events go to standard error (JSON lines with --json); the summary report goes
to standard output on exit (Ctrl-C), which frees every relay port.
--upnp asks the router to forward the SIP port and RTP/RTCP pairs for the
relay, and removes them on exit; the router's external address becomes the
main address unless --public-addr is given. The pairs follow the calls: four
spare pairs are forwarded ahead (so an INVITE rarely waits for the router),
more as calls take them, and pairs beyond the spare that no call used for
--upnp-idle-release go back. Only legs facing phones outside the LAN use
forwarded pairs. When the router accepts no more mappings (its table is full,
or its rules allow no more ports) new calls get the pairs there are, a call
finding none gets 503 with Retry-After, and natdoc says to forward the RTP
range by hand. --upnp-rtp-pairs caps the pairs forwarded at once (with
--fix=false: the pairs forwarded at start, default 10).
--metrics ADDR:PORT serves Prometheus metrics (relay sessions, ports in use,
packets, bytes and loss per direction, registered contacts, SIP requests
received by method and responses sent by class, rejected input, findings of
ended calls). --hep-out HOST:PORT copies every SIP message the server reads
or sends to a HEP collector (HOMER) and, when a call ends, its outcome as a
JSON log on its Call-ID.
--kernel-forward moves each latched stream into the kernel (an nftables
netdev table named natdoc_relay_PID, removed on exit): packets no longer
wake natdoc, counters are read from nft every second, and RTP loss is then
not measured.

--media rtpengine=udp:HOST:PORT anchors media in rtpengine instead of the
built-in relay (--media builtin, the default), driven over its ng protocol
(HOST:PORT is its --listen-ng) as Kamailio's rtpengine module does. Give it
more than once for several engines: each call goes to one engine, chosen by
its Call-ID and the engines' weight=N (default 1); engines are pinged every
second, one that stops answering gets no new calls, and the calls it had
are reported. With main=IF,local=IF naming the engine's two interfaces
(rtpengine --interface=IF/ADDR), LAN peers get its local one. The engine's
port range is its own: --rtp-ports, --kernel-forward and --upnp's RTP
pairs concern the built-in relay.`

func newServeCmd(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a SIP server with an RTP relay that anchors media (fix mode)",
		Long:  serveLong,
		Example: `  natdoc serve --public-addr 203.0.113.10 --allow 192.168.1.0/24
  natdoc serve --listen 192.168.1.2:5060 --public-addr voip.example.net --users users.txt --mirror-check mirror.example.org:5060
  natdoc serve --listen 192.168.1.2:5060 --upnp --users users.txt
  natdoc serve --public-addr 203.0.113.10 --users users.txt --media rtpengine=udp:127.0.0.1:2223
  natdoc serve --public-addr 203.0.113.10 --users users.txt --media rtpengine=udp:10.0.0.5:2223,weight=2 --media rtpengine=udp:10.0.0.6:2223
  natdoc serve --fix=false --allow 0.0.0.0/0 --open     # the broken deployment, for comparison`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runServe(cmd.Context(), a, &o)
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

func (o *serveOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Listen, "listen", "0.0.0.0:5060", "SIP `ADDR:PORT` (UDP, and TCP unless --tcp=false)")
	f.StringVar(&o.PublicAddr, "public-addr", "", "the main address (`IP or NAME[:PORT]`) given to peers outside the LAN, with the outside SIP port when a router forwards another port to the --listen port; default: the --listen address")
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
	f.StringArrayVar(&o.Media, "media", []string{"builtin"}, "where media is anchored: `builtin` (natdoc's relay) or rtpengine=udp:HOST:PORT[,weight=N][,main=IF,local=IF], repeatable for several engines")
	f.BoolVar(&o.KernelFwd, "kernel-forward", false, "forward latched media in the kernel (nftables; Linux, root); falls back to user space with a warning")
	f.DurationVar(&o.Keepalive, "keepalive", proxy.DefaultKeepalive, "OPTIONS ping interval toward registered phones (below the NAT's UDP timeout)")
	f.DurationVar(&o.IdleTimeout, "idle-timeout", relay.DefaultIdleTimeout, "close relay streams without packets for this long")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.Float64Var(&o.Rate, "rate-limit", proxy.DefaultRate, "SIP requests per second allowed per source IP (burst: twice that)")
	f.IntVar(&o.MaxRegs, "max-registrations", proxy.DefaultMaxBindings, "registered users kept at most")
	f.BoolVar(&o.UPnP, "upnp", false, "ask the router (UPnP IGD, PCP or NAT-PMP) to forward the SIP port and the relay's RTP pairs as calls need them; removed on exit")
	f.StringVar(&o.UPnPURL, "upnp-url", "", "the IGD's root description `URL` (skips SSDP discovery)")
	f.IntVar(&o.UPnPPairs, "upnp-rtp-pairs", 0, "with --upnp, the most RTP/RTCP pairs forwarded at once (0: as many as calls need, up to what the router accepts); with --fix=false, the pairs forwarded at start (0: 10)")
	f.DurationVar(&o.UPnPIdle, "upnp-idle-release", proxy.DefaultUPnPIdleRelease, "with --upnp, give a forwarded RTP pair beyond the spare back to the router after no call used it for this long")
	f.StringVar(&o.UPnPJournal, "upnp-journal", "", "journal `FILE` of mappings for `natdoc upnp cleanup` (default: natdoc's state directory)")
	f.BoolVar(&o.RouterCheck, "router-check", true, "behind a router: ask it (UPnP IGD, NAT-PMP) for its public address at start and compare --public-addr")
	f.StringVar(&o.STUN, "stun", "", "STUN server `HOST:PORT` to learn the router's public address from (at start and every --public-addr-check)")
	f.StringVar(&o.MirrorCheck, "mirror-check", "", "a natdoc mirror outside, `HOST:PORT`: prove at start that the SIP port and a sample of the RTP range sent to the public address arrive here")
	f.DurationVar(&o.AddrCheck, "public-addr-check", proxy.DefaultAddrCheckInterval, "how often to resolve --public-addr again and compare it with the router's public address (0: never)")
	f.BoolVar(&o.Quiet, "quiet", false, "do not print events as they happen (only the summary)")
	f.IntVar(&o.MaxCalls, "max-calls", proxy.DefaultMaxCalls, "calls in progress at most")
	f.StringVar(&o.Metrics, "metrics", "", "serve Prometheus metrics on `ADDR:PORT`/metrics: calls, relay sessions, ports, packets and loss, registrations, SIP requests and responses, rejected input, findings")
	o.HEPOut.register(f)
}

// validate checks the flags and turns them into the run's options.
func (o *serveOptions) validate() error {
	r := &o.run
	*r = proxy.Options{PublicAddr: o.PublicAddr, TCP: o.TCP, Realm: o.Realm, Open: o.Open, Fix: o.Fix, Echo: o.Echo, Mirror: o.Mirror,
		LatchAnySource: o.LatchAny, KernelForward: o.KernelFwd, IdleTimeout: o.IdleTimeout, Keepalive: o.Keepalive,
		Rate: o.Rate, MaxBindings: o.MaxRegs, MaxCalls: o.MaxCalls, Duration: o.Duration}
	if err := o.validateAddrs(r); err != nil {
		return err
	}
	lo, hi, err := parsePortRange(o.RTPPorts)
	if err != nil || lo < 1024 || hi-lo < 3 {
		return usageErrorf("--rtp-ports %q: want LO-HI within 1024-65535, at least 4 ports", o.RTPPorts)
	}
	r.PortMin, r.PortMax = int(lo), int(hi)
	if o.UsersFile != "" {
		if r.Users, err = readUsersFile(o.UsersFile); err != nil {
			return err
		}
	}
	if o.UPnP {
		if o.UPnPPairs < 0 || o.UPnPPairs > 30000 {
			return usageErrorf("--upnp-rtp-pairs %d: want 0 (no cap) to 30000", o.UPnPPairs)
		}
		if o.UPnPIdle < time.Second {
			return usageErrorf("--upnp-idle-release %s: want at least 1s", o.UPnPIdle)
		}
		r.UPnP = &proxy.UPnPOptions{URL: o.UPnPURL, Pairs: o.UPnPPairs, IdleRelease: o.UPnPIdle, Journal: o.UPnPJournal}
	}
	if err := o.validateChecks(r); err != nil {
		return err
	}
	if err := o.validateMedia(r); err != nil {
		return err
	}
	if o.Rate <= 0 || o.MaxRegs <= 0 || o.MaxCalls <= 0 {
		return usageErrorf("--rate-limit, --max-registrations and --max-calls must be positive")
	}
	if o.Keepalive < time.Second {
		return usageErrorf("--keepalive %s: want at least 1s", o.Keepalive)
	}
	return nil
}

// validateMedia reads --media: builtin, or one or more rtpengines.
func (o *serveOptions) validateMedia(r *proxy.Options) error {
	for _, m := range o.Media {
		if m == "builtin" {
			continue
		}
		v, ok := strings.CutPrefix(m, "rtpengine=")
		if !ok {
			return usageErrorf("--media %q: want builtin or rtpengine=udp:HOST:PORT[,weight=N]", m)
		}
		e, err := rtpengine.ParseEngine(v)
		if err != nil {
			return usageErrorf("--media: %w", err)
		}
		r.Engines = append(r.Engines, e)
	}
	if len(r.Engines) == 0 {
		return nil
	}
	switch {
	case len(r.Engines) != len(o.Media):
		return usageErrorf("--media builtin and rtpengine=... exclude each other")
	case !o.Fix:
		return usageErrorf("--media rtpengine anchors media, which --fix=false turns off")
	case o.KernelFwd:
		return usageErrorf("--kernel-forward is the built-in relay's; rtpengine forwards in its own kernel module when it has one")
	}
	return nil // with --upnp the engine's ports stay its own: natdoc forwards SIP only
}

// validateAddrs reads --listen, --local-addr, --lan and --allow.
func (o *serveOptions) validateAddrs(r *proxy.Options) error {
	ap, err := netip.ParseAddrPort(o.Listen)
	if err != nil {
		return usageErrorf("--listen %q: want IP:PORT", o.Listen)
	}
	r.Listen = ap
	if r.PublicAddr, r.PublicPort, err = splitPublicAddr(o.PublicAddr); err != nil {
		return err
	}
	if ap.Addr().IsUnspecified() && o.PublicAddr == "" && !o.UPnP {
		return usageErrorf("--listen %s is every interface: give --public-addr (the address phones reach this host at)", o.Listen)
	}
	if o.LocalAddr != "" {
		if r.LocalAddr, err = netip.ParseAddr(o.LocalAddr); err != nil {
			return usageErrorf("--local-addr %q: want an IP", o.LocalAddr)
		}
	}
	if r.LAN, err = parsePrefixes("--lan", o.LAN); err != nil {
		return err
	}
	r.Allow, err = parsePrefixes("--allow", o.Allow)
	return err
}

// splitPublicAddr reads --public-addr: an IP or name, and the outside SIP
// port when one is written (0: none). A bare IPv6 address has no port.
func splitPublicAddr(v string) (host string, port int, err error) {
	h, p, splitErr := net.SplitHostPort(v)
	if splitErr != nil {
		return v, 0, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || h == "" {
		return "", 0, usageErrorf("--public-addr %q: want IP or NAME, with :PORT (1-65535) when a router forwards another outside port", v)
	}
	return h, n, nil
}

// validateChecks reads the flags of the start-up and address checks.
func (o *serveOptions) validateChecks(r *proxy.Options) error {
	r.RouterCheck, r.AddrCheckInterval = o.RouterCheck, o.AddrCheck
	if o.AddrCheck < 0 || (o.AddrCheck > 0 && o.AddrCheck < 10*time.Second) {
		return usageErrorf("--public-addr-check %s: want 0 (never) or at least 10s", o.AddrCheck)
	}
	var err error
	if r.STUN, err = udpAddrFlag("--stun", o.STUN); err != nil {
		return err
	}
	r.MirrorCheck, err = udpAddrFlag("--mirror-check", o.MirrorCheck)
	return err
}

// udpAddrFlag reads HOST:PORT (IPv4); empty is no address.
func udpAddrFlag(flag, v string) (netip.AddrPort, error) {
	if v == "" {
		return netip.AddrPort{}, nil
	}
	ua, err := net.ResolveUDPAddr("udp4", v)
	if err != nil || ua.Port == 0 {
		return netip.AddrPort{}, usageErrorf("%s %q: want HOST:PORT", flag, v)
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func readUsersFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("--users: %w", err)
	}
	defer f.Close()
	users, err := proxy.ReadUsers(f)
	if err != nil {
		return nil, usageErrorf("--users %s: %w", path, err)
	}
	return users, nil
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
	opt := o.run
	opt.Log = a.log
	var live *liveStatus
	if !o.Quiet && isTerminal(a.stderr) && !a.opts.JSON {
		live = &liveStatus{w: a.stderr}
		opt.Status = live.set
		defer live.clear()
	}
	opt.Notify = func(msg string) { live.above(func() { fmt.Fprintln(a.stderr, "natdoc serve: "+msg) }) }
	if !o.Quiet {
		opt.OnEvent = eventPrinter(a, live)
	}
	sender, err := o.HEPOut.dial()
	if err != nil {
		return err
	}
	defer closeHEPOut(a.stderr, sender)
	m, stopMetrics, err := startMetrics(ctx, a.stderr, o.Metrics)
	if err != nil {
		return err
	}
	defer stopMetrics()
	opt.HEPOut, opt.Metrics = sender, m
	err = proxy.Run(ctx, opt, rep)
	var ce *proxy.ConfigError
	switch {
	case errors.Is(err, proxy.ErrOpenOnPublic):
		return usageErrorf("%w (give --users FILE, --allow CIDR, or --open)", err)
	case errors.As(err, &ce):
		return usageErrorf("%w", err)
	case err != nil:
		return cannotRunErrorf("%w", err)
	}
	return a.emit(rep)
}

// eventPrinter shows server events on standard error as they happen: one
// line each, or JSON lines with --json.
func eventPrinter(a *app, live *liveStatus) func(proxy.Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(a.stderr)
	return func(e proxy.Event) {
		mu.Lock()
		defer mu.Unlock()
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
		live.above(func() { fmt.Fprintln(a.stderr, line) })
	}
}

// sipgoLoggerOnce: sipgo's default logger is a process-wide global, and
// serve and call may start in one process (tests, the echo demo).
var sipgoLoggerOnce sync.Once

// silenceSipgo sends sipgo's own logging to natdoc's logger (warn by
// default), not to the process's default logger on standard error, less
// the peers' unparsable messages (the server counts them). The first
// command's logger wins.
func silenceSipgo(a *app) {
	sipgoLoggerOnce.Do(func() { sip.SetDefaultLogger(slog.New(proxy.DropParseErrors(a.log.Handler()))) })
}

// liveStatus keeps one status line (registrations, calls, relayed packets
// each way) at the bottom of a terminal; events print above it.
type liveStatus struct {
	w    io.Writer
	mu   sync.Mutex
	line string
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

// above prints with print above the status line; without one (nil) it
// just prints.
func (l *liveStatus) above(print func()) {
	if l == nil {
		print()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprint(l.w, "\r\x1b[K")
	print()
	fmt.Fprint(l.w, "\r\x1b[K"+l.line)
}
