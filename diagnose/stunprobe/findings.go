package stunprobe

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Stable finding IDs (scripts match on them).
const (
	IDNoUDP                report.FindingID = "no-udp"
	IDServerUnreachable    report.FindingID = "stun-server-unreachable"
	IDServersDisagree      report.FindingID = "stun-servers-disagree"
	IDFilteringRestrictive report.FindingID = "filtering-restrictive"
	IDPortNotPreserved     report.FindingID = "port-not-preserved"
	IDLifetimeShort        report.FindingID = "binding-lifetime-short"
	IDNoHairpin            report.FindingID = "no-hairpin"
	// IDRefusedFirstMoves: a packet the filter refused moved the mapping
	// the phone's own packet to that peer then got.
	IDRefusedFirstMoves report.FindingID = "mapping-moved-by-refused-peer"
)

// minSafeLifetime is RFC 4787 REQ-5: a NAT's UDP mapping timer must not
// expire in less than two minutes. Shorter ones drop idle phones.
const minSafeLifetime = 2 * time.Minute

// Findings derives the diagnosis from a probe result. Pure: no I/O.
func Findings(r *Result) []report.Finding {
	if r == nil {
		return nil
	}
	var out []report.Finding
	answered := answeredServers(r.Servers)
	if len(answered) == 0 {
		return append(out, noUDP(r))
	}
	for _, s := range r.Servers {
		if !s.Answered() {
			out = append(out, unreachable(s))
		}
	}
	out = append(out, mappingFindings(r)...)
	if f, ok := filteringRestrictive(r); ok {
		out = append(out, f)
	}
	if r.RefusedFirst.Moved() {
		out = append(out, refusedFirstMoves(r.RefusedFirst))
	}
	if f, ok := portNotPreserved(r); ok {
		out = append(out, f)
	}
	if f, ok := lifetimeShort(r.Lifetime); ok {
		out = append(out, f)
	}
	if r.Hairpin.Works == report.TriNo {
		out = append(out, noHairpin(r))
	}
	return out
}

func answeredServers(servers []ServerResult) []ServerResult {
	var out []ServerResult
	for _, s := range servers {
		if s.Answered() {
			out = append(out, s)
		}
	}
	return out
}

func serverEvidence(servers []ServerResult) []report.Evidence {
	var ev []report.Evidence
	for _, s := range servers {
		name := s.Server
		if s.Addr.IsValid() && s.Addr.String() != s.Server {
			name += " (" + s.Addr.String() + ")"
		}
		text := fmt.Sprintf("%s saw this host as %s", name, s.Mapped)
		if !s.Answered() {
			text = fmt.Sprintf("%s: %s", name, s.Err)
		}
		ev = append(ev, report.Evidence{Text: text, Addrs: nonZero(s.Addr, s.Mapped)})
	}
	return ev
}

func nonZero(addrs ...netip.AddrPort) []string {
	var out []string
	for _, a := range addrs {
		if a.IsValid() {
			out = append(out, a.String())
		}
	}
	return out
}

func noUDP(r *Result) report.Finding {
	f := report.Finding{
		ID:       IDNoUDP,
		Severity: report.SeverityError,
		Title:    "No STUN server answered over UDP: UDP looks blocked, so RTP audio cannot flow",
		Evidence: serverEvidence(r.Servers),
		Remedy: "Allow outbound UDP (at least to the SIP server and the RTP ports) on the firewall or router; " +
			"if the network forbids UDP, use SIP over TLS/TCP to a relay that carries media over TCP, or a VPN.",
	}
	if r.TCP != nil && r.TCP.Answered() {
		f.Evidence = append(f.Evidence, report.Evidence{
			Text:  fmt.Sprintf("the same server answered over TCP (mapped %s), so the network works and only UDP is blocked", r.TCP.Mapped),
			Addrs: nonZero(r.TCP.Addr, r.TCP.Mapped),
		})
	}
	return f
}

func unreachable(s ServerResult) report.Finding {
	return report.Finding{
		ID:       IDServerUnreachable,
		Severity: report.SeverityInfo,
		Title:    "STUN server " + s.Server + " did not answer; the other servers did",
		Subject:  s.Server,
		Evidence: []report.Evidence{{
			Text:   s.Err,
			Addrs:  nonZero(s.Addr),
			Values: []report.KeyValue{{Key: "sent", Value: fmt.Sprint(s.Sent)}},
		}},
		Remedy: "Nothing to change on this network; if a phone is configured with this STUN server, give it one that answers.",
	}
}

