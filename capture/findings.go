package capture

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Remedies in the user's words (issue 5), shared by findings.
const (
	remedyPrivateSDP = "On the phone that puts its private address in SDP, set a STUN server (or turn on its NAT traversal / ICE), " +
		"or let the SIP server handle NAT: symmetric RTP (\"comedia\", e.g. Asterisk direct_media=no, rtp_symmetric=yes, force_rport=yes, rewrite_contact=yes) " +
		"or its RTP relay. If the server itself sits behind the NAT, set its external address to the public address or a dynamic-DNS name " +
		"and forward UDP 5060 and its RTP port range to it."
	remedyNoMedia = "RTP from this side never appeared: allow outbound UDP for the RTP port range on its firewall, forward UDP 5060 and the RTP range " +
		"to the phone or server behind the NAT, or use the server's RTP relay."
	remedyALG = "Disable the router's SIP ALG (often called \"SIP ALG\", \"SIP helper\", \"SIP passthrough\" or \"SIP fixup\"); " +
		"let the phone (STUN) or the server (rport, comedia) handle NAT instead."
)

// callFindings derives the findings of one reported dialog from the call
// model; it only reads plain data.
func callFindings(cb *callBuild, streams []*streamState, facts []StreamFacts, v StreamVerdict, sigs [2]netip.AddrPort) []report.Finding {
	c := cb.call
	var fs []report.Finding
	problem := v.Verdict.IsProblem()
	subject := c.CallID
	parties := [2]report.Party{c.Caller, c.Callee}

	// Private SDP addresses seen from outside the party's NAT, or from
	// inside it when a server's Via received= showed its public address.
	privateSDP := [2]bool{}
	publicAs := publicAddresses(c)
	algSeen := false
	differs := [2]bool{}
	for _, ev := range c.timeline(cb.dlg) {
		sig := sigs[ev.Party]
		for _, m := range ev.SDP.Media {
			ip := m.Addr.Addr()
			if !m.Addr.IsValid() || isHoldAddress(m.Addr) || privateSDP[ev.Party] {
				continue
			}
			behindNAT := publicAs[ev.Party].IsValid() && IsPrivate(ip)
			if unreachableFromOutside(ip, sig.Addr()) || behindNAT {
				privateSDP[ev.Party] = true
				seenAs := sig.String()
				if behindNAT {
					seenAs = publicAs[ev.Party].String() + " (the server's Via received=)"
				}
				sev := report.SeverityInfo
				if problem && v.CannotHear == partyNames[ev.Party] {
					sev = report.SeverityError
				}
				fs = append(fs, report.Finding{
					ID: "sdp-private-address", Severity: sev, Subject: subject,
					Title: fmt.Sprintf("The %s asks for media at its private address %s", partyLabel(parties[ev.Party]), m.Addr),
					Evidence: []report.Evidence{{
						Text:   fmt.Sprintf("SDP c= in %s names %s, but its SIP reaches the server from the public address %s: no one on the internet can send there", ev.Method, m.Addr, seenAs),
						Frames: []uint64{ev.Frame}, Addrs: []string{m.Addr.String(), sig.String()},
					}},
					Remedy: remedyPrivateSDP,
				})
			} else if sig.IsValid() && ip != sig.Addr() && !differs[ev.Party] && !isHoldAddress(m.Addr) {
				differs[ev.Party] = true
				fs = append(fs, report.Finding{
					ID: "sdp-address-differs-from-signalling", Severity: report.SeverityInfo, Subject: subject,
					Title: fmt.Sprintf("The %s asks for media at %s while its SIP came from %s: a separate media server or relay, or a NAT between it and the capture point",
						partyLabel(parties[ev.Party]), ip, sig.Addr()),
					Evidence: []report.Evidence{{Text: "SDP c= against the IP source of the message", Frames: []uint64{ev.Frame}, Addrs: []string{m.Addr.String(), sig.String()}}},
				})
			}
			if why := ALGSign(sig.Addr(), contactOfMsg(ev.Msg), ev.SDP.OriginAddr, ip); why != "" && !algSeen {
				algSeen = true
				fs = append(fs, report.Finding{
					ID: "sip-alg-suspected", Severity: algSeverity(problem), Subject: subject,
					Title:    "A SIP ALG seems to rewrite this party's messages: " + why,
					Evidence: []report.Evidence{{Text: fmt.Sprintf("%s: source %s, Contact %s, o= %s, c= %s", ev.Method, sig.Addr(), contactOfMsg(ev.Msg), ev.SDP.OriginAddr, ip), Frames: []uint64{ev.Frame}}},
					Remedy:   remedyALG,
				})
			}
		}
	}
	fs = append(fs, signallingFindings(c, subject, problem)...)
	fs = append(fs, mediaSourceFindings(cb, streams, subject)...)
	if f, ok := verdictFinding(cb, facts, v, subject, privateSDP, sigs); ok {
		fs = append([]report.Finding{f}, fs...)
	}
	for _, st := range streams {
		for p := 0; p < 2; p++ {
			if m := st.latest[p]; m != nil && strings.Contains(m.Proto, "SAVP") {
				fs = append(fs, report.Finding{ID: "media-encrypted", Severity: report.SeverityInfo, Subject: subject,
					Title: "Media is SRTP (" + m.Proto + "): natdoc judges the RTP headers, not the audio"})
				return fs
			}
		}
	}
	return fs
}

