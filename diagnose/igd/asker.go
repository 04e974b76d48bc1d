package igd

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// portAsker asks one session's router about single ports, for the search
// of the ranges its rules allow (the portProber of portSearch). It knows
// which ports natdoc must not ask for: those other mappings hold (their
// external ports, and the internal ports of this host's own), and those
// natdoc holds itself.
type portAsker struct {
	s     *Session
	proto string
	lease time.Duration
	// occupied: external ports of other mappings; ownInternal: internal
	// ports this host's other mappings use (a request for one would take
	// that mapping over); held: ports natdoc holds.
	occupied, ownInternal, held map[uint16]bool
	// restricted: the router's rules refused a port.
	restricted bool
	// noPick: the router found no port when asked to choose.
	noPick bool
}

func newPortAsker(ctx context.Context, s *Session, proto string, lease time.Duration) (*portAsker, error) {
	occupied, own, err := occupiedPorts(ctx, s, proto)
	if err != nil {
		return nil, err
	}
	return &portAsker{s: s, proto: proto, lease: lease, occupied: occupied, ownInternal: own, held: map[uint16]bool{}}, nil
}

// skip: a port natdoc must not ask for.
func (a *portAsker) skip(p uint16) bool { return a.occupied[p] || a.held[p] || a.ownInternal[p] }

// search runs portSearch with what is known so far.
func (a *portAsker) search(ctx context.Context, known map[uint16]portState) (ranges []PortRange, ps *portSearch) {
	ps = &portSearch{p: a, known: known, skip: a.skip}
	return ps.run(ctx), ps
}

// try is the search's exact question: map port, release it at once.
func (a *portAsker) try(ctx context.Context, port uint16) (portState, *MappingResult) {
	mr, m := a.probe(ctx, Request{Proto: a.proto, ExternalPort: port, InternalPort: port, Lease: a.lease})
	switch {
	case m != nil:
		return portAllowed, nil
	case mr.Refusal == RefusalPermission:
		a.restricted = true
		return portRefused, nil
	case mr.Refusal == RefusalPortTaken:
		return portTaken, nil
	}
	return portUnknown, &mr
}

// pick lets the router choose. AddAnyPortMapping may answer with a port
// this host already maps and take that mapping over (UPnP lets a client
// overwrite its own), so it is used only while natdoc holds nothing and
// this host has no other mapping. A router that finds no port for the
// request (UPnP 728, PCP NO_RESOURCES: its rules may bind the internal
// port too) is not asked to choose again; exact questions follow.
func (a *portAsker) pick(ctx context.Context, port uint16) (got uint16, ok, asked bool, end *MappingResult) {
	switch {
	case a.noPick || a.ownInternal[port]:
		return 0, false, false, nil
	case a.s.gateway != nil && (len(a.held) > 0 || len(a.ownInternal) > 0 || !canPickPort(a.s.gateway)):
		return 0, false, false, nil
	}
	mr, m := a.probe(ctx, Request{Proto: a.proto, ExternalPort: port, InternalPort: port, Lease: a.lease, AnyPort: true})
	switch {
	case m != nil:
		return m.External().Port(), true, true, nil
	case mr.Refusal == RefusalPermission, mr.Refusal == RefusalPortTaken, mr.Refusal == RefusalTableFull:
		a.noPick = mr.Refusal == RefusalTableFull
		return 0, false, true, nil
	}
	return 0, false, true, &mr
}

func (a *portAsker) walksUp() bool { return a.s.gateway == nil }

// probe asks for r and releases the mapping at once (it returns it
// released, nil when refused).
func (a *portAsker) probe(ctx context.Context, r Request) (MappingResult, mapping) {
	mr := MappingResult{Request: r, Via: a.s.Via()}
	m, err := a.s.Map(ctx, r)
	if err != nil {
		return refusalOf(ctx, a.s, r, err), nil
	}
	if rerr := a.s.Release(ctx, m); rerr != nil && !errors.Is(rerr, errAlreadyGone) {
		// Still held: Close tries again.
		a.s.note(fmt.Sprintf("could not release probe mapping %d at once: %v", m.External().Port(), rerr))
	}
	return mr, m
}

// canPickPort: the gateway's WAN service offers AddAnyPortMapping.
func canPickPort(g *Gateway) bool {
	_, ok := g.wan.(anyPortAdder)
	return ok
}

// occupiedPorts lists the external ports of proto already in a UPnP
// router's table, and the internal ports this host's other mappings use:
// re-adding one of our own host's mappings would silently overwrite it
// (miniupnpd does), and deleting it afterwards would destroy what the user
// had. A PCP or NAT-PMP session reads the table too when the router also
// speaks UPnP; without it natdoc cannot list.
func occupiedPorts(ctx context.Context, s *Session, proto string) (ext, ownInternal map[uint16]bool, err error) {
	ext, ownInternal = map[uint16]bool{}, map[uint16]bool{}
	g := s.gateway
	if g == nil {
		g = s.listGateway
	}
	if g == nil {
		return ext, ownInternal, nil
	}
	table, err := List(ctx, g)
	if err != nil {
		return nil, nil, fmt.Errorf("limits: read the table first: %w", err)
	}
	for _, e := range table {
		if e.Proto != proto {
			continue
		}
		ext[e.ExternalPort] = true
		if e.InternalClient == s.Client().String() {
			ownInternal[e.InternalPort] = true
		}
	}
	return ext, ownInternal, nil
}
