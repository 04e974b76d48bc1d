package igd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// Options are the knobs and test seams of every operation. The zero value
// searches with SSDP from the host's own sockets.
type Options struct {
	// URL is a known root description URL; when set, no SSDP is sent.
	URL string
	// Interface restricts the SSDP search to one interface by name.
	Interface string
	// Gateway is where NAT-PMP and PCP are asked; default: the host of the
	// chosen IGD.
	Gateway netip.Addr
	// SkipPMP: do not probe NAT-PMP and PCP.
	SkipPMP bool

	// Env makes every socket (SSDP, HTTP, NAT-PMP, PCP, STUN); tests
	// create them inside a network namespace. The zero value uses the
	// host's own network.
	Env netenv.Env
	// SSDPAddr overrides the multicast group, for tests on loopback.
	SSDPAddr netip.AddrPort
	// SearchTime is how long SSDP listens; default ssdpSearchTime.
	SearchTime time.Duration
	// Log receives progress; default discards.
	Log *slog.Logger

	pcpPort uint16 // test seam: the PCP server port (default 5351)
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// listenUDP opens an IPv4 socket on an ephemeral port.
func (o *Options) listenUDP() (*net.UDPConn, error) {
	return o.Env.ListenUDP("udp4", &net.UDPAddr{})
}

// Gateway is one IGD that answered, as natdoc saw it.
type Gateway struct {
	Location string
	// LocationAdvertised is the LOCATION the device sent when natdoc had
	// to repoint it at the device's own address (quirk).
	LocationAdvertised string
	Replier            netip.Addr // who answered the M-SEARCH (zero with --url)
	Server             string     // SSDP SERVER header

	FriendlyName string
	Manufacturer string
	ModelName    string
	ModelNumber  string
	DeviceType   string
	Services     []string // every service type in the description

	Service             string // WAN connection service used (short name)
	Connection          string // GetStatusInfo NewConnectionStatus
	LastConnectionError string
	ExternalIP          netip.Addr
	ExternalIPError     string
	// ExternalIPHidden: GetExternalIPAddress answered an empty or
	// all-zeros address. miniupnpd does so when its WAN address is
	// private or CGNAT ("private/reserved address ... is not suitable
	// for external IP", miniupnpd 2.3.1 upnpsoap.c), i.e. behind
	// another NAT; others do when the WAN is down.
	ExternalIPHidden bool
	// Err is why the device could not be used (description unreadable,
	// no WAN connection service).
	Err string

	wan   wanConnection
	host  netip.Addr // the IGD's address, from the URL we used
	local netip.Addr // our address on the connection to it
	env   netenv.Env // where to ask the kernel for another local address
}

// Version is 2 for a WANIPConnection:2 service, else 1.
func (g *Gateway) Version() int {
	if strings.HasSuffix(g.Service, "WANIPConnection:2") {
		return 2
	}
	return 1
}

// Usable reports whether natdoc can map ports through g.
func (g *Gateway) Usable() bool { return g.wan != nil }

// Discovery is what Discover found.
type Discovery struct {
	Gateways     []Gateway
	env          netenv.Env
	Chosen       int // index in Gateways, -1 when none is usable
	ChosenReason string
	// SSDPMalformed counts datagrams that were no valid M-SEARCH reply.
	SSDPMalformed int
	SSDPSent      bool
	NATPMP        PMPProbe
	PCP           PMPProbe
}

// PMPProbe is the answer of NAT-PMP or PCP at the gateway.
type PMPProbe struct {
	Tried      bool
	Answered   bool
	Gateway    netip.Addr
	ExternalIP netip.Addr // NAT-PMP only
	ResultCode int
	Err        string
}

// Best returns the chosen gateway or nil.
func (d *Discovery) Best() *Gateway {
	if d == nil || d.Chosen < 0 || d.Chosen >= len(d.Gateways) {
		return nil
	}
	return &d.Gateways[d.Chosen]
}

// Discover finds IGDs (SSDP, or opt.URL), reads each one's status and
// external address, chooses one, and probes NAT-PMP and PCP. No IGD is a
// result (Chosen -1), not an error; errors are for a search that could not
// run at all.
func Discover(ctx context.Context, opt Options) (*Discovery, error) {
	d := &Discovery{Chosen: -1, env: opt.Env}
	var locs []SSDPReply
	if opt.URL != "" {
		locs = []SSDPReply{{Location: opt.URL}}
	} else {
		replies, malformed, err := opt.ssdp(ctx)
		if err != nil {
			return nil, err
		}
		d.SSDPSent = true
		d.SSDPMalformed = malformed
		locs = replies
	}
	hc := opt.httpClient()
	for _, r := range locs {
		g := loadGateway(ctx, hc, r)
		g.env = opt.Env
		d.Gateways = append(d.Gateways, g)
	}
	d.Chosen, d.ChosenReason = chooseGateway(d.Gateways)
	if !opt.SkipPMP {
		gw := opt.Gateway
		if !gw.IsValid() && d.Best() != nil {
			gw = d.Best().host
		}
		if !gw.IsValid() && len(d.Gateways) > 0 {
			gw = d.Gateways[0].host
		}
		if gw.IsValid() {
			d.NATPMP = probeNATPMP(opt.Env, gw)
			d.PCP = probePCP(ctx, &opt, gw, d.localToward(gw))
		}
	}
	return d, ctx.Err()
}

// ssdp runs the M-SEARCH on a socket from opt.Env.
func (o *Options) ssdp(ctx context.Context) ([]SSDPReply, int, error) {
	conn, err := o.listenUDP()
	if err != nil {
		return nil, 0, fmt.Errorf("ssdp: listen: %w", err)
	}
	defer conn.Close()
	if o.Interface != "" {
		// The interface list is the network's: look it up there.
		if err := o.Env.Run(func() error { return setMulticastInterface(conn, o.Interface) }); err != nil {
			return nil, 0, fmt.Errorf("ssdp: interface %s: %w", o.Interface, err)
		}
	}
	dst := o.SSDPAddr
	if !dst.IsValid() {
		dst = ssdpGroup
	}
	wait := o.SearchTime
	if wait <= 0 {
		wait = ssdpSearchTime
	}
	return searchSSDP(ctx, conn, dst, wait)
}

// loadGateway reads one device: description, WAN service, status and
// external address. Failures are recorded in Gateway.Err.
func loadGateway(ctx context.Context, hc *http.Client, r SSDPReply) Gateway {
	g := Gateway{Location: r.Location, Replier: r.From.Addr(), Server: sanitize(r.Server, 120)}
	loc, err := url.Parse(r.Location)
	if err != nil {
		g.Err = fmt.Sprintf("bad LOCATION: %v", err)
		return g
	}
	if fixed, changed := repointLocation(loc, g.Replier); changed {
		g.LocationAdvertised, g.Location, loc = r.Location, fixed.String(), fixed
	}
	if a, err := netip.ParseAddr(loc.Hostname()); err == nil {
		g.host = a.Unmap()
	}
	root, local, err := fetchRootDeviceFrom(ctx, hc, loc)
	if err != nil {
		g.Err = err.Error()
		return g
	}
	g.local = local
	dev := root.Device
	g.FriendlyName, g.Manufacturer = sanitize(dev.FriendlyName, 80), sanitize(dev.Manufacturer, 80)
	g.ModelName, g.ModelNumber = sanitize(dev.ModelName, 80), sanitize(dev.ModelNumber, 40)
	g.DeviceType = sanitize(dev.DeviceType, 100)
	g.Services = serviceTypes(root)
	svcs := wanServices(root, loc, hc)
	if len(svcs) == 0 {
		g.Err = "no WANIPConnection or WANPPPConnection service"
		return g
	}
	g.wan = svcs[0]
	g.Service = shortService(svcs[0].GetServiceClient().Service.ServiceType)
	status, lastErr, _, err := svcs[0].GetStatusInfoCtx(ctx)
	if err == nil {
		g.Connection, g.LastConnectionError = sanitize(status, 40), sanitize(lastErr, 80)
	}
	ip, err := svcs[0].GetExternalIPAddressCtx(ctx)
	switch {
	case err != nil:
		g.ExternalIPError = classify("GetExternalIPAddress", err).Error()
	case strings.TrimSpace(ip) == "" || strings.TrimSpace(ip) == "0.0.0.0":
		g.ExternalIPHidden = true
	default:
		if a, perr := netip.ParseAddr(strings.TrimSpace(ip)); perr == nil {
			g.ExternalIP = a.Unmap()
		} else {
			g.ExternalIPError = fmt.Sprintf("GetExternalIPAddress: %.60q is no address", ip)
		}
	}
	return g
}

// chooseGateway picks the IGD to use when several answer: a usable one
// whose external address is public beats one with a private address,
// which beats one without. Connection status counts last, because some
// IGDs report "Disconnected" while forwarding fine (issue #4 quirk list;
// miniupnpd does so when it cannot classify its own WAN address).
func chooseGateway(gs []Gateway) (int, string) {
	best, bestScore := -1, -1
	for i, g := range gs {
		if !g.Usable() {
			continue
		}
		score := 0
		if g.ExternalIP.IsValid() && !g.ExternalIP.IsUnspecified() {
			score += 2
			if isPublic(g.ExternalIP) {
				score += 4
			}
		}
		if g.Connection == "Connected" || g.Connection == "Up" {
			score++
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return -1, ""
	}
	g := gs[best]
	var why []string
	usable := 0
	for _, x := range gs {
		if x.Usable() {
			usable++
		}
	}
	if usable == 1 {
		why = append(why, "the only usable IGD")
	} else {
		why = append(why, fmt.Sprintf("best of %d usable IGDs", usable))
	}
	switch {
	case g.ExternalIP.IsValid() && isPublic(g.ExternalIP):
		why = append(why, "public external address "+g.ExternalIP.String())
	case g.ExternalIP.IsValid():
		why = append(why, "external address "+g.ExternalIP.String()+" (not public)")
	default:
		why = append(why, "no external address")
	}
	if g.Connection != "" {
		why = append(why, "status "+g.Connection)
	}
	return best, strings.Join(why, ", ")
}

// isPublic reports whether a is a globally routable unicast address:
// not private (RFC 1918/4193), not shared CGNAT space (RFC 6598
// 100.64.0.0/10), not loopback or link-local.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// LocalAddrToward returns this host's address toward the IGD: the
// internal client natdoc maps to.
func LocalAddrToward(g *Gateway) netip.Addr {
	if g.local.IsValid() {
		return g.local
	}
	return localAddrToward(g.env, g.host)
}

// upnpAt is the chosen UPnP IGD when it is the device at gw, else nil.
func (d *Discovery) upnpAt(gw netip.Addr) *Gateway {
	if g := d.Best(); g != nil && g.host == gw {
		return g
	}
	return nil
}

// localToward is our address toward gw: the one seen on the HTTP
// connection to an IGD at that address, else the kernel's route choice.
func (d *Discovery) localToward(gw netip.Addr) netip.Addr {
	for i := range d.Gateways {
		if g := &d.Gateways[i]; g.host == gw && g.local.IsValid() {
			return g.local
		}
	}
	return localAddrToward(d.env, gw)
}
