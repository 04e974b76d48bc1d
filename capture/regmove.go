package capture

import (
	"fmt"
	"net/netip"
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
// capture, on the registrar's side of the NAT, shows the phone's
// REGISTERs for one private Contact arriving from a new source, with
// nothing more from the old one: proof that the registration outlived
// the NAT's mapping, however short the silence before it was.

// regMove is a phone's binding taken over by a REGISTER from a new NAT
// mapping.
type regMove struct {
	from *registration
	// silence is how long the phone had sent nothing over the old
	// mapping when its REGISTER came from the new one; heardFrame its
	// last packet there.
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
	g.movedFrom = &regMove{from: prev, silence: at.Sub(prev.path.heardAt), heardFrame: prev.path.heardFrame}
	prev.movedTo = g
}

// movesByContact validates the moves of the capture's bindings and
// returns them by Contact, in the order of regs.
func movesByContact(regs []*registration) map[netip.AddrPort][]*registration {
	moved := map[netip.AddrPort][]*registration{}
	for _, g := range regs {
		mv := g.movedFrom
		if mv == nil || mv.from.path.heardAt.After(g.firstSentAt) {
			continue
		}
		mv.valid = true
		moved[g.contact] = append(moved[g.contact], g)
	}
	return moved
}

// remappedFinding is the registration-outlives-nat finding a capture
// proves: the phone's REGISTERs (moves, each the binding that took over)
// came from new NAT mappings.
func remappedFinding(moves []*registration) report.Finding {
	first := moves[0].movedFrom
	ports := []string{first.from.src.String()}
	shortest, longest := first.silence, first.silence
	sameAddr := false // a move kept the public address: a timeout, not a reconnect
	for _, g := range moves {
		ports = append(ports, g.src.String())
		shortest, longest = min(shortest, g.movedFrom.silence), max(longest, g.movedFrom.silence)
		sameAddr = sameAddr || g.src.Addr() == g.movedFrom.from.src.Addr()
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
		aor, silence, what, moves[0].src, first.from.src)
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
		Evidence: []report.Evidence{first.from.registerEvidence()}, Remedy: remedyKeepAlive}
	for _, g := range moves {
		mv := g.movedFrom
		f.Evidence = append(f.Evidence, report.Evidence{
			Text: fmt.Sprintf("nothing from %s after frame %d; %s later the phone's REGISTER came from %s", mv.from.src, mv.heardFrame,
				roundWait(mv.silence), g.src),
			Frames: []uint64{mv.heardFrame, g.firstSentFrame}, Addrs: []string{mv.from.src.String(), g.src.String()},
		})
		if d := mv.from.path.dark; d.count > 0 {
			f.Evidence = append(f.Evidence, report.Evidence{
				Text: fmt.Sprintf("%s %s → %s, the old mapping, sent %s after the phone's last packet from there: never answered",
					d.method, mv.from.registrar, mv.from.src, timesText(d.count)),
				Frames: uniqueFrames(d.first, d.last), Addrs: []string{mv.from.src.String()},
			})
		}
	}
	return f
}

// shortenPorts writes addresses after the first as ":port" when they keep
// the one before's address.
func shortenPorts(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a
		if i == 0 {
			continue
		}
		prev, err1 := netip.ParseAddrPort(addrs[i-1])
		cur, err2 := netip.ParseAddrPort(a)
		if err1 == nil && err2 == nil && prev.Addr() == cur.Addr() {
			out[i] = fmt.Sprintf(":%d", cur.Port())
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
