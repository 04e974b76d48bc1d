package diagnose

import (
	"fmt"
	"net/netip"

	"github.com/natdoc/natdoc/report"
)

// IDRTPPortMapping: the NAT treats the phones' RTP port unlike their SIP
// port. Routers special-case 5060 (a SIP ALG, a static rule, a port-keeping
// policy for "known" ports), so a SIP-port probe alone can promise audio
// that the RTP port does not get.
const IDRTPPortMapping report.FindingID = "rtp-port-mapping-differs"

func isDependent(b report.Behaviour) bool {
	return b == report.BehaviourAddressDependent || b == report.BehaviourAddressAndPortDependent
}

// rtpMapsPerDestination: the RTP port's probe saw a new public port per
// destination, so STUN on the phones cannot fix their audio.
func rtpMapsPerDestination(r *Result) bool {
	return r.RTPNAT != nil && isDependent(r.RTPNAT.Mapping)
}

// rtpPortFindings compares the RTP port's mapping with the SIP port's
// (r.NAT). It is pure.
func rtpPortFindings(r *Result) []report.Finding {
	m, n := r.RTPNAT, r.NAT
	if m == nil || n == nil || n.MappedAddr == "" {
		return nil
	}
	rtp := "the RTP range"
	if r.RTPLow > 0 {
		rtp = fmt.Sprintf("UDP %d-%d", r.RTPLow, r.RTPHigh)
	}
	ev := []report.Evidence{
		{Text: "STUN probe from the SIP port", Values: portValues(n.LocalAddr, n.MappedAddr, n.PortPreserved, n.Mapping)},
		{Text: "STUN probe from the RTP port", Values: portValues(m.Local, m.Mapped, m.PortPreserved, m.Mapping)},
	}
	f := report.Finding{ID: IDRTPPortMapping, Subject: portOf(m.Local), Evidence: ev}
	switch {
	case m.Mapped == "" && m.Note != noAnswerNote:
		// The probe could not run here (the port is busy): no fact.
		return nil
	case m.Mapped == "":
		f.Severity = report.SeverityWarning
		f.Title = fmt.Sprintf("STUN answers reach the SIP port but not the RTP port %s: audio may not get out", portOf(m.Local))
		f.Remedy = fmt.Sprintf("Allow outgoing UDP from the phones' RTP ports (%s) in the router's or firewall's rules; audio uses those ports, not the SIP port", rtp)
	case isDependent(m.Mapping) && !isDependent(n.Mapping) && n.Mapping != report.BehaviourUnknown:
		f.Severity = report.SeverityError
		f.Title = "The NAT keeps one public port for the SIP port but gives the RTP port a new one per destination: STUN will not fix the audio"
		f.Remedy = fmt.Sprintf("Forward %s to the phone, or relay the media (natdoc serve, or the SIP server's media relay)", rtp)
	case n.PortPreserved == report.TriYes && m.PortPreserved == report.TriNo:
		f.Severity = report.SeverityWarning
		f.Title = fmt.Sprintf("The NAT keeps the SIP port's number but changes the RTP port's (%s -> %s): phones that announce their own RTP port get no audio in", m.Local, m.Mapped)
		f.Remedy = fmt.Sprintf("Forward %s to the phone, or configure STUN on the phones so their SDP carries the public RTP port", rtp)
	case isDependent(n.Mapping) && m.Mapping == report.BehaviourEndpointIndependent,
		n.PortPreserved == report.TriNo && m.PortPreserved == report.TriYes:
		f.Severity = report.SeverityInfo
		f.Title = "The NAT treats the RTP port more kindly than the SIP port"
		f.Remedy = "Nothing to change for audio; judge SIP by the SIP port's findings"
	default:
		return nil
	}
	return []report.Finding{f}
}

func portValues(local, mapped string, preserved report.Tri, mapping report.Behaviour) []report.KeyValue {
	kv := []report.KeyValue{{Key: "local", Value: local}, {Key: "public", Value: orNone(mapped)}}
	if preserved != report.TriUnknown {
		kv = append(kv, report.KeyValue{Key: "port preserved", Value: string(preserved)})
	}
	if mapping != report.BehaviourUnknown {
		kv = append(kv, report.KeyValue{Key: "mapping", Value: string(mapping)})
	}
	return kv
}

func orNone(s string) string {
	if s == "" {
		return "no answer"
	}
	return s
}

// portOf is "10000" for "192.168.1.10:10000" or ":10000".
func portOf(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return fmt.Sprint(ap.Port())
	}
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}
