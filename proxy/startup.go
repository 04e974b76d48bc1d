package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/diagnose/hostinfo"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/report"
)

// What natdoc serve checks at start when it runs behind a router (a
// private --listen address, a public main address): whether the main
// address is the router's public address, and whether the router forwards
// the SIP port and the RTP range here.

// Names of the start-up checks in the report.
const (
	CheckRouterAddress = "router-address"
	CheckForwarding    = "port-forwarding"
)

// Finding IDs of the forwarding check (stable: scripts match on them).
const (
	// IDServePortNotForwarded: a port sent to the router's public address
	// from outside did not arrive here.
	IDServePortNotForwarded report.FindingID = "serve-port-not-forwarded"
	// IDServePortsForwarded: every port checked arrived.
	IDServePortsForwarded report.FindingID = "serve-ports-forwarded"
)

// maxMirrorPorts: a natdoc mirror calls back at most 8 ports per request.
const maxMirrorPorts = 8

// deployment is what the start-up checks learned about the network around
// the server.
type deployment struct {
	o     *Options
	rep   *report.Report
	fw    *upnpForward // --upnp, else nil
	watch *addrWatch   // nil: no main address to watch
}

// check resolves the main address, compares it with the router's public
// address, proves the forwarding where it can, and sets cfg.PublicIP to
// the address SDP carries.
func (d *deployment) check(ctx context.Context, cfg *Config) error {
	var mirrorSaw netip.Addr
	if d.o.MirrorCheck.IsValid() {
		mirrorSaw = d.mirrorCheck(ctx)
	}
	main := cfg.PublicAddr
	if main == "" {
		return nil
	}
	ip, err := netip.ParseAddr(main)
	d.watch = &addrWatch{host: main, literal: err == nil, resolve: d.o.resolver(), notify: d.o.Notify, now: time.Now}
	behind := d.behindRouter(ctx, ip)
	if behind {
		if !d.o.MirrorCheck.IsValid() {
			d.forwardingFromUPnP()
		}
		d.watch.sources = d.addrSources(ctx)
	}
	start := time.Now()
	dec := d.watch.check(ctx, nil)
	if behind {
		d.routerAddressCheck(start, dec, mirrorSaw)
	}
	if !dec.Advertise.IsValid() {
		return fmt.Errorf("resolve main address %q: no address", main)
	}
	cfg.PublicIP = dec.Advertise
	return nil
}

// behindRouter: the server listens on a private address and its main
// address is public (or a name, which the first check resolves).
func (d *deployment) behindRouter(ctx context.Context, mainIP netip.Addr) bool {
	if !d.o.Listen.Addr().IsPrivate() {
		return false
	}
	if mainIP.IsValid() {
		return isPublic(mainIP)
	}
	ips, err := d.watch.resolve(ctx, d.watch.host)
	return err == nil && len(ips) > 0 && isPublic(ips[0])
}

// addrSources lists the ways to learn the router's public address, best
// first: the router itself (UPnP IGD, then NAT-PMP), then STUN.
func (d *deployment) addrSources(ctx context.Context) []addrSource {
	var disc *igd.Discovery
	switch {
	case d.fw != nil:
		disc = d.fw.discovery
	case d.o.RouterCheck:
		// The default gateway is asked for NAT-PMP and PCP even when no
		// UPnP IGD answers the search.
		info, _ := hostinfo.Gather(ctx, netenv.Env{}, netip.AddrPort{})
		disc, _ = igd.Discover(ctx, igd.Options{Gateway: info.Gateway, Log: d.o.Log})
	}
	var out []addrSource
	if g := disc.Best(); g != nil && g.ExternalIP.IsValid() {
		out = append(out, upnpSource(g.Location, d.o))
	}
	if disc != nil && disc.NATPMP.Answered {
		out = append(out, natpmpSource(disc.NATPMP.Gateway))
	}
	if d.o.STUN.IsValid() {
		out = append(out, stunSource(d.o.STUN, d.o.Listen.Addr()))
	}
	return out
}

