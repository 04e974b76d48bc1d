package diagnose

import (
	"errors"
	"testing"

	"github.com/natdoc/natdoc/report"
)

func TestRTPPortFindings(t *testing.T) {
	eim, apdm := report.BehaviourEndpointIndependent, report.BehaviourAddressAndPortDependent
	yes, no := report.TriYes, report.TriNo
	sip := func(pp report.Tri, m report.Behaviour) *report.NATReport {
		return &report.NATReport{LocalAddr: "192.168.1.10:5060", MappedAddr: "203.0.113.1:5060", PortPreserved: pp, Mapping: m}
	}
	rtp := func(mapped string, pp report.Tri, m report.Behaviour) *report.NATPortMapping {
		return &report.NATPortMapping{Local: "192.168.1.10:10000", Mapped: mapped, PortPreserved: pp, Mapping: m}
	}
	for _, tc := range []struct {
		name     string
		nat      *report.NATReport
		rtp      *report.NATPortMapping
		severity report.Severity // "": no finding
	}{
		{"same treatment", sip(yes, eim), rtp("203.0.113.1:10000", yes, eim), ""},
		{"not probed", sip(yes, eim), nil, ""},
		{"no sip result", &report.NATReport{}, rtp("203.0.113.1:10000", yes, eim), ""},
		{"rtp port silent", sip(yes, eim), &report.NATPortMapping{Local: "192.168.1.10:10000", Note: noAnswerNote}, report.SeverityWarning},
		{"rtp probe failed here", sip(yes, eim), &report.NATPortMapping{Local: ":10000", Note: "probe failed: address already in use"}, ""},
		{"rtp mapped per destination", sip(yes, eim), rtp("203.0.113.1:61234", no, apdm), report.SeverityError},
		{"rtp port renumbered", sip(yes, eim), rtp("203.0.113.1:61234", no, eim), report.SeverityWarning},
		{"rtp port renumbered, mapping unknown", sip(yes, ""), rtp("203.0.113.1:61234", no, ""), report.SeverityWarning},
		{"both per destination", sip(no, apdm), rtp("203.0.113.1:61234", no, apdm), ""},
		{"rtp kinder", sip(no, apdm), rtp("203.0.113.1:10000", yes, eim), report.SeverityInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := rtpPortFindings(&Result{NAT: tc.nat, RTPNAT: tc.rtp, RTPLow: 10000, RTPHigh: 10100})
			if tc.severity == "" {
				if len(fs) != 0 {
					t.Fatalf("want no finding, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].ID != IDRTPPortMapping || fs[0].Severity != tc.severity || fs[0].Subject != "10000" {
				t.Fatalf("got %+v, want one %s %s", fs, IDRTPPortMapping, tc.severity)
			}
			if fs[0].Remedy == "" || len(fs[0].Evidence) != 2 {
				t.Errorf("remedy %q, evidence %+v", fs[0].Remedy, fs[0].Evidence)
			}
		})
	}
}

func TestPortMapping(t *testing.T) {
	got := PortMapping(&report.NATReport{LocalAddr: "192.168.1.10:10000", MappedAddr: "203.0.113.1:10000", PortPreserved: report.TriYes,
		Mapping: report.BehaviourEndpointIndependent, Filtering: report.BehaviourAddressDependent}, nil, 10000)
	want := report.NATPortMapping{Local: "192.168.1.10:10000", Mapped: "203.0.113.1:10000", PortPreserved: report.TriYes, Mapping: report.BehaviourEndpointIndependent}
	if *got != want {
		t.Errorf("got %+v, want %+v", *got, want)
	}
	if m := PortMapping(nil, errors.New("listen udp :10000: address already in use"), 10000); m.Local != ":10000" || m.Note == "" || m.Mapped != "" {
		t.Errorf("error case %+v", m)
	}
	if m := PortMapping(&report.NATReport{LocalAddr: "192.168.1.10:10000"}, nil, 10000); m.Note != noAnswerNote {
		t.Errorf("silent case %+v", m)
	}
}

// TestBuildCarriesRTPPort: the report's NAT section gets the RTP port's
// mapping, without changing the result it came from, and the finding's
// remedy is ranked.
func TestBuildCarriesRTPPort(t *testing.T) {
	r := &Result{SIPPort: 5060, RTPLow: 10000, RTPHigh: 10100,
		NAT: &report.NATReport{LocalAddr: "192.168.1.10:5060", MappedAddr: "203.0.113.1:5060", PortPreserved: report.TriYes, Mapping: report.BehaviourEndpointIndependent},
		RTPNAT: &report.NATPortMapping{Local: "192.168.1.10:10000", Mapped: "203.0.113.1:40000", PortPreserved: report.TriNo,
			Mapping: report.BehaviourAddressAndPortDependent}}
	rep := report.New("diagnose", "test")
	Build(rep, r)
	if rep.NAT == nil || rep.NAT.RTPPort == nil || rep.NAT.RTPPort.Mapped != "203.0.113.1:40000" || r.NAT.RTPPort != nil {
		t.Fatalf("NAT section %+v (result's %+v)", rep.NAT, r.NAT)
	}
	found := false
	for _, rm := range rep.Remedies {
		for _, id := range rm.Fixes {
			found = found || id == IDRTPPortMapping
		}
	}
	if !found {
		t.Errorf("no remedy fixes %s: %+v", IDRTPPortMapping, rep.Remedies)
	}
	// STUN is no remedy when the RTP port is mapped per destination.
	for _, f := range rep.Findings {
		if f.ID == IDSTUNWillHelp {
			t.Errorf("finding %s despite the RTP port's mapping", f.ID)
		}
	}
	for _, rm := range rep.Remedies {
		if rm.ID == RemedySTUN {
			t.Errorf("remedy %s despite the RTP port's mapping", rm.ID)
		}
	}
}
