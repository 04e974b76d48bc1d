package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Requests outside calls (OPTIONS keep-alives and qualify pings, NOTIFY
// for message waiting, MESSAGE, SUBSCRIBE) show whether one SIP party can
// still reach another between calls. A run of them that go unanswered
// while the other party sends nothing back is the mark of a phone that is
// gone, or of a NAT that closed the phone's mapping: Asterisk then calls
// the phone Unreachable and calls to it fail, though it registered and
// calls out well. natdoc follows, per (sender, receiver), each request's
// transaction until its response or Timer F (32 s), and the longest run
// of unanswered ones.

// pingStreak is the unanswered requests in a row, with nothing else from
// their receiver in between, that make a finding: one or two may be lost.
const pingStreak = 3

// maxPingPairs and maxPendingPings bound the pairs followed and the
// requests awaiting a response.
const (
	maxPingPairs    = 4096
	maxPendingPings = 10_000
)

// pingMethod: requests of this method are sent between calls, and a
// party that can be reached answers them.
func pingMethod(method string) bool {
	switch method {
	case "OPTIONS", "NOTIFY", "MESSAGE", "SUBSCRIBE":
		return true
	}
	return false
}

// pendingPing is a request not yet answered.
type pendingPing struct {
	pair  tcpKey // (sender, receiver)
	frame uint64
	at    time.Time
}

// pingRun is a run of unanswered requests from one party to another.
type pingRun struct {
	count                 int
	firstFrame, lastFrame uint64
	firstAt, lastAt       time.Time
	method                string
	// answeredBefore counts the requests answered before the run, the
	// last at frame lastAnswered; quietBefore is how long the receiver
	// had sent nothing to the sender when the run began (peerSpokeBefore:
	// it had sent something).
	answeredBefore  int
	lastAnswered    uint64
	quietBefore     time.Duration
	peerSpokeBefore bool
}

// pingPair is what one party's requests to another drew.
type pingPair struct {
	answered     int
	lastAnswered uint64
	lastFromPeer time.Time // the receiver's last SIP to the sender
	peerSpoke    bool
	run, longest pingRun
	runs         int // runs of pingStreak or more
}

// pings follows the requests outside calls (pings.go).
type pings struct {
	pending map[requestKey]pendingPing
	pairs   map[tcpKey]*pingPair
	dropped uint64
}

// sip takes one SIP message.
func (p *pings) sip(m *sipInfo, at time.Time) {
	if len(p.pairs) > 0 {
		if back := p.pairs[tcpKey{m.Dst, m.Src}]; back != nil {
			back.heardFromPeer(at)
		}
	}
	if !pingMethod(m.Method) {
		return
	}
	k := requestKey{m.CallID, m.CSeq, m.Method}
	if !m.Request {
		if q, ok := p.pending[k]; ok && q.pair == (tcpKey{m.Dst, m.Src}) {
			delete(p.pending, k)
			if pp := p.pairs[q.pair]; pp != nil {
				pp.answer(m.Frame)
			}
		}
		return
	}
	if _, resent := p.pending[k]; resent {
		return
	}
	pair := tcpKey{m.Src, m.Dst}
	if p.pairs[pair] == nil {
		if len(p.pairs) >= maxPingPairs || len(p.pending) >= maxPendingPings {
			p.dropped++
			return
		}
		if p.pairs == nil {
			p.pairs, p.pending = map[tcpKey]*pingPair{}, map[requestKey]pendingPing{}
		}
		p.pairs[pair] = &pingPair{}
	} else if len(p.pending) >= maxPendingPings {
		p.dropped++
		return
	}
	p.pending[k] = pendingPing{pair: pair, frame: m.Frame, at: at}
}

// heardFromPeer: the receiver sent the sender SIP: it can be reached, and
// a run of unanswered requests ends.
func (pp *pingPair) heardFromPeer(at time.Time) {
	pp.lastFromPeer, pp.peerSpoke = at, true
	pp.endRun()
}

func (pp *pingPair) answer(frame uint64) {
	pp.answered++
	pp.lastAnswered = frame
	pp.endRun()
}

// endRun closes the current run, keeping the longest.
func (pp *pingPair) endRun() {
	if pp.run.count >= pingStreak {
		pp.runs++
	}
	if pp.run.count > pp.longest.count {
		pp.longest = pp.run
	}
	pp.run = pingRun{}
}

// unanswered notes a request that Timer F ended without a response. One
// sent before the receiver last spoke does not count: the receiver was
// there after it.
func (pp *pingPair) unanswered(q pendingPing, method string) {
	if pp.peerSpoke && !q.at.After(pp.lastFromPeer) {
		return
	}
	r := &pp.run
	if r.count == 0 {
		*r = pingRun{firstFrame: q.frame, firstAt: q.at, answeredBefore: pp.answered, lastAnswered: pp.lastAnswered, peerSpokeBefore: pp.peerSpoke}
		if pp.peerSpoke {
			r.quietBefore = q.at.Sub(pp.lastFromPeer)
		}
	}
	r.count++
	r.lastFrame, r.lastAt, r.method = q.frame, q.at, method
}

// expire ends the transactions older than age at now (Timer F while the
// capture goes on; T2 at its end, when no response is to come any more),
// in the order they were sent: a run follows the capture's order.
func (p *pings) expire(now time.Time, age time.Duration) {
	type expired struct {
		q      pendingPing
		method string
	}
	var ended []expired
	for k, q := range p.pending {
		if now.Sub(q.at) >= age {
			delete(p.pending, k)
			ended = append(ended, expired{q, k.method})
		}
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i].q.frame < ended[j].q.frame })
	for _, e := range ended {
		if pp := p.pairs[e.q.pair]; pp != nil {
			pp.unanswered(e.q, e.method)
		}
	}
}

