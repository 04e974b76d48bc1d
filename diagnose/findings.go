package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/diagnose/hostinfo"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// Finding IDs diagnose adds (the NAT and router probes bring their own).
// They are stable: scripts match on them.
const (
	IDSIPALG              report.FindingID = "sip-alg-rewrite"
	IDSIPALGDrop          report.FindingID = "sip-alg-drop"
	IDMirrorUnreachable   report.FindingID = "mirror-unreachable"
	IDFragmentsDropped    report.FindingID = "sip-fragments-dropped"
	IDSIPPortNotForwarded report.FindingID = "sip-port-not-forwarded"
	IDRTPNotForwarded     report.FindingID = "rtp-ports-not-forwarded"
	IDForwardWorks        report.FindingID = "port-forward-works"
	IDForwardPortBusy     report.FindingID = "forward-port-busy"
	IDCGNAT               report.FindingID = "carrier-grade-nat"
	IDHostPublic          report.FindingID = "host-public-address"
	IDPublicAddress       report.FindingID = "public-address"
	IDPublicMismatch      report.FindingID = "public-address-varies"
	IDSTUNWillHelp        report.FindingID = "stun-will-help"
	IDServerUnresolved    report.FindingID = "sip-server-unresolved"
	IDServerNoAnswer      report.FindingID = "sip-server-no-answer"
	IDServerReachable     report.FindingID = "sip-server-reachable"
	IDServerPrivate       report.FindingID = "sip-server-private-address"
	IDServerNoRport       report.FindingID = "sip-server-no-rport"
	IDServerDNSPrivate    report.FindingID = "sip-server-dns-private"
	IDDynDNSStale         report.FindingID = "dyndns-stale"
)

// Findings derives every finding from the facts, problems first in the
// order of the checks. It is pure.
func Findings(r *Result) []report.Finding {
	var out []report.Finding
	out = append(out, udpFindings(r)...)
	out = append(out, publicFindings(r)...)
	out = append(out, pathFindings(r)...)
	out = append(out, natFindings(r)...)
	out = append(out, rtpPortFindings(r)...)
	out = append(out, routerFindings(r)...)
	out = append(out, algFindings(r)...)
	out = append(out, fragmentFindings(r)...)
	out = append(out, forwardFindings(r)...)
	out = append(out, serverFindings(r)...)
	out = dedupe(out)
	report.SortFindings(out)
	return out
}

// dedupe merges findings with the same ID and subject (the router probe and
// the path check may both see a double NAT), keeping the first and adding
// the other's evidence.
func dedupe(fs []report.Finding) []report.Finding {
	var out []report.Finding
	index := map[string]int{}
	for _, f := range fs {
		key := string(f.ID) + "\x00" + f.Subject
		if i, ok := index[key]; ok {
			out[i].Evidence = append(out[i].Evidence, f.Evidence...)
			if f.Severity.Rank() < out[i].Severity.Rank() {
				out[i].Severity = f.Severity
			}
			continue
		}
		index[key] = len(out)
		out = append(out, f)
	}
	return out
}

// NoUDP reports whether UDP does not pass this network, with the evidence.
// It needs two kinds of proof: UDP unanswered (STUN and the mirror over
// UDP), and something over TCP answering (the mirror), or the NAT probe's
// own conclusion; silence alone could be servers that are down.
func NoUDP(r *Result) (bool, []report.Evidence) {
	var ev []report.Evidence
	udpSilent, tcpWorks := false, false
	if r.NAT != nil && r.NAT.UDPBlocked == report.TriYes {
		ev = append(ev, report.Evidence{Text: "the NAT probe got no UDP answer from any STUN server"})
		udpSilent = true
	}
	if f := r.Forward; f != nil && f.Via == "stun" && r.STUNAnswered == report.TriNo {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("the STUN server %s did not answer Binding requests over UDP (%d sends)", f.Server, f.Ports[0].Sends)})
		udpSilent = true
	}
	if r.STUNAnswered == report.TriYes {
		return false, nil
	}
	if a := r.ALG; a != nil {
		if a.UDP.Outcome == sipalg.NoAnswer {
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("the mirror %s did not answer over UDP (%d sends)", a.Mirror, a.UDP.Attempts)})
			udpSilent = udpSilent || r.STUNAnswered == report.TriUnknown
		} else if a.UDP.Outcome == sipalg.Unchanged || a.UDP.Outcome == sipalg.Rewritten {
			return false, nil
		}
		if a.TCP.Outcome == sipalg.Unchanged || a.TCP.Outcome == sipalg.Rewritten {
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("the same mirror answered over TCP in %s", a.TCP.RTT.Round(1e6))})
			tcpWorks = true
		}
	}
	if udpSilent && (tcpWorks || (r.NAT != nil && r.NAT.UDPBlocked == report.TriYes)) {
		return true, ev
	}
	return false, nil
}

