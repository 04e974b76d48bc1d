package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/report"
)

// A server behind a router advertises the router's public address. Given
// as a dynamic-DNS name, that address moves when the provider gives the
// router a new one, and the name follows only when the router's DDNS client
// updated it: natdoc resolves the name at start and every
// Options.AddrCheckInterval, asks the router (or STUN) for its public
// address, warns when the two differ, and puts the address media really
// reaches in SDP.

// Finding IDs about the main address (stable: scripts match on them).
const (
	// IDPublicAddrNotRouter: the main address does not point at the
	// router's public address; phones outside send to the wrong place.
	IDPublicAddrNotRouter report.FindingID = "public-addr-not-router"
	// IDPublicAddrChanged: the address in SDP changed while serving.
	IDPublicAddrChanged report.FindingID = "public-addr-changed"
)

// Timeouts of one address check, each a round trip on the LAN or to one
// STUN server.
const (
	// natpmpTimeout: go-nat-pmp retransmits from 250 ms (RFC 6886 §3.1);
	// a gateway one hop away answers well within 2 s or not at all.
	natpmpTimeout = 2 * time.Second
	// addrCheckTimeout bounds one whole check (DNS, router, STUN).
	addrCheckTimeout = 10 * time.Second
)

// DefaultAddrCheckInterval: dynamic-DNS names are published with TTLs of a
// minute to a few; checking every minute costs one DNS query and one
// question to the router.
const DefaultAddrCheckInterval = time.Minute

// addrSource is one way to learn the router's public address.
type addrSource struct {
	via string // how, for evidence: "UPnP GetExternalIPAddress", "NAT-PMP", "STUN 203.0.113.20:3478"
	ask func(ctx context.Context) (netip.Addr, error)
}

// upnpSource asks the IGD at location (no SSDP: the device is known).
func upnpSource(location string, o *Options) addrSource {
	return addrSource{via: "UPnP GetExternalIPAddress", ask: func(ctx context.Context) (netip.Addr, error) {
		d, err := igd.Discover(ctx, igd.Options{URL: location, SkipPMP: true, Log: o.Log})
		if err != nil {
			return netip.Addr{}, err
		}
		if g := d.Best(); g != nil && g.ExternalIP.IsValid() {
			return g.ExternalIP, nil
		}
		return netip.Addr{}, fmt.Errorf("upnp: %s gave no external address", location)
	}}
}

// natpmpSource asks a NAT-PMP gateway (RFC 6886 §3.2).
func natpmpSource(gw netip.Addr) addrSource {
	return addrSource{via: "NAT-PMP", ask: func(context.Context) (netip.Addr, error) {
		r, err := natpmp.NewClientWithTimeout(gw.AsSlice(), natpmpTimeout).GetExternalAddress()
		if err != nil {
			return netip.Addr{}, fmt.Errorf("nat-pmp %s: %w", gw, err)
		}
		return netip.AddrFrom4(r.ExternalIPAddress), nil
	}}
}

// stunSource asks a STUN server from a socket on local: the mapped address
// of any socket is the router's public address.
func stunSource(server netip.AddrPort, local netip.Addr) addrSource {
	return addrSource{via: "STUN " + server.String(), ask: func(ctx context.Context) (netip.Addr, error) {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			return netip.Addr{}, fmt.Errorf("stun: %w", err)
		}
		defer c.Close()
		m, err := sipcall.STUNMapped(ctx, c, server)
		return m.Addr(), err
	}}
}

// routerAddr asks the sources in order; the first answer wins.
func routerAddr(ctx context.Context, sources []addrSource) (netip.Addr, string, error) {
	var errs []error
	for _, s := range sources {
		a, err := s.ask(ctx)
		if err == nil && a.IsValid() && !a.IsUnspecified() {
			return a.Unmap(), s.via, nil
		}
		errs = append(errs, err)
	}
	return netip.Addr{}, "", fmt.Errorf("router's public address: %v", errs)
}

