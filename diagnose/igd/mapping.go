package igd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// pmpDefaultLease is what natdoc asks NAT-PMP and PCP for when a request
// asks for a permanent mapping, which they do not have: RFC 6886 §3.3
// recommends 7200 s.
const pmpDefaultLease = 2 * time.Hour

// Description is what natdoc writes into every UPnP mapping, so users
// recognise them in the router's table, and what cleanup checks before it
// deletes anything.
const Description = "natdoc"

// Request is one port mapping natdoc asks for.
type Request struct {
	Proto        string // "UDP" or "TCP"
	ExternalPort uint16
	InternalPort uint16
	// Lease asked; 0 asks for a permanent mapping (UPnP only).
	Lease time.Duration
	// AnyPort lets the router choose the external port when it will not
	// give ExternalPort (UPnP IGDv2 AddAnyPortMapping, PCP without
	// PREFER_FAILURE; a NAT-PMP gateway always may).
	AnyPort bool
}

// Entry is one row of the router's table as read back.
type Entry struct {
	RemoteHost     string
	Proto          string
	ExternalPort   uint16
	InternalClient string
	InternalPort   uint16
	Enabled        bool
	Description    string
	Lease          time.Duration
}

// Mine reports whether e is a mapping natdoc made for client.
func (e Entry) Mine(client netip.Addr) bool {
	return e.Description == Description && e.InternalClient == client.String()
}

// mapping is one granted mapping, whatever protocol made it (the
// consumer-side interface over UPnP, NAT-PMP and PCP).
type mapping interface {
	Via() string
	External() netip.AddrPort
	Internal() netip.AddrPort
	GoodUntil() time.Time // zero: permanent
	Release(ctx context.Context) error
	// renew asks for the same mapping again (same external port), which
	// extends its lease.
	renew(ctx context.Context) error
}

// again asks mp for r once more at the external port it granted: a
// renewal, which restarts the lease.
func again(ctx context.Context, mp mapper, r Request, ext uint16) (time.Time, error) {
	r.ExternalPort, r.AnyPort = ext, false
	got, err := mp.add(ctx, r, JournalEntry{})
	if err != nil {
		return time.Time{}, err
	}
	return got.GoodUntil(), nil
}

// mapper adds mappings through one protocol.
type mapper interface {
	via() string
	// add asks for r and returns the mapping and what the router granted.
	// The journal entry is written by the caller before add is called;
	// entry carries the protocol's fields for it.
	journalFields(r Request) JournalEntry
	add(ctx context.Context, r Request, entry JournalEntry) (mapping, error)
	// uncertain returns a releasable mapping for r when add failed in a
	// way that may have created it anyway (timeout, Ctrl-C mid-request).
	uncertain(r Request) mapping
}

// --- UPnP ---

type upnpMapper struct {
	g      *Gateway
	client netip.Addr // our LAN address, the mapping's internal client
}

func (u *upnpMapper) via() string { return fmt.Sprintf("upnp-igd%d", u.g.Version()) }

func (u *upnpMapper) journalFields(r Request) JournalEntry {
	_, canPick := u.g.wan.(anyPortAdder)
	return JournalEntry{Via: "upnp", Location: u.g.Location, Service: u.g.wan.GetServiceClient().Service.ServiceType,
		Proto: upnpProtocol(r.Proto), ExternalPort: r.ExternalPort, InternalClient: u.client.String(), InternalPort: r.InternalPort,
		AnyPort: r.AnyPort && canPick}
}

func (u *upnpMapper) add(ctx context.Context, r Request, _ JournalEntry) (mapping, error) {
	lease := uint32(r.Lease / time.Second)
	ext, action := r.ExternalPort, "AddPortMapping"
	var err error
	if adder, ok := u.g.wan.(anyPortAdder); ok && r.AnyPort {
		action = "AddAnyPortMapping"
		ext, err = adder.AddAnyPortMappingCtx(ctx, "", r.ExternalPort, upnpProtocol(r.Proto), r.InternalPort, u.client.String(), true, Description, lease)
	} else {
		err = u.g.wan.AddPortMappingCtx(ctx, "", r.ExternalPort, upnpProtocol(r.Proto), r.InternalPort, u.client.String(), true, Description, lease)
	}
	if err = classify(action, err); err != nil {
		return nil, fmt.Errorf("upnp: add mapping %d/%s: %w", r.ExternalPort, upnpProtocol(r.Proto), err)
	}
	if ext == 0 {
		return nil, fmt.Errorf("upnp: add mapping %d/%s: %s granted port 0", r.ExternalPort, upnpProtocol(r.Proto), action)
	}
	m := u.uncertain(r).(*upnpMapping)
	m.ext, m.req = netip.AddrPortFrom(u.g.ExternalIP, ext), r
	if lease > 0 {
		m.until = time.Now().Add(r.Lease)
	}
	return m, nil
}

