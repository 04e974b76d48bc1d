package capture

import (
	"fmt"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// vantage says from where the capture saw the calls, judged from the
// signalling sources of their parties (private and public counts them): a
// capture inside a LAN sees private sources, one on the internet side of a
// NAT sees the NAT's public address.
func vantage(private, public int) string {
	switch {
	case private == 0 && public == 0:
		return "unknown: no call signalling in the capture"
	case public == 0:
		return "inside a private network: every party's SIP comes from a private address, so NATs further out are not visible; RTP seen leaving is not proof that it arrived"
	case private == 0:
		return "on the public side: every party's SIP comes from a public address (NATed phones appear as their NAT's mapping); packets sent to private addresses cannot arrive"
	}
	return "at a point that sees both private and public parties (a SIP server, a PBX or the NAT's own LAN side): private parties are seen before their NAT"
}

// captureFindings are the findings about the capture as a whole.
func captureFindings(s *state) []report.Finding {
	var fs []report.Finding
	if n := s.counts.tls; n > 0 && s.tlsKeys == nil {
		fs = append(fs, report.Finding{
			ID: IDSignallingEncrypted, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("%d packets of SIP over TLS (port 5061): the signalling is encrypted and cannot be read without the keys", n),
			Evidence: []report.Evidence{{Text: "TLS records on port 5061", Frames: s.tlsSeen}},
			Remedy:   "Capture on the phone or server where SIP is in clear text (or with its TLS keys), or temporarily use SIP over UDP/TCP while diagnosing; the media flows below are still judged.",
		})
	}
	fs = append(fs, s.mediaWithoutSignalling()...)
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

func remedyID(text string) string {
	switch text {
	case remedyPrivateSDP:
		return "announce-public-media-address"
	case remedyALG:
		return "disable-sip-alg"
	case remedyNoMedia:
		return "open-rtp-path"
	case remedySentNoMedia:
		return "check-the-sending-phone"
	case remedyUnreachableContact:
		return "fix-nated-registration"
	case remedyUnanswered:
		return "reach-the-destination"
	case remedyNeverRang:
		return "keep-the-callee-reachable"
	case remedyKeepAlive:
		return "keep-the-nat-open"
	case remedyUnmappedPort:
		return "send-media-to-its-source"
	case remedyIgnored:
		return "check-the-far-sip-service"
	case remedyTLSKeys:
		return "give-the-tls-keys"
	case remedyOneWayNoSignalling:
		return "judge-the-calls-behind-one-way-media"
	case remedyRegisterRefused:
		return "fix-the-phone-account"
	case remedyRefusedMedia:
		return "open-the-refused-rtp-port"
	case remedyHairpin:
		return "lan-peers-on-lan-addresses"
	case remedyForwardRTPRange:
		return "forward-the-whole-rtp-range"
	case remedyDirectMediaNAT:
		return "keep-relaying-phones-behind-nat"
	case remedyBarelySent:
		return "check-silence-suppression"
	case remedyDialogUnknown:
		return "find-why-the-far-end-lost-the-call"
	case remedyOutage:
		return "find-what-dropped-the-stream"
	case remedyPayloadNotListed:
		return "send-negotiated-payload-types"
	case remedyPoorQuality:
		return "fix-loss-and-jitter"
	case remedyPrivateSDPWithICE:
		return "ice-on-both-ends"
	case remedyRemapped:
		return "follow-remapped-media"
	case remedySRTPKeys:
		return "match-the-srtp-keys"
	case remedySilent:
		return "check-the-microphone"
	case remedyStartedLate:
		return "send-media-at-the-answer"
	case remedyStopped:
		return "find-where-the-stream-ends"
	case remedyStoppedSender:
		return "check-the-sender-that-stopped"
	case remedyUnacknowledged:
		return "make-the-contact-reachable"
	}
	return "other"
}

func remedyTitle(text string) string {
	switch text {
	case remedyPrivateSDP:
		return "Make the phone announce a reachable media address (STUN), or let the server fix it (symmetric RTP / relay)"
	case remedyALG:
		return "Disable the router's SIP ALG"
	case remedyNoMedia:
		return "Open the RTP path (firewall, port forwarding) or relay media through the server"
	case remedySentNoMedia:
		return "Check the phone that sends no audio (microphone, audio device): the network is not at fault"
	case remedyUnreachableContact:
		return "Let the SIP server reach phones behind NAT at the address they register from (fix the Contact, keep the NAT open)"
	case remedyUnanswered:
		return "Make the SIP destination reachable"
	case remedyNeverRang:
		return "Keep the callee reachable (registration, NAT keep-alives)"
	case remedyKeepAlive:
		return "Send NAT keep-alives more often than the router's UDP timeout"
	case remedyUnmappedPort:
		return "Send media to where it really comes from (symmetric RTP), or stop the NAT changing its port"
	case remedyIgnored:
		return "Find why the far end's SIP service ignored a request it was delivered"
	case remedyTLSKeys:
		return "Give natdoc the TLS keys of the SIP sessions"
	case remedyOneWayNoSignalling:
		return "Find where the one-way RTP's replies go: capture its SIP (or give its TLS keys), check the far end's media address and the NAT"
	case remedyRegisterRefused:
		return "Fix the phone's account (credentials, domain) so its registration succeeds"
	case remedyRefusedMedia:
		return "Open the port that refuses the RTP: the receiver's firewall, or its router's forwarding"
	case remedyHairpin:
		return "Let phones on one LAN send each other media at LAN addresses (or turn on NAT loopback, or relay it)"
	case remedyForwardRTPRange:
		return "Forward the server's whole RTP port range on its router (or narrow the range to the forward)"
	case remedyDirectMediaNAT:
		return "Keep the PBX relaying the media of phones behind NAT (no direct media to them)"
	case remedyBarelySent:
		return "Check the sending phone's silence suppression (send comfort noise) and microphone"
	case remedyDialogUnknown:
		return "Find why the far end lost the call (a restart, failover, or a request sent to the wrong device)"
	case remedyOutage:
		return "Find what dropped the stream for seconds (a NAT mapping reset, a link or Wi-Fi down, a route change)"
	case remedyPayloadNotListed:
		return "Make the sender use the payload types the receiver's SDP lists"
	case remedyPoorQuality:
		return "Find the congestion or weak link between the sender and the capture point (QoS, Wi-Fi, duplex)"
	case remedyPrivateSDPWithICE:
		return "Turn ICE on at the far end, or make the phone's default candidate public, or anchor the media"
	case remedyRemapped:
		return "Let the far end follow the media's new source (symmetric RTP) and keep the NAT mapping alive"
	case remedySRTPKeys:
		return "Make the media use the SRTP key its SDP announced (check SBCs that rewrite a=crypto)"
	case remedySilent:
		return "Check the sending phone's microphone and audio device: the network delivered its packets"
	case remedyStartedLate:
		return "Make both sides send RTP at the answer, without waiting for the other's first packet"
	case remedyStopped:
		return "Find where the stream ends mid-call: the phone, or a NAT, firewall or SIP ALG on the way"
	case remedyStoppedSender:
		return "Check the sender that stopped sending without saying so (phone or media server)"
	case remedyUnacknowledged:
		return "Make the answer's Contact a reachable address, so the ACK arrives"
	}
	return text
}

// verdictSentence is the report's one-line answer, from the number of
// calls and how many had each verdict.
func verdictSentence(calls int, counts map[report.Verdict]int) string {
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
