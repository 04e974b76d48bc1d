//go:build linux

package diagnose

import (
	"testing"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabRTPPortMapping: a router that keeps 5060 but maps its RTP range
// with `masquerade random` (a new port per destination) is caught only by
// the probe from the RTP port; with plain masquerade both ports agree and
// nothing is reported.
func TestLabRTPPortMapping(t *testing.T) {
	t.Parallel()
	for _, randomRTP := range []bool{true, false} {
		name := map[bool]string{true: "rtp-random", false: "same"}[randomRTP]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			pub := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
			r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
			if randomRTP {
				r.Nft(t, `insert rule ip natlab postrouting oifname "wan0" udp sport 10000-10100 masquerade random`)
			}
			pc := r.LANHost("pc", "192.168.1.10")
			stun := natlab.StartCoturn(t, pub)
			res, rep := runIn(t, pc, Options{STUN: []string{stun.Primary.String()}, SIPPort: 5060, RTPLow: 10000, RTPHigh: 10100, NoRouter: true})
			if res.NAT == nil || res.NAT.PortPreserved != report.TriYes || res.NAT.Mapping != report.BehaviourEndpointIndependent {
				t.Fatalf("SIP port probe %+v", res.NAT)
			}
			m := res.RTPNAT
			if m == nil || m.Local != "192.168.1.10:10000" || m.Mapped == "" {
				t.Fatalf("RTP port probe %+v", m)
			}
			if rep.NAT == nil || rep.NAT.RTPPort == nil {
				t.Errorf("report's NAT section lacks the RTP port")
			}
			if checkStatus(rep, CheckNATRTP) == report.CheckNotRun {
				t.Errorf("check %s not run", CheckNATRTP)
			}
			if randomRTP {
				if m.PortPreserved != report.TriNo || m.Mapping != report.BehaviourAddressAndPortDependent {
					t.Errorf("RTP port: preserved %q mapping %q, want no and address-and-port-dependent", m.PortPreserved, m.Mapping)
				}
				requireFindings(t, rep, []report.FindingID{IDRTPPortMapping + "/10000"}, []report.FindingID{IDSTUNWillHelp})
				if checkStatus(rep, CheckNATRTP) != report.CheckProblem {
					t.Errorf("check %s: %q", CheckNATRTP, checkStatus(rep, CheckNATRTP))
				}
			} else {
				if m.PortPreserved != report.TriYes || m.Mapping != report.BehaviourEndpointIndependent {
					t.Errorf("RTP port: preserved %q mapping %q, want yes and endpoint-independent", m.PortPreserved, m.Mapping)
				}
				requireFindings(t, rep, []report.FindingID{IDSTUNWillHelp}, []report.FindingID{IDRTPPortMapping})
			}
		})
	}
}
