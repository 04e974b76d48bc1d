package diagnose

import (
	"fmt"
	"strings"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// Remedy IDs.
const (
	RemedyAllowUDP       = "allow-udp"
	RemedyDisableALG     = "disable-sip-alg"
	RemedyServerAddress  = "server-main-address"
	RemedyFixDNS         = "fix-server-dns"
	RemedyBridgeOuter    = "fix-double-nat"
	RemedyForwardPorts   = "forward-ports"
	RemedySTUN           = "stun-on-phones"
	RemedyRelay          = "relay"
	RemedyUPnPLimit      = "upnp-limit"
	RemedyServerNAT      = "server-nat-handling"
	RemedyVPN            = "vpn"
	RemedyPublicIPv4     = "public-address"
	RemedyServerReachUDP = "server-reachable"
	RemedySIPOverTCP     = "sip-over-tcp-or-smaller-messages"
)

// remedy is a candidate with the phrase the verdict uses after "unless".
type remedy struct {
	report.Remedy
	unless string
}

// Remedies ranks what to change, most likely to fix this network first,
// with the findings each addresses. It is pure: the ranking is a fixed
// order of how certainly each remedy fixes the problem it answers (a rule
// that blocks all audio before one that needs the others; a change on this
// network before one that needs a server elsewhere).
func Remedies(r *Result, fs []report.Finding) []report.Remedy {
	ranked := rankRemedies(r, fs)
	out := make([]report.Remedy, len(ranked))
	for i, m := range ranked {
		out[i] = m.Remedy
	}
	return out
}

// remedyList collects remedies in rank order, each with the findings it
// fixes; one without findings is left out.
type remedyList struct {
	has map[report.FindingID]bool
	out []remedy
}

func (l *remedyList) present(ids ...report.FindingID) []report.FindingID {
	var out []report.FindingID
	for _, id := range ids {
		if l.has[id] {
			out = append(out, id)
		}
	}
	return out
}

func (l *remedyList) add(id, title, detail, unless string, fixes []report.FindingID) {
	if len(fixes) > 0 {
		l.out = append(l.out, remedy{report.Remedy{ID: id, Title: title, Detail: detail, Fixes: fixes}, unless})
	}
}

func rankRemedies(r *Result, fs []report.Finding) []remedy {
	l := &remedyList{has: map[report.FindingID]bool{}}
	for _, f := range fs {
		l.has[f.ID] = true
	}
	l.networkRemedies()
	l.mediaRemedies(r)
	return l.out
}

// networkRemedies: what must change before any media remedy can work.
func (l *remedyList) networkRemedies() {
	add, present := l.add, l.present
	add(RemedyAllowUDP, "Allow UDP through this network's firewall, or use a VPN",
		"SIP over UDP and every RTP packet need UDP; with UDP blocked no other remedy helps. A VPN that runs over TCP/443 carries calls through such networks.",
		"UDP is allowed (or calls run through a VPN)", present(stunprobe.IDNoUDP))
	add(RemedyDisableALG, "Disable the router's SIP ALG",
		"The ALG rewrites or drops SIP on its way out; phones and servers that handle NAT themselves then break. Look for \"SIP ALG\", \"SIP helper\" or \"SIP passthrough\" in the router's settings.",
		"the router's SIP ALG is disabled", present(IDSIPALG, IDSIPALGDrop))
	add(RemedyFixDNS, "Fix the SIP server's DNS name",
		"Phones outside reach the server only by an address that points at this network's public address: a working dynamic-DNS client, or a public record.",
		"the server's DNS name points at the current public address", present(IDDynDNSStale, IDServerDNSPrivate, IDServerUnresolved))
	add(RemedyServerReachUDP, "Make the SIP server reachable over UDP",
		"Check that the server runs and listens on its SIP port over UDP, and that the router in front of it forwards that port to it.",
		"the SIP server answers over UDP", present(IDServerNoAnswer))
	add(RemedyServerAddress, "Set the SIP server's main address to the public address or a dynamic-DNS name",
		"The server puts its address into Contact and SDP; behind NAT it must announce the public one (often \"external address\", \"externip\", \"NAT address\" or \"public IP\"), and its SIP and RTP ports must be forwarded.",
		"the SIP server's main address is set to the public address", present(IDServerPrivate))
	add(RemedyBridgeOuter, "Remove the second NAT: bridge mode on the outer router, or forward on both",
		"Port forwarding and UPnP on the inner router open nothing on the outer one.",
		"the outer router is put in bridge mode", present(igd.FindingDoubleNAT, IDCGNAT, igd.FindingExternalIPDiffers))
	add(RemedyPublicIPv4, "Ask the provider for a public IPv4 address",
		"Behind the provider's carrier-grade NAT nothing can be forwarded.", "the provider gives a public address", present(IDCGNAT))
}

// mediaRemedies: what makes the audio arrive, in the order that fits the
// NAT found.
func (l *remedyList) mediaRemedies(r *Result) {
	add, present, has := l.add, l.present, l.has
	rtp := "the RTP range"
	if r.RTPLow > 0 {
		rtp = fmt.Sprintf("the RTP range %d-%d", r.RTPLow, r.RTPHigh)
	}
	sip := fmt.Sprint(r.SIPPort)
	if pub := r.sipPublicPort(); pub != r.SIPPort {
		sip = fmt.Sprintf("%d (to %d)", pub, r.SIPPort)
	}
	forwardFixes := present(IDSIPPortNotForwarded, IDRTPNotForwarded, report.IDMappingVaries, igd.FindingMappingLimit, igd.FindingPortsRestricted, IDRTPPortMapping)
	forwardPorts := func() {
		add(RemedyForwardPorts, fmt.Sprintf("Forward UDP %s and %s to the phone or server", sip, rtp),
			"A static forward makes inbound SIP and audio arrive whatever the NAT does with mappings; each device needs its own ports.",
			fmt.Sprintf("UDP %s and %s are forwarded", sip, strings.TrimPrefix(rtp, "the RTP range ")), forwardFixes)
	}
	relay := func() {
		add(RemedyRelay, "Relay the media: natdoc serve on a public host, or the SIP server's media relay",
			"A relay on a public address receives both sides' audio and forwards it, so neither side needs a reachable address.",
			"media goes through a relay (natdoc serve, or the server's media relay)",
			present(report.IDMappingVaries, igd.FindingDoubleNAT, IDCGNAT, IDPublicMismatch, IDRTPNotForwarded, IDRTPPortMapping, stunprobe.IDRefusedFirstMoves))
	}
	// Forwarding found missing: forwarding is the fix. A NAT that maps
	// per destination, with forwarding not known to be missing: a relay
	// fixes it without touching the router (the seed's phones roam).
	if has[report.IDMappingVaries] && !has[IDSIPPortNotForwarded] && !has[IDRTPNotForwarded] {
		relay()
		forwardPorts()
	} else {
		forwardPorts()
	}
	serverNAT := func() {
		add(RemedyServerNAT, "Turn on the SIP server's NAT handling (rport, symmetric RTP)",
			"A server that answers to the source port and sends media where media comes from works with phones behind any NAT.",
			"the server's NAT handling is on", present(IDServerNoRport, stunprobe.IDRefusedFirstMoves))
	}
	// A NAT that gives up a phone's mapping for a peer it refused first:
	// STUN alone fails whenever the far end sends first, symmetric RTP
	// does not.
	refusedFirst := has[stunprobe.IDRefusedFirstMoves]
	if refusedFirst {
		serverNAT()
	}
	if natEndpointIndependent(r) {
		detail := "This NAT keeps one public address and port per phone socket whatever the destination, so the address a phone learns by STUN is the one the other side must use."
		if refusedFirst {
			detail += " Only while the phone sends its media first: when the far end's (early media) reaches this NAT first, the NAT moves the phone's media to another port."
		}
		add(RemedySTUN, "Configure STUN on the phones", detail, "STUN is configured on the phones", present(IDSTUNWillHelp))
	}
	if !refusedFirst {
		serverNAT()
	}
	add(RemedyUPnPLimit, upnpLimitTitle(r),
		"UPnP gives each call its RTP and RTCP ports; past the router's limit new calls get no mapping and no audio.",
		"ports are forwarded by hand beyond the router's UPnP limit", present(igd.FindingMappingLimit, igd.FindingPortsRestricted))
	if !(has[report.IDMappingVaries] && !has[IDSIPPortNotForwarded] && !has[IDRTPNotForwarded]) {
		relay()
	}
	add(RemedySIPOverTCP, "Send SIP over TCP, or keep SIP messages within one packet",
		"Something on the path drops IP fragments, so a SIP message over about 1,400 bytes never arrives over UDP. TCP segments big messages instead of fragmenting them (RFC 3261 §18.1.1 asks for TCP above 1,300 bytes); fewer codecs and no video keep an INVITE small; or the firewall or NAT can be set to pass fragments.",
		"SIP runs over TCP or its messages fit one packet", present(IDFragmentsDropped))
	add(RemedyVPN, "Use a VPN between the phones and the server",
		"Inside a VPN no NAT sits between phones and server; it defeats every NAT behaviour found here.",
		"calls run through a VPN", present(report.IDMappingVaries, IDCGNAT, igd.FindingDoubleNAT, IDPublicMismatch, IDSIPALGDrop))
}

func natEndpointIndependent(r *Result) bool {
	if r.NAT == nil || r.NAT.MappingConsistent == report.TriNo || rtpMapsPerDestination(r) {
		return false
	}
	return r.NAT.Mapping == report.BehaviourEndpointIndependent || (r.NAT.Mapping == report.BehaviourUnknown && r.NAT.MappingConsistent == report.TriYes)
}

func upnpLimitTitle(r *Result) string {
	if r.Router == nil || r.Router.Limit == nil {
		return "The router's UPnP mapping limit caps simultaneous calls: forward ports by hand beyond it"
	}
	l := r.Router.Limit
	if len(l.Allowed) > 0 && l.Accepted > 0 {
		return fmt.Sprintf("The router's UPnP rules allow only ports %s (%d mappings), so more than %d simultaneous calls, or RTP ports outside them, need manual forwarding",
			strings.Join(l.Allowed, ", "), l.Accepted, l.Calls)
	}
	if l.Accepted > 0 {
		calls := l.Calls
		if calls == 0 {
			calls = l.Accepted / 2 // RTP and RTCP per call
		}
		return fmt.Sprintf("The router's UPnP limit is %d mappings, so more than %d simultaneous calls need manual forwarding", l.Accepted, calls)
	}
	return "The router's UPnP rules refuse the ports calls need: forward them by hand"
}

// alternativeRemedies each fix media reachability on their own; the verdict
// joins two of them with "or". Others (disable the ALG, fix DNS) are needed
// besides, and are joined with "and".
var alternativeRemedies = map[string]bool{RemedyRelay: true, RemedyForwardPorts: true, RemedySTUN: true, RemedyServerNAT: true, RemedyVPN: true}

// lanOnly are problems of calls inside this network, not of calls with the
// internet, which the verdict is about; they still count for the exit code.
// An IGD's rewritten lease matters only to programs renewing mappings.
var lanOnly = map[report.FindingID]bool{stunprobe.IDNoHairpin: true, igd.FindingLeaseRewritten: true}

// Verdict is the one sentence shown first.
func Verdict(r *Result, fs []report.Finding) string {
	const lead = "Calls between this network and the internet: "
	ranked := rankRemedies(r, fs)
	has := func(id report.FindingID) bool {
		for _, f := range fs {
			if f.ID == id {
				return true
			}
		}
		return false
	}
	problems, onlyLimit, onlyFragments := false, true, true
	for _, f := range fs {
		if f.Severity.IsProblem() && !lanOnly[f.ID] {
			problems = true
			onlyLimit = onlyLimit && (f.ID == igd.FindingMappingLimit || f.ID == igd.FindingPortsRestricted)
			onlyFragments = onlyFragments && f.ID == IDFragmentsDropped
		}
	}
	switch {
	case has(stunprobe.IDNoUDP):
		return lead + "no audio at all: UDP does not get through this network, unless UDP is allowed or calls run through a VPN."
	case problems && onlyLimit && r.Router != nil && r.Router.Limit != nil && r.Router.Limit.Accepted > 0:
		return lead + fmt.Sprintf("two-way audio for up to %d simultaneous calls through UPnP; beyond that expect no audio unless the ports are forwarded by hand.", r.Router.Limit.Calls)
	case problems && onlyFragments:
		return lead + "expect failed calls whose SIP messages do not fit one packet (video, many codecs), unless SIP runs over TCP or its messages fit one packet."
	case problems && len(ranked) > 0:
		outlook := "expect one-way audio"
		if has(IDSIPALG) || has(IDSIPALGDrop) || has(IDServerNoAnswer) || has(IDServerUnresolved) || has(IDFragmentsDropped) {
			outlook = "expect failed calls or one-way audio"
		}
		unless := []string{ranked[0].unless}
		joiner := " and "
		if len(ranked) > 1 && ranked[1].ID != RemedyVPN {
			unless = append(unless, ranked[1].unless)
			if alternativeRemedies[ranked[0].ID] && alternativeRemedies[ranked[1].ID] {
				// A relay or a port forward each fixes media alone.
				joiner = " or "
			}
		}
		s := lead + outlook + " unless " + strings.Join(unless, joiner)
		if has(report.IDMappingVaries) {
			s += " (STUN will not fix it on this NAT; a relay or a VPN will)"
		}
		return s + "."
	case problems:
		return lead + "problems found; see the findings below."
	case has(IDForwardWorks):
		return lead + "expect two-way audio: SIP and RTP ports are forwarded to this host" + algClause(r) + "."
	case has(IDSTUNWillHelp) && has(stunprobe.IDRefusedFirstMoves):
		return lead + "two-way audio is within reach: the NAT keeps one public address per phone, so STUN on the phones fixes one-way audio " +
			"on calls whose far end does not send first; calls whose far end does (early media) need the server's NAT handling (symmetric RTP) or a relay."
	case has(IDSTUNWillHelp):
		return lead + "two-way audio is within reach: the NAT keeps one public address per phone, so STUN on the phones will fix one-way audio."
	case has(IDHostPublic):
		return lead + "expect two-way audio: this host has a public address, no NAT in between" + algClause(r) + "."
	case RanAny(r):
		return lead + "no problem found by the checks that ran; see which ran below" + algClause(r) + "."
	}
	return lead + "not enough was checked to tell; give --stun, --mirror and --server."
}

func algClause(r *Result) string {
	if r.ALG != nil {
		return ", and no SIP ALG was seen"
	}
	return ""
}

// RanAny reports whether any network check (beyond reading this host's
// own configuration) ran.
func RanAny(r *Result) bool {
	for _, c := range r.Checks {
		if c.Name != CheckHost && (c.Status == report.CheckPassed || c.Status == report.CheckProblem) {
			return true
		}
	}
	return false
}

// Build turns a run into the report: verdict, findings, remedies, the NAT
// and router sections, the host, and which checks ran.
func Build(rep *report.Report, r *Result) {
	fs := Findings(r)
	rep.Findings = append(rep.Findings, fs...)
	rep.Remedies = Remedies(r, fs)
	rep.Verdict = Verdict(r, fs)
	rep.NAT = r.NAT
	if r.NAT != nil && r.RTPNAT != nil {
		n := *r.NAT
		n.RTPPort = r.RTPNAT
		rep.NAT = &n
	}
	rep.IGD = r.Router
	if r.Host != nil {
		pub, _ := PublicAddr(r)
		rep.Host = r.Host.Report(pub)
	}
	rep.Checks = markProblems(r, fs)
}

// findingCheck says which check a finding comes from, for marking checks
// that found problems.
var findingCheck = map[report.FindingID]string{
	IDSIPALG: CheckALG, IDSIPALGDrop: CheckALG, IDMirrorUnreachable: CheckALG, IDFragmentsDropped: CheckFrags,
	IDSIPPortNotForwarded: CheckForward, IDRTPNotForwarded: CheckForward,
	igd.FindingDoubleNAT: CheckPath, IDCGNAT: CheckPath, report.IDMappingVaries: CheckNAT, igd.FindingMappingLimit: CheckRouter, igd.FindingPortsRestricted: CheckRouter, IDRTPPortMapping: CheckNATRTP,
	IDServerUnresolved: CheckServer, IDServerNoAnswer: CheckServer, IDServerPrivate: CheckServer,
	IDServerNoRport: CheckServer, igd.FindingExternalIPDiffers: CheckRouter, IDServerDNSPrivate: CheckServer, IDDynDNSStale: CheckServer,
}

func markProblems(r *Result, fs []report.Finding) []report.Check {
	out := append([]report.Check(nil), r.Checks...)
	mark := func(name string) {
		for i := range out {
			if out[i].Name == name && out[i].Status == report.CheckPassed {
				out[i].Status = report.CheckProblem
			}
		}
	}
	// The probes' own findings belong to their checks. Severity is taken
	// from fs, where diagnose may have re-weighed them (no IGD is no
	// problem for calls).
	origin := map[report.FindingID]string{}
	for _, f := range r.NATFind {
		origin[f.ID] = CheckNAT
	}
	for _, f := range r.IGDFind {
		origin[f.ID] = CheckRouter
	}
	for _, f := range fs {
		if !f.Severity.IsProblem() {
			continue
		}
		if c, ok := findingCheck[f.ID]; ok {
			mark(c)
		} else if c, ok := origin[f.ID]; ok {
			mark(c)
		}
	}
	return out
}