// mappingFindings judges whether STUN can work: RFC 5780 tests when a
// server supported them, else the comparison of servers asked from one
// socket (RFC 4787 §4.1 defines mapping per destination either way).
func mappingFindings(r *Result) []report.Finding {
	consistent := mappingConsistent(r.Servers)
	rfc := r.Mapping.Behaviour
	varies := rfc == report.BehaviourAddressDependent || rfc == report.BehaviourAddressAndPortDependent ||
		(rfc == report.BehaviourUnknown && consistent == report.TriNo)
	var out []report.Finding
	if varies {
		out = append(out, mappingVaries(r, consistent))
	}
	disagree := (rfc == report.BehaviourEndpointIndependent && consistent == report.TriNo) ||
		(varies && rfc != report.BehaviourUnknown && consistent == report.TriYes)
	if disagree {
		out = append(out, report.Finding{
			ID:       IDServersDisagree,
			Severity: report.SeverityWarning,
			Title: fmt.Sprintf("The RFC 5780 test says %s mapping, but the servers asked from one socket say the mapping is %s",
				rfc, map[report.Tri]string{report.TriYes: "the same for all", report.TriNo: "different per server"}[consistent]),
			Evidence: append(mappingTestEvidence(r), serverEvidence(answeredServers(r.Servers))...),
			Remedy: "Run natdoc stun again; if the results still disagree, one server sits behind another path or NAT " +
				"(or lies); trust the servers your phones and SIP provider use, and plan for the worse case: a relay (natdoc serve).",
		})
	}
	return out
}

func mappingVaries(r *Result, consistent report.Tri) report.Finding {
	title := "The NAT gives each destination its own public port (" + string(r.Mapping.Behaviour) + " mapping; RFC 3489: symmetric NAT)"
	ev := mappingTestEvidence(r)
	if r.Mapping.Behaviour == report.BehaviourUnknown || consistent == report.TriNo {
		if r.Mapping.Behaviour == report.BehaviourUnknown {
			title = "The NAT gave a different public address:port to each STUN server (RFC 3489: symmetric NAT)"
		}
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("one local socket %s asked every server", r.Local)})
		ev = append(ev, serverEvidence(answeredServers(r.Servers))...)
	}
	return report.Finding{
		ID:       report.IDMappingVaries,
		Severity: report.SeverityError,
		Title:    title,
		Evidence: ev,
		Remedy: "STUN will not fix one-way audio on this network: the address a phone learns by STUN is not the one " +
			"the other party's media reaches. Use a relay (natdoc serve), port forwarding of the SIP and RTP ports to the phone, or a VPN.",
	}
}

func mappingTestEvidence(r *Result) []report.Evidence {
	m := r.Mapping
	var ev []report.Evidence
	for _, t := range []struct {
		name   string
		mapped netip.AddrPort
	}{{"test I (primary address)", m.Test1}, {"test II (alternate IP, primary port)", m.Test2}, {"test III (alternate IP and port)", m.Test3}} {
		if t.mapped.IsValid() {
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("RFC 5780 mapping %s via %s: mapped %s", t.name, r.RFC5780, t.mapped), Addrs: []string{t.mapped.String()}})
		}
	}
	return ev
}

func filteringRestrictive(r *Result) (report.Finding, bool) {
	f := r.Filtering
	if f.Behaviour != report.BehaviourAddressDependent && f.Behaviour != report.BehaviourAddressAndPortDependent {
		return report.Finding{}, false
	}
	name := RFC3489Name(r.Mapping.Behaviour, f.Behaviour)
	title := "Inbound media gets through only after the phone has sent to that address (" + string(f.Behaviour) + " filtering"
	if name != "" {
		title += "; RFC 3489: " + name
	}
	title += ")"
	return report.Finding{
		ID:       IDFilteringRestrictive,
		Severity: report.SeverityInfo,
		Title:    title,
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("CHANGE-REQUEST (change IP and port) to %s: %s", r.RFC5780, f.ChangeIPAndPort)},
			{Text: fmt.Sprintf("CHANGE-REQUEST (change port) to %s: %s", r.RFC5780, f.ChangePort)},
			{Text: "a plain request after the silence was answered, so the silence was the NAT's filter"},
		},
		Remedy: "The far side must send media back to where the phone's media comes from (symmetric RTP, also called comedia " +
			"or latching), and the phone must send first; or forward the RTP ports to the phone.",
	}, true
}

// remedyRefusedFirst: what makes media arrive on a NAT that moves a
// mapping for a peer it refused first.
const remedyRefusedFirst = "Let the server, PBX or SBC send media to where the phone's media really comes from (symmetric RTP, comedia, " +
	"latching) or relay it (natdoc serve); or forward the RTP ports to the phone. STUN alone works here only for calls whose far end " +
	"sends nothing before the phone does: no early media (183 with ringback or announcements), no media the moment it answers."

func refusedFirstMoves(rf *RefusedFirstResult) report.Finding {
	return report.Finding{
		ID:       IDRefusedFirstMoves,
		Severity: report.SeverityWarning,
		Title: "The NAT gives a phone's media another port when the far end's media reaches it first: the address STUN found then gets " +
			"nothing, and the call is one-way (early media, or a far end that starts sending the moment it answers)",
		Evidence: []report.Evidence{
			{Text: fmt.Sprintf("from a fresh socket %s: the primary address saw it as %s", rf.Local, rf.Before), Addrs: nonZero(rf.Local, rf.Before)},
			{Text: fmt.Sprintf("a CHANGE-REQUEST made %s answer first: the NAT refused it (a plain request after it was answered)", rf.Other), Addrs: nonZero(rf.Other)},
			{Text: fmt.Sprintf("then the socket's own request to %s left the NAT as %s, not %s: the NAT keeps the port the refused packet came to for that peer", rf.Other, rf.After, rf.Before),
				Addrs: nonZero(rf.After)},
		},
		Remedy: remedyRefusedFirst,
	}
}