// findings are the runs of unanswered requests, one per (sender,
// receiver), at the end of the capture (end): the longest run of each
// pair whose receiver the capture saw send SIP back (else the capture
// may hold one direction only), and either answer such requests before
// or register there from (else it may ignore them: a carrier that
// answers calls, not OPTIONS).
func (p *pings) findings(end time.Time, regs *registrations, toPrivate *privateRequests, unreach *unreachables) []report.Finding {
	p.expire(end, resendsUnanswered) // a response comes in well under T2, or not at all
	type unreachablePeer struct {
		pair tcpKey
		reg  *registration // the phone's registration at the sender, if dst is where it registered from
		// filtered: dst is a phone's mapping in use that never registered
		// with the sender (another node): its NAT's address filter.
		filtered *registration
	}
	var peers []unreachablePeer
	for k, pp := range p.pairs {
		pp.endRun()
		if pp.longest.count < pingStreak || toPrivate.covers(k.Src, k.Dst) {
			continue
		}
		if g := regs.filteredFrom(k.Dst, k.Src, pp.longest.firstAt); g != nil && pp.longest.answeredBefore == 0 && !pp.peerSpoke {
			// The phone's SIP to its registrar shows the capture holds its
			// side; it never spoke to the sender, whose requests its NAT's
			// filter keeps out.
			peers = append(peers, unreachablePeer{pair: k, filtered: g})
			continue
		}
		if !pp.peerSpoke {
			continue
		}
		if reg := registeredAt(regs, k.Dst, k.Src); pp.longest.answeredBefore > 0 || reg != nil {
			peers = append(peers, unreachablePeer{pair: k, reg: reg})
		}
	}
	sort.Slice(peers, func(i, j int) bool {
		return p.pairs[peers[i].pair].longest.firstFrame < p.pairs[peers[j].pair].longest.firstFrame
	})
	fs := make([]report.Finding, 0, len(peers))
	for _, u := range peers {
		k := u.pair
		f := p.pairs[k].finding(k.Src, k.Dst, u.reg)
		if u.filtered != nil {
			f = p.pairs[k].filteredFinding(k.Src, k.Dst, u.filtered)
		}
		f.Evidence = appendUnreachable(f.Evidence, unreach.about(k.Src, k.Dst), k.Dst)
		fs = append(fs, f)
	}
	return fs
}

