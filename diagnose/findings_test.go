package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/diagnose/hostinfo"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/diagnose/sipserver"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/report"
)

// Builders for results as the checks produce them.

func lanHost() *hostinfo.Info {
	return &hostinfo.Info{Interfaces: []hostinfo.Interface{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}}},
		Gateway: netip.MustParseAddr("192.168.1.1"), GatewayIface: "eth0"}
}

var mirrorAddr = netip.MustParseAddrPort("203.0.113.20:5060")

func algResult(udp, tcp sipalg.Outcome) *sipalg.Result {
	tr := func(transport string, o sipalg.Outcome) sipalg.TransportResult {
		t := sipalg.TransportResult{Transport: transport, Outcome: o, Attempts: 1, RTT: 3 * time.Millisecond,
			LocalAddr: netip.MustParseAddrPort("192.168.1.10:5060")}
		if o == sipalg.NoAnswer {
			t.Attempts = 4
		}
		if o == sipalg.Unchanged || o == sipalg.Rewritten {
			t.Source = netip.MustParseAddrPort("203.0.113.1:5060")
		}
		if o == sipalg.Rewritten {
			t.Diffs = []sipalg.Diff{{Part: "Via", Sent: "SIP/2.0/UDP 192.168.1.10:5060", Received: "SIP/2.0/UDP 203.0.113.1:5060"}, {Part: "SDP c=", Sent: "c=IN IP4 192.168.1.10", Received: "c=IN IP4 203.0.113.1"}}
			t.Rewrites = sipalg.Classify(t.Diffs)
		}
		return t
	}
	return &sipalg.Result{Mirror: mirrorAddr, UDP: tr("udp", udp), TCP: tr("tcp", tcp)}
}

// fragmentResult: the fragment test with each way's answer come or not.
func fragmentResult(out, in bool) *sipalg.FragmentResult {
	probe := func(dir string, size int, answered bool) sipalg.FragmentProbe {
		p := sipalg.FragmentProbe{Direction: dir, RequestBytes: size, Answered: answered, Intact: answered, Attempts: 4}
		if answered {
			p.Attempts, p.AnswerBytes = 1, 2100
		}
		return p
	}
	return &sipalg.FragmentResult{Mirror: mirrorAddr, Out: probe(sipalg.DirectionOut, 3004, out), In: probe(sipalg.DirectionIn, 1203, in)}
}

func forwardResult(sip, rtp forward.Outcome) *forward.Result {
	pub := netip.MustParseAddrPort("203.0.113.1:40000")
	return &forward.Result{Server: netip.MustParseAddrPort("203.0.113.10:3478"), Via: "stun", Ports: []forward.PortResult{
		{Port: 5060, Outcome: sip, Public: pub}, {Port: 10000, Outcome: rtp, Public: pub}, {Port: 15000, Outcome: rtp, Public: pub}, {Port: 20000, Outcome: rtp, Public: pub}}}
}

func nat(m report.Behaviour) *report.NATReport {
	return &report.NATReport{MappedAddr: "203.0.113.1:40000", Mapping: m, Filtering: report.BehaviourAddressAndPortDependent, UDPBlocked: report.TriNo}
}

func path(hops ...string) *hostinfo.Path {
	p := &hostinfo.Path{Dest: netip.MustParseAddrPort("203.0.113.10:3478")}
	for i, h := range hops {
		hop := hostinfo.Hop{TTL: i + 1}
		if h != "" {
			hop.Addr = netip.MustParseAddr(h)
		}
		p.Hops = append(p.Hops, hop)
	}
	return p
}

func result(mod func(r *Result)) *Result {
	r := &Result{SIPPort: 5060, RTPLow: 10000, RTPHigh: 20000, Host: lanHost(),
		Checks: []report.Check{{Name: CheckHost, Status: report.CheckPassed}}}
	mod(r)
	return r
}

func ran(names ...string) func(r *Result) {
	return func(r *Result) {
		for _, n := range names {
			r.Checks = append(r.Checks, report.Check{Name: n, Status: report.CheckPassed})
		}
	}
}

