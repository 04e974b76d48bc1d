package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/stun/v3"
)

// ICE (RFC 8445) finds a path for the media with connectivity checks:
// STUN Binding requests from each candidate to each of the far end's,
// answered by Binding success responses. A call that negotiated ICE and
// carries no media tells why in its checks: none answered (no candidate
// pair connected: a firewall, or no candidate the other side can reach),
// or answered with no media after them (the pair connected; with
// DTLS-SRTP the handshake that follows failed). natdoc counts the checks
// between each pair of addresses and reads them for such a stream.

const (
	// maxICEPairs bounds the address pairs followed at once.
	maxICEPairs = 4096
	// iceIdle: a pair without a check this long is forgotten at a sweep,
	// so memory follows the calls in progress. WebRTC's consent checks
	// (every 5 s) keep a live pair; a call judged more than this after
	// its last check (a failed call is usually hung up long before) is
	// judged without its checks.
	iceIdle = 2 * time.Minute
)

// icePair is a check's direction: from a candidate to one of the far end's.
type icePair struct{ from, to netip.AddrPort }

type iceTally struct {
	requests, answers uint32
	// refused counts the error responses to the checks (role conflicts
	// aside, which the agents settle by switching roles); refusal is the
	// first one's code and reason ("401 Unauthorized").
	refused     uint32
	refusal     string
	first, last uint64 // frames of the first and last request
	lastAt      time.Time
	// ids are the last requests' transaction IDs, so an answer is matched
	// to a check and not to a STUN server's reply.
	ids [4][12]byte
}

// iceChecks counts the connectivity checks seen, per pair; mappings
// reads the capture's other Binding answers, a phone's STUN (stunmap.go).
type iceChecks struct {
	pairs    map[icePair]*iceTally
	full     bool
	mappings stunMappings
}

// observe counts pkt when it is a connectivity check or its answer, and
// says whether it was one.
func (c *iceChecks) observe(pkt *packet, sink anomalySink) bool {
	b := pkt.Payload
	if !stun.IsMessage(b) || int(binary.BigEndian.Uint16(b[2:4]))+20 != len(b) {
		return false
	}
	var id [12]byte
	copy(id[:], b[8:20])
	switch binary.BigEndian.Uint16(b[0:2]) {
	case stun.BindingRequest.Value():
		if !isConnectivityCheck(b[20:]) {
			return false
		}
		k := icePair{pkt.Src, pkt.Dst}
		t := c.pairs[k]
		if t == nil {
			if c.pairs == nil {
				c.pairs = map[icePair]*iceTally{}
			}
			if len(c.pairs) >= maxICEPairs {
				if !c.full {
					c.full = true
					sink.anomaly("ice-pairs-over-limit", pkt.Offset, pkt.Frame, "more than 4096 ICE candidate pairs checked at once: later checks are not counted")
				}
				return true
			}
			t = &iceTally{first: pkt.Frame}
			c.pairs[k] = t
		}
		t.ids[t.requests%uint32(len(t.ids))] = id
		t.requests++
		t.last, t.lastAt = pkt.Frame, pkt.Time
		return true
	case stun.BindingSuccess.Value():
		if t := c.pairs[icePair{pkt.Dst, pkt.Src}]; t != nil && t.sent(id) {
			t.answers++
			return true
		}
	case stun.BindingError.Value():
		// Matched by pair alone: some agents (Linphone's) refuse a check
		// with a transaction ID of their own.
		if t := c.pairs[icePair{pkt.Dst, pkt.Src}]; t != nil {
			code, reason := stunError(b)
			if code != stun.CodeRoleConflict {
				t.refused++
				if t.refusal == "" {
					t.refusal = strings.TrimSpace(fmt.Sprintf("%d %s", code, reason))
				}
			}
			return true
		}
	}
	return false
}

// sent says whether id is one of the pair's last checks'.
func (t *iceTally) sent(id [12]byte) bool {
	for _, sent := range t.ids {
		if sent == id {
			return true
		}
	}
	return false
}

// stunError reads a STUN error response's ERROR-CODE (RFC 8489 §14.8):
// its code and reason phrase, 0 when it has none that reads.
func stunError(b []byte) (stun.ErrorCode, string) {
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	var ec stun.ErrorCodeAttribute
	if m.Decode() != nil || ec.GetFrom(m) != nil {
		return 0, ""
	}
	return ec.Code, cleanComment(string(ec.Reason))
}

// isConnectivityCheck says whether a Binding request's attributes are a
// check's: PRIORITY or an ICE role, which a plain STUN request (a phone
// asking a server for its mapping) has not.
func isConnectivityCheck(attrs []byte) bool {
	for len(attrs) >= 4 {
		t, n := stun.AttrType(binary.BigEndian.Uint16(attrs[0:2])), int(binary.BigEndian.Uint16(attrs[2:4]))
		switch t {
		case stun.AttrPriority, stun.AttrICEControlled, stun.AttrICEControlling: // RFC 8445 §7.1.1
			return true
		}
		n = (n + 3) &^ 3
		if 4+n > len(attrs) {
			return false
		}
		attrs = attrs[4+n:]
	}
	return false
}