// anyPortAdder is IGDv2's WANIPConnection:2, which lets the router choose
// the external port.
type anyPortAdder interface {
	AddAnyPortMappingCtx(ctx context.Context, remoteHost string, externalPort uint16, protocol string, internalPort uint16, internalClient string, enabled bool, description string, leaseSeconds uint32) (uint16, error)
}

func (u *upnpMapper) uncertain(r Request) mapping {
	return &upnpMapping{u: u, wan: u.g.wan, ext: netip.AddrPortFrom(u.g.ExternalIP, r.ExternalPort),
		in: netip.AddrPortFrom(u.client, r.InternalPort), proto: upnpProtocol(r.Proto), version: u.g.Version(), req: r}
}

type upnpMapping struct {
	u       *upnpMapper
	wan     wanConnection
	ext, in netip.AddrPort
	proto   string
	until   time.Time
	version int
	req     Request
}

func (m *upnpMapping) renew(ctx context.Context) error {
	until, err := again(ctx, m.u, m.req, m.ext.Port())
	if err == nil {
		m.until = until
	}
	return err
}

func (m *upnpMapping) Via() string              { return fmt.Sprintf("upnp-igd%d", m.version) }
func (m *upnpMapping) External() netip.AddrPort { return m.ext }
func (m *upnpMapping) Internal() netip.AddrPort { return m.in }
func (m *upnpMapping) GoodUntil() time.Time     { return m.until }

// Release deletes the mapping, after checking it is still ours: a lease
// may have expired and another client taken the port.
func (m *upnpMapping) Release(ctx context.Context) error {
	return releaseUPnP(ctx, m.wan, m.proto, m.ext.Port(), m.in.Addr())
}

// errNotOurs: the port now holds another client's mapping; natdoc leaves it.
var errNotOurs = errors.New("mapping now belongs to someone else; left alone")

// errAlreadyGone: the router no longer holds the mapping.
var errAlreadyGone = errors.New("mapping already gone")

func releaseUPnP(ctx context.Context, wan wanConnection, proto string, port uint16, client netip.Addr) error {
	e, err := readBack(ctx, wan, proto, port)
	if err != nil {
		return fmt.Errorf("upnp: delete mapping %d/%s: %w", port, proto, err)
	}
	if e == nil {
		return errAlreadyGone // lease expired, router rebooted, or never made
	}
	if !e.Mine(client) {
		return fmt.Errorf("upnp: delete mapping %d/%s: %w (%s → %s:%d)", port, proto, errNotOurs, sanitize(e.Description, 40), e.InternalClient, e.InternalPort)
	}
	err = classify("DeletePortMapping", wan.DeletePortMappingCtx(ctx, "", port, proto))
	if c := ErrorCode(err); c == ErrNoSuchEntry || c == ErrPortMappingNotFound {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("upnp: delete mapping %d/%s: %w", port, proto, err)
	}
	return nil
}

// readBack asks the router for one mapping (GetSpecificPortMappingEntry);
// nil without error when the router has no such entry.
func readBack(ctx context.Context, wan wanConnection, proto string, port uint16) (*Entry, error) {
	ip, client, enabled, desc, lease, err := wan.GetSpecificPortMappingEntryCtx(ctx, "", port, upnpProtocol(proto))
	if err = classify("GetSpecificPortMappingEntry", err); err != nil {
		switch ErrorCode(err) {
		case ErrNoSuchEntry, ErrPortMappingNotFound:
			return nil, nil
		case ErrInvalidArgs:
			// Quirk: some routers answer 402 for an absent entry
			// (seen on miniupnpd-derived firmware; the spec says 714).
			return nil, nil
		}
		return nil, err
	}
	return &Entry{Proto: upnpProtocol(proto), ExternalPort: port, InternalClient: sanitize(client, 45), InternalPort: ip,
		Enabled: enabled, Description: sanitize(desc, 80), Lease: time.Duration(lease) * time.Second}, nil
}

