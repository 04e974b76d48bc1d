package capture

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// vantage says from where the capture saw the calls, judged from the
// signalling sources of their parties (private and public counts them): a
// capture inside a LAN sees private sources, one on the internet side of a
// NAT sees the NAT's public address.
func vantage(private, public int, host hostView) string {
	switch {
	case host.loopback != nil:
		return "on a loopback interface: it holds only its host's traffic to itself" + hostAddrs(host.loopback) +
			", none of what the host exchanged with others"
	case private == 0 && public == 0:
		return "unknown: no SIP call in the capture"
	case public == 0:
		return "inside a private network: every party's SIP comes from a private address, so NATs further out are not visible; RTP seen leaving is not proof that it arrived"
	case private == 0:
		return "on the public side: every party's SIP comes from a public address (NATed phones appear as their NAT's mapping); packets sent to private addresses cannot arrive"
	}
	return "at a point that sees both private and public parties (a SIP server, a PBX or the NAT's own LAN side): private parties are seen before their NAT"
}

// hostAddrs names a loopback capture's host by its addresses, as "
// (192.0.2.1, 10.0.0.1)", or "" when it saw only loopback addresses.
func hostAddrs(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return ""
	}
	names := make([]string, len(addrs))
	for i, a := range addrs {
		names[i] = a.String()
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// tlsPortsText names the SIP TLS ports seen: "port 5061", "ports 5061, 5081".
func tlsPortsText(ports map[uint16]bool) string {
	var ps []string
	for _, p := range sipTLSPorts {
		if ports[p] {
			ps = append(ps, strconv.Itoa(int(p)))
		}
	}
	if len(ps) == 1 {
		return "port " + ps[0]
	}
	return "ports " + strings.Join(ps, ", ")
}

// captureFindings are the findings about the capture as a whole.
func captureFindings(s *state) []report.Finding {
	var fs []report.Finding
	if n := s.counts.tls; n > 0 && s.tlsKeys == nil {
		fs = append(fs, report.Finding{
			ID: IDSignallingEncrypted, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("%d packets of SIP over TLS (%s): the signalling is encrypted and cannot be read without the keys", n, tlsPortsText(s.tlsPorts)),
			Evidence: []report.Evidence{{Text: "TLS records on " + tlsPortsText(s.tlsPorts), Frames: s.tlsSeen}},
			Remedy:   "Capture on the phone or server where SIP is in clear text (or with its TLS keys), or temporarily use SIP over UDP/TCP while diagnosing; the media flows below are still judged.",
		})
	}
	if f, ok := s.otherSig.finding(s.tally.calls); ok {
		fs = append(fs, f)
	}
	// The sessions of no call that stopped with a BYE of a call begun
	// before the capture, paired once for both findings that name them.
	stopped := s.calls.prior.stoppedWith(s.sessions.sorted())
	fs = append(fs, s.calls.prior.findings(&s.sessions, stopped)...)
	fs = append(fs, s.mediaWithoutSignalling(stopped)...)
	fs = append(fs, mappingFindings(&s.ice.mappings)...)
	if len(s.order) > 0 {
		var kinds []string
		for _, a := range s.list() {
			kinds = append(kinds, fmt.Sprintf("%d × %s", a.Count, a.Kind))
		}
		fs = append(fs, report.Finding{
			ID: IDCaptureAnomalies, Severity: report.SeverityInfo,
			Title: "Parts of the input could not be read as they are, and were skipped or read around: " + strings.Join(kinds, ", "),
		})
	}
	return fs
}

// remedies ranks the remedies of all problem findings, most frequent
// first: the capture's findings, then the calls' (tallied as they were
// judged). A capture finding that explains several calls (explains: by
// its remedy, how many) counts as many times, so it ranks above the
// calls' own, less exact remedy.
func remedies(captureFindings []report.Finding, calls *remedyTally, explains map[string]int) []report.Remedy {
	var own remedyTally
	own.add(captureFindings)
	for text, n := range explains {
		if rc := own.byText[text]; rc != nil && n > rc.count {
			rc.count = n
		}
	}
	return rank(&own, calls)
}

// remedyNames are each remedy's ID and short title, by its text: the
// report lists a remedy by its title, with the whole text as its detail.
var remedyNames = map[string]struct{ id, title string }{
	remedyLoopbackSDP:             {"announce-a-network-media-address", "Make the party announce its network address for media, not a loopback address (or relay its media)"},
	remedyPrivateSDP:              {"announce-public-media-address", "Make the phone announce a reachable media address (STUN), or let the server fix it (symmetric RTP / relay)"},
	remedyALG:                     {"disable-sip-alg", "Disable the router's SIP ALG"},
	remedyNoMedia:                 {"open-rtp-path", "Open the RTP path (firewall, port forwarding) or relay media through the server"},
	remedySentNoMedia:             {"check-the-sending-phone", "Check the phone that sends no audio (microphone, audio device): the network is not at fault"},
	remedyFaxToAudioPort:          {"t38-to-the-fax-port", "Have T.38 sent to the port the fax's SDP names: the same port as RTP on the phone, or a server that follows it"},
	remedyOnlyOtherMedia:          {"check-the-phones-audio", "Check the phones' audio (devices, codecs) and any rule for the audio ports: the call's video got through"},
	remedySenderHostSilent:        {"check-the-sending-host", "Check the party whose own host sent no RTP (its media, audio device, host firewall): the network lost nothing"},
	remedyUnreachableContact:      {"fix-nated-registration", "Let the SIP server reach phones behind NAT at the address they register from (fix the Contact, keep the NAT open)"},
	remedyContactPortMoved:        {"send-to-the-port-the-party-uses", "Send requests in the call to the port the party's SIP comes from (its NAT changed the port its Contact names)"},
	remedyContactPortRemapped:     {"send-to-the-registered-port", "Let the registrar send calls to the port the phone's REGISTER came from (its NAT changed it)"},
	remedyUnanswered:              {"reach-the-destination", "Make the SIP destination reachable"},
	remedyNeverRang:               {"keep-the-callee-reachable", "Keep the callee reachable (registration, NAT keep-alives)"},
	remedyKeepAlive:               {"keep-the-nat-open", "Send NAT keep-alives more often than the router's UDP timeout"},
	remedyFilteredSource:          {"send-from-the-registrar", "Send requests to a phone behind NAT from the address it registered with"},
	remedyAnswerFromAddressAsked:  {"answer-from-the-address-asked", "Make the server answer from the address the request was sent to"},
	remedySendFromWhereReceived:   {"send-media-from-where-it-is-received", "Send media from the address and port the phone's media goes to (symmetric RTP)"},
	remedyContactPortNotForwarded: {"advertise-the-forwarded-sip-port", "Make the server advertise the outside SIP port its router forwards to it"},
	remedyRecordRoutePrivate:      {"record-route-the-public-address", "Make the proxy behind NAT Record-Route its public address"},
	remedySendFromDialogPeer:      {"send-from-the-dialog-peer", "Send a call's requests to a phone behind NAT from the address its SIP goes to"},
	remedyMappingVaries:           {"relay-media-past-a-symmetric-nat", "Relay the media, or send it to where it comes from: STUN cannot work behind a NAT that maps per destination"},
	remedyMediaAddressMoved:       {"send-media-to-its-source-address", "Send media to the address it really comes from (symmetric RTP), or keep the phone's traffic on one public address"},
	remedyContactFamily:           {"send-to-the-nat64-mapping", "Let the registrar send calls to where an IPv6 phone's REGISTER came from (its NAT64 mapping), or make it dual-stack"},
	remedySIPAddressFamily:        {"give-ipv6-phones-ipv6-sip-addresses", "Give phones on IPv6 alone IPv6 addresses to send SIP to (a dual-stack server or SBC), or a NAT64-aware SIP stack"},
	remedyAddressFamily:           {"offer-media-in-a-shared-address-family", "Offer media in an address family both sides have (IPv4 to IPv4 peers), or relay it between IPv6 and IPv4"},
	remedyStaleExternalAddress:    {"correct-the-external-address", "Set the phone's or PBX's external address to its NAT's current one (or a dynamic-DNS name, or STUN)"},
	remedyUnmappedPort:            {"send-media-to-its-source", "Send media to where it really comes from (symmetric RTP), or stop the NAT changing its port"},
	remedyIgnored:                 {"check-the-far-sip-service", "Find why the far end's SIP service ignored a request it was delivered"},
	remedyKeepTCPOpen:             {"reuse-the-phones-tcp-connection", "Reach phones behind NAT over the TCP connection they opened, and keep it open"},
	remedyRegisterRepeated:        {"find-why-the-phone-registers-again", "Find why the phone registers again long before its registration ends"},
	remedyDroppedOnHost:           {"check-the-receiving-host", "Find what on the receiving host dropped the request: its firewall (fail2ban), or the SIP service's ACL or rate limit"},
	remedyTLSKeys:                 {"give-the-tls-keys", "Give natdoc the TLS keys of the SIP sessions"},
	remedyRegistrarUnreachable:    {"reach-the-registrar", "Make the registrar reachable from the phone (its address and port, the registrar's firewall, port forwarding)"},
	remedyRegisterResponsesLost:   {"bring-register-answers-back", "Let the registrar's answers reach the phone (rport, the phone's NAT, SIP ALG, fragments)"},
	remedyScanner:                 {"keep-sip-scanners-out", "Keep SIP scanners out (firewall, fail2ban, block lists): nothing to mend for the call"},
	remedyOpenDialOut:             {"close-open-dial-out", "Let only authenticated accounts and trunks dial out: a server put a caller from the internet through"},
	remedyOneWayNoSignalling:      {"judge-the-calls-behind-one-way-media", "Find where the one-way RTP's replies go: capture its SIP (or give its TLS keys), check the far end's media address and the NAT"},
	remedyRegisterRefused:         {"fix-the-phone-account", "Fix the phone's account (credentials, domain) so its registration succeeds"},
	remedyNotRouted:               {"route-calls-to-registered-phones", "Route calls to the registered phone (the server's dial plan or routing)"},
	remedyCalleeUnregistered:      {"keep-the-callee-registered", "Get the callee registered (and renewed) before it is called"},
	remedyCallCredentials:         {"check-the-callers-account", "Check the caller's account on the server (credentials, allowed destinations)"},
	remedyCallNoCredentials:       {"give-the-caller-credentials", "Give the caller credentials for the server, or have the server take it by address"},
	remedyOfferRefused:            {"agree-on-codecs-and-media-security", "Give caller and callee a codec and media security in common, or transcode"},
	remedySiteRefused:             {"find-why-the-registrar-refuses-the-site", "Find why the registrar refuses the whole site (a block on its address, its trunk or domain)"},
	remedySiteUnanswered:          {"find-why-the-site-gets-no-answer", "Find why no phone of the site gets an answer from the registrar (a block on its address, the way there)"},
	remedyRegistrarFailed:         {"find-why-the-registrar-fails", "Find why the registrar fails (its logs, load, back end): the phone's account is not the cause"},
	remedyRefusedMedia:            {"open-the-refused-rtp-port", "Open the port that refuses the RTP: the receiver's firewall, or its router's forwarding"},
	remedyHairpin:                 {"lan-peers-on-lan-addresses", "Let phones on one LAN send each other media at LAN addresses (or turn on NAT loopback, or relay it)"},
	remedyForwardRTPRange:         {"forward-the-whole-rtp-range", "Forward the server's whole RTP port range on its router (or narrow the range to the forward)"},
	remedyFragmentsLost:           {"sip-over-tcp-or-smaller-messages", "Send SIP over TCP, make the INVITE smaller, or let IP fragments through"},
	remedyCaptureFragments:        {"capture-the-fragments", "Capture the IP fragments a filter by port leaves out"},
	remedyDirectMediaNAT:          {"keep-relaying-phones-behind-nat", "Keep the PBX relaying the media of phones behind NAT (no direct media to them)"},
	remedyBarelySent:              {"check-silence-suppression", "Check the sending phone's silence suppression (send comfort noise) and microphone"},
	remedyDialogUnknown:           {"find-why-the-far-end-lost-the-call", "Find why the far end lost the call (a restart, failover, or a request sent to the wrong device)"},
	remedyOutage:                  {"find-what-dropped-the-stream", "Find what dropped the stream for seconds (a NAT mapping reset, a link or Wi-Fi down, a route change)"},
	remedyPayloadNotListed:        {"send-negotiated-payload-types", "Make the sender use the payload types the receiver's SDP lists"},
	remedyThinCapture:             {"check-the-capture-first", "Check that the capture kept every packet before blaming the network for the loss"},
	remedyPoorQuality:             {"fix-loss-and-jitter", "Find the congestion or weak link between the sender and the capture point (QoS, Wi-Fi, duplex)"},
	remedyPrivateSDPWithICE:       {"ice-on-both-ends", "Turn ICE on at the far end, or make the phone's default candidate public, or anchor the media"},
	remedyRemapped:                {"follow-remapped-media", "Let the far end follow the media's new source (symmetric RTP) and keep the NAT mapping alive"},
	remedySRTPKeys:                {"match-the-srtp-keys", "Make the media use the SRTP key its SDP announced (check SBCs that rewrite a=crypto)"},
	remedySilent:                  {"check-the-microphone", "Check the sending phone's microphone and audio device: the network delivered its packets"},
	remedyStartedLate:             {"send-media-at-the-answer", "Make both sides send RTP at the answer, without waiting for the other's first packet"},
	remedyStopped:                 {"find-where-the-stream-ends", "Find where the stream ends mid-call: the phone, or a NAT, firewall or SIP ALG on the way"},
	remedyStoppedSender:           {"check-the-sender-that-stopped", "Check the sender that stopped sending without saying so (phone or media server)"},
	remedyUnacknowledged:          {"make-the-contact-reachable", "Make the answer's Contact a reachable address, so the ACK arrives"},
	remedyAckOtherDialog:          {"fix-the-callers-ack", "Fix the caller's SIP software: it acknowledges an answer with another dialog's tags"},
	remedyResponsesLost:           {"deliver-the-sip-responses", "Make the SIP responses reach the INVITE's sender (rport, its NAT or firewall, SIP ALG): it kept resending"},
	remedyInDialogResponsesLost:   {"deliver-the-in-dialog-responses", "Make the answers to requests inside the call reach their sender (rport, its NAT or firewall, SIP ALG)"},
}

// remedyID is a remedy's ID ("other" for a text without one).
func remedyID(text string) string {
	if n, ok := remedyNames[text]; ok {
		return n.id
	}
	return "other"
}

// remedyTitle is a remedy's short title (its text for one without one).
func remedyTitle(text string) string {
	if n, ok := remedyNames[text]; ok {
		return n.title
	}
	return text
}

// verdictSentence is the report's one-line answer, from the number of
// calls and how many had each verdict; unreadSIP counts the SIP messages
// that could not be read, which may be where the calls went, and cutSIP
// those the capture's snap length cut before anything naming their call.
func verdictSentence(calls int, counts map[report.Verdict]int, unreadSIP, cutSIP uint64) string {
	if calls == 0 && cutSIP > 0 {
		return fmt.Sprintf("No SIP call could be read: the capture's snap length cut %s before the headers that name their call; "+
			"capture whole packets (tcpdump -s 0).", report.Plural(int(cutSIP), "SIP message"))
	}
	if calls == 0 && unreadSIP > 0 {
		return fmt.Sprintf("No SIP calls (INVITE dialogs) found in the capture; %s could not be read (malformed-sip).", report.Plural(int(unreadSIP), "SIP message"))
	}
	if calls == 0 {
		return "No SIP calls (INVITE dialogs) found in the capture."
	}
	var parts []string
	for _, v := range []report.Verdict{report.VerdictOneWay, report.VerdictNoWay, report.VerdictTwoWay, report.VerdictOnHold,
		report.VerdictOneWayNegotiated, report.VerdictNotAnswered, report.VerdictIncompleteCapture, report.VerdictNoMediaExpected} {
		if n := counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	problems := counts[report.VerdictOneWay] + counts[report.VerdictNoWay]
	lead := fmt.Sprintf("%d call(s): ", calls)
	if problems > 0 {
		lead = fmt.Sprintf("%d of %d call(s) had audio problems: ", problems, calls)
	}
	return lead + strings.Join(parts, ", ") + "."
}
