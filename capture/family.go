package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// Address families. A dual-stack phone or server may offer media at its
// IPv6 address while its SIP goes over IPv4 (or the other way round), and
// an IPv6-only phone reaches IPv4 servers through NAT64, which carries
// what the IPv6 side sends but never media sent to an IPv6 address named
// in SDP. A peer whose SIP and media are of the other family has nowhere
// to send unless it has both: a real IPv4-only phone (baresip) refuses
// such an offer 488 Not Acceptable Here, codecs in common or not, and a
// peer that answers it anyway has no way to send its media there.

// remedyAddressFamily is for media offered in an address family the peer
// does not use.
const remedyAddressFamily = "Offer media in an address family both sides have: set the dual-stack phone or server to offer IPv4 media " +
	"to IPv4 peers (on most phones and PBXs, turn IPv6 off for media or prefer IPv4), offer both families with ICE candidates (RFC 8445), " +
	"or anchor the media on a relay with both families (rtpengine or an SBC with an IPv4 and an IPv6 interface), which bridges them. " +
	"Behind NAT64 (an IPv6-only mobile network), the phone must reach IPv4 media through a relay or its CLAT (464XLAT) address."

// remedySIPAddressFamily is for SIP that gives a party addresses of the
// other family than its own to send its requests to.
const remedySIPAddressFamily = "A phone on IPv6 alone (a mobile network with NAT64) cannot send to the IPv4 addresses in an answer's " +
	"Record-Route or Contact. Make the SIP server or SBC dual-stack and give IPv6 phones IPv6 addresses to send to (Kamailio: listen on both " +
	"families and Record-Route the socket the phone's request came in on, double Record-Route between the two; an SBC's IPv6 interface), " +
	"or use a phone whose SIP stack makes IPv6 addresses of IPv4 ones with the NAT64 prefix (RFC 7050), or runs over 464XLAT (CLAT)."