func udpFindings(r *Result) []report.Finding {
	if ok, ev := NoUDP(r); ok {
		return []report.Finding{{ID: stunprobe.IDNoUDP, Severity: report.SeverityError,
			Title:    "UDP does not get through this network: SIP over UDP and all RTP audio are blocked",
			Evidence: ev,
			Remedy:   "Allow outgoing UDP on the firewall (SIP 5060 and the RTP range), or carry calls in a VPN"}}
	}
	return nil
}

// PublicAddr is this network's public address as the checks saw it, and
// who saw it.
func PublicAddr(r *Result) (netip.Addr, string) {
	if r.NAT != nil && r.NAT.MappedAddr != "" {
		if ap, err := netip.ParseAddrPort(r.NAT.MappedAddr); err == nil {
			return ap.Addr().Unmap(), "NAT probe (STUN)"
		}
	}
	if r.Forward != nil {
		for _, p := range r.Forward.Ports {
			if p.Public.IsValid() {
				// The forwarding check asks a STUN server or the mirror.
				who := "STUN server "
				if r.Forward.Via == "mirror" {
					who = "mirror "
				}
				return p.Public.Addr(), who + r.Forward.Server.String()
			}
		}
	}
	if r.ALG != nil {
		for _, t := range []sipalg.TransportResult{r.ALG.UDP, r.ALG.TCP} {
			if t.Source.IsValid() {
				return t.Source.Addr(), "mirror " + r.ALG.Mirror.String()
			}
		}
	}
	return netip.Addr{}, ""
}

func publicFindings(r *Result) []report.Finding {
	pub, who := PublicAddr(r)
	if !pub.IsValid() {
		return nil
	}
	var out []report.Finding
	if r.Host != nil && containsAddr(r.Host.Addrs(), pub) {
		out = append(out, report.Finding{ID: IDHostPublic, Severity: report.SeverityInfo,
			Title:    "This host holds the public address itself: no NAT between it and the internet",
			Evidence: []report.Evidence{{Text: who + " saw " + pub.String() + ", an address of this host", Addrs: []string{pub.String()}}}})
		return out
	}
	out = append(out, report.Finding{ID: IDPublicAddress, Severity: report.SeverityInfo,
		Title:    "This network's public address is " + pub.String(),
		Evidence: []report.Evidence{{Text: "seen by the " + who, Addrs: []string{pub.String()}}}})
	if r.ALG != nil && r.ALG.UDP.Source.IsValid() && r.ALG.UDP.Source.Addr() != pub {
		out = append(out, report.Finding{ID: IDPublicMismatch, Severity: report.SeverityWarning,
			Title: "Different servers see different public addresses: the provider's NAT uses a pool",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%s saw %s, the mirror saw %s", who, pub, r.ALG.UDP.Source.Addr()),
				Addrs: []string{pub.String(), r.ALG.UDP.Source.Addr().String()}}},
			Remedy: "A public address learned from one server may not be the one the other party sees: use a relay or a VPN"})
	}
	return out
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func pathFindings(r *Result) []report.Finding {
	if r.Path == nil {
		return nil
	}
	// Two private routers that answered are evidence enough even when
	// the rest of the path stays silent (routers that send no ICMP).
	n, ok := r.Path.PrivateHopsBeforePublic()
	if n < 2 {
		return nil
	}
	atLeast := ""
	if !ok {
		atLeast = "at least "
	}
	var hops []string
	for _, h := range r.Path.Hops[:n] {
		hops = append(hops, h.Addr.String())
	}
	then := "then a public network"
	if !ok {
		then = "then no answer"
	}
	ev := []report.Evidence{{Text: fmt.Sprintf("routers on the way to %s (TTL-limited probes): %s, %s", r.Path.Dest.Addr(), strings.Join(hops, " → "), then), Addrs: hops}}
	for _, h := range r.Path.Hops[1:n] {
		if hostinfo.IsCGNAT(h.Addr) {
			return []report.Finding{{ID: IDCGNAT, Severity: report.SeverityError,
				Title:    "The provider's carrier-grade NAT sits behind the home router: port forwarding cannot make phones reachable",
				Evidence: ev,
				Remedy:   "Ask the provider for a public IPv4 address (or use IPv6), or use a relay (natdoc serve on a public host) or a VPN"}}
		}
	}
	return []report.Finding{{ID: igd.FindingDoubleNAT, Severity: report.SeverityWarning,
		Title:    fmt.Sprintf("Double NAT: %s%d routers with private addresses before the internet", atLeast, n),
		Evidence: ev,
		Remedy:   "Put the outer router (the provider's modem) in bridge mode, or forward the SIP and RTP ports on both routers (outer to the inner router's WAN address)"}}
}

