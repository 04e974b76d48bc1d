package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Requests a server sends from its public address to a private one (to the
// private Contact of a phone behind NAT: OPTIONS keep-alives, NOTIFY,
// MESSAGE, an in-dialog BYE) go nowhere. Those the capture shows without
// any response become one finding per destination, unless the capture was
// taken on the destination's side of its NAT (it saw that address send SIP
// out), where such a request shows it arrived. INVITEs that start a call
// are judged with their call (setupFinding).

// maxPendingRequests bounds the requests to private addresses followed at
// once.
const maxPendingRequests = 10_000

type requestKey struct {
	callID string
	cseq   uint32
	method string
}

// pendingRequest is a request from a public to a private address not yet
// answered.
type pendingRequest struct {
	method     string
	src, dst   netip.AddrPort
	firstFrame uint64
	lastFrame  uint64
	sent       int
	firstAt    time.Time
	lastAt     time.Time
}

// privateRequests follows the requests sent from public to private
// addresses until their response.
type privateRequests struct {
	pending map[requestKey]*pendingRequest
	dropped uint64
	// inside are the private addresses the capture saw send SIP to public
	// ones: it was taken on their side of the NAT, so a request to them
	// from outside came through it and arrived (a capture on the phone).
	inside map[netip.Addr]bool
	// routes are the private addresses INVITEs and their answers sent to
	// public addresses Record-Routed (a proxy behind NAT), by the first
	// message naming each: the requests of those calls go there by their
	// route set.
	routes map[netip.AddrPort]*routedBy
}

// maxInsideSenders bounds the private senders noted.
const maxInsideSenders = 4096

func (p *privateRequests) sip(m *sipInfo, at time.Time) {
	k := requestKey{m.CallID, m.CSeq, m.Method}
	if IsPrivate(m.Src.Addr()) && isPublic(m.Dst.Addr()) && !p.inside[m.Src.Addr()] && len(p.inside) < maxInsideSenders {
		if p.inside == nil {
			p.inside = map[netip.Addr]bool{}
		}
		p.inside[m.Src.Addr()] = true
	}
	p.route(m)
	if !m.Request {
		delete(p.pending, k) // answered
		return
	}
	if m.Method == "ACK" || (m.Method == "INVITE" && m.ToTag == "") || !isPublic(m.Src.Addr()) || !IsPrivate(m.Dst.Addr()) {
		return
	}
	if r := p.pending[k]; r != nil {
		r.sent++
		r.lastFrame, r.lastAt = m.Frame, at
		return
	}
	if p.pending == nil {
		p.pending = map[requestKey]*pendingRequest{}
	}
	if len(p.pending) >= maxPendingRequests {
		p.dropped++
		return
	}
	p.pending[k] = &pendingRequest{method: m.Method, src: m.Src, dst: m.Dst, firstFrame: m.Frame, lastFrame: m.Frame, sent: 1, firstAt: at, lastAt: at}
}

// routedBy are the first INVITE and the first 2xx that gave a public
// party a private first hop of its route set.
type routedBy struct {
	invite, answer routeMessage
}

// routeMessage is a message that gave a route set, and its receiver (0:
// none seen).
type routeMessage struct {
	frame uint64
	to    netip.Addr
}

// route notes the private first hop of the route set an INVITE or its
// 2xx sent to a public address gives its receiver (sipExtras.RouteHop).
func (p *privateRequests) route(m *sipInfo) {
	r := m.extras().RouteHop
	if !r.IsValid() || !IsPrivate(r.Addr()) || !isPublic(m.Dst.Addr()) {
		return
	}
	by := p.routes[r]
	if by == nil {
		if len(p.routes) >= maxInsideSenders {
			return
		}
		if p.routes == nil {
			p.routes = map[netip.AddrPort]*routedBy{}
		}
		by = &routedBy{}
		p.routes[r] = by
	}
	first := &by.answer
	if m.Request {
		first = &by.invite
	}
	if first.frame == 0 {
		*first = routeMessage{frame: m.Frame, to: m.Dst.Addr()}
	}
}

// findings lists, per private destination, the requests that got no
// response, with the REGISTER that put the address there when the capture
// holds it.
func (p *privateRequests) findings(regs *registrations) []report.Finding {
	byDst := map[netip.AddrPort][]*pendingRequest{}
	for _, r := range p.pending {
		if !p.inside[r.dst.Addr()] {
			byDst[r.dst] = append(byDst[r.dst], r)
		}
	}
	dsts := make([]netip.AddrPort, 0, len(byDst))
	for d, list := range byDst {
		sort.Slice(list, func(i, j int) bool { return list[i].firstFrame < list[j].firstFrame })
		dsts = append(dsts, d)
	}
	sort.Slice(dsts, func(i, j int) bool { return byDst[dsts[i]][0].firstFrame < byDst[dsts[j]][0].firstFrame })
	var fs []report.Finding
	for _, d := range dsts {
		list := byDst[d]
		first := list[0]
		f := report.Finding{
			ID: IDRequestToPrivate, Severity: report.SeverityError,
			Title: fmt.Sprintf("%d request(s) sent from the public address %s to the private address %s got no response: no one on the internet can reach it",
				len(list), first.src.Addr(), d),
			Remedy: remedyUnreachableContact,
		}
		for i, r := range list {
			if i == maxAnomalyRefs {
				break
			}
			f.Evidence = append(f.Evidence, report.Evidence{
				Text:   fmt.Sprintf("%s %s → %s sent %d time(s), never answered", r.method, r.src, r.dst, r.sent),
				Frames: uniqueFrames(r.firstFrame, r.lastFrame), Time: r.firstAt,
			})
		}
		if reg := regs.contactOwner(d); reg != nil {
			f.Evidence = append(f.Evidence, reg.registerEvidence())
		}
		if by := p.routes[d]; by != nil {
			f.Remedy = remedyRecordRoutePrivate
			f.Evidence = append(f.Evidence, by.evidence(d, first.src.Addr()))
		}
		fs = append(fs, f)
	}
	return fs
}

// evidence tells how requests from sender to d follow a route set: the
// one its INVITE gave the callee when the sender is that callee, else the
// one the 2xx gave the caller.
func (by *routedBy) evidence(d netip.AddrPort, sender netip.Addr) report.Evidence {
	if by.invite.frame != 0 && (by.invite.to == sender || by.answer.frame == 0) {
		return report.Evidence{
			Text: fmt.Sprintf("an INVITE to a public party Record-Routes %s first: the callee's requests of its call follow that route "+
				"(RFC 3261 §12.1.1; a proxy behind NAT that writes its own address on the side facing the callee, not its public one)", d),
			Frames: []uint64{by.invite.frame}, Addrs: []string{d.String()},
		}
	}
	return report.Evidence{
		Text: fmt.Sprintf("an answer Record-Routes %s to a public party: the requests of its call follow that route (a proxy behind NAT "+
			"that writes its own address, not its public one)", d),
		Frames: []uint64{by.answer.frame}, Addrs: []string{d.String()},
	}
}

// covers says whether a request from src to dst is one of these, which
// the request-to-private-address finding tells of: from a public address
// to a private one the capture was not taken behind.
func (p *privateRequests) covers(src, dst netip.AddrPort) bool {
	return isPublic(src.Addr()) && IsPrivate(dst.Addr()) && !p.inside[dst.Addr()]
}