// familyName names a's address family.
func familyName(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// sameFamily says whether a and b are both IPv4 or both IPv6.
func sameFamily(a, b netip.Addr) bool { return a.Unmap().Is4() == b.Unmap().Is4() }

// otherFamilyOnly says whether named, the media addresses one party gave
// (c= and ICE candidates; holds and names left out), holds at least one
// address and none of peer's family.
func otherFamilyOnly(named []netip.AddrPort, peer netip.Addr) bool {
	if !peer.IsValid() {
		return false
	}
	seen := false
	for _, a := range named {
		if !a.IsValid() || isHoldAddress(a) {
			continue
		}
		if sameFamily(a.Addr(), peer) {
			return false
		}
		seen = true
	}
	return seen
}

// offerAddrs lists the media addresses of an SDP's active streams.
func offerAddrs(sd *sdpInfo) []netip.AddrPort {
	var addrs []netip.AddrPort
	for _, m := range sd.Media {
		if m.Port == 0 {
			continue
		}
		addrs = append(addrs, m.Addr)
		for _, c := range m.Candidates {
			addrs = append(addrs, c.Addr)
		}
	}
	return addrs
}

// mediaAddrs lists up to three of named's media addresses (holds and
// names left out), each once.
func mediaAddrs(named []netip.AddrPort) []string {
	var list []string
	for _, a := range named {
		if a.IsValid() && !isHoldAddress(a) && len(list) < 3 && !slices.Contains(list, a.String()) {
			list = append(list, a.String())
		}
	}
	return list
}

// familyOf names the family of named's media addresses, which
// otherFamilyOnly found to be one.
func familyOf(named []netip.AddrPort) string {
	for _, a := range named {
		if a.IsValid() && !isHoldAddress(a) {
			return familyName(a.Addr())
		}
	}
	return ""
}

// familyMismatch is the evidence that the deaf party's SDP named media
// addresses of one family only while the sender's SIP and own media are
// of the other: the sender had nowhere to send.
func (cb *callBuild) familyMismatch(deaf int, streams []*streamState, sigs [2]netip.AddrPort) (report.Evidence, bool) {
	sender := other(deaf)
	sig := sigs[sender].Addr()
	for _, st := range streams {
		if st.media != "audio" || st.latest[deaf] == nil || !otherFamilyOnly(st.all[deaf], sig) {
			continue
		}
		own := st.latest[sender]
		if own != nil && own.Addr.IsValid() && !isHoldAddress(own.Addr) && !sameFamily(own.Addr.Addr(), sig) {
			continue // the sender named the deaf party's family itself
		}
		named, family := mediaAddrs(st.all[deaf]), familyOf(st.all[deaf])
		text := fmt.Sprintf("the %s's SDP names %s media addresses only (%s), while the %s's SIP comes over %s from %s",
			partyNames[deaf], family, strings.Join(named, ", "), partyNames[sender], familyName(sig), sig)
		if own != nil && own.Addr.IsValid() && !isHoldAddress(own.Addr) {
			text += fmt.Sprintf(" and its own SDP names %s", own.Addr)
		}
		text += fmt.Sprintf(": unless the %s has %s too, it has nowhere to send (NAT64 carries what an IPv6 host sends, never media to an IPv6 address named in SDP)",
			partyNames[sender], family)
		return report.Evidence{Text: text, Addrs: append(named, sig.String())}, true
	}
	return report.Evidence{}, false
}

// refusedFamily says, for an offer refused by the host at by, why its
// media addresses may be what was refused: every one is of the other
// family than the refusing host's SIP.
func refusedFamily(sd *sdpInfo, by string) (string, bool) {
	refuser, err := netip.ParseAddrPort(by)
	addrs := offerAddrs(sd)
	if err != nil || !otherFamilyOnly(addrs, refuser.Addr()) {
		return "", false
	}
	family := familyOf(addrs)
	return fmt.Sprintf("it names %s media addresses only (%s), and %s, which refused it, speaks %s: unless it has %s too, it cannot take that media, whatever the codecs",
		family, strings.Join(mediaAddrs(addrs), ", "), refuser.Addr(), familyName(refuser.Addr()), family), true
}

// familyMismatchEither is familyMismatch for whichever party it finds,
// the caller first: in a call with no media either way.
func (cb *callBuild) familyMismatchEither(streams []*streamState, sigs [2]netip.AddrPort) (report.Evidence, bool) {
	for _, deaf := range []int{caller, callee} {
		if e, ok := cb.familyMismatch(deaf, streams, sigs); ok {
			return e, true
		}
	}
	return report.Evidence{}, false
}

// remedyContactFamily is for a registrar that stored a phone's IPv6
// Contact, written behind NAT64, while it speaks IPv4.
const remedyContactFamily = "On the SIP server, route to the address a phone's REGISTER came from, not the IPv6 Contact it wrote behind NAT64: " +
	"the NAT64's mapping leads to the phone as any NAT's does (Kamailio nathelper fix_nated_register() and fix_nated_contact(), or " +
	"set_contact_alias(); Asterisk PJSIP rewrite_contact=yes and force_rport=yes), with keep-alives to hold that mapping open; or make the " +
	"server dual-stack so that it reaches IPv6 Contacts over IPv6."

// familyNotFixed says whether the registrar stored as written an IPv6
// Contact that came over IPv4: a phone on IPv6 alone behind NAT64 (the
// registrar sees the NAT64's IPv4 address), which a registrar on IPv4
// alone cannot send calls to.
func (g *registration) familyNotFixed() bool {
	return g.storedAsWritten() && g.contact.IsValid() && g.src.IsValid() && g.contact.Addr().Is6() && !g.contact.Addr().Is4In6() &&
		g.src.Addr().Unmap().Is4()
}

// familyNotFixedFinding is the finding of a binding familyNotFixed.
func (g *registration) familyNotFixedFinding() report.Finding {
	return report.Finding{
		ID: IDRegisterContactNotFixed, Severity: report.SeverityWarning, Subject: g.aor,
		Title: fmt.Sprintf("The registrar %s stored the IPv6 Contact %s of %s as written, though its REGISTER came over IPv4 from %s (a phone on IPv6 "+
			"alone behind NAT64): unless the registrar has IPv6 too, calls to that Contact cannot be sent (Kamailio answers 478 Unresolvable destination)",
			g.registrar.Addr(), g.contact, g.aor, g.src),
		Evidence: []report.Evidence{g.registerEvidence(), g.echoEvidence("address")},
		Remedy:   remedyContactFamily,
	}
}

// sendFailed says whether a final response is a server's own failure to
// send a request on: 477 Send Failed, 478 Unresolvable Destination (both
// Kamailio's), 500 or 503 (others').
func sendFailed(status int) bool {
	return status == 477 || status == 478 || status == 500 || status == 503
}

// contactFamilyFinding tells why a call the server failed to send on (a
// 47x, 500 or 503 from the server the INVITE went to) failed, when its
// callee was registered there with an IPv6 Contact that came over IPv4
// (familyNotFixed).
func contactFamilyFinding(cb *callBuild, na *report.NotAnswered) (report.Finding, bool) {
	t := &cb.call.setup
	if na == nil || na.Reason != report.NotAnsweredRejected || !sendFailed(na.Status) || t.sent == 0 || na.By != t.dst.String() {
		return report.Finding{}, false
	}
	user := cb.call.dialled()
	g := registeredAmong(cb.regs.bindingsOf(user, t.dst.Addr()), t.sentAt)
	if g == nil || !g.familyNotFixed() {
		return report.Finding{}, false
	}
	return report.Finding{ID: IDCallNotRouted, Severity: report.SeverityWarning, Subject: cb.call.CallID, Remedy: remedyContactFamily,
		Title: fmt.Sprintf("The server %s answered %s for %s, registered there with the IPv6 Contact %s over IPv4 from %s (NAT64): "+
			"it had no way to send the call to that Contact", t.dst.Addr(), statusText(na.Status, na.Phrase), user, g.contact, g.src),
		Evidence: []report.Evidence{t.sentEvidence(), {Text: fmt.Sprintf("%s registered from %s, Contact %s", user, g.src, g.contactText()),
			Frames: []uint64{g.firstOkFrame}, Time: g.firstOkAt}}}, true
}