// routerAddressCheck records the first comparison of the main address with
// the router's public address (or the source address the mirror saw).
func (d *deployment) routerAddressCheck(start time.Time, dec addrDecision, mirrorSaw netip.Addr) {
	w := d.watch
	c := report.Check{Name: CheckRouterAddress, Took: time.Since(start).Round(time.Millisecond)}
	var via []string
	if w.via != "" {
		via = append(via, w.via)
	}
	switch {
	case len(w.mismatch) > 0:
		c.Status, c.Detail = report.CheckProblem, w.mismatch[0]
	case w.via == "" && !mirrorSaw.IsValid():
		c.Status, c.Detail = report.CheckNotRun, "nothing told the router's public address (no UPnP IGD, NAT-PMP or STUN server answered); give --stun HOST:PORT or --mirror-check HOST:PORT"
	case w.via == "" && dec.Advertise != mirrorSaw:
		c.Status, c.Detail = report.CheckProblem, fmt.Sprintf("the mirror saw this network as %s, the main address is %s", mirrorSaw, dec.Advertise)
		w.mismatch = append(w.mismatch, fmt.Sprintf("%s: %s points at %s, the mirror saw this network as %s", time.Now().Format("15:04:05"), w.host, dec.Advertise, mirrorSaw))
	default:
		c.Status, c.Detail = report.CheckPassed, fmt.Sprintf("%s is the router's public address (%s)", w.host, strings.Join(append(via, mirrorVia(mirrorSaw)...), ", "))
	}
	d.rep.Checks = append(d.rep.Checks, c)
}

func mirrorVia(saw netip.Addr) []string {
	if !saw.IsValid() {
		return nil
	}
	return []string{"the mirror saw " + saw.String()}
}

// forwardingFromUPnP records what --upnp forwarded, or that forwarding by
// hand was not checked.
func (d *deployment) forwardingFromUPnP() {
	c := report.Check{Name: CheckForwarding, Status: report.CheckNotRun,
		Detail: "forwarded by hand: natdoc cannot read the router's port-forwarding page; --mirror-check HOST:PORT (a natdoc mirror outside) proves it"}
	if f := d.fw; f != nil {
		c.Status = report.CheckPassed
		c.Detail = fmt.Sprintf("the router forwards %s via %s", strings.Join(f.mapped, ", "), f.fw.Via)
		if f.fw.Pairs < f.asked {
			c.Status = report.CheckProblem
			c.Detail += fmt.Sprintf("; %d of the %d RTP pairs asked for", f.fw.Pairs, f.asked)
		}
		if f.onDemand {
			c.Detail += "; more RTP pairs as calls need them"
		}
	}
	d.rep.Checks = append(d.rep.Checks, c)
}

// mirrorCheck proves with a natdoc mirror outside that the SIP port and a
// sample of the RTP range sent to this network's public address arrive
// here (the mirror's callbacks match no NAT binding, so only a forward lets
// them in). It returns this network's public address as the mirror saw it.
// It runs before serve takes the ports.
func (d *deployment) mirrorCheck(ctx context.Context) netip.Addr {
	start := time.Now()
	lo, hi := d.o.PortMin, d.o.PortMax
	if d.fw != nil && d.fw.onDemand {
		lo, hi = int(d.fw.fw.RTP.Lo), int(d.fw.fw.RTP.Hi) // the rest is forwarded as calls need it
	}
	res := forward.CheckForwardsViaMirror(ctx, d.o.MirrorCheck, d.forwardsToCheck(lo, hi), localEnv{d.o.Listen.Addr()})
	c := report.Check{Name: CheckForwarding, Took: time.Since(start).Round(time.Millisecond)}
	var reached, missing, other []string
	var public netip.Addr
	sipMissing := false
	for _, p := range res.Ports {
		if p.Public.IsValid() {
			public = p.Public.Addr()
		}
		switch p.Outcome {
		case forward.Reached:
			reached = append(reached, p.Forward().Name())
		case forward.NotReached:
			missing = append(missing, p.Forward().Name())
			sipMissing = sipMissing || p.Port == d.o.sipPublicPort()
		default:
			other = append(other, fmt.Sprintf("%s: %s %s", p.Forward().Name(), p.Outcome, p.Err))
		}
	}
	switch {
	case len(missing) > 0:
		c.Status, c.Detail = report.CheckProblem, "UDP "+strings.Join(missing, ", ")+" did not arrive"
		d.rep.Add(notForwardedFinding(d.o, missing, sipMissing, public))
	case len(reached) == 0:
		c.Status, c.Detail = report.CheckFailed, strings.Join(other, "; ")
	default:
		c.Status, c.Detail = report.CheckPassed, fmt.Sprintf("UDP %s sent by the mirror %s to %s arrived", strings.Join(reached, ", "), d.o.MirrorCheck, public)
		d.rep.Add(report.Finding{ID: IDServePortsForwarded, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("The router forwards UDP %s to this server (the mirror's packets to %s arrived)", strings.Join(reached, ", "), public),
			Evidence: []report.Evidence{{Text: "callbacks from " + d.o.MirrorCheck.String() + " from a port no NAT binding expects"}}})
	}
	d.rep.Checks = append(d.rep.Checks, c)
	return public
}

