package capture

import (
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/report"
)

// setHEPOut sends copies of the SIP read and each judged call's verdict to
// out, after whatever else hears of judged calls.
func (s *state) setHEPOut(out hepSender) {
	s.hepOut = out
	judged := s.onJudged
	s.onJudged = func(c report.Call) {
		if judged != nil {
			judged(c)
		}
		s.hepOutVerdict(c)
	}
}

// hepOutSIP copies a SIP message natdoc read to the HEP collector
// (--hep-out), with the addresses and time it was seen at.
func (s *state) hepOutSIP(pkt *packet, msg []byte, transport string, callID string) {
	if s.hepOut == nil {
		return
	}
	proto := uint8(protoUDP)
	switch transport {
	case "TCP", "TLS":
		proto = protoTCP
	case "SCTP":
		proto = protoSCTP
	}
	s.hepOut.SendSIP(pkt.Src, pkt.Dst, proto, pkt.Time, msg, callID)
}

// verdictLog is the JSON log line natdoc sends to HOMER for each judged
// call, correlated to its Call-ID, so HOMER shows the verdict beside the
// call's messages.
type verdictLog struct {
	Source     string         `json:"source"`
	CallID     string         `json:"call_id"`
	Verdict    report.Verdict `json:"verdict"`
	CannotHear string         `json:"cannot_hear,omitempty"`
	Explain    string         `json:"explain,omitempty"`
	// NotAnswered says how the setup of a not-answered call ended.
	NotAnswered *report.NotAnswered `json:"not_answered,omitempty"`
	Findings    []logFinding        `json:"findings,omitempty"`
}

type logFinding struct {
	ID       report.FindingID `json:"id"`
	Severity report.Severity  `json:"severity"`
	Title    string           `json:"title"`
}

// hepOutVerdict sends a judged call's verdict and findings.
func (s *state) hepOutVerdict(c report.Call) {
	if s.hepOut == nil {
		return
	}
	src, dst := signalAddrOf(c.Caller), signalAddrOf(c.Callee)
	if src.Addr().Is4() != dst.Addr().Is4() { // HEP needs one family
		src, dst = netip.AddrPortFrom(netip.IPv4Unspecified(), 0), netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	line := VerdictJSON(c)
	for _, id := range legCallIDs(c) {
		s.hepOut.SendLog(src, dst, verdictTime(c), line, id)
	}
}

// legCallIDs are the call's distinct Call-IDs: a B2BUA's legs have one
// each, and HOMER shows a log beside the messages of its Call-ID.
func legCallIDs(c report.Call) []string {
	ids := []string{c.CallID}
	for _, l := range c.Legs {
		if !slices.Contains(ids, l.CallID) {
			ids = append(ids, l.CallID)
		}
	}
	return ids
}

// VerdictJSON is the log line natdoc sends to HOMER for a call.
func VerdictJSON(c report.Call) []byte {
	v := verdictLog{Source: "natdoc", CallID: c.CallID, Verdict: c.Verdict, CannotHear: c.CannotHear, Explain: c.Explain,
		NotAnswered: c.NotAnswered}
	for _, f := range c.Findings {
		v.Findings = append(v.Findings, logFinding{ID: f.ID, Severity: f.Severity, Title: f.Title})
	}
	b, _ := json.Marshal(v) // plain strings: cannot fail
	return b
}

// signalAddrOf is where a party's SIP came from, or the unspecified address
// (HEP needs one) when it is not known.
func signalAddrOf(p report.Party) netip.AddrPort {
	if a, err := netip.ParseAddrPort(p.SignalAddr); err == nil {
		return a
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
}

func verdictTime(c report.Call) time.Time {
	if !c.End.IsZero() {
		return c.End
	}
	return time.Now()
}

// hepSender is what the state needs of a HEP sender.
type hepSender interface {
	SendSIP(src, dst netip.AddrPort, proto uint8, at time.Time, msg []byte, callID string)
	SendLog(src, dst netip.AddrPort, at time.Time, line []byte, callID string)
}

var _ hepSender = (*hep.Sender)(nil)