// addrDecision is what one check concluded.
type addrDecision struct {
	// Advertise is the IP SDP carries: the router's public address when
	// known and the main address is a name, else what the name resolves
	// to; a main address given as an IP is kept as given.
	Advertise netip.Addr
	// Mismatch: the main address does not point at the router.
	Mismatch bool
}

// decideAddr is the rule: resolved is what the main address (literal when
// given as an IP) resolves to, router the router's public address (invalid
// when unknown), current the IP in use.
func decideAddr(literal bool, resolved []netip.Addr, router, current netip.Addr) addrDecision {
	d := addrDecision{Advertise: current}
	switch {
	case literal && len(resolved) > 0:
		d.Advertise = resolved[0]
	case router.IsValid():
		d.Advertise = router
	case len(resolved) > 0 && !slices.Contains(resolved, current):
		d.Advertise = resolved[0]
	}
	d.Mismatch = router.IsValid() && len(resolved) > 0 && !slices.Contains(resolved, router)
	return d
}

// addrWatch re-checks the main address while the server runs.
type addrWatch struct {
	host    string // the main address as given
	literal bool
	sources []addrSource
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	notify  func(string)
	now     func() time.Time

	mu      sync.Mutex
	current netip.Addr
	via     string // which source gave the router's address last

	mismatch []string // one line per check that found one
	changes  []string // one line per change of the advertised address
}

// check runs one round and applies it to srv (nil at start).
func (w *addrWatch) check(ctx context.Context, srv *Server) addrDecision {
	ctx, cancel := context.WithTimeout(ctx, addrCheckTimeout)
	defer cancel()
	resolved, rerr := w.resolve(ctx, w.host)
	router, via, _ := routerAddr(ctx, w.sources)
	w.mu.Lock()
	defer w.mu.Unlock()
	d := decideAddr(w.literal, resolved, router, w.current)
	w.via = via
	at := w.now().Format("15:04:05")
	if d.Mismatch {
		line := fmt.Sprintf("%s: %s points at %s, the router's public address is %s (%s)", at, w.host, addrList(resolved), router, via)
		w.mismatch = append(w.mismatch, line)
		w.notify("warning: " + line)
	}
	if rerr != nil && !w.literal {
		w.notify(fmt.Sprintf("warning: %s: resolving %s: %v", at, w.host, rerr))
	}
	if d.Advertise.IsValid() && d.Advertise != w.current {
		if w.current.IsValid() {
			line := fmt.Sprintf("%s: %s -> %s", at, w.current, d.Advertise)
			w.changes = append(w.changes, line)
			w.notify("main address in SDP changed: " + line)
		}
		w.current = d.Advertise
		if srv != nil {
			srv.SetPublicIP(d.Advertise)
		}
	}
	return d
}

// findings reports what the checks saw.
func (w *addrWatch) findings() []report.Finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []report.Finding
	if len(w.mismatch) > 0 {
		out = append(out, report.Finding{ID: IDPublicAddrNotRouter, Severity: report.SeverityWarning,
			Title:    fmt.Sprintf("The main address %s does not point at the router's public address (%d of the checks)", w.host, len(w.mismatch)),
			Evidence: []report.Evidence{{Text: "checks that found a difference", Values: lines(w.mismatch)}},
			Remedy: "Phones outside send to the address the name resolves to. Update the dynamic-DNS name (the router's DDNS settings, or the DDNS client on this host) or give --public-addr the router's public address. " +
				"Meanwhile natdoc serve puts the router's address in SDP when --public-addr is a name."})
	}
	if len(w.changes) > 0 {
		out = append(out, report.Finding{ID: IDPublicAddrChanged, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("The main address's IP in SDP changed %d times while serving", len(w.changes)),
			Evidence: []report.Evidence{{Text: "changes", Values: lines(w.changes)}}})
	}
	return out
}

func lines(ss []string) []report.KeyValue {
	out := make([]report.KeyValue, len(ss))
	for i, s := range ss {
		out[i] = report.KeyValue{Key: fmt.Sprint(i + 1), Value: s}
	}
	return out
}

func addrList(as []netip.Addr) string {
	if len(as) == 0 {
		return "nothing"
	}
	return fmt.Sprint(as)
}