// prune forgets the pairs idle since before cutoff.
func (c *iceChecks) prune(cutoff time.Time) {
	for k, t := range c.pairs {
		if t.lastAt.Before(cutoff) {
			delete(c.pairs, k)
		}
	}
	c.full = c.full && len(c.pairs) >= maxICEPairs
}

// iceToward is what checks toward one party's addresses came to.
type iceToward struct {
	requests, answers uint32
	refused           uint32
	refusal           string // the first refusal's code and reason
	first, last       uint64
	pairs             []string // the first few, "from → to"
	// looped are the pairs whose checks went from an address to itself
	// (the far end's candidate is an address of the checking host too),
	// the first few; loopedRequests counts their checks.
	looped         []netip.AddrPort
	loopedRequests uint32
}

// toward sums the checks sent to any of addrs, and names the pairs.
func (c *iceChecks) toward(addrs []netip.AddrPort) (t iceToward) {
	for k, x := range c.pairs {
		if !contains(addrs, k.to) {
			continue
		}
		t.requests, t.answers, t.refused = t.requests+x.requests, t.answers+x.answers, t.refused+x.refused
		if t.refusal == "" {
			t.refusal = x.refusal
		}
		if k.from == k.to {
			t.loopedRequests += x.requests
			if len(t.looped) < 4 {
				t.looped = append(t.looped, k.to)
			}
		}
		if t.first == 0 || x.first < t.first {
			t.first = x.first
		}
		t.last = max(t.last, x.last)
		if len(t.pairs) < 4 {
			t.pairs = append(t.pairs, k.from.String()+" → "+k.to.String())
		}
	}
	return t
}

// iceFindings reads the checks toward each party of a stream both sides
// negotiated ICE on, for a direction whose media never arrived.
func (cb *callBuild) iceFindings(streams []*streamState, facts []StreamFacts, subject string, problem bool) []report.Finding {
	if cb.ice == nil || len(cb.ice.pairs) == 0 {
		return nil
	}
	var fs []report.Finding
	for i, st := range streams {
		if i >= len(facts) || !bothICE(st) {
			continue
		}
		f := facts[i]
		var t [2]iceToward // by the checking party
		for from := range 2 {
			t[from] = cb.ice.toward(receiveAddrs(st.latest[other(from)]))
		}
		for from := range 2 {
			if !f.Expected[from] || f.Delivered[from] > 0 || t[from].requests == 0 {
				continue
			}
			if t[from].answers > 0 && t[other(from)].requests > 0 && t[other(from)].answers == 0 {
				continue // the other direction's finding says it
			}
			if from == callee && t[caller].loopedOnly() && t[callee].loopedOnly() {
				continue // the same checks, from an address both list: said once
			}
			fs = append(fs, iceFinding(from, t, subject, problem))
		}
	}
	return fs
}

// bothICE: both parties' latest SDP for the stream negotiates ICE.
func bothICE(st *streamState) bool {
	return st.latest[caller] != nil && st.latest[callee] != nil && st.latest[caller].ICE && st.latest[callee].ICE
}

// iceSeen says whether the capture holds connectivity checks toward a
// party of a stream both sides negotiated ICE on: it sees the media path,
// even if no RTP ever took it.
func (cb *callBuild) iceSeen(streams []*streamState) bool {
	if cb.ice == nil || len(cb.ice.pairs) == 0 {
		return false
	}
	for _, st := range streams {
		if !bothICE(st) {
			continue
		}
		for p := range 2 {
			if cb.ice.toward(receiveAddrs(st.latest[p])).requests > 0 {
				return true
			}
		}
	}
	return false
}

// receiveAddrs are the addresses an m= line receives RTP at: c= and its
// RTP candidates.
func receiveAddrs(m *sdpMedia) []netip.AddrPort {
	addrs := make([]netip.AddrPort, 0, 1+len(m.Candidates))
	if m.Addr.IsValid() && !isHoldAddress(m.Addr) {
		addrs = append(addrs, m.Addr)
	}
	for _, c := range m.Candidates {
		if c.Component == 1 {
			addrs = append(addrs, c.Addr)
		}
	}
	return addrs
}