func natFindings(r *Result) []report.Finding {
	var out []report.Finding
	for _, f := range r.NATFind {
		// The probe calls silence from its servers "no UDP"; diagnose
		// decides that with the mirror's evidence too (NoUDP).
		if f.ID == stunprobe.IDNoUDP {
			continue
		}
		if f.ID == stunprobe.IDRefusedFirstMoves {
			// A fact about phones that rely on STUN alone: forwarded
			// ports, UPnP mappings, the server's symmetric RTP or a relay
			// do not meet it. It qualifies the STUN remedy and verdict.
			f.Severity = report.SeverityInfo
		}
		out = append(out, f)
	}
	n := r.NAT
	if n == nil {
		return out
	}
	has := func(id report.FindingID) bool {
		for _, f := range out {
			if f.ID == id {
				return true
			}
		}
		return false
	}
	ev := []report.Evidence{{Text: "RFC 5780 mapping test", Values: []report.KeyValue{{Key: "mapping", Value: string(n.Mapping)}, {Key: "filtering", Value: string(n.Filtering)}, {Key: "rfc3489", Value: n.RFC3489Name}}}}
	switch {
	case n.Mapping == report.BehaviourAddressDependent || n.Mapping == report.BehaviourAddressAndPortDependent || n.MappingConsistent == report.TriNo:
		if !has(report.IDMappingVaries) {
			out = append(out, report.Finding{ID: report.IDMappingVaries, Severity: report.SeverityError,
				Title:    "The NAT gives a new public port for every destination: STUN will not fix one-way audio here",
				Evidence: ev,
				Remedy:   "Use a relay (natdoc serve, or the SIP server's media relay), forward the ports, or use a VPN"})
		}
	case rtpMapsPerDestination(r):
		// STUN from the SIP port would promise what the RTP port does not
		// get: rtpPortFindings says so.
	case n.Mapping == report.BehaviourEndpointIndependent || (n.Mapping == report.BehaviourUnknown && n.MappingConsistent == report.TriYes):
		// Without an RFC 5780 server, one public address:port seen by
		// several servers from one socket is the same fact.
		title := "The NAT keeps one public address per phone whatever the destination: STUN on the phones will fix one-way audio"
		if has(stunprobe.IDRefusedFirstMoves) {
			title = "The NAT keeps one public address per phone whatever the destination: STUN on the phones fixes one-way audio " +
				"on calls whose far end does not send first (see " + string(stunprobe.IDRefusedFirstMoves) + ")"
		}
		out = append(out, report.Finding{ID: IDSTUNWillHelp, Severity: report.SeverityInfo,
			Title:    title,
			Evidence: ev,
			Remedy:   "Configure a STUN server on the phones (and keep-alives shorter than the binding lifetime)"})
	}
	return out
}

