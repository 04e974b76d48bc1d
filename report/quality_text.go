package report

import (
	"fmt"
	"strings"
)

// Directions of a call's media, as RTPFlow.Direction names them.
const (
	dirForward = "caller->callee"
	dirBack    = "callee->caller"
)

// MainFlow is the RTP flow that carried a direction's audio
// ("caller->callee" or "callee->caller"): of the streams the verdict
// counts, the flow with the most packets that could arrive and nothing
// says were lost (nil when there is none).
func MainFlow(c Call, dir string) *RTPFlow {
	var best *RTPFlow
	counted := verdictStreams(c)
	for i := range c.Streams {
		if !counted(&c.Streams[i]) {
			continue
		}
		for j := range c.Streams[i].Flows {
			f := &c.Streams[i].Flows[j]
			if f.RTCP || f.Unreachable || f.Unproven || f.Direction != dir || f.Quality == nil {
				continue
			}
			if best == nil || f.Packets > best.Packets {
				best = f
			}
		}
	}
	return best
}

// verdictStreams says whether the call's verdict counts a stream
// (MediaStream.InVerdict): the calls table counts packets and quality of
// those alone, or the audio of a video call shows video's. A report whose
// streams mark none (written before InVerdict) counts them all.
func verdictStreams(c Call) func(*MediaStream) bool {
	for i := range c.Streams {
		if c.Streams[i].InVerdict {
			return func(s *MediaStream) bool { return s.InVerdict }
		}
	}
	return func(*MediaStream) bool { return true }
}

// qualityCell is one direction's quality in the calls table: the MOS, or
// "silent" for audio that carries nothing to hear.
func qualityCell(f *RTPFlow) string {
	switch {
	case f == nil:
		return "-"
	case f.Quality.Level != nil && f.Quality.Level.Silent:
		return styleWarning.Render("silent")
	case f.Quality.MOS == 0:
		return "-"
	}
	s := fmt.Sprintf("%.1f", f.Quality.MOS)
	if f.Quality.MOS < PoorMOS {
		return styleError.Render(s)
	}
	return s
}

// PoorMOS: below it many listeners notice (G.107 Annex B: "some users
// dissatisfied" below R 70, MOS 3.6).
const PoorMOS = 3.6

// qualityEachWay is the calls table's quality column: MOS (or "silent")
// caller→callee / callee→caller.
func qualityEachWay(c Call) string {
	return qualityCell(MainFlow(c, dirForward)) + " / " + qualityCell(MainFlow(c, dirBack))
}

// textFlow writes one RTP or RTCP flow of a call's detail view: where it
// went, then its quality figures, each line wrapped at the width.
func textFlow(b *strings.Builder, f RTPFlow) {
	kind := "RTP "
	if f.RTCP {
		kind = "RTCP"
	}
	match := "SDP address"
	switch {
	case !f.MatchedSDP:
		match = "bound by heuristics"
	case f.ICECandidate != "":
		match = "SDP's ICE " + f.ICECandidate + " candidate"
	}
	switch {
	case f.Refused != "":
		match += "; refused: " + f.Refused
	case f.Unreachable:
		match += "; sent to an unreachable private address"
	}
	if f.TURNServer != "" {
		match += "; relayed by TURN server " + f.TURNServer + ", seen with " + f.TURNClient
	}
	fmt.Fprintf(b, "    %s %-14s %s%s → %s %s\n", kind, f.Direction, hang, f.Src, f.Dst, styleDim.Render("("+match+")"))
	frames := frameList(nil, []FrameRange{{f.FirstFrame, f.LastFrame}})
	if f.RTCP || f.Quality == nil {
		fmt.Fprintf(b, "         %s%d packets, %s\n", hang, f.Packets, framesLabel(frames))
		return
	}
	q := f.Quality
	fmt.Fprintf(b, "         %s%s, %d packets, lost %d of %d (%.1f%%), %d late, %d duplicated, %s\n",
		hang, orDash(q.Codec), f.Packets, f.Lost, q.Expected, q.LossPct, q.OutOfOrder, q.Duplicates, framesLabel(frames))
	mos := "MOS not estimated for this codec"
	if q.MOS > 0 {
		mos = fmt.Sprintf("MOS %.2f (R %.1f)", q.MOS, q.RFactor)
	}
	fmt.Fprintf(b, "         %sjitter %.2f ms mean, %.2f ms max; max gap %.0f ms; %s\n", hang, q.JitterMeanMs, q.JitterMaxMs, f.MaxGapMs, mos)
	if l := q.Level; l != nil {
		fmt.Fprintf(b, "         %s%s\n", hang, levelText(l))
	}
	if x := q.SRTP; x != nil {
		fmt.Fprintf(b, "         %s%s\n", hang, srtpText(x))
	}
	if s := rtcpText(f.Reports); s != "" {
		fmt.Fprintf(b, "         %s%s\n", hang, s)
	}
}

