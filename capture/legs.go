package capture

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// A call seen at a proxy, an SBC or a B2BUA appears in the capture as
// several legs (hops): the caller's INVITE to the proxy, the proxy's INVITE
// onward, and so on. Each leg is a sipCall with its own dialogs, SDP
// offer/answer and media; a callGroup gathers the legs of one call.

// Roles of the intermediary a leg starts or ends at.
const (
	roleProxy = "proxy" // kept the Call-ID and the caller's tag
	roleB2BUA = "b2bua" // new tags or a new Call-ID
)

// b2buaLinkWindow bounds how long after a call's INVITE a B2BUA's outbound
// leg may start and still be linked to it: a forward on no answer comes
// after 20-30 s of ringing.
const b2buaLinkWindow = time.Minute

// Linking a B2BUA's outbound leg sent from another address than the one
// the inbound INVITE went to (an SBC with an inside and an outside
// interface): without the shared address only a tight match is taken.
const (
	// multiHomedLinkWindow: a B2BUA sends its outbound INVITE within
	// milliseconds of the inbound one (routing, a database lookup).
	multiHomedLinkWindow = 2 * time.Second
	// multiHomedMaxScan bounds the calls looked at per new INVITE on a
	// busy trunk.
	multiHomedMaxScan = 256
)

// callGroup is one call as reported: its legs in the order they started.
type callGroup struct {
	legs []*sipCall
	// number names the call in the report (C1, C2, ...): calls are
	// numbered in the order their first INVITE appeared.
	number int
}

// onHop says whether a message between a and b travels this leg's hop.
func (c *sipCall) onHop(a, b netip.Addr) bool {
	h0, h1 := c.hop[0].Addr(), c.hop[1].Addr()
	return (h0 == a && h1 == b) || (h0 == b && h1 == a)
}

// sentBack says whether m goes the way opposite to the leg's first INVITE
// (from its callee's address to its caller's), which an initial INVITE
// of the same call does only as the next leg: a proxy sending the call on
// to a phone behind the caller's own NAT.
func (c *sipCall) sentBack(m *sipInfo) bool {
	h0, h1 := c.hop[0].Addr(), c.hop[1].Addr()
	return h0 != h1 && m.Src.Addr() == h1 && m.Dst.Addr() == h0 && m.Dst != c.hop[0]
}

// betweenHopPorts says whether m travels between the very addresses and
// ports of the leg's first INVITE, either way.
func (c *sipCall) betweenHopPorts(m *sipInfo) bool {
	return (m.Src == c.hop[0] && m.Dst == c.hop[1]) || (m.Src == c.hop[1] && m.Dst == c.hop[0])
}

// touches says whether a message between a and b has one end on this
// leg's hop.
func (c *sipCall) touches(a, b netip.Addr) bool {
	h0, h1 := c.hop[0].Addr(), c.hop[1].Addr()
	return h0 == a || h1 == a || h0 == b || h1 == b
}

// inSetup: the leg's INVITE (its latest, after a 401/407 challenge) has
// had no final response and no CANCEL yet.
func (c *sipCall) inSetup() bool {
	return !c.ByeSeen && c.setup.sent > 0 && c.setup.endedAt.IsZero()
}

// link files a new leg in the call it continues, or in a group of its own.
// HEP copies out of order can bring a leg's INVITE after the INVITE of a
// leg it leads to; then it goes before that leg, which continues it, so
// a call's legs and links do not depend on the order the copies came in.
func (t *callTable) link(c *sipCall, m *sipInfo, at time.Time) {
	if down := t.ledTo(c); down != nil {
		c.linkBefore(down)
		return
	}
	if up, role := t.upstreamOf(c, m, at); up != nil {
		c.upstream, c.linkRole, c.group = up, role, up.group
	} else {
		t.groups++
		c.group = &callGroup{number: t.groups}
	}
	c.group.legs = append(c.group.legs, c)
}