func iceFinding(from int, t [2]iceToward, subject string, problem bool) report.Finding {
	to := other(from)
	sev := report.SeverityWarning
	if problem {
		sev = report.SeverityError
	}
	x := t[from]
	ev := []report.Evidence{x.evidence(from)}
	if x.answers > 0 {
		return report.Finding{
			ID: IDICEConnectedNoMedia, Severity: sev, Subject: subject,
			Title:    fmt.Sprintf("ICE connected (the %s's checks were answered), yet no media from the %s followed", partyNames[from], partyNames[from]),
			Evidence: ev,
			Remedy: "The path works, so look at what follows the checks: with DTLS-SRTP, the handshake (a certificate whose fingerprint the SDP does not name, " +
				"a firewall that drops the larger UDP packets of the handshake); else a sender that never starts its media.",
		}
	}
	if x.refused > 0 {
		return iceRefusedFinding(from, x, sev, subject)
	}
	f := report.Finding{
		ID: IDICEChecksUnanswered, Severity: sev, Subject: subject,
		Title: fmt.Sprintf("The %s answered none of the %s's ICE connectivity checks: no candidate pair connected, so no media could flow",
			partyNames[to], partyNames[from]),
		Evidence: ev,
		Remedy: "Open UDP between the two ends' candidates on their firewalls, make sure the far end offers a candidate the near end can reach " +
			"(a public host, server-reflexive or relay candidate), or give both ends a TURN server so that a relay candidate always connects.",
	}
	if back := t[to]; back.answers > 0 {
		// The checks the other way were answered as the capture saw them:
		// what the near end sends gets through, what reaches the far end
		// does not.
		f.Title = fmt.Sprintf("The %s answered none of the %s's ICE connectivity checks, though its own checks were answered: "+
			"inbound UDP to the %s's media port is dropped past the capture point", partyNames[to], partyNames[from], partyNames[to])
		f.Evidence = append(f.Evidence, back.evidence(to))
		f.Remedy = "Let inbound UDP reach the " + partyNames[to] + "'s media ports: a firewall on it or in front of it drops what arrives, " +
			"including the answers to its own checks. Or give both ends a TURN server so that a relay candidate connects."
	}
	return f
}

// loopedOnly says whether every pair checked went from an address to
// itself: checks that count toward both parties, since both list it.
func (t iceToward) loopedOnly() bool {
	return t.requests > 0 && t.loopedRequests == t.requests
}

// evidence counts the checks party from sent toward the other's
// candidates, and how they were answered.
func (t iceToward) evidence(from int) report.Evidence {
	answered := fmt.Sprintf("%d answered", t.answers)
	if t.refused > 0 {
		answered += fmt.Sprintf(", %d refused (%s)", t.refused, t.refusal)
	}
	return report.Evidence{
		Text: fmt.Sprintf("%d checks from the %s toward the %s's candidates (%s), %s",
			t.requests, partyNames[from], partyNames[other(from)], strings.Join(t.pairs, ", "), answered),
		FrameRanges: []report.FrameRange{{First: t.first, Last: t.last}},
	}
}

// iceRefusedFinding: party from's checks were answered only with errors.
// An ICE agent answers a check whose credentials are not its own with 401
// (RFC 8445 §7.3, RFC 8489 §9.2.4): the check reached another agent than
// the one whose SDP named the candidate. The commonest cause is an
// address both hosts have (a VirtualBox host-only adapter's 192.168.56.1,
// Docker's 172.17.0.1, a VPN's), whose checks loop back to the sender; an
// SBC that rewrites the SDP's ICE credentials is the other.
func iceRefusedFinding(from int, x iceToward, sev report.Severity, subject string) report.Finding {
	to := other(from)
	f := report.Finding{
		ID: IDICEChecksRefused, Severity: sev, Subject: subject,
		Title: fmt.Sprintf("The %s's ICE connectivity checks toward the %s were refused (%s), none answered: the candidate pairs checked did not connect",
			partyNames[from], partyNames[to], x.refusal),
		Evidence: []report.Evidence{x.evidence(from)},
		Remedy:   "Look at the far end's ICE agent: its error response says why it turns the checks down (RFC 8445 §7.3).",
	}
	if !strings.HasPrefix(x.refusal, "401 ") {
		return f
	}
	f.Title = fmt.Sprintf("The %s's ICE connectivity checks toward the %s were refused as unauthenticated (%s): they reached an ICE agent that does not hold the %s's credentials, "+
		"so the candidate pairs checked did not connect", partyNames[from], partyNames[to], x.refusal, partyNames[to])
	if len(x.looped) > 0 {
		names := make([]string, len(x.looped))
		for i, a := range x.looped {
			names[i] = a.String()
		}
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf(
			"the checks to %s went from that address to itself: the %s's candidate is an address the %s's own host has too, so they looped back and its own agent refused them",
			strings.Join(names, ", "), partyNames[to], partyNames[from])})
	}
	f.Remedy = "Keep addresses that several hosts share out of the ICE candidates: a virtual adapter's (VirtualBox's 192.168.56.1, Docker's 172.17.0.1) or a VPN's, " +
		"by disabling the adapter or the phone's use of it. Where an SBC or B2BUA rewrites the SDP, have it pass ice-ufrag and ice-pwd unchanged or terminate ICE itself."
	return f
}
