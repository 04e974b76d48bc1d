package capture

import (
	"fmt"
	"slices"
	"strings"
	"time"

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
	// IDAudioBarelySent: on a two-way call, one direction carried a few
	// packets while the other flowed for seconds: its listener heard next
	// to nothing, though what was sent arrived.
	IDAudioBarelySent report.FindingID = "audio-barely-sent"
	// IDMediaOutage: a stream stopped arriving for seconds mid-call while
	// its sender went on sending.
	IDMediaOutage report.FindingID = "media-outage"
)

// outageExplains: a stream's loss is its outage's when the outage holds
// this share of the packets lost or more; the loss then says nothing of
// the network's quality around it.
const outageExplains = 0.8

// minOutagePackets: a stream shorter than a second of 20 ms packets is a
// snippet (a sample capture, a stream cut by the capture's start or end):
// its gaps prove no outage.
const minOutagePackets = 50

// A direction barely sent audio when it carried at most
// barelySentPackets (a second of 20 ms packets) while the other direction
// flowed for at least barelySentAgainst and ten times as many packets: a
// listener hears a word at most. A phone with silence suppression and
// nobody speaking, or a muted microphone, sends so; a direction that
// carried speech sends more.
const (
	barelySentPackets = 50
	barelySentAgainst = 5 * time.Second
)

// minSRTPChecked: this many samples must fail before the keys are called
// wrong.
const minSRTPChecked = 3

const (
	remedySilent = "Check the sending phone's microphone and audio device: the mute button, a headset that is unplugged or muted, " +
		"the input device the softphone uses, the operating system's microphone permission. The network delivered its packets."
	remedyBarelySent = "Check the sending phone: its microphone and mute button, and whether it suppresses silence (VAD) without sending " +
		"comfort noise, which leaves its listener with nothing while the other party speaks. Turn silence suppression off, or enable comfort noise " +
		"(RFC 3389, payload type 13) on both ends. The network delivered what the phone sent."
	remedySRTPKeys = "The media is not encrypted with the key its SDP announced: a B2BUA or SBC that re-writes a=crypto without re-encrypting, " +
		"or a phone that re-keys without a new offer. Check the SRTP settings of both ends and of any SBC between them."
	remedyOutage = "Every packet sent for seconds was lost, then the stream came back: an outage, not congestion. Look for what drops a stream whole: " +
		"a NAT or firewall whose mapping for it expired or was reset (a WAN reconnect, a firewall reload, UDP timeouts shorter than the phone's pauses), " +
		"a link or Wi-Fi that went down or roamed, a routing change. Captures on both sides of the NAT show where the packets stop."
	remedyPoorQuality = "Loss and jitter arise between the sender and the capture point: look for a congested uplink (give RTP priority, " +
		"DSCP EF, on the router and the LAN), Wi-Fi with a weak signal, or a duplex mismatch; a capture nearer the sender narrows it down."
)

