package capture

import (
	"fmt"
	"slices"

	"github.com/natdoc/natdoc/report"
)

// Finding IDs of the quality checks.
const (
	// IDSilentAudio: a direction's packets arrive but carry only silence or
	// comfort noise for the whole call.
	IDSilentAudio report.FindingID = "silent-audio"
	// IDPoorAudioQuality: loss and jitter put a direction's estimated MOS
	// below report.PoorMOS.
	IDPoorAudioQuality report.FindingID = "poor-audio-quality"
	// IDReceiverHeardNothing: a receiver's RTCP says it received nothing
	// of a stream the capture saw leaving for it, on a call whose verdict
	// (from where the capture saw it) is not already one-way or no-way.
	IDReceiverHeardNothing report.FindingID = "rtcp-receiver-heard-nothing"
	// IDSRTPAuthFailed: no sampled packet of an SDES-SRTP stream
	// authenticates with any key of the call's SDP.
	IDSRTPAuthFailed report.FindingID = "srtp-authentication-failed"
)

// minSRTPChecked: this many samples must fail before the keys are called
// wrong.
const minSRTPChecked = 3

const (
	remedySilent = "Check the sending phone's microphone and audio device: the mute button, a headset that is unplugged or muted, " +
		"the input device the softphone uses, the operating system's microphone permission. The network delivered its packets."
	remedySRTPKeys = "The media is not encrypted with the key its SDP announced: a B2BUA or SBC that re-writes a=crypto without re-encrypting, " +
		"or a phone that re-keys without a new offer. Check the SRTP settings of both ends and of any SBC between them."
	remedyPoorQuality = "Loss and jitter arise between the sender and the capture point: look for a congested uplink (give RTP priority, " +
		"DSCP EF, on the router and the LAN), Wi-Fi with a weak signal, or a duplex mismatch; a capture nearer the sender narrows it down."
)

// qualityFindings derives a call's quality findings from its report entry
// alone: silence on a direction that delivered its packets, poor quality,
// and RTCP that says a stream never arrived. None changes the verdict:
// the first two are the other reasons a listener hears nothing or little,
// the last is evidence for a one-way verdict or, where the capture saw the
// packets leave and could not see them arrive, a finding of its own.
func qualityFindings(c report.Call) []report.Finding {
	fs := rtcpFindings(c)
	for i, dir := range [2]string{"caller->callee", "callee->caller"} {
		f := report.MainFlow(c, dir)
		if f == nil {
			continue
		}
		sender, listener := partyNames[i], partyNames[1-i]
		q := f.Quality
		ev := report.Evidence{
			Text:        fmt.Sprintf("%s RTP %s → %s: %d packets, %s", sender, f.Src, f.Dst, f.Packets, q.Codec),
			FrameRanges: []report.FrameRange{{First: f.FirstFrame, Last: f.LastFrame}}, Time: f.First,
		}
		if l := q.Level; l != nil && l.Silent {
			ev.Values = []report.KeyValue{{Key: "mean", Value: fmt.Sprintf("%.0f dBov", l.MeanDBov)}, {Key: "peak", Value: fmt.Sprintf("%.0f dBov", l.PeakDBov)}}
			fs = append(fs, report.Finding{ID: IDSilentAudio, Severity: report.SeverityWarning, Subject: c.CallID,
				Title: fmt.Sprintf("The %s's audio is silence for the whole call: the %s hears nothing although every packet arrives "+
					"(a muted microphone or a wrong audio device, not a NAT fault)", sender, listener),
				Evidence: []report.Evidence{ev, {Text: fmt.Sprintf("%d of %d packets measured, none louder than %.0f dBov; %d comfort noise",
					l.Packets, f.Packets, l.SilentDBov, l.ComfortNoise)}},
				Remedy: remedySilent})
		}
		if x := q.SRTP; x != nil && x.Authenticated == 0 && x.Checked >= minSRTPChecked {
			fs = append(fs, report.Finding{ID: IDSRTPAuthFailed, Severity: report.SeverityWarning, Subject: c.CallID,
				Title: fmt.Sprintf("SRTP from the %s fails authentication with every key in the call's SDP (%d packets checked): "+
					"the %s must discard it and hears nothing, although the packets arrive", sender, x.Checked, listener),
				Evidence: []report.Evidence{ev}, Remedy: remedySRTPKeys})
		}
		if q.MOS > 0 && q.MOS < report.PoorMOS {
			ev.Values = []report.KeyValue{{Key: "MOS", Value: fmt.Sprintf("%.2f", q.MOS)}, {Key: "loss", Value: fmt.Sprintf("%.1f%%", q.LossPct)},
				{Key: "jitter", Value: fmt.Sprintf("%.1f ms", q.JitterMeanMs)}}
			fs = append(fs, report.Finding{ID: IDPoorAudioQuality, Severity: report.SeverityWarning, Subject: c.CallID,
				Title: fmt.Sprintf("Poor audio from the %s to the %s: estimated MOS %.1f (%.1f%% lost, jitter %.1f ms)",
					sender, listener, q.MOS, q.LossPct, q.JitterMeanMs),
				Evidence: []report.Evidence{ev}, Remedy: remedyPoorQuality})
		}
	}
	return fs
}

// Verdict findings the RTCP evidence joins (made in findings.go).
var verdictFindingIDs = []report.FindingID{report.IDOneWayAudio, report.IDNoWayAudio}

// rtcpFindings adds, for every stream whose receiver's RTCP mentions none
// of its packets, that fact as evidence to the call's one-way or no-way
// finding in c.Findings (which it changes), or returns a finding of its
// own when the call has none.
func rtcpFindings(c report.Call) []report.Finding {
	var verdict *report.Finding
	for i := range c.Findings {
		if slices.Contains(verdictFindingIDs, c.Findings[i].ID) {
			verdict = &c.Findings[i]
		}
	}
	var own []report.Finding
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			v := f.Reports
			if f.RTCP || v == nil || !v.ReceiverHeardNothing || v.ReceiverRTCP == nil {
				continue
			}
			sender, receiver := "caller", "callee"
			if f.Direction == "callee->caller" {
				sender, receiver = receiver, sender
			}
			r := v.ReceiverRTCP
			ev := report.Evidence{
				Text: fmt.Sprintf("the %s's RTCP from %s (SR/RR packets: %d) mentions none of the %d packets the %s sent from %s to %s: the %s received nothing",
					receiver, r.From, r.Reports, f.Packets, sender, f.Src, f.Dst, receiver),
				FrameRanges: []report.FrameRange{{First: r.FirstFrame, Last: r.LastFrame}, {First: f.FirstFrame, Last: f.LastFrame}},
			}
			if verdict != nil {
				verdict.Evidence = append(verdict.Evidence, ev)
				continue
			}
			own = append(own, report.Finding{ID: IDReceiverHeardNothing, Severity: report.SeverityWarning, Subject: c.CallID,
				Title: fmt.Sprintf("The %s's RTCP says it received nothing from the %s, although the capture saw %d packets leave for it: "+
					"they are lost beyond the capture point", receiver, sender, f.Packets),
				Evidence: []report.Evidence{ev}, Remedy: remedyNoMedia})
		}
	}
	return own
}