// forwardsToCheck are the SIP port, from the public port peers outside
// are given to the one it listens on here, and a sample of the RTP range
// lo-hi (forwardSample).
func (d *deployment) forwardsToCheck(lo, hi int) []forward.Forward {
	sip := int(d.o.Listen.Port())
	return forward.Forwards(forwardSample(sip, lo, hi), sip, d.o.sipPublicPort())
}

// sipPublicPort is the SIP port peers outside are given: --public-addr's
// port, else the one it listens on.
func (o *Options) sipPublicPort() int {
	if o.PublicPort != 0 {
		return int(o.PublicPort)
	}
	return int(o.Listen.Port())
}

func notForwardedFinding(o *Options, missing []string, sip bool, public netip.Addr) report.Finding {
	what := "part of the RTP range"
	if sip {
		what = "the SIP port"
	}
	return report.Finding{ID: IDServePortNotForwarded, Severity: report.SeverityError, Subject: "UDP " + strings.Join(missing, ","),
		Title: fmt.Sprintf("The router does not forward %s to this server: UDP %s sent to %s from outside did not arrive", what, strings.Join(missing, ", "), public),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("the mirror %s sent one packet to each port from a port no NAT binding expects", o.MirrorCheck),
			Values: []report.KeyValue{{Key: "not arrived", Value: strings.Join(missing, ", ")}}}},
		Remedy: forwardRemedy(o)}
}

// forwardRemedy says which forwards to make on the router: the SIP port
// (from its public port, when that differs) and the RTP range. --upnp
// maps a port only to itself, so it is offered only then.
func forwardRemedy(o *Options) string {
	if pub := o.sipPublicPort(); pub != int(o.Listen.Port()) {
		return fmt.Sprintf("In the router's port-forwarding (also called virtual server or NAT) page, forward UDP %d to %s and UDP %d-%d to %s.",
			pub, o.Listen, o.PortMin, o.PortMax, o.Listen.Addr())
	}
	return fmt.Sprintf("In the router's port-forwarding (also called virtual server or NAT) page, forward UDP %d and UDP %d-%d to %s, or run natdoc serve with --upnp.",
		o.Listen.Port(), o.PortMin, o.PortMax, o.Listen.Addr())
}

// forwardSample is the SIP port and, from the RTP range, its first RTP
// and RTCP ports, one in the middle and the last: forwards are ranges, so
// the ends and a middle port show one cut short.
func forwardSample(sip, lo, hi int) []int {
	var ports []int
	if sip != 0 {
		ports = append(ports, sip)
	}
	for _, p := range []int{lo, lo + 1, lo + (hi-lo)/2&^1, hi} {
		if lo > 0 && p >= lo && p <= hi && !slices.Contains(ports, p) && len(ports) < maxMirrorPorts {
			ports = append(ports, p)
		}
	}
	return ports
}

// localEnv makes the forwarding check's sockets on the server's address.
type localEnv struct{ ip netip.Addr }

func (e localEnv) ListenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	if laddr != nil && laddr.IP == nil {
		laddr = &net.UDPAddr{IP: e.ip.AsSlice(), Port: laddr.Port}
	}
	return netenv.Env{}.ListenUDP(network, laddr)
}
