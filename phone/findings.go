package phone

import (
	"strconv"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/report"
)

// Finding IDs of a measured call (stable: scripts match on them).
const (
	// IDEchoMedia says how the echo user of natdoc serve sent its audio on
	// a call to it: the same result means something else with the relay
	// than without it.
	IDEchoMedia report.FindingID = "echo-media"
)

// CallTestReport turns a phone's result into the report section.
func CallTestReport(r *CallResult) *report.CallTestReport {
	ct := &report.CallTestReport{
		Local: r.Local, Remote: r.Remote, CallID: r.CallID, Status: r.Status,
		SDPAddr: sipcall.AddrString(r.SDPAddr), RemoteSDP: sipcall.AddrString(r.RemoteSDP),
		Duration: r.Duration, PeerReceived: r.PeerReceived, Verdict: r.Verdict, CannotHear: r.CannotHear, Explain: r.Explain,
		Sent:     report.DirectionStats{Packets: r.Sent.Packets, Bytes: r.Sent.Bytes},
		Received: report.DirectionStats{Packets: r.Received.Packets, Bytes: r.Received.Bytes, Lost: r.Received.Lost, JitterMs: r.Received.JitterMs, From: sipcall.AddrString(r.Received.From)},
	}
	return ct
}

// CallFindings derives the findings of one measured call.
func CallFindings(r *CallResult) []report.Finding {
	ev := []report.Evidence{{Text: "packet counts of this call", Values: []report.KeyValue{
		{Key: "sent", Value: strconv.FormatUint(r.Sent.Packets, 10)},
		{Key: "received", Value: strconv.FormatUint(r.Received.Packets, 10)},
		{Key: "other side received", Value: strconv.FormatInt(r.PeerReceived, 10)},
		{Key: "our SDP address", Value: sipcall.AddrString(r.SDPAddr)},
		{Key: "their SDP address", Value: sipcall.AddrString(r.RemoteSDP)},
	}}}
	if r.Received.From.IsValid() && r.RemoteSDP.IsValid() && r.Received.From != r.RemoteSDP {
		ev = append(ev, report.Evidence{Text: "media arrived from another address than the other side's SDP named",
			Addrs: []string{r.Received.From.String(), r.RemoteSDP.String()}})
	}
	out := verdictFindings(r, ev)
	if b := echoBehaviour(r.EchoMedia); b != "" {
		out = append(out, report.Finding{ID: IDEchoMedia, Severity: report.SeverityInfo, Subject: r.CallID,
			Title:    "On this call " + b,
			Evidence: []report.Evidence{{Text: "the echo's answer", Values: []report.KeyValue{{Key: sipcall.EchoMediaHeader, Value: r.EchoMedia}}}}})
	}
	return out
}

// verdictFindings is the finding of the call's audio verdict.
func verdictFindings(r *CallResult, ev []report.Evidence) []report.Finding {
	switch r.Verdict {
	case report.VerdictTwoWay:
		return []report.Finding{{ID: report.IDTwoWayAudio, Severity: report.SeverityInfo, Title: "Audio flowed both ways", Subject: r.CallID, Evidence: ev}}
	case report.VerdictOneWay:
		who := "This phone cannot hear the other side"
		remedy := "Media toward this phone is lost: its SDP address (" + sipcall.AddrString(r.SDPAddr) + ") is not reachable from the other side. Anchor media in a relay (natdoc serve, fix mode), use STUN on an endpoint-independent NAT, or forward the RTP ports to this phone and announce the public address."
		if r.CannotHear == "remote" {
			who = "The other side cannot hear this phone"
			remedy = "Media from this phone is lost on the way: the other side's SDP address (" + sipcall.AddrString(r.RemoteSDP) + ") is not reachable from here. Anchor media in a relay (natdoc serve, fix mode) or fix the other side's NAT setup."
		}
		return []report.Finding{{ID: report.IDOneWayAudio, Severity: report.SeverityError, Title: who, Subject: r.CallID, Evidence: ev, Remedy: remedy}}
	default:
		return []report.Finding{{ID: report.IDNoWayAudio, Severity: report.SeverityError, Title: "No audio arrived either way", Subject: r.CallID, Evidence: ev,
			Remedy: "Neither phone's media got through: check that UDP is not blocked, then anchor media in a relay (natdoc serve, fix mode)."}}
	}
}