func ids(fs []report.Finding) []report.FindingID {
	var out []report.FindingID
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func TestFindingsVerdictRemedies(t *testing.T) {
	for _, tc := range []struct {
		name         string
		r            *Result
		want, absent []report.FindingID
		verdict      []string // substrings
		firstRemedy  string
		noRemedy     []string
	}{
		{
			name:    "nothing ran",
			r:       result(func(r *Result) {}),
			absent:  []report.FindingID{stunprobe.IDNoUDP, IDSIPALG},
			verdict: []string{"not enough was checked"},
		},
		{
			name: "kernel alg on udp only",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.Rewritten, sipalg.Unchanged)
				ran(CheckALG)(r)
			}),
			want:        []report.FindingID{IDSIPALG, IDPublicAddress},
			absent:      []report.FindingID{IDSIPALGDrop, stunprobe.IDNoUDP},
			verdict:     []string{"failed calls or one-way audio", "SIP ALG is disabled"},
			firstRemedy: RemedyDisableALG,
		},
		{
			name: "udp sip dropped, tcp passes, stun answers",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.NoAnswer, sipalg.Unchanged)
				r.STUNAnswered = report.TriYes
				ran(CheckALG)(r)
			}),
			want:        []report.FindingID{IDSIPALGDrop},
			absent:      []report.FindingID{stunprobe.IDNoUDP, IDSIPALG},
			firstRemedy: RemedyDisableALG,
		},
		{
			name: "no udp: stun silent, mirror only over tcp",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.NoAnswer, sipalg.Unchanged)
				r.Forward = forwardResult(forward.ServerSilent, forward.ServerSilent)
				r.STUNAnswered = report.TriNo
				ran(CheckALG)(r)
			}),
			want:        []report.FindingID{stunprobe.IDNoUDP},
			absent:      []report.FindingID{IDSIPALGDrop, IDSIPPortNotForwarded},
			verdict:     []string{"no audio at all", "UDP"},
			firstRemedy: RemedyAllowUDP,
		},
		{
			name: "sip fragments lost on the way out",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.Unchanged, sipalg.Unchanged)
				r.Fragments = fragmentResult(false, true)
				ran(CheckALG, CheckFrags)(r)
			}),
			want:        []report.FindingID{IDFragmentsDropped},
			verdict:     []string{"failed calls whose SIP messages do not fit one packet", "SIP runs over TCP"},
			firstRemedy: RemedySIPOverTCP,
		},
		{
			name: "sip fragments lost on the way in, beside an alg",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.Rewritten, sipalg.Unchanged)
				r.Fragments = fragmentResult(true, false)
				ran(CheckALG, CheckFrags)(r)
			}),
			want:        []report.FindingID{IDFragmentsDropped, IDSIPALG},
			verdict:     []string{"failed calls or one-way audio", "SIP ALG is disabled"},
			firstRemedy: RemedyDisableALG,
		},
		{
			name: "sip fragments pass",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.Unchanged, sipalg.Unchanged)
				r.Fragments = fragmentResult(true, true)
				ran(CheckALG, CheckFrags)(r)
			}),
			absent:   []report.FindingID{IDFragmentsDropped},
			noRemedy: []string{RemedySIPOverTCP},
		},
		{
			name: "no sip over udp at all is not a fragment problem",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.NoAnswer, sipalg.Unchanged)
				r.Fragments = fragmentResult(false, false)
				r.STUNAnswered = report.TriYes
				ran(CheckALG, CheckFrags)(r)
			}),
			want:   []report.FindingID{IDSIPALGDrop},
			absent: []report.FindingID{IDFragmentsDropped},
		},
		{
			name: "silence alone is not no-udp",
			r: result(func(r *Result) {
				r.ALG = algResult(sipalg.NoAnswer, sipalg.NoAnswer)
				ran(CheckALG)(r)
			}),
			want:   []report.FindingID{IDMirrorUnreachable},
			absent: []report.FindingID{stunprobe.IDNoUDP, IDSIPALGDrop},
		},
		{
			name: "forwarding missing",
			r: result(func(r *Result) {
				r.Forward = forwardResult(forward.NotReached, forward.NotReached)
				ran(CheckForward)(r)
			}),
			want:        []report.FindingID{IDSIPPortNotForwarded, IDRTPNotForwarded},
			absent:      []report.FindingID{IDForwardWorks},
			verdict:     []string{"one-way audio unless UDP 5060 and 10000-20000 are forwarded"},
			firstRemedy: RemedyForwardPorts,
		},
		{
			name: "forwarding works",
			r: result(func(r *Result) {
				r.Forward = forwardResult(forward.Reached, forward.Reached)
				r.ALG = algResult(sipalg.Unchanged, sipalg.Unchanged)
				ran(CheckForward, CheckALG)(r)
			}),
			want:    []report.FindingID{IDForwardWorks},
			absent:  []report.FindingID{IDSIPPortNotForwarded, IDRTPNotForwarded, IDSIPALG},
			verdict: []string{"expect two-way audio", "no SIP ALG was seen"},
		},
		{
			name: "sip forwarded, rtp range not",
			r: result(func(r *Result) {
				r.Forward = forwardResult(forward.Reached, forward.NotReached)
				ran(CheckForward)(r)
			}),
			want:        []report.FindingID{IDForwardWorks, IDRTPNotForwarded},
			absent:      []report.FindingID{IDSIPPortNotForwarded},
			firstRemedy: RemedyForwardPorts,
		},
		{
			name: "endpoint-independent mapping: stun will help",
			r: result(func(r *Result) {
				r.NAT = nat(report.BehaviourEndpointIndependent)
				ran(CheckNAT)(r)
			}),
			want:        []report.FindingID{IDSTUNWillHelp},
			absent:      []report.FindingID{report.IDMappingVaries},
			verdict:     []string{"STUN on the phones will fix"},
			firstRemedy: "",
		},
		{
			name: "address-and-port-dependent mapping: relay, not stun",
			r: result(func(r *Result) {
				r.NAT = nat(report.BehaviourAddressAndPortDependent)
				ran(CheckNAT)(r)
			}),
			want:        []report.FindingID{report.IDMappingVaries},
			absent:      []report.FindingID{IDSTUNWillHelp},
			verdict:     []string{"STUN will not fix it", "unless media goes through a relay (natdoc serve, or the server's media relay) or UDP 5060"},
			firstRemedy: RemedyRelay,
			noRemedy:    []string{RemedySTUN},
		},
		{
			name: "consistent mapping across plain servers: stun will help",
			r: result(func(r *Result) {
				r.NAT = &report.NATReport{MappedAddr: "203.0.113.1:40000", MappingConsistent: report.TriYes, UDPBlocked: report.TriNo}
				ran(CheckNAT)(r)
			}),
			want:    []report.FindingID{IDSTUNWillHelp},
			verdict: []string{"STUN on the phones will fix"},
		},
		{
			name: "double nat from the path",
			r: result(func(r *Result) {
				r.Path = path("192.168.2.1", "192.168.1.1", "203.0.113.254")
				ran(CheckPath)(r)
			}),
			want:        []report.FindingID{igd.FindingDoubleNAT},
			firstRemedy: RemedyBridgeOuter,
		},
		{
			name: "double nat, silent after the private hops",
			r: result(func(r *Result) {
				r.Path = path("192.168.2.1", "192.168.1.1", "", "")
				ran(CheckPath)(r)
			}),
			want: []report.FindingID{igd.FindingDoubleNAT},
		},
		{
			name: "single nat path is fine",
			r: result(func(r *Result) {
				r.Path = path("192.168.1.1", "203.0.113.254")
				ran(CheckPath)(r)
			}),
			absent: []report.FindingID{igd.FindingDoubleNAT, IDCGNAT},
		},
		{
			name: "carrier-grade nat",
			r: result(func(r *Result) {
				r.Path = path("192.168.1.1", "100.64.0.1", "198.51.100.254")
				ran(CheckPath)(r)
			}),
			want:   []report.FindingID{IDCGNAT},
			absent: []report.FindingID{igd.FindingDoubleNAT},
		},
		{
			name: "server leaks its private address and ignores rport",
			r: result(func(r *Result) {
				r.Server = &sipserver.Result{Target: "203.0.113.2", Host: "203.0.113.2", Port: 5060, Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.2")},
					Contacted: netip.MustParseAddrPort("203.0.113.2:5060"), Answered: true, Status: 200, Reason: "OK", RTT: time.Millisecond, Attempts: 1,
					Leaks: []sipserver.Leak{{Where: "Contact", Value: "<sip:10.0.0.10:5060>", Addr: netip.MustParseAddr("10.0.0.10")}}}
				ran(CheckServer)(r)
			}),
			want:        []report.FindingID{IDServerReachable, IDServerPrivate, IDServerNoRport},
			verdict:     []string{"main address is set to the public address"},
			firstRemedy: RemedyServerAddress,
		},
		{
			name: "server silent",
			r: result(func(r *Result) {
				r.Server = &sipserver.Result{Target: "sip.example.org", IsName: true, Host: "sip.example.org", Port: 5060, Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.5")},
					Contacted: netip.MustParseAddrPort("198.51.100.5:5060"), Attempts: 4}
				ran(CheckServer)(r)
			}),
			want:    []report.FindingID{IDServerNoAnswer},
			absent:  []report.FindingID{IDServerReachable},
			verdict: []string{"failed calls"},
		},
		{
			name: "stale dynamic dns",
			r: result(func(r *Result) {
				r.NAT = nat(report.BehaviourEndpointIndependent)
				r.Server = &sipserver.Result{Target: "home.dyndns.org", IsName: true, Host: "home.dyndns.org", Port: 5060, Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.77")},
					Contacted: netip.MustParseAddrPort("198.51.100.77:5060"), Attempts: 4}
				ran(CheckServer, CheckNAT)(r)
			}),
			want:        []report.FindingID{IDDynDNSStale, IDServerNoAnswer},
			firstRemedy: RemedyFixDNS,
		},
		{
			name: "server at our own public address, silent from inside",
			r: result(func(r *Result) {
				r.NAT = nat(report.BehaviourEndpointIndependent)
				r.Server = &sipserver.Result{Target: "home.dyndns.org", IsName: true, Host: "home.dyndns.org", Port: 5060, Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")},
					Contacted: netip.MustParseAddrPort("203.0.113.1:5060"), Attempts: 4}
				ran(CheckServer, CheckNAT)(r)
			}),
			want:   []report.FindingID{IDServerNoAnswer},
			absent: []report.FindingID{IDDynDNSStale},
		},
		{
			name: "name resolves to a private address",
			r: result(func(r *Result) {
				r.Server = &sipserver.Result{Target: "pbx.example.org", IsName: true, Host: "pbx.example.org", Port: 5060, Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.5")},
					Contacted: netip.MustParseAddrPort("192.168.1.5:5060"), Answered: true, Status: 200, Rport: 5060}
				ran(CheckServer)(r)
			}),
			want:   []report.FindingID{IDServerDNSPrivate},
			absent: []report.FindingID{IDServerNoRport},
		},
		{
			name: "host holds the public address",
			r: result(func(r *Result) {
				r.Host = &hostinfo.Info{Interfaces: []hostinfo.Interface{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("203.0.113.50/24")}}}}
				r.ALG = algResult(sipalg.Unchanged, sipalg.Unchanged)
				r.ALG.UDP.Source = netip.MustParseAddrPort("203.0.113.50:5060")
				ran(CheckALG)(r)
			}),
			want:    []report.FindingID{IDHostPublic},
			absent:  []report.FindingID{IDPublicAddress},
			verdict: []string{"this host has a public address"},
		},
		{
			name: "upnp limit from the router probe",
			r: result(func(r *Result) {
				r.Router = &report.IGDReport{Limit: &report.MappingLimit{Asked: 31, Accepted: 30, Calls: 14}}
				r.IGDFind = []report.Finding{{ID: igd.FindingMappingLimit, Severity: report.SeverityWarning, Title: "limit"}}
				ran(CheckRouter)(r)
			}),
			want: []report.FindingID{igd.FindingMappingLimit},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := Findings(tc.r)
			got := ids(fs)
			for _, id := range tc.want {
				if !slices.Contains(got, id) {
					t.Errorf("missing %s; got %v", id, got)
				}
			}
			for _, id := range tc.absent {
				if slices.Contains(got, id) {
					t.Errorf("unexpected %s; got %v", id, got)
				}
			}
			v := Verdict(tc.r, fs)
			if !strings.HasPrefix(v, "Calls between this network and the internet: ") {
				t.Errorf("verdict %q", v)
			}
			for _, s := range tc.verdict {
				if !strings.Contains(v, s) {
					t.Errorf("verdict %q lacks %q", v, s)
				}
			}
			rems := Remedies(tc.r, fs)
			if tc.firstRemedy != "" && (len(rems) == 0 || rems[0].ID != tc.firstRemedy) {
				t.Errorf("first remedy: got %v, want %s", rems, tc.firstRemedy)
			}
			for _, id := range tc.noRemedy {
				if slices.ContainsFunc(rems, func(m report.Remedy) bool { return m.ID == id }) {
					t.Errorf("remedy %s offered: %v", id, rems)
				}
			}
			for _, m := range rems {
				if len(m.Fixes) == 0 {
					t.Errorf("remedy %s fixes nothing", m.ID)
				}
			}
		})
	}
}