// filteredFinding says that src's requests to dst, the NAT mapping g
// registered from and still in use, never got in: g's REGISTERs go to
// another address, and a NAT that filters by address lets in only the
// addresses the phone has sent to (a qualify or keep-alive from another
// node of the service than the registrar).
func (pp *pingPair) filteredFinding(src, dst netip.AddrPort, g *registration) report.Finding {
	r := pp.longest
	return report.Finding{ID: IDSIPPeerUnreachable, Severity: report.SeverityWarning, Subject: g.aor, Remedy: remedyFilteredSource,
		Title: fmt.Sprintf("%s's %s requests to %s at %s went unanswered %d times in a row over %s", src.Addr(), r.method, g.aor, dst, r.count,
			roundWait(r.lastAt.Sub(r.firstAt))) + g.filteredText(src, r.firstAt, false),
		Evidence: []report.Evidence{{
			Text:   fmt.Sprintf("%s %s → %s unanswered %d times in a row", r.method, src, dst, r.count),
			Frames: uniqueFrames(r.firstFrame, r.lastFrame), Time: r.firstAt,
		}, g.registerEvidence()}}
}

// finding says that dst stopped answering src, and what that means when
// dst is where a phone registered from (reg); otherwise dst answered such
// requests before the run.
func (pp *pingPair) finding(src, dst netip.AddrPort, reg *registration) report.Finding {
	r := pp.longest
	over := roundWait(r.lastAt.Sub(r.firstAt))
	f := report.Finding{ID: IDSIPPeerUnreachable, Severity: report.SeverityWarning, Remedy: remedyUnanswered,
		Evidence: []report.Evidence{{
			Text:   fmt.Sprintf("%s %s → %s unanswered %d times in a row over %s, nothing from %s in between", r.method, src, dst, r.count, over, dst),
			Frames: uniqueFrames(r.firstFrame, r.lastFrame), Time: r.firstAt,
		}}}
	subject := dst.String()
	if reg != nil {
		subject = reg.aor + " at " + dst.String()
		f.Subject = reg.aor
		f.Remedy = remedyKeepAlive
	}
	f.Title = fmt.Sprintf("%s's %s requests to %s went unanswered %d times in a row over %s", src.Addr(), r.method, subject, r.count, over)
	if pp.runs > 1 {
		f.Title += fmt.Sprintf(" (the longest of %d such runs)", pp.runs)
	}
	if next := reg.movedOn(); next != nil { // regmove.go
		f.Title += fmt.Sprintf(", while %s sent nothing from there: its NAT had dropped the mapping %s registered from, as its next REGISTER, from %s, shows, so calls to %s went nowhere until then",
			reg.aor, reg.aor, next.src, reg.aor)
		f.Evidence = append(f.Evidence, reg.registerEvidence(), report.Evidence{Text: fmt.Sprintf("REGISTER from the new mapping %s", next.src),
			Frames: []uint64{next.firstSentFrame}, Addrs: []string{next.src.String()}})
	} else if reg != nil {
		f.Title += fmt.Sprintf(", while %s sent nothing: the phone is gone, or its NAT closed the mapping %s registered from, so calls to %s cannot reach it", reg.aor, reg.aor, reg.aor)
		f.Evidence = append(f.Evidence, reg.registerEvidence())
	} else {
		f.Title += fmt.Sprintf(", after %d answered: %s is gone, or a NAT or firewall between them stopped letting the requests in", r.answeredBefore, dst)
	}
	if r.answeredBefore > 0 {
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("before the run, %s answered %d of them, the last here", dst, r.answeredBefore), Frames: []uint64{r.lastAnswered}})
	}
	if reg != nil && r.peerSpokeBefore {
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s last sent %s SIP %s before the first unanswered request: a NAT closes a UDP mapping idle longer than its timeout (30 s to a few minutes on most routers)",
			dst, src.Addr(), roundWait(r.quietBefore))})
	}
	return f
}

// registeredAt is the registration of a phone from phone at registrar's
// host, if the capture holds one.
func registeredAt(regs *registrations, phone, registrar netip.AddrPort) *registration {
	if reg := regs.registeredFrom(phone); reg != nil && reg.registrar.Addr() == registrar.Addr() {
		return reg
	}
	return nil
}
