package capture

import (
	"slices"
	"time"

	"github.com/natdoc/natdoc/report"
)

// heardNothingAfter: a receiver's RTCP counts as saying "nothing received"
// only when it reported this long after the stream's first packet, so a
// report sent just before the first packet arrived is not read as one.
const heardNothingAfter = 2 * time.Second

// minValidPackets is how many packets in sequence make a receiver take a
// source as valid and report on it (RFC 3550 Appendix A.1, MIN_SEQUENTIAL).
const minValidPackets = 2

// addRTCPViews puts beside each RTP stream of a call what the RTCP of its
// sender and its receiver, bound to the same call, said about it.
func addRTCPViews(cb *callBuild, rc *report.Call) {
	for si := range rc.Streams {
		flows := rc.Streams[si].Flows
		for fi := range flows {
			fr := &flows[fi]
			if fr.RTCP {
				continue
			}
			for _, bf := range cb.flows {
				k := bf.flow.Key
				if !k.RTCP && k.Src.String() == fr.Src && k.Dst.String() == fr.Dst && len(fr.SSRCs) == 1 && k.SSRC == fr.SSRCs[0] {
					fr.Reports = rtcpView(bf, cb.flows)
					break
				}
			}
		}
	}
}

// rtcpView gathers the sender's reports about its stream and the
// receiver's blocks about it (nil when neither sent RTCP).
func rtcpView(stream boundFlow, all []boundFlow) *report.RTCPView {
	f, sender := stream.flow, stream.bd.sender
	v := &report.RTCPView{}
	var receiverSpoke *rtpFlow
	for _, bf := range all {
		st := bf.flow.rtcp
		if !bf.flow.Key.RTCP || st == nil {
			continue
		}
		if bf.bd.sender == sender {
			if st.srReports > 0 && st.srSSRC == f.Key.SSRC {
				v.SenderReports, v.SenderPackets = st.srReports, st.srPackets
			}
			continue
		}
		for i := range st.sources {
			if src := &st.sources[i]; src.ssrc == f.Key.SSRC && src.blocks > 0 && v.Receiver == nil {
				v.Receiver = receptionSummary(bf.flow, src, f)
			}
		}
		// A receiver takes a source as valid after two packets in
		// sequence (RFC 3550 §6.2.1, Appendix A.1): one packet alone
		// (a keepalive) is reported by no one.
		if st.reports > 0 && st.lastNs-f.firstNs >= int64(heardNothingAfter) && f.Packets >= minValidPackets {
			receiverSpoke = bf.flow
		}
	}
	if v.Receiver == nil && receiverSpoke != nil {
		v.Receiver = mislabelledReception(stream, all)
	}
	if v.Receiver == nil && receiverSpoke != nil && !pathReported(stream, all) {
		v.ReceiverHeardNothing = true
		v.ReceiverRTCP = &report.RTCPReporter{From: receiverSpoke.Key.Src.String(), Reports: receiverSpoke.rtcp.reports,
			FirstFrame: receiverSpoke.FirstFrame, LastFrame: receiverSpoke.LastFrame}
	}
	if v.SenderReports == 0 && v.Receiver == nil && !v.ReceiverHeardNothing {
		return nil
	}
	return v
}

// mislabelledReception finds the receiver's blocks about stream under an
// SSRC no stream of the call has, when the highest sequence number they
// report is one the stream carried: a receiver that labels its reports
// wrong (a Yeastar PBX names SSRC 1 in every block), not one that heard
// nothing. nil when there are none.
func mislabelledReception(stream boundFlow, all []boundFlow) *report.ReceptionSummary {
	f := stream.flow
	for _, bf := range all {
		st := bf.flow.rtcp
		if !bf.flow.Key.RTCP || st == nil || bf.bd.sender == stream.bd.sender {
			continue
		}
		for i := range st.sources {
			src := &st.sources[i]
			if src.blocks == 0 || knownSSRC(all, src.ssrc) || !f.carriedSeq(uint16(src.highestSeq)) {
				continue
			}
			r := receptionSummary(bf.flow, src, f)
			r.MislabelledSSRC = src.ssrc
			return r
		}
	}
	return nil
}

// knownSSRC says whether a flow of the call (RTP, or RTCP whose sender
// reports name it) has ssrc.
func knownSSRC(all []boundFlow, ssrc uint32) bool {
	for _, bf := range all {
		if bf.flow.Key.SSRC == ssrc || (bf.flow.rtcp != nil && bf.flow.rtcp.srReports > 0 && bf.flow.rtcp.srSSRC == ssrc) {
			return true
		}
	}
	return false
}

// pathReported says whether the receiver's RTCP reports on another
// source its sender sent on the same path (from the same address to the
// same address): it receives that path, and a source it does not mention
// is a short-lived one (a gateway that takes a new SSRC around each DTMF
// event, as Cisco's do), not media lost on the way.
func pathReported(stream boundFlow, all []boundFlow) bool {
	k := stream.flow.Key
	var others []uint32 // the sender's other sources on the stream's path
	for _, o := range all {
		if ok := o.flow.Key; !ok.RTCP && ok.Src == k.Src && ok.Dst == k.Dst && ok.SSRC != k.SSRC && o.bd.sender == stream.bd.sender {
			others = append(others, ok.SSRC)
		}
	}
	if len(others) == 0 {
		return false
	}
	for _, bf := range all {
		st := bf.flow.rtcp
		if !bf.flow.Key.RTCP || st == nil || bf.bd.sender == stream.bd.sender {
			continue
		}
		for i := range st.sources {
			if st.sources[i].blocks > 0 && slices.Contains(others, st.sources[i].ssrc) {
				return true
			}
		}
	}
	return false
}

