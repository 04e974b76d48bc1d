package stunprobe

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestFindings(t *testing.T) {
	srvA := ServerResult{Server: "a", Addr: mustAP("203.0.113.10:3478"), Mapped: public1, Other: mustAP("203.0.113.11:3479")}
	srvB := ServerResult{Server: "b", Addr: mustAP("203.0.113.20:3478"), Mapped: public1}
	srvBDiffers := srvB
	srvBDiffers.Mapped = public2
	dead := ServerResult{Server: "dead", Addr: mustAP("203.0.113.99:3478"), Err: "no answer", Sent: 4}
	eimApdf := func() *Result {
		return &Result{Local: local, RFC5780: srvA.Addr, Servers: []ServerResult{srvA, srvB},
			Mapping:   MappingResult{Test1: public1, Test2: public1, Behaviour: report.BehaviourEndpointIndependent},
			Filtering: FilteringResult{ChangeIPAndPort: OutcomeNoAnswer, ChangePort: OutcomeNoAnswer, ControlAfter: true, Behaviour: report.BehaviourAddressAndPortDependent},
			Hairpin:   HairpinResult{Works: report.TriYes}}
	}
	s := time.Second
	for _, tc := range []struct {
		name   string
		result func() *Result
		want   []report.FindingID
	}{
		{"nothing answered", func() *Result { return &Result{Local: local, Servers: []ServerResult{dead, dead}} }, []report.FindingID{IDNoUDP}},
		{"home router: EIM, APDF", eimApdf, []report.FindingID{IDFilteringRestrictive}},
		{"full cone", func() *Result {
			r := eimApdf()
			r.Filtering = FilteringResult{ChangeIPAndPort: OutcomeAnswered, Behaviour: report.BehaviourEndpointIndependent}
			return r
		}, nil},
		{"symmetric by RFC 5780", func() *Result {
			r := eimApdf()
			r.Servers[1] = srvBDiffers
			r.Mapping = MappingResult{Test1: public1, Test2: public2, Test3: public3, Behaviour: report.BehaviourAddressAndPortDependent}
			return r
		}, []report.FindingID{report.IDMappingVaries, IDFilteringRestrictive}},
		{"symmetric by server comparison only", func() *Result {
			return &Result{Local: local, Servers: []ServerResult{srvB, srvBDiffers}}
		}, []report.FindingID{report.IDMappingVaries}},
		{"RFC 5780 says EIM, servers differ", func() *Result {
			r := eimApdf()
			r.Servers[1] = srvBDiffers
			return r
		}, []report.FindingID{IDServersDisagree, IDFilteringRestrictive}},
		{"one server down", func() *Result {
			r := eimApdf()
			r.Servers = append(r.Servers, dead)
			return r
		}, []report.FindingID{IDServerUnreachable, IDFilteringRestrictive}},
		{"port changed", func() *Result {
			r := eimApdf()
			r.Servers[0].Mapped, r.Servers[1].Mapped = public2, public2
			return r
		}, []report.FindingID{IDFilteringRestrictive, IDPortNotPreserved}},
		{"no NAT: the port question does not arise", func() *Result {
			a := srvA
			a.Mapped = local
			return &Result{Local: mustAP("192.168.1.10:1"), Servers: []ServerResult{a}, Mapping: MappingResult{Behaviour: report.BehaviourNoNAT}}
		}, nil},
		{"short lifetime", func() *Result {
			r := eimApdf()
			r.Lifetime = &LifetimeResult{Min: 30 * s, Max: 45 * s}
			return r
		}, []report.FindingID{IDFilteringRestrictive, IDLifetimeShort}},
		{"lifetime RFC 4787 compliant", func() *Result {
			r := eimApdf()
			r.Lifetime = &LifetimeResult{Min: 150 * s, Max: 180 * s}
			return r
		}, []report.FindingID{IDFilteringRestrictive}},
		{"a refused peer moves the mapping (Linux conntrack)", func() *Result {
			r := eimApdf()
			r.RefusedFirst = &RefusedFirstResult{Local: mustAP("192.168.1.10:40000"), Before: mustAP("198.51.100.1:40000"),
				After: mustAP("198.51.100.1:51234"), Other: srvA.Other, Refused: true}
			return r
		}, []report.FindingID{IDFilteringRestrictive, IDRefusedFirstMoves}},
		{"a refused peer leaves the mapping as it was", func() *Result {
			r := eimApdf()
			r.RefusedFirst = &RefusedFirstResult{Before: public1, After: public1, Other: srvA.Other, Refused: true}
			return r
		}, []report.FindingID{IDFilteringRestrictive}},
		{"no proof the peer was refused", func() *Result {
			r := eimApdf()
			r.RefusedFirst = &RefusedFirstResult{Before: public1, After: public2, Other: srvA.Other, Note: "the primary address stopped answering"}
			return r
		}, []report.FindingID{IDFilteringRestrictive}},
		{"no hairpin", func() *Result {
			r := eimApdf()
			r.Hairpin = HairpinResult{Works: report.TriNo}
			return r
		}, []report.FindingID{IDFilteringRestrictive, IDNoHairpin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []report.FindingID
			for _, f := range Findings(tc.result()) {
				got = append(got, f.ID)
				if f.Title == "" || f.Remedy == "" || f.Severity == "" || len(f.Evidence) == 0 {
					t.Errorf("finding %s lacks title, remedy, severity or evidence: %+v", f.ID, f)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLifetimeRemedyNamesInterval(t *testing.T) {
	l := &LifetimeResult{Min: 30 * time.Second, Max: 45 * time.Second}
	f, ok := lifetimeShort(l)
	if !ok || !strings.Contains(f.Remedy, "every 15s") {
		t.Errorf("remedy %q, want a 15 s keep-alive (half of 30 s)", f.Remedy)
	}
	if KeepAlive(&LifetimeResult{Max: 1500 * time.Millisecond}) != time.Second {
		t.Error("keep-alive below the first rung must still be positive")
	}
}

func TestVerdict(t *testing.T) {
	r := &Result{Local: local, Servers: []ServerResult{{Mapped: public1}}, Mapping: MappingResult{Behaviour: report.BehaviourAddressAndPortDependent}}
	if v := Verdict(r); !strings.Contains(v, "STUN will not fix one-way audio") {
		t.Errorf("symmetric verdict %q", v)
	}
	r.Mapping.Behaviour = report.BehaviourEndpointIndependent
	if v := Verdict(r); !strings.Contains(v, "STUN can work") {
		t.Errorf("EIM verdict %q", v)
	}
	r.RefusedFirst = &RefusedFirstResult{Before: public1, After: public2, Refused: true}
	if v := Verdict(r); !strings.HasPrefix(v, "STUN works on this network only for calls whose far end does not send first") {
		t.Errorf("verdict with a mapping a refused peer moves %q", v)
	}
	if v := Verdict(&Result{Servers: []ServerResult{{Err: "x"}}}); !strings.Contains(v, "UDP looks blocked") {
		t.Errorf("no-UDP verdict %q", v)
	}
}

func TestNATReportCarriesTheModel(t *testing.T) {
	r := &Result{Network: "udp4", Local: local, RFC5780: mustAP("203.0.113.10:3478"),
		Servers:   []ServerResult{{Server: "s", Addr: mustAP("203.0.113.10:3478"), Mapped: public1, Other: mustAP("203.0.113.11:3479")}},
		Mapping:   MappingResult{Test1: public1, Test2: public1, Behaviour: report.BehaviourEndpointIndependent},
		Filtering: FilteringResult{ChangeIPAndPort: OutcomeNoAnswer, ChangePort: OutcomeNoAnswer, ControlAfter: true, Behaviour: report.BehaviourAddressAndPortDependent},
		Lifetime:  &LifetimeResult{Min: 60 * time.Second, Max: 64 * time.Second, Trials: []LifetimeTrial{{60 * time.Second, true}, {64 * time.Second, false}}},
	}
	r.RefusedFirst = &RefusedFirstResult{Before: public1, After: public2, Other: mustAP("203.0.113.11:3479"), Refused: true}
	n := NATReport(r)
	if last := n.MappingTests[len(n.MappingTests)-1]; last.Result != public2.String() || !strings.HasPrefix(last.Detail, "moved: the fresh socket's mapping was") {
		t.Errorf("refused-first row %+v", last)
	}
	if n.MappedAddr != public1.String() || n.PortPreserved != report.TriYes || n.RFC3489Name != "port restricted cone" ||
		len(n.MappingTests) != 3 || len(n.FilteringTests) != 3 || n.KeepAlive != 30*time.Second || len(n.LifetimeTrials) != 2 || n.UDPBlocked != report.TriNo {
		t.Errorf("NAT report incomplete: %+v", n)
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