func algFindings(r *Result) []report.Finding {
	a := r.ALG
	if a == nil {
		return nil
	}
	var out []report.Finding
	for _, t := range []sipalg.TransportResult{a.UDP, a.TCP} {
		if t.Outcome != sipalg.Rewritten {
			continue
		}
		f := report.Finding{ID: IDSIPALG, Severity: report.SeverityError, Subject: strings.ToUpper(t.Transport),
			Title:  fmt.Sprintf("A SIP ALG rewrites SIP over %s: %s", strings.ToUpper(t.Transport), rewriteSummary(t.Rewrites)),
			Remedy: "Disable the router's SIP ALG (often called \"SIP ALG\", \"SIP helper\", \"SIP passthrough\" or \"SIP fixup\"), and let phones and server handle NAT"}
		f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("INVITE sent from %s to the mirror %s over %s arrived changed", t.LocalAddr, a.Mirror, t.Transport)})
		for _, d := range t.Diffs {
			f.Evidence = append(f.Evidence, report.Evidence{Text: d.String()})
		}
		out = append(out, f)
	}
	noUDP, _ := NoUDP(r)
	tcpOK := a.TCP.Outcome == sipalg.Unchanged || a.TCP.Outcome == sipalg.Rewritten
	switch {
	case a.UDP.Outcome == sipalg.NoAnswer && tcpOK && !noUDP:
		out = append(out, report.Finding{ID: IDSIPALGDrop, Severity: report.SeverityError, Subject: "UDP",
			Title: "SIP over UDP to port " + fmt.Sprint(a.Mirror.Port()) + " is dropped while other UDP and SIP over TCP pass: a SIP ALG or filter eats it",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%d INVITEs over UDP from %s to %s got no answer", a.UDP.Attempts, a.UDP.LocalAddr, a.Mirror)},
				{Text: fmt.Sprintf("the same INVITE over TCP was answered in %s", a.TCP.RTT.Round(1e6))}},
			Remedy: "Disable the router's SIP ALG, or use SIP over TCP/TLS or another SIP port on phones and server"})
	case a.UDP.Outcome == sipalg.NoAnswer && !tcpOK && !noUDP:
		out = append(out, report.Finding{ID: IDMirrorUnreachable, Severity: report.SeverityWarning, Subject: a.Mirror.String(),
			Title:    "The mirror answered neither over UDP nor TCP: the SIP ALG test could not run",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("udp: %d sends, no answer; tcp: %s", a.UDP.Attempts, firstNonEmpty(a.TCP.Err, string(a.TCP.Outcome)))}},
			Remedy:   "Check that `natdoc mirror` runs on the mirror host and its firewall allows UDP and TCP on that port"})
	}
	return out
}