// List reads the router's whole table (GetGenericPortMappingEntry from
// index 0). The end of the table is error 713; some routers answer 714,
// 402 or 501 there instead (quirk), so any UPnP error after entries ends
// the walk.
func List(ctx context.Context, g *Gateway) ([]Entry, error) {
	if !g.Usable() {
		return nil, errors.New("upnp: list: no usable IGD")
	}
	var out []Entry
	for i := 0; i < maxTableEntries; i++ {
		rh, ext, proto, ip, client, enabled, desc, lease, err := g.wan.GetGenericPortMappingEntryCtx(ctx, uint16(i))
		if err = classify("GetGenericPortMappingEntry", err); err != nil {
			if ErrorCode(err) != 0 {
				return out, nil
			}
			return out, fmt.Errorf("upnp: list entry %d: %w", i, err)
		}
		out = append(out, Entry{RemoteHost: sanitize(rh, 45), Proto: sanitize(strings.ToUpper(proto), 8), ExternalPort: ext,
			InternalClient: sanitize(client, 45), InternalPort: ip, Enabled: enabled, Description: sanitize(desc, 80),
			Lease: time.Duration(lease) * time.Second})
	}
	return out, nil
}

// --- NAT-PMP (RFC 6886) ---

type natpmpMapper struct {
	env netenv.Env
	gw  netip.Addr
}

func (n *natpmpMapper) via() string { return "nat-pmp" }

func (n *natpmpMapper) journalFields(r Request) JournalEntry {
	return JournalEntry{Via: "nat-pmp", Gateway: n.gw.String(), Proto: upnpProtocol(r.Proto),
		ExternalPort: r.ExternalPort, InternalPort: r.InternalPort}
}

