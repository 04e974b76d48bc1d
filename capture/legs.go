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

// callGroup is one call as reported: its legs in the order they started.
type callGroup struct {
	legs []*sipCall
}

// onHop says whether a message between a and b travels this leg's hop.
func (c *sipCall) onHop(a, b netip.Addr) bool {
	return (c.hop[0] == a && c.hop[1] == b) || (c.hop[0] == b && c.hop[1] == a)
}

// touches says whether a message between a and b has one end on this
// leg's hop.
func (c *sipCall) touches(a, b netip.Addr) bool {
	return c.hop[0] == a || c.hop[1] == a || c.hop[0] == b || c.hop[1] == b
}

// inSetup: the leg's INVITE (its latest, after a 401/407 challenge) has
// had no final response and no CANCEL yet.
func (c *sipCall) inSetup() bool {
	return !c.ByeSeen && c.setup.sent > 0 && c.setup.endedAt.IsZero()
}

// link files a new leg in the call it continues, or in a group of its own.
func (t *callTable) link(c *sipCall, m *sipInfo, at time.Time) {
	if up, role := t.upstreamOf(c, m, at); up != nil {
		c.upstream, c.linkRole, c.group = up, role, up.group
	} else {
		c.group = &callGroup{}
	}
	c.group.legs = append(c.group.legs, c)
}

// upstreamOf finds the leg a new INVITE continues. Same Call-ID: a proxy
// forwarding it onward (same tags) or an SBC keeping the Call-ID with
// tags of its own. A new Call-ID: a B2BUA's outbound leg, sent from the
// address a call still in setup arrived at, for the same user, shortly
// after; or one that names the other leg's Call-ID in a header.
func (t *callTable) upstreamOf(c *sipCall, m *sipInfo, at time.Time) (*sipCall, string) {
	var best *sipCall
	for _, o := range t.byID[m.CallID] {
		if o == c {
			continue
		}
		if best == nil || o.hop[1] == m.Src.Addr() {
			best = o
		}
	}
	if best != nil {
		if best.hasTag(m.FromTag) {
			return best, roleProxy
		}
		return best, roleB2BUA
	}
	var link *sipCall
	consider := func(o *sipCall) {
		if o != c && o.group != nil && at.Sub(o.Start) <= b2buaLinkWindow && o.inSetup() && b2buaLinks(o, m) && (link == nil || o.Seq > link.Seq) {
			link = o
		}
	}
	for _, u := range append([]string{m.ToUser, m.RURIUser, m.FromUser}, m.LinkUsers...) {
		for _, o := range t.links[linkKey{m.Src.Addr(), u}] {
			consider(o)
		}
	}
	for _, v := range m.LinkValues {
		for _, id := range linkTokens(v) {
			for _, o := range t.byID[id] {
				consider(o)
			}
		}
	}
	if link != nil {
		return link, roleB2BUA
	}
	return nil, ""
}

// linkKey indexes the calls a B2BUA's outbound leg may continue: the
// address the call's INVITE went to (the B2BUA) and one of its users.
// Scanning every call of the last b2buaLinkWindow instead cost a pass per
// INVITE, quadratic in a flood of calls that never end.
type linkKey struct {
	hop  netip.Addr
	user string
}

// maxLinkCandidates bounds the calls indexed under one key: a B2BUA
// rarely has more calls in setup for one user; a flood for one user keeps
// only the latest.
const maxLinkCandidates = 64

// indexLinks files a new leg under the keys b2buaLinks can match it by.
func (t *callTable) indexLinks(c *sipCall) {
	for _, k := range c.linkKeys() {
		list := append(t.links[k], c)
		if len(list) > maxLinkCandidates {
			list = append(list[:0], list[len(list)-maxLinkCandidates:]...)
		}
		t.links[k] = list
	}
}

// unindexLinks forgets a finished leg.
func (t *callTable) unindexLinks(c *sipCall) {
	for _, k := range c.linkKeys() {
		list := t.links[k]
		for i, x := range list {
			if x == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(t.links, k)
		} else {
			t.links[k] = list
		}
	}
}

// linkKeys are the distinct keys of c's users at the address its INVITE
// went to.
func (c *sipCall) linkKeys() []linkKey {
	var keys []linkKey
	for _, u := range []string{c.Callee.User, c.ruriUser, c.Caller.User} {
		k := linkKey{c.hop[1], u}
		if u != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// linkTokens are the candidate Call-IDs in a header value that names the
// other leg's Call-ID: the value, and its parts between separators.
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
// address o's INVITE went to and is for the same callee (To or
// Request-URI) or from the same caller (From, or the identities a B2BUA
// passes on: P-Asserted-Identity, Diversion, History-Info,
// Remote-Party-ID).
func b2buaLinks(o *sipCall, m *sipInfo) bool {
	for _, v := range m.LinkValues {
		if slices.Contains(linkTokens(v), o.CallID) {
			return true
		}
	}
	if o.hop[1] != m.Src.Addr() {
		return false
	}
	return anyEqual([]string{o.Callee.User, o.ruriUser}, append([]string{m.ToUser, m.RURIUser}, m.LinkUsers...)) ||
		anyEqual([]string{o.Caller.User}, append([]string{m.FromUser}, m.LinkUsers...))
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