// fragmentFindings: SIP too big for one packet lost while the ALG test's
// small INVITE is answered over UDP, so the size is what loses it. The
// way in is sure when the small request's big copy never came back; the
// way out when the big request's answer (a digest of one packet) never
// came while the way in works.
func fragmentFindings(r *Result) []report.Finding {
	f, a := r.Fragments, r.ALG
	if f == nil || a == nil || (a.UDP.Outcome != sipalg.Unchanged && a.UDP.Outcome != sipalg.Rewritten) ||
		f.Out.Err != "" || f.In.Err != "" || (f.Out.Answered && f.In.Answered) {
		return nil
	}
	way := "in and out"
	switch {
	case f.In.Answered:
		way = "out"
	case f.Out.Answered:
		way = "in"
	}
	ev := []report.Evidence{{Text: fmt.Sprintf("the SIP ALG test's %d-byte INVITE over UDP was answered", len(a.UDP.Sent))}}
	if f.Out.Answered {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("a %d-byte INVITE, sent in IP fragments, was answered in one packet", f.Out.RequestBytes)})
	} else {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("a %d-byte INVITE, sent in IP fragments, got no answer after %d sends", f.Out.RequestBytes, f.Out.Attempts)})
	}
	if f.In.Answered {
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("a %d-byte INVITE was answered with its %d-byte copy, in IP fragments", f.In.RequestBytes, f.In.AnswerBytes)})
	} else {
		// The copy is base64 (4/3) with the mirror's headers: about 7/4.
		ev = append(ev, report.Evidence{Text: fmt.Sprintf("a %d-byte INVITE, whose answer (its copy, about %d bytes) comes in IP fragments, got no answer after %d sends",
			f.In.RequestBytes, f.In.RequestBytes*7/4, f.In.Attempts)})
	}
	return []report.Finding{{ID: IDFragmentsDropped, Severity: report.SeverityWarning, Subject: way,
		Title: fmt.Sprintf("SIP messages too big for one packet are lost on the way %s while small ones pass: something on the path drops IP fragments, "+
			"so calls with a long INVITE or answer (video, many codecs) fail", way),
		Evidence: ev,
		Remedy:   "Send SIP over TCP (transport=tcp on phones and trunk), make SIP messages smaller (fewer codecs, no video), or let IP fragments through the firewall or NAT"}}
}