func TestUPnPLimitRemedy(t *testing.T) {
	r := result(func(r *Result) {
		r.Router = &report.IGDReport{Limit: &report.MappingLimit{Accepted: 30, Calls: 14}}
	})
	fs := []report.Finding{{ID: igd.FindingMappingLimit, Severity: report.SeverityWarning}}
	rems := Remedies(r, fs)
	i := slices.IndexFunc(rems, func(m report.Remedy) bool { return m.ID == RemedyUPnPLimit })
	if i < 0 || !strings.Contains(rems[i].Title, "limit is 30") || !strings.Contains(rems[i].Title, "more than 14 simultaneous calls") {
		t.Errorf("remedies %+v", rems)
	}
}

func TestBuildMarksChecks(t *testing.T) {
	r := result(func(r *Result) {
		r.ALG = algResult(sipalg.Rewritten, sipalg.Unchanged)
		ran(CheckALG, CheckServer)(r)
	})
	rep := report.New("diagnose", "test")
	Build(rep, r)
	status := map[string]report.CheckStatus{}
	for _, c := range rep.Checks {
		status[c.Name] = c.Status
	}
	if status[CheckALG] != report.CheckProblem || status[CheckServer] != report.CheckPassed {
		t.Errorf("checks %v", rep.Checks)
	}
	if rep.Host == nil || rep.Host.PublicAddress != report.TriNo || rep.Host.Gateway != "192.168.1.1 via eth0" {
		t.Errorf("host %+v", rep.Host)
	}
	if !rep.ProblemsFound() || rep.Verdict == "" || len(rep.Remedies) == 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestForwardPorts(t *testing.T) {
	for _, tc := range []struct {
		sip, lo, hi int
		want        []int
	}{
		{5060, 0, 0, []int{5060}},
		{5060, 10000, 20000, []int{5060, 10000, 15000, 20000}},
		{5060, 10000, 10000, []int{5060, 10000}},
		{5060, 5060, 5062, []int{5060, 5061, 5062}},
	} {
		if got := ForwardPorts(tc.sip, tc.lo, tc.hi); !slices.Equal(got, tc.want) {
			t.Errorf("ForwardPorts(%d, %d, %d) = %v, want %v", tc.sip, tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestIsDynDNSName(t *testing.T) {
	for name, want := range map[string]bool{"home.dyndns.org": true, "x.duckdns.org.": true, "dyndns.org": true, "sip.example.org": false, "notdyndns.org": false} {
		if IsDynDNSName(name) != want {
			t.Errorf("IsDynDNSName(%q) != %v", name, want)
		}
	}
}
