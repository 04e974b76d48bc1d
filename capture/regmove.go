package capture

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// A NAT that forgets the idle mapping of a phone's SIP port while the
// phone's registration still runs gives the phone's next REGISTER a new
// mapping, mostly on another public port (and on another address after a
// reconnect). Until that REGISTER the registrar sends the phone's calls
// to the old mapping, which leads nowhere: the router drops them or
// answers port unreachable, and the caller hears the call time out. The
// capture on the registrar's side of the NAT shows the phone's REGISTERs
// for one private Contact arriving from a new source, with nothing more
// from the old one; a capture on the phone's side shows the registrar's
// answers saying (Via received=, rport=) it saw them from a new port:
// proof that the registration outlived the NAT's mapping, however short
// the silence before it was.

// regMove is a phone's NAT giving its REGISTERs a new mapping while it
// was registered.
type regMove struct {
	// from is the binding whose REGISTERs came over the old mapping; old
	// and new are the mappings; oldFrame and frame show them: a REGISTER
	// from each, or (seenInAnswer) the registrar's answers that tell them.
	from            *registration
	old, new        netip.AddrPort
	oldFrame, frame uint64
	seenInAnswer    bool
	// silence is how long the phone had sent nothing when its REGISTER
	// came over the new mapping; heardFrame its last packet before.
	silence    time.Duration
	heardFrame uint64
	// valid: nothing came from the old mapping after the move (a second
	// phone sharing the Contact would go on), checked at the end.
	valid bool
}

// darkRequests are the requests sent to a phone's address since it last
// sent anything from there: into its mapping, if the NAT dropped it.
type darkRequests struct {
	count       int
	method      string
	first, last uint64
}

func (d *darkRequests) note(m *sipInfo) {
	if d.count == 0 {
		d.method, d.first = m.Method, m.Frame
	}
	d.count++
	d.last = m.Frame
}

// takeOver notes that g, a new binding, takes over prev, the binding of
// the same Contact from another source, as a phone's REGISTER from a new
// mapping of its NAT does: over UDP (a TCP phone's new connection is a
// new port anyway), a private Contact seen from public addresses, while
// prev was registered and nothing had come from it since.
func (g *registration) takeOver(prev *registration, m *sipInfo, at time.Time) {
	if prev == nil || prev.src == g.src || m.Transport != "UDP" || prev.transport != "UDP" ||
		!IsPrivate(g.contact.Addr()) || !isPublic(g.src.Addr()) || !isPublic(prev.src.Addr()) ||
		!prev.registeredAt(at) || !prev.path.heardAt.Before(at) {
		return
	}
	g.movedFrom = &regMove{from: prev, old: prev.src, new: g.src, oldFrame: prev.frame, frame: m.Frame, silence: at.Sub(prev.path.heardAt), heardFrame: prev.path.heardFrame}
	prev.movedTo = g
}

// remapped notes a 200 OK to g's REGISTER whose Via says the registrar saw
// it from another public port than the last (received=, rport=): over
// UDP, from one socket of the phone (g's source), while g was registered,
// the phone's NAT gave it a new mapping.
func (g *registration) remapped(m *sipInfo) {
	port, err := strconv.ParseUint(m.Via.RPort, 10, 16)
	ip, err2 := netip.ParseAddr(m.Via.Received)
	if err != nil || err2 != nil || !isPublic(ip) {
		return
	}
	seen := netip.AddrPortFrom(ip, uint16(port))
	if g.mapping.IsValid() && seen != g.mapping && g.transport == "UDP" && IsPrivate(g.contact.Addr()) && g.registeredAt(g.quietAt) {
		g.remaps = append(g.remaps, &regMove{from: g, old: g.mapping, new: seen, oldFrame: g.mappingFrame, frame: m.Frame, seenInAnswer: true,
			silence: g.quietFor, heardFrame: g.quietFrom, valid: true})
	}
	g.mapping, g.mappingFrame = seen, m.Frame
}

// movesByContact validates the moves of the capture's bindings and
// returns them by Contact, in the capture's order, each move of a mapping
// once (a phone's accounts move together).
func movesByContact(regs []*registration) map[netip.AddrPort][]*regMove {
	moved := map[netip.AddrPort][]*regMove{}
	for _, g := range regs {
		if mv := g.movedFrom; mv != nil && mv.from.movedOn() == g {
			mv.valid = true
			moved[g.contact] = append(moved[g.contact], mv)
		}
		moved[g.contact] = append(moved[g.contact], g.remaps...)
	}
	for contact, list := range moved {
		slices.SortFunc(list, func(a, b *regMove) int { return cmp.Compare(a.frame, b.frame) })
		moved[contact] = slices.CompactFunc(list, func(a, b *regMove) bool { return a.old == b.old && a.new == b.new })
	}
	return moved
}

