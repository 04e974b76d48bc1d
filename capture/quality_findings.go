package capture

import (
	"fmt"

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
)

const (
	remedySilent = "Check the sending phone's microphone and audio device: the mute button, a headset that is unplugged or muted, " +
		"the input device the softphone uses, the operating system's microphone permission. The network delivered its packets."
	remedyPoorQuality = "Loss and jitter arise between the sender and the capture point: look for a congested uplink (give RTP priority, " +
		"DSCP EF, on the router and the LAN), Wi-Fi with a weak signal, or a duplex mismatch; a capture nearer the sender narrows it down."
)

// qualityFindings derives a call's quality findings from its report entry
// alone: silence on a direction that delivered its packets, and poor
// quality. Neither changes the verdict: they are the other reasons a
// listener hears nothing or little.
func qualityFindings(c report.Call) []report.Finding {
	var fs []report.Finding
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
