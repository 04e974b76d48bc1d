package proxy

import (
	"fmt"
	"strconv"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

// Finding IDs of a serve run (stable: scripts match on them).
const (
	IDMediaLatchedNATAddress report.FindingID = "media-latched-nat-address"
	IDRelayNoMediaFromParty  report.FindingID = "relay-no-media-from-party"
	IDRelayUnexpectedSource  report.FindingID = "relay-unexpected-source"
	IDSIPInputRejected       report.FindingID = "sip-input-rejected"
)

// ServeReport turns the server's state into the report section.
func ServeReport(listen []string, cfg Config, rtpPorts string, regs []Binding, calls []CallRecord) *report.ServeReport {
	sr := &report.ServeReport{Listen: listen, PublicAddr: cfg.PublicAddr, Fix: cfg.Fix, Registered: len(regs), RTPPorts: rtpPorts}
	if cfg.LocalAddr.IsValid() {
		sr.LocalAddr = cfg.LocalAddr.String()
	}
	for _, b := range regs {
		c := b.Contact
		sr.Registrations = append(sr.Registrations, report.Registration{User: b.User, Contact: c.String(), Source: b.Source.String(), LAN: b.LAN})
	}
	for _, c := range calls {
		rc := report.RelayedCall{CallID: c.CallID, From: c.Caller, To: c.Callee, Start: c.Start, End: c.End, State: c.State, Ended: c.EndReason}
		if c.Relay != nil {
			rc.Legs = []report.RelayLeg{relayLeg(c.Caller, c.Relay.A, c.Relay.B), relayLeg(c.Callee, c.Relay.B, c.Relay.A)}
		}
		if c.Echo != nil {
			rc.Legs = []report.RelayLeg{{Party: EchoUser, Packets: c.Echo.Sent.Packets, Received: c.Echo.Received.Packets, Lost: c.Echo.Received.Lost,
				Latched: sipcall.AddrString(c.Echo.Received.From)}}
		}
		sr.Calls = append(sr.Calls, rc)
	}
	return sr
}

// relayLeg describes the leg facing party: what it sent (own) and what the
// relay forwarded to it (from the other leg).
func relayLeg(party string, own, other relay.LegStats) report.RelayLeg {
	return report.RelayLeg{Party: party, Latched: sipcall.AddrString(own.Latched), SDPAddr: sipcall.AddrString(own.SDPAddr),
		Packets: other.RTP.Forwarded, Bytes: other.RTP.Bytes, Dropped: other.RTP.NoDestination + other.RTP.SendErrors,
		Received: own.RTP.Packets, Lost: own.RTP.Lost, Unexpected: own.RTP.Unexpected,
		Kernel: own.RTP.Kernel, LossNotMeasured: own.RTP.LossNotMeasured}
}

// ServeFindings derives findings from the calls the server relayed and its
// anomaly counters.
func ServeFindings(calls []CallRecord, anomalies []report.KeyValue) []report.Finding {
	var out []report.Finding
	for _, c := range calls {
		if c.Relay == nil {
			continue
		}
		for _, leg := range []struct {
			party string
			st    relay.LegStats
		}{{c.Caller, c.Relay.A}, {c.Callee, c.Relay.B}} {
			out = append(out, legFindings(c, leg.party, leg.st)...)
		}
	}
	var anomalyCount uint64
	for _, kv := range anomalies {
		n, _ := strconv.ParseUint(kv.Value, 10, 64)
		anomalyCount += n
	}
	if anomalyCount > 0 {
		out = append(out, report.Finding{ID: IDSIPInputRejected, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("%d SIP messages were dropped as malformed, oversized or over the rate limit", anomalyCount),
			Evidence: []report.Evidence{{Text: "counters", Values: anomalies}}})
	}
	return out
}

func legFindings(c CallRecord, party string, st relay.LegStats) []report.Finding {
	var out []report.Finding
	subject := c.CallID
	if st.Latched.IsValid() && st.SDPAddr.IsValid() && st.Latched != st.SDPAddr {
		out = append(out, report.Finding{ID: IDMediaLatchedNATAddress, Severity: report.SeverityInfo,
			Title:   fmt.Sprintf("%s's SDP named %s, its media came from %s: the relay sent its audio there", party, st.SDPAddr, st.Latched),
			Subject: subject, Evidence: []report.Evidence{{Text: "SDP address versus real media source", Addrs: []string{st.SDPAddr.String(), st.Latched.String()}}},
			Remedy: "Without natdoc's relay this party needs STUN on an endpoint-independent NAT, a port forward with the public address in SDP, or a relay on its server."})
	}
	if c.Answer.IsZero() {
		return out
	}
	if st.RTP.Packets == 0 {
		out = append(out, report.Finding{ID: IDRelayNoMediaFromParty, Severity: report.SeverityWarning,
			Title:   fmt.Sprintf("%s sent no media to the relay on an answered call", party),
			Subject: subject, Evidence: []report.Evidence{{Text: "relay leg counters", Values: []report.KeyValue{
				{Key: "unexpected source packets", Value: strconv.FormatUint(st.RTP.Unexpected, 10)}, {Key: "expected source", Value: st.Expected.String()}}}},
			Remedy: "The phone never sent RTP to the relay's address, or its media came from another IP than its SIP (see unexpected packets); check that UDP to the relay's port range is allowed out."})
	}
	if st.RTP.Unexpected > 0 {
		out = append(out, report.Finding{ID: IDRelayUnexpectedSource, Severity: report.SeverityInfo,
			Title:   fmt.Sprintf("%d packets to %s's relay port came from a source that may not latch, and were dropped", st.RTP.Unexpected, party),
			Subject: subject})
	}
	return out
}

// StatusLine is the one-line live view of a running server: registrations,
// calls in progress and, per relayed call, packets relayed each way.
func StatusLine(registered int, active []CallRecord) string {
	s := fmt.Sprintf("%d registered, %d calls", registered, len(active))
	for i, c := range active {
		if i == 3 {
			s += fmt.Sprintf(" (+%d more)", len(active)-3)
			break
		}
		s += fmt.Sprintf(" | %s→%s", c.Caller, c.Callee)
		if c.Relay != nil {
			s += fmt.Sprintf(" %d→ ←%d pkts", c.Relay.A.RTP.Forwarded, c.Relay.B.RTP.Forwarded)
		}
	}
	return s
}