func algSeverity(problem bool) report.Severity {
	if problem {
		return report.SeverityWarning
	}
	return report.SeverityInfo
}

// verdictFinding is the one-way-audio / no-way-audio finding with the
// packets behind it.
func verdictFinding(cb *callBuild, facts []StreamFacts, v StreamVerdict, subject string, privateSDP [2]bool, sigs [2]netip.AddrPort) (report.Finding, bool) {
	var sum StreamFacts
	for _, f := range facts {
		for i := 0; i < 2; i++ {
			sum.Delivered[i] += f.Delivered[i]
			sum.Undeliverable[i] += f.Undeliverable[i]
		}
	}
	counts := []report.KeyValue{
		{Key: "caller->callee", Value: fmt.Sprint(sum.Delivered[0])},
		{Key: "callee->caller", Value: fmt.Sprint(sum.Delivered[1])},
	}
	var ev []report.Evidence
	for _, bf := range cb.flows {
		if bf.flow.Key.RTCP {
			continue
		}
		to := other(bf.bd.sender)
		text := fmt.Sprintf("%s RTP %s → %s: %d packets", partyNames[bf.bd.sender], bf.flow.Key.Src, bf.flow.Key.Dst, bf.flow.Packets)
		if unreachableFromOutside(bf.flow.Key.Dst.Addr(), sigs[to].Addr()) {
			text += fmt.Sprintf(", sent to the %s's private address: they cannot arrive", partyNames[to])
		}
		ev = append(ev, report.Evidence{Text: text, FrameRanges: bf.flow.frameRange(), Time: bf.flow.First()})
	}
	switch v.Verdict {
	case report.VerdictOneWay:
		deaf := caller
		if v.CannotHear == "callee" {
			deaf = callee
		}
		sender := other(deaf)
		ev = append([]report.Evidence{{Text: v.Explain, Values: counts}}, ev...)
		remedy := remedyNoMedia
		if privateSDP[deaf] {
			remedy = remedyPrivateSDP
		}
		return report.Finding{
			ID: "one-way-audio", Severity: report.SeverityError, Subject: subject,
			Title: fmt.Sprintf("One-way audio: the %s cannot hear the %s",
				partyLabel(partyOf(cb.call, deaf)), partyLabel(partyOf(cb.call, sender))),
			Evidence: ev, Remedy: remedy,
		}, true
	case report.VerdictNoWay:
		ev = append([]report.Evidence{{Text: v.Explain, Values: counts}}, ev...)
		remedy := remedyNoMedia
		if privateSDP[0] || privateSDP[1] {
			remedy = remedyPrivateSDP
		}
		return report.Finding{
			ID: "no-way-audio", Severity: report.SeverityError, Subject: subject,
			Title:    "No audio either way: the call was answered but no RTP arrived in either direction",
			Evidence: ev, Remedy: remedy,
		}, true
	case report.VerdictIncompleteCapture:
		return report.Finding{ID: "incomplete-capture", Severity: report.SeverityInfo, Subject: subject,
			Title: "This capture cannot judge the audio of this call", Evidence: []report.Evidence{{Text: v.Explain, Values: counts}}}, true
	}
	return report.Finding{}, false
}

