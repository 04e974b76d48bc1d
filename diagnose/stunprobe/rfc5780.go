package stunprobe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/internal/transact"
	"github.com/natdoc/natdoc/report"
)

// anySource accepts an answer from anywhere; the caller judges the source.
func anySource(arrival) error { return nil }

// mapping runs RFC 5780 §4.3 tests II and III (test I is the plain answer
// srv already gave to the main socket).
func (p *probe) mapping(ctx context.Context, main *socket, srv ServerResult, local netip.AddrPort) MappingResult {
	m := MappingResult{Test1: srv.Mapped}
	if srv.Mapped != local {
		sched := knownPath(srv.RTT)
		m.Test2 = p.mappedFrom(ctx, main, netip.AddrPortFrom(srv.Other.Addr(), srv.Addr.Port()), sched)
		if m.Test2.IsValid() && m.Test2 != m.Test1 {
			m.Test3 = p.mappedFrom(ctx, main, srv.Other, sched)
		}
	}
	m.Behaviour, m.Note = classifyMapping(local, m.Test1, m.Test2, m.Test3)
	return m
}

// mappedFrom asks dst for the mapped address; zero when it does not answer.
func (p *probe) mappedFrom(ctx context.Context, s *socket, dst netip.AddrPort, sched transact.Schedule) netip.AddrPort {
	sr := ServerResult{Addr: dst}
	p.ask(ctx, s, &sr, sched)
	return sr.Mapped
}

// filtering runs RFC 5780 §4.4 tests II (change IP and port) and III
// (change port) at the same time: both are sent to the primary address, so
// neither opens the filter for the other, and the wait for a silence is
// paid once. A silence counts only if a plain request is answered after it.
func (p *probe) filtering(ctx context.Context, main *socket, srv ServerResult) FilteringResult {
	var f FilteringResult
	var wg sync.WaitGroup
	wg.Go(func() {
		f.ChangeIPAndPort = p.changeTest(ctx, main, srv, ChangeRequest{ChangeIP: true, ChangePort: true})
	})
	wg.Go(func() { f.ChangePort = p.changeTest(ctx, main, srv, ChangeRequest{ChangePort: true}) })
	wg.Wait()
	if f.ChangeIPAndPort == OutcomeNoAnswer || f.ChangePort == OutcomeNoAnswer {
		control := ServerResult{Addr: srv.Addr}
		p.ask(ctx, main, &control, knownPath(srv.RTT))
		f.ControlAfter = control.Answered()
	}
	f.Behaviour, f.Note = classifyFiltering(f.ChangeIPAndPort, f.ChangePort, f.ControlAfter)
	return f
}

// changeTest sends one CHANGE-REQUEST and checks that the answer really
// came from the changed address: by the datagram's source and, when the
// server sends RESPONSE-ORIGIN, by that too (a one-address server can
// answer a CHANGE-REQUEST from its only address and fake an open filter).
func (p *probe) changeTest(ctx context.Context, s *socket, srv ServerResult, change ChangeRequest) Outcome {
	req, err := NewBindingRequest(change)
	if err != nil {
		return OutcomeError
	}
	ex, err := exchangeOn(ctx, s, nil, srv.Addr, req, negativePath(srv.RTT), anySource)
	if err != nil {
		if ctx.Err() != nil {
			return OutcomeNotRun
		}
		return OutcomeNoAnswer
	}
	r, err := responseFrom(ex.Arrival.Msg)
	if err != nil || !r.Success {
		p.anomalies.add("change-request-refused", fmt.Sprintf("%s answered CHANGE-REQUEST with %d %s %v", srv.Addr, r.ErrorCode, r.ErrorReason, err))
		return OutcomeError
	}
	if !changedAsAsked(srv.Addr, ex.Arrival.From, change) || (srv.Origin.IsValid() && r.Origin.IsValid() && !changedAsAsked(srv.Origin, r.Origin, change)) {
		p.anomalies.add("change-request-ignored", fmt.Sprintf("asked %s to change ip=%t port=%t; answer from %s, RESPONSE-ORIGIN %s", srv.Addr, change.ChangeIP, change.ChangePort, ex.Arrival.From, r.Origin))
		return OutcomeUnchanged
	}
	return OutcomeAnswered
}