// remappedFinding is the registration-outlives-nat finding a capture
// proves: the phone's REGISTERs came over new NAT mappings.
func remappedFinding(moves []*regMove) report.Finding {
	first := moves[0]
	ports := []netip.AddrPort{first.old}
	shortest, longest := first.silence, first.silence
	sameAddr := false // a move kept the public address: a timeout, not a reconnect
	for _, mv := range moves {
		ports = append(ports, mv.new)
		shortest, longest = min(shortest, mv.silence), max(longest, mv.silence)
		sameAddr = sameAddr || mv.new.Addr() == mv.old.Addr()
	}
	aor := first.from.aor
	what := "a new port"
	if !sameAddr {
		what = "a new public address"
	}
	silence := roundWait(shortest).String()
	if roundWait(longest) != roundWait(shortest) {
		silence += " to " + roundWait(longest).String()
	}
	title := fmt.Sprintf("%s's NAT dropped the mapping of its SIP port while the phone was registered: after %s of silence its next REGISTER came from %s, %s (before: %s)",
		aor, silence, what, first.new, first.old)
	if len(moves) > 1 {
		title = fmt.Sprintf("%s's NAT dropped the mapping of its SIP port %d times while the phone was registered: after each silence (%s) its next REGISTER came from %s (%s)",
			aor, len(moves), silence, what, strings.Join(shortenPorts(ports), ", then "))
	}
	title += ", so calls sent to the phone in between went into a mapping that was gone"
	if sameAddr {
		title += fmt.Sprintf("; the router forgets an idle UDP mapping in less than %s", roundWait(shortest))
	} else {
		title += "; the router's public address changed (a reconnect)"
	}
	f := report.Finding{ID: IDRegistrationOutlivesNAT, Severity: report.SeverityWarning, Subject: aor, Title: title,
		Evidence: []report.Evidence{{Text: fmt.Sprintf("REGISTER with Contact %s, seen by the registrar from %s", first.from.contactText(), first.old),
			Frames: []uint64{first.oldFrame}, Addrs: []string{first.from.contactText(), first.old.String()}}}, Remedy: remedyKeepAlive}
	for _, mv := range moves {
		f.Evidence = append(f.Evidence, mv.evidence()...)
	}
	return f
}

// evidence tells the move: the phone's silence, the REGISTER over the new
// mapping, and the requests sent into the old one.
func (mv *regMove) evidence() []report.Evidence {
	if mv.seenInAnswer {
		return []report.Evidence{{
			Text: fmt.Sprintf("nothing from the phone after frame %d; %s later the registrar saw its REGISTER come from %s, as its answer's Via says (received=, rport=)",
				mv.heardFrame, roundWait(mv.silence), mv.new),
			Frames: []uint64{mv.heardFrame, mv.frame}, Addrs: []string{mv.old.String(), mv.new.String()},
		}}
	}
	es := []report.Evidence{{
		Text:   fmt.Sprintf("nothing from %s after frame %d; %s later the phone's REGISTER came from %s", mv.old, mv.heardFrame, roundWait(mv.silence), mv.new),
		Frames: []uint64{mv.heardFrame, mv.frame}, Addrs: []string{mv.old.String(), mv.new.String()},
	}}
	if d := mv.from.path.dark; d.count > 0 {
		es = append(es, report.Evidence{
			Text: fmt.Sprintf("%s %s → %s, the old mapping, sent %s after the phone's last packet from there: never answered",
				d.method, mv.from.registrar, mv.old, timesText(d.count)),
			Frames: uniqueFrames(d.first, d.last), Addrs: []string{mv.old.String()},
		})
	}
	return es
}

// shortenPorts writes addresses after the first as ":port" when they keep
// the one before's address.
func shortenPorts(addrs []netip.AddrPort) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
		if i > 0 && addrs[i-1].Addr() == a.Addr() {
			out[i] = fmt.Sprintf(":%d", a.Port())
		}
	}
	return out
}