func rewriteSummary(rw sipalg.Rewrites) string {
	var parts []string
	if rw.Via {
		parts = append(parts, "Via")
	}
	if rw.Contact {
		parts = append(parts, "Contact")
	}
	if rw.SDP {
		parts = append(parts, "SDP")
	}
	if rw.ContentLength {
		parts = append(parts, "Content-Length")
	}
	if rw.Other {
		parts = append(parts, "other headers")
	}
	return strings.Join(parts, ", ") + " changed on the way"
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// sortForwardPorts sorts the checked ports by outcome, and finds the
// public address the checks saw.
func sortForwardPorts(f *forward.Result, sipPort int) (sipMissing, rtpMissing, reached, busy []string, public netip.AddrPort) {
	for _, p := range f.Ports {
		if p.Public.IsValid() {
			public = p.Public
		}
		port := fmt.Sprint(p.Port)
		switch p.Outcome {
		case forward.Reached:
			reached = append(reached, port)
		case forward.NotReached:
			if p.Port == sipPort {
				sipMissing = append(sipMissing, port)
			} else {
				rtpMissing = append(rtpMissing, port)
			}
		case forward.PortBusy:
			busy = append(busy, port)
		}
	}
	return sipMissing, rtpMissing, reached, busy, public
}

func forwardFindings(r *Result) []report.Finding {
	f := r.Forward
	if f == nil {
		return nil
	}
	sipMissing, rtpMissing, reached, busy, public := sortForwardPorts(f, r.sipPublicPort())
	pubAddr := "the public address"
	if public.IsValid() {
		pubAddr = public.Addr().String()
	}
	var out []report.Finding
	method := fmt.Sprintf("the STUN server %s sent to %%s:%%s (RFC 5780 RESPONSE-PORT)", f.Server)
	if f.Via == "mirror" {
		method = fmt.Sprintf("the mirror %s sent a callback packet to %%s:%%s from a port no NAT binding expects", f.Server)
	}
	evFor := func(ports []string, what string) []report.Evidence {
		return []report.Evidence{{Text: fmt.Sprintf(method, pubAddr, strings.Join(ports, ",")) + "; " + what,
			Values: []report.KeyValue{{Key: "ports", Value: strings.Join(ports, ",")}}}}
	}
	if len(sipMissing) > 0 {
		out = append(out, report.Finding{ID: IDSIPPortNotForwarded, Severity: report.SeverityError, Subject: "UDP " + strings.Join(sipMissing, ","),
			Title:    fmt.Sprintf("Inbound SIP does not reach this host: UDP %s is not forwarded to it", r.portsText(sipMissing)),
			Evidence: evFor(sipMissing, "nothing arrived here"),
			Remedy:   sipForwardRemedy(r)})
	}
	if len(rtpMissing) > 0 {
		out = append(out, report.Finding{ID: IDRTPNotForwarded, Severity: report.SeverityError, Subject: "UDP " + strings.Join(rtpMissing, ","),
			Title:    fmt.Sprintf("Inbound audio does not reach this host: RTP ports %s are not forwarded", strings.Join(rtpMissing, ",")),
			Evidence: evFor(rtpMissing, "nothing arrived here"),
			Remedy:   fmt.Sprintf("Forward UDP %d-%d on the router to this host", r.RTPLow, r.RTPHigh)})
	}
	if len(reached) > 0 {
		out = append(out, report.Finding{ID: IDForwardWorks, Severity: report.SeverityInfo, Subject: "UDP " + strings.Join(reached, ","),
			Title:    fmt.Sprintf("Port forwarding works: unsolicited packets to UDP %s reach this host", r.portsText(reached)),
			Evidence: evFor(reached, "each arrived here")})
	}
	if len(busy) > 0 {
		out = append(out, report.Finding{ID: IDForwardPortBusy, Severity: report.SeverityInfo, Subject: "UDP " + strings.Join(busy, ","),
			Title:    fmt.Sprintf("UDP %s is in use by another program on this host, so its forwarding was not checked", strings.Join(busy, ",")),
			Evidence: []report.Evidence{{Text: "bind failed: port in use"}},
			Remedy:   "Stop the softphone or server on this host and run diagnose again to check these ports"})
	}
	return out
}

// portsText lists checked ports for a title, the SIP port with the port
// here it leads to when the forward changes it ("5080 (to 5060 here),10000").
func (r *Result) portsText(ports []string) string {
	if pub := r.sipPublicPort(); pub != r.SIPPort {
		ports = slices.Clone(ports)
		for i, p := range ports {
			if p == strconv.Itoa(pub) {
				ports[i] = forward.Forward{Outside: pub, Local: r.SIPPort}.Name()
			}
		}
	}
	return strings.Join(ports, ",")
}

// sipPublicPort is the SIP port checked from outside.
func (r *Result) sipPublicPort() int {
	if r.SIPPublicPort != 0 {
		return r.SIPPublicPort
	}
	return r.SIPPort
}

// sipForwardRemedy is the forward to make for SIP: the port as it is, or
// from its public port to the phones' port.
func sipForwardRemedy(r *Result) string {
	if pub := r.sipPublicPort(); pub != r.SIPPort {
		return fmt.Sprintf("Forward UDP %d on the router to this host's UDP %d (or to the phone or server that needs it)", pub, r.SIPPort)
	}
	return fmt.Sprintf("Forward UDP %d on the router to this host (or to the phone or server that needs it)", r.SIPPort)
}

// routerFindings passes the router probe's findings on, and compares the
// router's own external address with the public address the other checks
// saw (another NAT between them when they differ).
func routerFindings(r *Result) []report.Finding {
	var out []report.Finding
	for _, f := range r.IGDFind {
		// No IGD is a fact, not an audio problem: most SIP setups do not
		// rely on UPnP, and diagnose cannot tell whether this one does.
		if f.ID == igd.FindingNotFound {
			f.Severity = report.SeverityInfo
		}
		out = append(out, f)
	}
	ext := routerExternalIP(r.Router)
	pub, who := PublicAddr(r)
	if ext.IsValid() && hostinfo.IsPublic(ext) && pub.IsValid() && ext != pub {
		out = append(out, report.Finding{ID: igd.FindingExternalIPDiffers, Severity: report.SeverityWarning,
			Title: fmt.Sprintf("The router says its external address is %s, but the internet sees %s", ext, pub),
			Evidence: []report.Evidence{{Text: "external address reported by the router's IGD", Addrs: []string{ext.String()}},
				{Text: "public address seen by the " + who, Addrs: []string{pub.String()}}},
			Remedy: "Another NAT sits between this router and the internet; mappings and forwards on this router may not be reachable"})
	}
	return out
}

func routerExternalIP(g *report.IGDReport) netip.Addr {
	if g == nil || g.Chosen < 0 || g.Chosen >= len(g.Devices) {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(g.Devices[g.Chosen].ExternalIP)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