func portNotPreserved(r *Result) (report.Finding, bool) {
	srv := firstAnswer(r.Servers)
	if r.Mapping.Behaviour == report.BehaviourNoNAT || portPreserved(r.Local, srv.Mapped) != report.TriNo {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDPortNotPreserved,
		Severity: report.SeverityInfo,
		Title:    fmt.Sprintf("The NAT changed the source port: local %d went out as %d", r.Local.Port(), srv.Mapped.Port()),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("local %s, public %s (from %s)", r.Local, srv.Mapped, srv.Server), Addrs: nonZero(r.Local, srv.Mapped)}},
		Remedy: "A phone that puts its public IP with its local port in SIP/SDP will be unreachable: let it learn the public port " +
			"(STUN, or rport per RFC 3581 on the server), or forward the same port number to the phone.",
	}, true
}

// KeepAlive is the longest interval between keep-alives (SIP OPTIONS or
// CRLF, re-REGISTER, RTP comfort noise) that keeps a mapping alive: half the
// shortest idle time it was seen to survive, for loss and clock slack.
func KeepAlive(l *LifetimeResult) time.Duration {
	if l == nil || (l.Min == 0 && l.Max == 0) {
		return 0
	}
	return max((l.Min / 2).Truncate(time.Second), time.Second)
}

func lifetimeShort(l *LifetimeResult) (report.Finding, bool) {
	if l == nil || l.Max == 0 || l.Max >= minSafeLifetime {
		return report.Finding{}, false
	}
	ev := []report.Evidence{{
		Text: "RFC 5780 §4.6: a fresh mapping left idle, then reached from the server via RESPONSE-PORT",
		Values: []report.KeyValue{
			{Key: "alive after", Value: l.Min.String()}, {Key: "gone after", Value: l.Max.String()},
		},
	}}
	for _, t := range l.Trials {
		state := "gone"
		if t.Alive {
			state = "alive"
		}
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("mapping idle %s: %s", t.Idle, state)})
	}
	return report.Finding{
		ID:       IDLifetimeShort,
		Severity: report.SeverityWarning,
		Title:    fmt.Sprintf("The NAT forgets an idle UDP mapping after %s to %s (RFC 4787 asks for at least 2 minutes)", l.Min, l.Max),
		Evidence: ev,
		Remedy: fmt.Sprintf("Make phones send keep-alives (SIP OPTIONS or CRLF) or re-REGISTER at least every %s, "+
			"or the phone becomes unreachable for incoming calls; raise the router's UDP timeout if it lets you.", KeepAlive(l)),
	}, true
}

func noHairpin(r *Result) report.Finding {
	return report.Finding{
		ID:       IDNoHairpin,
		Severity: report.SeverityWarning,
		Title:    "The NAT does not hairpin: a device on this LAN cannot reach another one through the public address",
		Evidence: []report.Evidence{{Text: fmt.Sprintf("a Binding request from a second local socket to this host's public mapping %s never arrived", firstAnswer(r.Servers).Mapped)}},
		Remedy: "Two phones on this LAN calling each other with STUN-learned public addresses will have no audio: " +
			"let the SIP server or relay (natdoc serve) carry their media, or keep them on private addresses for LAN calls.",
	}
}

// Verdict is the one-sentence answer shown first.
func Verdict(r *Result) string {
	if r == nil {
		return ""
	}
	answered := answeredServers(r.Servers)
	if len(answered) == 0 {
		return "No STUN server answered over UDP: UDP looks blocked, so VoIP media cannot flow from this network."
	}
	public := answered[0].Mapped
	switch b := r.Mapping.Behaviour; {
	case b == report.BehaviourNoNAT:
		return fmt.Sprintf("No NAT between this host and the internet: its public address is %s.", public)
	case b == report.BehaviourAddressDependent || b == report.BehaviourAddressAndPortDependent ||
		(b == report.BehaviourUnknown && mappingConsistent(r.Servers) == report.TriNo):
		return "STUN will not fix one-way audio on this network: the NAT gives every destination its own public port (symmetric NAT)."
	case b == report.BehaviourEndpointIndependent || mappingConsistent(r.Servers) == report.TriYes:
		v := fmt.Sprintf("STUN can work on this network: the NAT keeps one public address (%s) for a local port whatever the destination.", public)
		if r.RefusedFirst.Moved() {
			v = fmt.Sprintf("STUN works on this network only for calls whose far end does not send first: the NAT keeps one public address (%s) "+
				"for a local port whatever the destination, but gives it up for a peer whose packets it refused before the phone sent (early media).", public)
		}
		if _, short := lifetimeShort(r.Lifetime); short {
			v += fmt.Sprintf(" Phones must send keep-alives at least every %s.", KeepAlive(r.Lifetime))
		}
		return v
	default:
		return fmt.Sprintf("Public address %s; how the NAT maps other destinations could not be measured (ask two or more servers, or one with RFC 5780).", public)
	}
}