// signallingFindings reads NAT traces in SIP headers, as proxies do (RFC
// 3261 §18.2.1 received, RFC 3581 rport).
func signallingFindings(c *sipCall, subject string, problem bool) []report.Finding {
	var fs []report.Finding
	seen := map[string]bool{}
	add := func(key string, f report.Finding) {
		if seen[key] {
			return
		}
		seen[key] = true
		f.Subject = subject
		fs = append(fs, f)
	}
	for _, m := range c.Infos {
		src := m.Src.Addr()
		if ip, err := netip.ParseAddr(m.Contact); err == nil && IsPrivate(ip) && isPublic(src) {
			add("contact"+m.Contact, report.Finding{ID: "contact-private-address", Severity: report.SeverityInfo,
				Title:    fmt.Sprintf("Contact names the private address %s, but the message came from %s", ip, m.Src),
				Evidence: []report.Evidence{{Text: m.Summary() + " Contact host", Frames: []uint64{m.Frame}, Addrs: []string{ip.String(), m.Src.String()}}},
				Remedy:   contactRemedy(problem)})
		}
		if !m.Request || m.Via.Host == "" {
			if !m.Request && viaShowsNAT(m.Via) {
				add("received"+m.Via.Received+m.Via.RPort, report.Finding{ID: "via-received-rport", Severity: report.SeverityInfo,
					Title:    fmt.Sprintf("A server recorded where the request really came from (received=%s rport=%s): it saw the sender behind NAT", m.Via.Received, m.Via.RPort),
					Evidence: []report.Evidence{{Text: m.Summary() + " top Via", Frames: []uint64{m.Frame}}}})
			}
			continue
		}
		viaIP, err := netip.ParseAddr(m.Via.Host)
		if err != nil {
			continue
		}
		privateVia := IsPrivate(viaIP) && isPublic(src)
		if privateVia {
			add("via-private"+m.Via.Host, report.Finding{ID: "via-private-address", Severity: report.SeverityInfo,
				Title:    fmt.Sprintf("Via sent-by is the private address %s, but the request came from %s", viaIP, m.Src),
				Evidence: []report.Evidence{{Text: m.Method + " top Via", Frames: []uint64{m.Frame}}}})
		}
		port := m.Via.Port
		if port == 0 {
			port = 5060
		}
		// A private sent-by already says it; this rule catches the rest
		// (a public sent-by with another port: a NAT that changed it).
		if m.Transport == "UDP" && !privateVia && (viaIP != src || port != int(m.Src.Port())) {
			add("via-mismatch"+m.Via.Host, report.Finding{ID: "via-source-mismatch", Severity: report.SeverityInfo,
				Title:    fmt.Sprintf("Top Via says %s:%d but the request came from %s: a NAT (or a proxy not adding its Via) is in between", viaIP, port, m.Src),
				Evidence: []report.Evidence{{Text: m.Method + " top Via sent-by against the IP/UDP source", Frames: []uint64{m.Frame}}}})
		}
		if m.LengthMismatch {
			add("clen", report.Finding{ID: "sip-alg-suspected", Severity: algSeverity(problem),
				Title:    "Content-Length does not match the body: something (often a SIP ALG) rewrote the message",
				Evidence: []report.Evidence{{Text: m.Summary(), Frames: []uint64{m.Frame}}}, Remedy: remedyALG})
		}
		if m.Via.Dup {
			add("dupvia", report.Finding{ID: "sip-alg-suspected", Severity: algSeverity(problem),
				Title:    "The message carries the same Via twice: a SIP ALG or a loop rewrote it",
				Evidence: []report.Evidence{{Text: m.Summary(), Frames: []uint64{m.Frame}}}, Remedy: remedyALG})
		}
	}
	return fs
}