// receptionSummary turns the blocks about stream into their report;
// jitter comes in the stream's timestamp units.
func receptionSummary(rtcpFlow *rtpFlow, src *reportedSource, stream *rtpFlow) *report.ReceptionSummary {
	rate := stream.clockRate
	if rate == 0 {
		rate = 8000
	}
	r := &report.ReceptionSummary{
		RTCPReporter: report.RTCPReporter{From: rtcpFlow.Key.Src.String(), Reports: src.blocks,
			FirstFrame: src.firstFrame, LastFrame: src.lastFrame},
		CumulativeLost:     int64(src.cumulativeLost),
		FractionLostPct:    round2(float64(src.fractionLost) / 256 * 100),
		MaxFractionLostPct: round2(float64(src.maxFraction) / 256 * 100),
		JitterMs:           round2(float64(src.jitter) / rate * 1000),
		MaxJitterMs:        round2(float64(src.maxJitter) / rate * 1000),
		HighestSeq:         src.highestSeq,
	}
	if xr := src.xr; xr != nil {
		// RFC 3611 §4.7: rates in 1/256, MOS in tenths, 127 unavailable.
		r.XR = &report.XRVoIPMetrics{
			LossRatePct: round2(float64(xr.LossRate) / 256 * 100), DiscardRatePct: round2(float64(xr.DiscardRate) / 256 * 100),
			RoundTripMs: int(xr.RoundTripDelay),
		}
		if xr.RFactor != 127 {
			r.XR.RFactor = int(xr.RFactor)
		}
		if xr.MOSLQ != 127 {
			r.XR.MOSLQ = float64(xr.MOSLQ) / 10
		}
		if xr.MOSCQ != 127 {
			r.XR.MOSCQ = float64(xr.MOSCQ) / 10
		}
	}
	return r
}

// reportedDirections gathers what the RTCP a stream's parties sent said
// about each direction (StreamFacts.Reported): a party's RTCP speaks as the
// sender of its own direction (its sender reports, or receiver reports
// only) and as the receiver of the other (its reception blocks). Reports
// count for a receiver only when it reported heardNothingAfter past the
// answer, so one sent before the media began says nothing. On a leg of a
// call through a relay, the far party's RTCP (far) reporting a stream by
// its SSRC shows it arrived; its silence proves nothing about this leg.
func reportedDirections(flows []boundFlow, answered time.Time, far []*rtcpState) [2]ReportedDirection {
	var r [2]ReportedDirection
	var ssrc [2]uint32
	var hasSSRC [2]bool
	var states [2][]*rtcpState
	for _, bf := range flows {
		st := bf.flow.rtcp
		if !bf.flow.Key.RTCP || st == nil || (st.reports == 0 && st.srReports == 0) {
			continue // no report, or only a leaving author's empty RR
		}
		p := bf.bd.sender
		states[p] = append(states[p], st)
		r[p].SenderReported = true
		if !answered.IsZero() && st.lastNs-answered.UnixNano() >= int64(heardNothingAfter) {
			r[other(p)].ReceiverReported = true
		}
		if st.srReports > 0 {
			r[p].SenderSR, r[p].SenderSent, ssrc[p], hasSSRC[p] = true, uint64(st.srPackets), st.srSSRC, true
		}
	}
	for d := range 2 {
		recv := other(d)
		for _, st := range states[recv] {
			for _, src := range st.sources {
				// Without the sender's SSRC any block about a source
				// other than the receiver's own stream is about it.
				about := src.ssrc == ssrc[d]
				if !hasSSRC[d] {
					about = !hasSSRC[recv] || src.ssrc != ssrc[recv]
				}
				r[d].ReceiverGot = r[d].ReceiverGot || (about && src.heard)
				own := hasSSRC[recv] && src.ssrc == ssrc[recv]
				if hasSSRC[d] && !about && !own && src.heard && !knownSSRC(flows, src.ssrc) {
					r[d].ReceiverForeign = true
				}
			}
		}
		if hasSSRC[d] && !r[d].ReceiverGot && reportsOn(far, ssrc[d]) {
			r[d].ReceiverGot = true
		}
	}
	return r
}

// reportsOn says whether any of states has a reception block about ssrc.
func reportsOn(states []*rtcpState, ssrc uint32) bool {
	for _, st := range states {
		for _, src := range st.sources {
			if src.ssrc == ssrc && src.heard {
				return true
			}
		}
	}
	return false
}

// reportedDeliveries adds to dirs the directions the reports settle, for
// a stream the capture holds no RTP of.
func reportedDeliveries(dirs *deliveries, r [2]ReportedDirection) {
	for d := range 2 {
		known, arrived := r[d].outcome()
		if !known {
			continue
		}
		doubt := ""
		if !arrived {
			doubt = reportedLoss(r[d], d)
		}
		dirs.add(d, r[d].SenderSent, arrived, report.ProofRTCPReported, doubt)
	}
}