func (n *natpmpMapper) add(_ context.Context, r Request, _ JournalEntry) (mapping, error) {
	lease := r.Lease
	if lease == 0 {
		lease = pmpDefaultLease // NAT-PMP has no permanent leases
	}
	var res *natpmp.AddPortMappingResult
	var ext *natpmp.GetExternalAddressResult
	err := n.env.Run(func() error {
		c := natpmp.NewClientWithTimeout(n.gw.AsSlice(), natpmpTimeout)
		var err error
		if res, err = c.AddPortMapping(strings.ToLower(r.Proto), int(r.InternalPort), int(r.ExternalPort), int(lease/time.Second)); err != nil {
			return asNATPMPError(err)
		}
		ext, _ = c.GetExternalAddress()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nat-pmp: add mapping %d/%s: %w", r.ExternalPort, r.Proto, err)
	}
	m := &pmpMapping{n: n, req: r, env: n.env, gw: n.gw, proto: r.Proto, in: r.InternalPort,
		until: time.Now().Add(time.Duration(res.PortMappingLifetimeInSeconds) * time.Second)}
	if ext != nil {
		m.ext = netip.AddrPortFrom(netip.AddrFrom4(ext.ExternalIPAddress), res.MappedExternalPort)
	} else {
		m.ext = netip.AddrPortFrom(netip.Addr{}, res.MappedExternalPort)
	}
	return m, nil
}

func (n *natpmpMapper) uncertain(r Request) mapping {
	return &pmpMapping{n: n, req: r, env: n.env, gw: n.gw, proto: r.Proto, in: r.InternalPort}
}

type pmpMapping struct {
	n     *natpmpMapper
	req   Request
	env   netenv.Env
	gw    netip.Addr
	proto string
	in    uint16
	ext   netip.AddrPort
	until time.Time
}

func (m *pmpMapping) Via() string              { return "nat-pmp" }
func (m *pmpMapping) External() netip.AddrPort { return m.ext }
func (m *pmpMapping) Internal() netip.AddrPort { return netip.AddrPortFrom(netip.Addr{}, m.in) }
func (m *pmpMapping) GoodUntil() time.Time     { return m.until }

func (m *pmpMapping) renew(ctx context.Context) error {
	until, err := again(ctx, m.n, m.req, m.ext.Port())
	if err == nil {
		m.until = until
	}
	return err
}

// Release sends a mapping request with lifetime 0 (RFC 6886 §3.4).
func (m *pmpMapping) Release(context.Context) error { return releaseNATPMP(m.env, m.gw, m.proto, m.in) }

func releaseNATPMP(env netenv.Env, gw netip.Addr, proto string, internalPort uint16) error {
	err := env.Run(func() error {
		_, err := natpmp.NewClientWithTimeout(gw.AsSlice(), natpmpTimeout).AddPortMapping(strings.ToLower(proto), int(internalPort), 0, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("nat-pmp: delete mapping of internal port %d/%s: %w", internalPort, proto, err)
	}
	return nil
}

// --- PCP (RFC 6887) ---

type pcpMapper struct {
	opt    *Options
	gw     netip.Addr
	client netip.Addr
	nonce  [12]byte
}

func (p *pcpMapper) via() string { return "pcp" }

func (p *pcpMapper) journalFields(r Request) JournalEntry {
	return JournalEntry{Via: "pcp", Gateway: p.gw.String(), Nonce: hex.EncodeToString(p.nonce[:]), Proto: upnpProtocol(r.Proto),
		ExternalPort: r.ExternalPort, InternalClient: p.client.String(), InternalPort: r.InternalPort}
}

func ianaProto(p string) uint8 {
	if strings.EqualFold(p, "TCP") {
		return 6
	}
	return 17
}

func (p *pcpMapper) add(ctx context.Context, r Request, _ JournalEntry) (mapping, error) {
	lease := r.Lease
	if lease == 0 {
		lease = pmpDefaultLease // PCP has no permanent mappings (§11.1)
	}
	req := &pcpMapRequest{Nonce: p.nonce, Protocol: ianaProto(r.Proto), InternalPort: r.InternalPort,
		SuggestedExt: netip.AddrPortFrom(netip.Addr{}, r.ExternalPort), Lifetime: uint32(lease / time.Second), Client: p.client,
		AnyPort: r.AnyPort}
	resp, err := pcpExchange(ctx, p.opt, p.gw, marshalPCPRequest(pcpOpMap, req.Lifetime, p.client, req), pcpOpMap, &p.nonce)
	if err == nil && resp.ResultCode != PCPSuccess {
		err = &PCPError{Code: int(resp.ResultCode)}
	}
	if err != nil {
		return nil, fmt.Errorf("pcp: add mapping %d/%s: %w", r.ExternalPort, r.Proto, err)
	}
	return &pcpMapping{p: p, req: r, proto: r.Proto, in: r.InternalPort, ext: resp.External,
		until: time.Now().Add(time.Duration(resp.Lifetime) * time.Second)}, nil
}

func (p *pcpMapper) uncertain(r Request) mapping {
	return &pcpMapping{p: p, req: r, proto: r.Proto, in: r.InternalPort}
}

type pcpMapping struct {
	p     *pcpMapper
	req   Request
	proto string
	in    uint16
	ext   netip.AddrPort
	until time.Time
}

func (m *pcpMapping) Via() string              { return "pcp" }
func (m *pcpMapping) External() netip.AddrPort { return m.ext }
func (m *pcpMapping) Internal() netip.AddrPort { return netip.AddrPortFrom(m.p.client, m.in) }
func (m *pcpMapping) GoodUntil() time.Time     { return m.until }
func (m *pcpMapping) renew(ctx context.Context) error {
	until, err := again(ctx, m.p, m.req, m.ext.Port())
	if err == nil {
		m.until = until
	}
	return err
}

func (m *pcpMapping) Release(ctx context.Context) error {
	return releasePCP(ctx, m.p.opt, m.p.gw, m.p.client, m.p.nonce, m.proto, m.in)
}

// releasePCP deletes a mapping: MAP with lifetime 0 and the same nonce
// (RFC 6887 §15).
func releasePCP(ctx context.Context, opt *Options, gw, client netip.Addr, nonce [12]byte, proto string, internalPort uint16) error {
	req := &pcpMapRequest{Nonce: nonce, Protocol: ianaProto(proto), InternalPort: internalPort, Client: client}
	resp, err := pcpExchange(ctx, opt, gw, marshalPCPRequest(pcpOpMap, 0, client, req), pcpOpMap, &nonce)
	if err == nil && resp.ResultCode != PCPSuccess {
		err = &PCPError{Code: int(resp.ResultCode)}
	}
	if err != nil {
		return fmt.Errorf("pcp: delete mapping of internal port %d/%s: %w", internalPort, proto, err)
	}
	return nil
}

// PCPError is a refusal by a PCP server (RFC 6887 §7.4 result code).
type PCPError struct{ Code int }

func (e *PCPError) Error() string {
	return fmt.Sprintf("PCP result %d (%s)", e.Code, pcpResultText(e.Code))
}