// mediaSourceFindings: RTP that arrives from an address other than the
// sender's SDP promised is the trace of a NAT mapping (or a relay).
func mediaSourceFindings(cb *callBuild, streams []*streamState, subject string) []report.Finding {
	var fs []report.Finding
	seen := map[netip.AddrPort]bool{}
	for _, bf := range cb.flows {
		f := bf.flow
		if f.Key.RTCP || seen[f.Key.Src] {
			continue
		}
		i := bf.bd.mIndex
		if i >= len(streams) {
			continue
		}
		named := streams[i].all[bf.bd.sender]
		if len(named) == 0 || contains(named, f.Key.Src) {
			continue
		}
		seen[f.Key.Src] = true
		fs = append(fs, report.Finding{ID: "rtp-source-differs-from-sdp", Severity: report.SeverityInfo, Subject: subject,
			Title: fmt.Sprintf("RTP from the %s comes from %s, not from %s its SDP named: a NAT mapping (or a relay)", partyNames[bf.bd.sender], f.Key.Src, joinAddrs(named)),
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%d packets %s → %s", f.Packets, f.Key.Src, f.Key.Dst),
				Frames: []uint64{f.FirstFrame}, Addrs: []string{f.Key.Src.String()}}}})
	}
	return fs
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// viaShowsNAT: a server wrote received= (RFC 3261 §18.2.1) with an address
// other than the sent-by, or rport= (RFC 3581) with another port: the
// request reached it from somewhere else than the client believed.
func viaShowsNAT(v via) bool {
	if v.Received != "" && v.Received != v.Host {
		return true
	}
	if v.RPort != "" && v.RPort != "-" {
		port := v.Port
		if port == 0 {
			port = 5060
		}
		return v.RPort != fmt.Sprint(port)
	}
	return false
}

// publicAddresses returns, per party, the public address a server saw its
// requests come from (Via received= in responses to it), if any.
func publicAddresses(c *sipCall) [2]netip.Addr {
	var out [2]netip.Addr
	for _, m := range c.Infos {
		if m.Request || m.Via.Received == "" {
			continue
		}
		ip, err := netip.ParseAddr(m.Via.Received)
		if err != nil || !isPublic(ip) {
			continue
		}
		requester := other(c.sender(m))
		if !out[requester].IsValid() {
			out[requester] = ip
		}
	}
	return out
}

func contactOfMsg(m *sipInfo) string {
	if m == nil {
		return ""
	}
	return m.Contact
}

// ALGSign reads one message seen from outside the sender's NAT (its SIP
// comes from the public address sig) for the traces a SIP ALG leaves
// (issue 5): the ALG rewrites Contact and c= to the NAT's public address
// but keeps the private o= (a phone using STUN fixes c= but leaves its
// private Contact), or it rewrites the headers but fails on the body
// (Contact public, c= still private). It returns the reason, or "".
func ALGSign(sig netip.Addr, contactHost string, origin, conn netip.Addr) string {
	contact, err := netip.ParseAddr(contactHost)
	if err != nil || !isPublic(sig) || !conn.IsValid() {
		return ""
	}
	switch {
	case contact == sig && conn == sig && origin.IsValid() && IsPrivate(origin):
		return "Contact and SDP c= carry the NAT's public address while SDP o= keeps the private " + origin.String()
	case contact == sig && IsPrivate(conn):
		return "Contact was rewritten to the public address but SDP c= still names the private " + conn.String()
	}
	return ""
}

// partyOf returns the call's party by index (caller or callee).
func partyOf(c *sipCall, p int) report.Party {
	if p == caller {
		return c.Caller
	}
	return c.Callee
}

// contactRemedy: a private Contact is only worth fixing when calls fail;
// on a working call the server evidently handled it.
func contactRemedy(problem bool) string {
	if !problem {
		return ""
	}
	return "The server must reach this phone at its public address: enable NAT handling on the server (force_rport, rewrite_contact / fix_nated_contact) or STUN on the phone."
}