// qualityFindings derives a call's quality findings from its report entry
// alone: silence on a direction that delivered its packets, poor quality,
// and RTCP that says a stream never arrived. None changes the verdict:
// the first two are the other reasons a listener hears nothing or little,
// the last is evidence for a one-way verdict or, where the capture saw the
// packets leave and could not see them arrive, a finding of its own.
//
// listed, when set, gives the SDP formats a party listed for an m= line
// (callBuild.listedPayloads), to tell RTP keepalives from audio.
func qualityFindings(c report.Call, listed func(party, index int) []string) []report.Finding {
	fs := rtcpFindings(c)
	for i, dir := range directionNames {
		f := report.MainFlow(c, dir)
		if f == nil {
			continue
		}
		sender, listener := partyNames[i], partyNames[1-i]
		q := f.Quality
		ev := report.Evidence{
			Text:        strings.TrimSuffix(fmt.Sprintf("%s RTP %s → %s: %d packets, %s", sender, f.Src, f.Dst, f.Packets, q.Codec), ", "),
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
		outage, explained := outageFinding(c.CallID, f, ev, sender, listener)
		if outage != nil {
			fs = append(fs, *outage)
		}
		if q.MOS > 0 && q.MOS < report.PoorMOS && !explained {
			ev.Values = []report.KeyValue{{Key: "MOS", Value: fmt.Sprintf("%.2f", q.MOS)}, {Key: "loss", Value: fmt.Sprintf("%.1f%%", q.LossPct)},
				{Key: "jitter", Value: fmt.Sprintf("%.1f ms", q.JitterMeanMs)}}
			poor := report.Finding{ID: IDPoorAudioQuality, Severity: report.SeverityWarning, Subject: c.CallID,
				Title: fmt.Sprintf("Poor audio from the %s to the %s: estimated MOS %.1f (%.1f%% lost, jitter %.1f ms)",
					sender, listener, q.MOS, q.LossPct, q.JitterMeanMs),
				Evidence: []report.Evidence{ev}, Remedy: remedyPoorQuality}
			if q.LossPct >= thinnedLossPct {
				// A loss no call would go on with: the capture may have
				// kept few of the packets, not the network lost them.
				poor.Title += fmt.Sprintf(": the capture holds %d of %d packets. If it kept every packet, the %s heard next to nothing; "+
					"a capture thinned by a filter, by sampling or by drops at the capture point looks the same", f.Packets, q.Expected, listener)
				poor.Remedy = remedyThinCapture
			}
			fs = append(fs, poor)
		}
	}
	if f, ok := barelySentFinding(c, listed); ok {
		fs = append(fs, f)
	}
	return fs
}

// outageFinding reports the outage of a stream, and whether it explains
// the stream's loss.
func outageFinding(subject string, f *report.RTPFlow, ev report.Evidence, sender, listener string) (*report.Finding, bool) {
	o := f.Quality.Outage
	if o == nil || f.Packets < minOutagePackets {
		return nil, false
	}
	gap := o.To.Sub(o.From)
	fd := &report.Finding{ID: IDMediaOutage, Severity: report.SeverityWarning, Subject: subject,
		Title: fmt.Sprintf("The %s's audio stopped reaching the %s for %s mid-call, then came back: the %d packets sent meanwhile were all lost before the capture point",
			sender, listener, gap.Round(100*time.Millisecond), o.Missing),
		Evidence: []report.Evidence{ev, {
			Text:   fmt.Sprintf("nothing from %s %s to %s; the sequence numbers skip %d packets", f.Src, o.From.Format("15:04:05.000"), o.To.Format("15:04:05.000"), o.Missing),
			Frames: uniqueFrames(o.FromFrame, o.ToFrame), Time: o.From,
		}},
		Remedy: remedyOutage}
	return fd, f.Lost > 0 && float64(o.Missing) >= outageExplains*float64(f.Lost)
}

// barelySentFinding reports a direction of a two-way call that carried
// next to no audio while the other direction flowed (see
// barelySentPackets). The verdict stays: the packets sent arrived, so the
// path is open, and the cause is at the sender.
func barelySentFinding(c report.Call, listed func(party, index int) []string) (report.Finding, bool) {
	if c.Verdict != report.VerdictTwoWay {
		return report.Finding{}, false
	}
	flows := [2]*report.RTPFlow{report.MainFlow(c, directionNames[caller]), report.MainFlow(c, directionNames[callee])}
	for i, f := range flows {
		o := flows[1-i]
		if f == nil || o == nil || f.Packets > barelySentPackets || o.Packets < 10*f.Packets {
			continue
		}
		flowed := o.Last.Sub(o.First)
		if flowed < barelySentAgainst {
			continue
		}
		sender, listener := partyNames[i], partyNames[1-i]
		span := flowed.Round(100 * time.Millisecond)
		ev := []report.Evidence{
			{Text: fmt.Sprintf("%s RTP %s → %s: %s, %s", sender, f.Src, f.Dst, report.Plural(int(f.Packets), "packet"), sentSpan(f)),
				FrameRanges: []report.FrameRange{{First: f.FirstFrame, Last: f.LastFrame}}, Time: f.First},
			{Text: fmt.Sprintf("%s RTP %s → %s: %d packets over %s", listener, o.Src, o.Dst, o.Packets, span),
				FrameRanges: []report.FrameRange{{First: o.FirstFrame, Last: o.LastFrame}}, Time: o.First},
		}
		title := fmt.Sprintf("The %s sent %s while the %s sent %d over %s: the %s heard next to nothing. "+
			"What was sent arrived, so the path is open: the %s's phone stopped sending (silence suppression without comfort noise, "+
			"or a muted microphone), not a NAT fault", sender, report.Plural(int(f.Packets), "RTP packet"), listener, o.Packets, span, listener, sender)
		if pts, ok := unnamedPayloads(c, f, listed); ok {
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("the %s's packets are of payload type %s, which no SDP of the call names: "+
				"RTP keepalives (RFC 6263) that keep its NAT mapping open, no audio", sender, pts)})
			title = fmt.Sprintf("The %s sent no audio, only %s, while the %s sent %d packets over %s: the %s heard nothing. "+
				"The path is open: the %s's phone never sent its audio (a muted microphone, a wrong audio device), not a NAT fault",
				sender, report.Plural(int(f.Packets), "RTP keepalive"), listener, o.Packets, span, listener, sender)
		} else if l := f.Quality.Level; l != nil && l.Active == 0 {
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("the %s's packets carry silence (peak %.0f dBov): nobody spoke, or its microphone is muted", sender, l.PeakDBov)})
		}
		return report.Finding{ID: IDAudioBarelySent, Severity: report.SeverityWarning, Subject: c.CallID,
			Title: title, Evidence: ev, Remedy: remedyBarelySent}, true
	}
	return report.Finding{}, false
}