// levelText says how loud a stream was.
func levelText(l *AudioLevel) string {
	s := fmt.Sprintf("audio level %.0f dBov mean, %.0f dBov peak; %d of %d measured packets above %.0f dBov", l.MeanDBov, l.PeakDBov, l.Active, l.Packets, l.SilentDBov)
	if l.ComfortNoise > 0 {
		s += fmt.Sprintf(", %d comfort noise", l.ComfortNoise)
	}
	if l.Silent {
		s += styleWarning.Render(": silence for the whole call")
	}
	return s
}

// rtcpText says what the RTCP of a stream's two ends reported about it
// ("" when neither sent RTCP).
func rtcpText(v *RTCPView) string {
	if v == nil {
		return ""
	}
	var parts []string
	if v.SenderReports > 0 {
		parts = append(parts, fmt.Sprintf("sender's %s: %d packets sent", Plural(v.SenderReports, "report"), v.SenderPackets))
	}
	if r := v.Receiver; r != nil {
		s := fmt.Sprintf("receiver's %s (from %s, %s): lost %d, %.1f%% lately (worst %.1f%%), jitter %.2f ms (max %.2f)",
			Plural(r.Reports, "report"), r.From, framesLabel(frameList(nil, []FrameRange{{r.FirstFrame, r.LastFrame}})), r.CumulativeLost,
			r.FractionLostPct, r.MaxFractionLostPct, r.JitterMs, r.MaxJitterMs)
		if r.MislabelledSSRC != 0 {
			s += fmt.Sprintf("; the reports name SSRC %#08x, no stream's: they are matched to this one by its sequence numbers", r.MislabelledSSRC)
		}
		if x := r.XR; x != nil {
			s += fmt.Sprintf("; XR: loss %.1f%%, discarded %.1f%%", x.LossRatePct, x.DiscardRatePct)
			if x.MOSLQ > 0 {
				s += fmt.Sprintf(", MOS-LQ %.1f", x.MOSLQ)
			}
			if x.RoundTripMs > 0 {
				s += fmt.Sprintf(", round trip %d ms", x.RoundTripMs)
			}
		}
		parts = append(parts, s)
	}
	if v.ReceiverHeardNothing && v.ReceiverRTCP != nil {
		r := v.ReceiverRTCP
		parts = append(parts, styleError.Render(fmt.Sprintf("the receiver's %s (from %s, %s) mention none of these packets: it received nothing",
			Plural(r.Reports, "RTCP report"), r.From, framesLabel(frameList(nil, []FrameRange{{r.FirstFrame, r.LastFrame}})))))
	}
	return "RTCP: " + strings.Join(parts, "; ")
}

// Plural writes "1 report", "2 reports".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// srtpText says how the decrypted sample of an SRTP stream fared.
func srtpText(x *SRTPCheck) string {
	if x.Authenticated == 0 {
		return styleError.Render(fmt.Sprintf("SRTP: none of %d sampled packets authenticates with the SDP's keys", x.Checked))
	}
	return fmt.Sprintf("SRTP %s: %d of %d sampled packets authenticate with the SDP's key", x.Suite, x.Authenticated, x.Checked)
}
