package capture

import (
	"fmt"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// A call refused 488 (Not Acceptable Here) or 606 (Not Acceptable) was
// refused for its SDP offer: the callee, or a PBX or SBC on the way,
// takes none of the media it offers. The offer says why more often than
// the response does: no stream left active (port 0), media security the
// other side does not take (SRTP, DTLS), no audio at all, or codecs the
// route does not allow.

// IDMediaOfferRefused: the call was refused for its media offer.
const IDMediaOfferRefused report.FindingID = "media-offer-refused"

// remedyOfferRefused is for a call refused for its offer.
const remedyOfferRefused = "Give the caller and the callee (and every PBX or SBC between them) a codec in common, G.711 (PCMU, PCMA) being " +
	"the one nearly all take, and the same media security (SRTP or plain RTP) on both sides of each hop; where they cannot agree, " +
	"let the PBX or SBC transcode. An offer without an active stream (port 0) is the caller's fault: its media ports or settings."

// refusesOffer says whether a final response refuses the offer.
func refusesOffer(status int) bool { return status == 488 || status == 606 }

// offerRefusedFinding tells why the offer of a call refused 488 or 606
// was not acceptable, as far as the offer shows it.
func offerRefusedFinding(cb *callBuild, na *report.NotAnswered) (report.Finding, bool) {
	offer := cb.call.Offer
	if na == nil || na.Reason != report.NotAnsweredRejected || !refusesOffer(na.Status) || offer == nil || offer.SDP == nil {
		return report.Finding{}, false
	}
	by := na.By
	if na.ByAgent != "" {
		by += " (" + na.ByAgent + ")"
	}
	status := statusText(na.Status, na.Phrase)
	// Who refused is evidence, not title: each hop of a proxied call
	// tells the same refusal, and the call keeps one finding per title.
	problem, remedy := offerProblem(offer.SDP), remedyOfferRefused
	if why, ok := refusedFamily(offer.SDP, na.By); ok {
		problem, remedy = why, remedyAddressFamily
	}
	title := fmt.Sprintf("The call was refused for its media offer (%s): %s", status, problem)
	if na.Cause != "" {
		title += "; the response says: " + na.Cause
	}
	return report.Finding{ID: IDMediaOfferRefused, Severity: report.SeverityWarning, Subject: cb.call.CallID, Title: title, Remedy: remedy,
		Evidence: []report.Evidence{
			{Text: "the offer: " + offerText(offer.SDP), Frames: []uint64{offer.Frame}},
			{Text: "refused " + status + " by " + by, Addrs: []string{na.By}},
		}}, true
}

// offerProblem says what in the offer the other side may not take.
func offerProblem(sd *sdpInfo) string {
	var active []sdpMedia
	audio, secure := false, 0
	for _, m := range sd.Media {
		if m.Port == 0 {
			continue
		}
		active = append(active, m)
		audio = audio || m.Media == "audio"
		if secureProfile(m.Proto) || len(m.Crypto) > 0 {
			secure++
		}
	}
	switch {
	case len(active) == 0:
		return "it has no active stream, every m= line on port 0 (disabled): the caller offered no media it can receive"
	case secure == len(active):
		return "it offers encrypted media only (" + active[0].Proto + "), which the other side may not take: SRTP or DTLS on one side, plain RTP on the other"
	case !audio:
		return "it offers no audio, only " + active[0].Media
	}
	return "the other side takes none of its codecs (" + strings.Join(offeredCodecs(active), ", ") + ") over " + active[0].Proto
}

// secureProfile says whether an m= line's transport is SRTP's (RTP/SAVP,
// RTP/SAVPF, UDP/TLS/RTP/SAVPF for DTLS-SRTP).
func secureProfile(proto string) bool {
	return strings.Contains(strings.ToUpper(proto), "SAVP")
}

// offeredCodecs names the codecs of the active streams, each once, the
// DTMF and comfort noise formats aside.
func offeredCodecs(active []sdpMedia) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range active {
		for _, c := range m.Codecs { // "PT name/rate" or "PT"
			_, name, ok := cutByte(c, ' ')
			if !ok {
				name = "payload type " + c
			}
			base, _, _ := cutByte(name, '/')
			if lower := strings.ToLower(base); lower == "telephone-event" || lower == "cn" || seen[name] {
				continue
			}
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// offerText writes the offer's m= lines as they read: media, port,
// transport and codecs.
func offerText(sd *sdpInfo) string {
	var lines []string
	for _, m := range sd.Media {
		line := fmt.Sprintf("m=%s %d %s %s", m.Media, m.Port, m.Proto, strings.Join(offeredCodecs([]sdpMedia{m}), " "))
		if m.Direction != "" && m.Direction != "sendrecv" {
			line += " (" + m.Direction + ")"
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	return strings.Join(lines, "; ")
}