// timesText is "once" or "N times".
func timesText(n int) string {
	if n == 1 {
		return "once"
	}
	return strconv.Itoa(n) + " times"
}

// mappingOf returns the binding whose REGISTERs came from dst, a NAT's
// public mapping, over UDP, when a request sent there at t went into it
// after the phone had sent nothing from there for longer than NATs keep
// an idle mapping, or after its next REGISTER came from a new one, or
// (closed) the NAT answered it port unreachable (nil: none).
func (r *registrations) mappingOf(dst netip.AddrPort, t time.Time, closed bool) *registration {
	if r == nil {
		return nil
	}
	g := r.bySource[dst]
	if g == nil || g.transport != "UDP" || !g.behindNAT() || !g.path.heardAt.Before(t) {
		return nil
	}
	if g.movedOn() == nil && !closed && t.Sub(g.path.heardAt) <= natUDPTimeout {
		return nil
	}
	return g
}

// filteredFrom returns the binding whose REGISTERs came from dst, a NAT's
// public mapping over UDP, when a request sent there at t from src went
// into a mapping still in use (the phone had sent from it within the
// NAT's idle timeout, and did not move) but from an address none of the
// mapping's REGISTERs went to: a NAT that filters by address lets in only
// the addresses the phone has sent to, and a server cluster that sends
// from another node than the registrar meets that filter (nil: none).
func (r *registrations) filteredFrom(dst, src netip.AddrPort, t time.Time) *registration {
	if r == nil {
		return nil
	}
	g := r.bySource[dst]
	if g == nil || g.transport != "UDP" || !g.behindNAT() || g.movedOn() != nil {
		return nil
	}
	if heard := g.heardBefore(t); heard.IsZero() || t.Sub(heard) > natUDPTimeout { // idle: mappingOf's case
		return nil
	}
	for _, reg := range r.latest {
		if reg.src == dst && reg.registrar.Addr() == src.Addr() {
			return nil
		}
	}
	return g
}

// heardBefore is when the phone last sent from g's mapping before t, as
// far as the binding tells: its latest packet, or, when that came after
// t, the one before its latest REGISTER when that was before t (zero:
// unknown).
func (g *registration) heardBefore(t time.Time) time.Time {
	if !g.path.heardAt.After(t) {
		return g.path.heardAt
	}
	if prev := g.quietAt.Add(-g.quietFor); !g.quietAt.IsZero() && !g.quietAt.Before(t) && !prev.After(t) && g.quietFor > 0 {
		return prev
	}
	return time.Time{}
}

// filteredText says why a request from src to g's mapping, sent at t,
// went unanswered though the mapping was in use; closed: the NAT answered
// it port unreachable.
func (g *registration) filteredText(src netip.AddrPort, t time.Time, closed bool) string {
	text := fmt.Sprintf(": it is the NAT mapping %s registered from, in use (the phone had sent from there %s before), but its REGISTERs go to %s, not to %s, "+
		"the address this request came from", g.aor, roundWait(t.Sub(g.heardBefore(t))), g.registrar.Addr(), src.Addr())
	if closed {
		return text + "; its NAT refused it (port unreachable): a NAT that filters by address lets in only the addresses the phone has sent to"
	}
	return text + ": a NAT that filters by address (most do) lets in only the addresses the phone has sent to"
}

// movedOn returns the binding that took g over from a new NAT mapping, so
// far as the capture has shown: nothing came from g's since (nil: none).
func (g *registration) movedOn() *registration {
	if g == nil {
		return nil
	}
	if next := g.movedTo; next != nil && !g.path.heardAt.After(next.firstSentAt) {
		return next
	}
	return nil
}

// deadMappingText says why a request sent at t to g's mapping went
// unanswered; closed: the NAT answered it port unreachable.
func (g *registration) deadMappingText(t time.Time, closed bool) string {
	text := fmt.Sprintf(": it is the NAT mapping %s registered from, and the phone had sent nothing from there for %s", g.aor, roundWait(t.Sub(g.path.heardAt)))
	switch next := g.movedOn(); {
	case next != nil:
		return text + fmt.Sprintf("; its next REGISTER came from %s (frame %d): its NAT had dropped the mapping", next.src, next.firstSentFrame)
	case closed:
		return text + "; its NAT answered port unreachable: it had dropped the mapping"
	}
	return text + ", longer than NATs keep an idle UDP mapping (30 s to a few minutes): its NAT had most likely dropped it"
}