// upstreamOf finds the leg a new INVITE continues. Same Call-ID: a proxy
// forwarding it onward (same tags) or an SBC keeping the Call-ID with
// tags of its own. A new Call-ID: a B2BUA's outbound leg, sent from the
// address a call still in setup arrived at, for the same user, shortly
// after; or one that names the other leg's Call-ID in a header.
func (t *callTable) upstreamOf(c *sipCall, m *sipInfo, at time.Time) (*sipCall, string) {
	if best := c.continues(t.byID[m.CallID]); best != nil {
		return best, roleBetween(best, c)
	}
	// Without an X- header naming a Call-ID only a leg whose INVITE went to
	// the new INVITE's source can be linked: a busy trunk starts thousands
	// of calls in b2buaLinkWindow.
	candidates := t.byHop[m.Src.Addr()]
	if len(m.extras().LinkValues) > 0 {
		candidates = t.order
	}
	oldest := at.Add(-b2buaLinkWindow)
	for i := len(candidates) - 1; i >= 0; i-- {
		o := candidates[i]
		if o.Start.Before(oldest) {
			break
		}
		if o != c && o.group != nil && o.inSetup() && b2buaLinks(o, m) {
			return o, roleB2BUA
		}
	}
	if up := t.multiHomedUpstream(c, m, at); up != nil {
		return up, roleB2BUA
	}
	return nil, ""
}

// multiHomedUpstream finds the leg a new INVITE continues when the B2BUA
// sent it from another of its addresses: a leg still in setup whose
// INVITE came at most multiHomedLinkWindow before, for the same caller and
// the same callee, not from the new INVITE's own source (a caller trying
// again elsewhere) nor sent where the leg's went (another call to the same
// server), and only one call that fits, else none: two calls
// between the same users seconds apart cannot be told apart.
func (t *callTable) multiHomedUpstream(c *sipCall, m *sipInfo, at time.Time) *sipCall {
	var found *sipCall
	oldest := at.Add(-multiHomedLinkWindow)
	for i, n := len(t.order)-1, 0; i >= 0 && n < multiHomedMaxScan; i, n = i-1, n+1 {
		o := t.order[i]
		if o.Start.Before(oldest) {
			break
		}
		if o == c || o.group == nil || !o.inSetup() || o.hop[0].Addr() == m.Src.Addr() || o.setup.dst == m.Dst || !sameUsers(o, m) {
			continue
		}
		if found != nil && found.group != o.group {
			return nil
		}
		if found == nil {
			found = o // the group's latest leg: the one nearest the B2BUA
		}
	}
	return found
}

// sameUsers says whether the INVITE m is between the users of leg o: the
// same caller (From, or an identity the B2BUA passes on) and the same
// callee (To or Request-URI).
func sameUsers(o *sipCall, m *sipInfo) bool {
	return anyEqual([]string{o.Callee.User, o.ruriUser}, []string{m.ToUser, m.RURIUser}) &&
		anyEqual([]string{o.Caller.User}, append([]string{m.FromUser}, m.extras().LinkUsers...))
}

// continues picks, among legs of c's Call-ID, the one c continues: the
// last whose INVITE went where c's comes from, else the first.
func (c *sipCall) continues(legs []*sipCall) *sipCall {
	var best *sipCall
	for _, o := range legs {
		if o != c && o.CallID == c.CallID && (best == nil || o.hop[1].Addr() == c.hop[0].Addr()) {
			best = o
		}
	}
	return best
}

// roleBetween is what the intermediary between leg up and leg down is: a
// proxy keeps the caller's tag, a B2BUA does not.
func roleBetween(up, down *sipCall) string {
	if up.hasTag(down.FromTag) {
		return roleProxy
	}
	return roleB2BUA
}

// linkGuessed: the leg is its call's first, or continues a leg whose
// INVITE went elsewhere than where its own came from (the best guess when
// its true upstream was not seen yet).
func (c *sipCall) linkGuessed() bool {
	return c.upstream == nil || c.upstream.hop[1].Addr() != c.hop[0].Addr()
}