// unnamedPayloads lists flow f's payload types ("95" or "95, 96") when
// neither party's SDP names any of them for f's stream, comfort noise
// aside (allUnlisted): what RFC 6263 has a phone send to keep its NAT
// mapping open, an RTP packet of a type the session never negotiated,
// carries no audio.
func unnamedPayloads(c report.Call, f *report.RTPFlow, listed func(party, index int) []string) (string, bool) {
	if listed == nil {
		return "", false
	}
	for _, ms := range c.Streams {
		if !slices.ContainsFunc(ms.Flows, func(o report.RTPFlow) bool { return o.Src == f.Src && o.Dst == f.Dst }) {
			continue
		}
		named := append(listed(caller, ms.Index), listed(callee, ms.Index)...)
		if len(named) == 0 || !allUnlisted(f.PayloadTypes, named) {
			return "", false
		}
		return audioPayloads(f.PayloadTypes), true
	}
	return "", false
}

// sentSpan says over how long a flow's packets were sent.
func sentSpan(f *report.RTPFlow) string {
	if f.Packets < 2 {
		return "then nothing"
	}
	return "within " + f.Last.Sub(f.First).Round(time.Millisecond).String() + ", then nothing"
}

// thinnedLossPct is a loss past which the capture is as likely to blame as
// the network: at 90 % lost no one would stay on the call, yet captures
// thinned to a packet in ten or a hundred (a display filter exported,
// sampling, a capture that could not keep up) show just that.
const thinnedLossPct = 90

// remedyThinCapture is the poor-audio remedy at such a loss.
const remedyThinCapture = "Check the capture before the network: capture whole streams, with no display filter or sampling, where it keeps up " +
	"(tcpdump reports the packets it dropped; give it a larger buffer with -B). If a whole capture loses as much, find the congestion or " +
	"weak link between the sender and the capture point (QoS, Wi-Fi, duplex)."

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
