package stunprobe

import (
	"fmt"
	"net/netip"

	"github.com/natdoc/natdoc/report"
)

// NATReport converts a result to the report model. Pure.
func NATReport(r *Result) *report.NATReport {
	if r == nil {
		return nil
	}
	srv := firstAnswer(r.Servers)
	if r.RFC5780.IsValid() {
		for _, s := range r.Servers {
			if s.Addr == r.RFC5780 && s.Answered() {
				srv = s
			}
		}
	}
	n := &report.NATReport{
		Network:           r.Network,
		LocalAddr:         addrString(r.Local),
		MappedAddr:        addrString(srv.Mapped),
		PortPreserved:     portPreserved(r.Local, srv.Mapped),
		Mapping:           r.Mapping.Behaviour,
		Filtering:         r.Filtering.Behaviour,
		RFC3489Name:       RFC3489Name(r.Mapping.Behaviour, r.Filtering.Behaviour),
		MappingConsistent: mappingConsistent(r.Servers),
		Hairpinning:       r.Hairpin.Works,
		HairpinFrom:       addrString(r.Hairpin.From),
		HairpinNote:       r.Hairpin.Note,
		RFC5780Server:     addrString(r.RFC5780),
		MappingNote:       r.Mapping.Note,
		FilteringNote:     r.Filtering.Note,
		Anomalies:         r.Anomalies,
		Took:              r.Took,
	}
	if r.Mapping.Behaviour == report.BehaviourNoNAT {
		n.PortPreserved = report.TriUnknown
	}
	n.UDPBlocked = report.TriNo
	if !srv.Answered() {
		n.UDPBlocked = report.TriYes
	}
	for _, s := range r.Servers {
		n.Servers = append(n.Servers, serverReport(s))
	}
	if r.TCP != nil {
		t := serverReport(*r.TCP)
		n.TCP = &t
	}
	if r.RFC5780.IsValid() {
		n.MappingTests = mappingTests(r)
		n.FilteringTests = filteringTests(r)
	}
	if l := r.Lifetime; l != nil {
		n.LifetimeMin, n.LifetimeMax, n.LifetimeNote, n.KeepAlive = l.Min, l.Max, l.Note, KeepAlive(l)
		for _, t := range l.Trials {
			n.LifetimeTrials = append(n.LifetimeTrials, report.LifetimeTrial{Idle: t.Idle, Alive: t.Alive})
		}
	}
	return n
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func serverReport(s ServerResult) report.STUNServerResult {
	return report.STUNServerResult{
		Server: s.Server, LocalAddr: "", MappedAddr: addrString(s.Mapped), OtherAddr: addrString(s.Other),
		ResponseFrom: addrString(s.Origin), RTT: s.RTT, Software: s.Software, Error: s.Err, Sent: s.Sent,
	}
}

func mappedOrSilence(a netip.AddrPort) string {
	if a.IsValid() {
		return a.String()
	}
	return "no answer"
}

func mappingTests(r *Result) []report.NATTest {
	m := r.Mapping
	var other netip.AddrPort
	for _, s := range r.Servers {
		if s.Addr == r.RFC5780 {
			other = s.Other
		}
	}
	tests := []report.NATTest{{Name: "mapping test I: primary address", To: r.RFC5780.String(), Result: mappedOrSilence(m.Test1)}}
	if m.Behaviour == report.BehaviourNoNAT {
		tests[0].Detail = "mapped address equals the local address: no NAT"
		return tests
	}
	if m.Test2.IsValid() || m.Behaviour == report.BehaviourUnknown {
		tests = append(tests, report.NATTest{Name: "mapping test II: alternate IP, primary port",
			To: netip.AddrPortFrom(other.Addr(), r.RFC5780.Port()).String(), Result: mappedOrSilence(m.Test2),
			Detail: sameOrNot(m.Test2, m.Test1, "test I")})
	}
	if m.Test3.IsValid() {
		tests = append(tests, report.NATTest{Name: "mapping test III: alternate IP and port", To: other.String(),
			Result: m.Test3.String(), Detail: sameOrNot(m.Test3, m.Test2, "test II")})
	}
	if rf := r.RefusedFirst; rf != nil {
		t := report.NATTest{Name: "mapping after a refused packet: alternate IP and port, from a fresh socket", To: rf.Other.String(),
			Result: mappedOrSilence(rf.After), Detail: rf.Note}
		switch {
		case rf.Note != "":
		case rf.Moved():
			t.Detail = "moved: the fresh socket's mapping was " + rf.Before.String() + " before the refused packet"
		case rf.After == rf.Before:
			t.Detail = "kept: same as before the refused packet"
		}
		tests = append(tests, t)
	}
	return tests
}

func sameOrNot(a, b netip.AddrPort, name string) string {
	switch {
	case !a.IsValid() || !b.IsValid():
		return ""
	case a == b:
		return "same as " + name
	default:
		return "differs from " + name
	}
}

func filteringTests(r *Result) []report.NATTest {
	f := r.Filtering
	to := r.RFC5780.String()
	tests := []report.NATTest{
		{Name: "filtering test II: CHANGE-REQUEST change IP and port", To: to, Result: string(f.ChangeIPAndPort)},
		{Name: "filtering test III: CHANGE-REQUEST change port", To: to, Result: string(f.ChangePort)},
	}
	if f.ChangeIPAndPort == OutcomeNoAnswer || f.ChangePort == OutcomeNoAnswer {
		tests = append(tests, report.NATTest{Name: "control: plain request after the silence", To: to,
			Result: fmt.Sprint(map[bool]string{true: "answered", false: "no answer"}[f.ControlAfter])})
	}
	return tests
}