// changedAsAsked reports whether got differs from primary exactly in the
// parts the CHANGE-REQUEST named (RFC 5780 §6.1).
func changedAsAsked(primary, got netip.AddrPort, c ChangeRequest) bool {
	ipChanged := got.Addr() != primary.Addr()
	portChanged := got.Port() != primary.Port()
	return ipChanged == c.ChangeIP && portChanged == c.ChangePort
}

// refusedFirst runs the test of RefusedFirstResult on a fresh socket, so
// that no earlier test has opened the filter toward the alternate address
// or mapped a port for it.
func (p *probe) refusedFirst(ctx context.Context, srv ServerResult) *RefusedFirstResult {
	r := &RefusedFirstResult{Other: srv.Other}
	s, err := p.open(netip.AddrPortFrom(p.unspecified(), 0))
	if err != nil {
		r.Note = err.Error()
		return r
	}
	defer s.Close()
	r.Local = netip.AddrPortFrom(p.localIP([]ServerResult{srv}), s.local.Port())
	r.Before = p.mappedFrom(ctx, s, srv.Addr, knownPath(srv.RTT))
	if !r.Before.IsValid() {
		r.Note = "the primary address did not answer the fresh socket"
		return r
	}
	switch p.changeTest(ctx, s, srv, ChangeRequest{ChangeIP: true, ChangePort: true}) {
	case OutcomeNoAnswer:
	case OutcomeAnswered:
		r.Note = "the filter let the alternate address in"
		return r
	default:
		r.Note = "the alternate address's answer could not be judged"
		return r
	}
	r.Refused = p.mappedFrom(ctx, s, srv.Addr, knownPath(srv.RTT)).IsValid()
	if !r.Refused {
		r.Note = "the primary address stopped answering: the silence may not be the filter's"
		return r
	}
	r.After = p.mappedFrom(ctx, s, srv.Other, knownPath(srv.RTT))
	if !r.After.IsValid() {
		r.Note = "the alternate address did not answer the fresh socket"
	}
	return r
}

// hairpinWaitNote explains an unknown hairpin result.
const hairpinNoNAT = "no NAT between this host and the server"

// hairpin runs RFC 5780 §4.5: a second local socket sends a Binding request
// to the main socket's public mapping; if the main socket receives it, the
// NAT loops LAN traffic back through its public address.
func (p *probe) hairpin(ctx context.Context, main *socket, srv ServerResult, local netip.AddrPort) HairpinResult {
	switch {
	case !srv.Answered():
		return HairpinResult{Note: "no server answered, so the public mapping is unknown"}
	case srv.Mapped == local:
		return HairpinResult{Note: hairpinNoNAT}
	}
	other, err := p.open(netip.AddrPortFrom(p.unspecified(), 0))
	if err != nil {
		return HairpinResult{Note: err.Error()}
	}
	defer other.Close()
	req, err := NewBindingRequest()
	if err != nil {
		return HairpinResult{Note: err.Error()}
	}
	ex, err := exchangeOn(ctx, main, other, srv.Mapped, req, negativePath(srv.RTT), anySource)
	switch {
	case err == nil && ex.Arrival.Msg.Type == stun.BindingRequest:
		return HairpinResult{Works: report.TriYes, From: ex.Arrival.From}
	case err == nil:
		return HairpinResult{Note: "an unexpected message came back through the public address"}
	case ctx.Err() != nil:
		return HairpinResult{Note: "cancelled"}
	case errors.Is(err, ErrTimeout):
		return HairpinResult{Works: report.TriNo}
	default:
		return HairpinResult{Note: err.Error()}
	}
}