// precedes says whether the new leg c comes before o, a leg of its Call-ID
// whose link is a guess: not if o's INVITE went where c's comes from (c
// continues o); yes if c's went where o's came from. Else, through
// proxies (same tags), if c's INVITE has fewer Via headers, since a proxy
// adds one to a request it forwards (RFC 3261 §16.6 step 8); and when o
// is the call's first leg, if c's INVITE was sent first.
func (c *sipCall) precedes(o *sipCall) bool {
	if o == c || o.CallID != c.CallID || !o.linkGuessed() {
		return false
	}
	switch {
	case o.hop[1].Addr() == c.hop[0].Addr():
		return false
	case o.hop[0].Addr() == c.hop[1].Addr():
		return true
	case o.hasTag(c.FromTag):
		return c.vias > 0 && c.vias < o.vias
	}
	return o.upstream == nil && c.Start.Before(o.Start)
}

// ledTo is the first leg the new leg c precedes, if any.
func (t *callTable) ledTo(c *sipCall) *sipCall {
	for _, o := range t.byID[c.CallID] {
		if c.precedes(o) {
			return o
		}
	}
	return nil
}

// linkBefore files the new leg c in down's call just before down: it
// continues a leg before that (down's guess, when none fits), if any, and
// down, and the legs whose link was a guess and whose INVITE came from
// where c's went, continue c. The call's first leg gives the call its
// place in the report.
func (c *sipCall) linkBefore(down *sipCall) {
	g := down.group
	pos := slices.Index(g.legs, down)
	c.group = g
	if pos == 0 {
		c.Seq, down.Seq = down.Seq, c.Seq
	} else if up := c.continues(g.legs[:pos]); up != nil {
		c.upstream, c.linkRole = up, roleBetween(up, c)
	} else {
		c.upstream, c.linkRole = down.upstream, down.linkRole
	}
	g.legs = slices.Insert(g.legs, pos, c)
	for _, o := range g.legs[pos+1:] {
		if o == down || (o.CallID == c.CallID && o.hop[0].Addr() == c.hop[1].Addr() && o.linkGuessed()) {
			o.upstream, o.linkRole = c, roleBetween(c, o)
		}
	}
}

// linkTokens splits a header value that may name a Call-ID into the value
// and its parameters and words, so a Call-ID is matched whole, never as
// part of a longer one.
func linkTokens(v string) []string {
	out := []string{v}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool {
		return r == ';' || r == ',' || r == ' ' || r == '<' || r == '>' || r == '"' || r == '='
	}) {
		if f != v {
			out = append(out, f)
		}
	}
	return out
}

// b2buaLinks says whether m, a new INVITE with another Call-ID, continues
// the call o: it names o's Call-ID in an X- header, or it comes from the
// address o's INVITE went to, but not to the same address and port (on one
// host a caller's next call to the server comes from the server's
// address), and is for the same callee (To or
// Request-URI) or from the same caller (From, or the identities a B2BUA
// passes on: P-Asserted-Identity, Diversion, History-Info,
// Remote-Party-ID).
func b2buaLinks(o *sipCall, m *sipInfo) bool {
	for _, v := range m.extras().LinkValues {
		if slices.Contains(linkTokens(v), o.CallID) {
			return true
		}
	}
	if o.hop[1].Addr() != m.Src.Addr() || o.setup.dst == m.Dst {
		return false // a B2BUA does not send its outbound leg to where its inbound one came in
	}
	return anyEqual([]string{o.Callee.User, o.ruriUser}, append([]string{m.ToUser, m.RURIUser}, m.extras().LinkUsers...)) ||
		anyEqual([]string{o.Caller.User}, append([]string{m.FromUser}, m.extras().LinkUsers...))
}

// anyEqual says whether a non-empty string is in both lists.
func anyEqual(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x != "" && x == y {
				return true
			}
		}
	}
	return false
}
