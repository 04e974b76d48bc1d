//go:build linux

package diagnose

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/sipalg"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// startMirror runs sipalg.Mirror on UDP and TCP at addr inside h.
func startMirror(t *testing.T, h *natlab.Host, addr string) string {
	t.Helper()
	udp, err := h.ListenUDP("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := h.ListenTCP("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cb, err := h.ListenUDP("udp4", strings.Split(addr, ":")[0]+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- (&sipalg.Mirror{UDP: udp, TCP: tcp, Callback: cb}).Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mirror: %v", err)
		}
	})
	return addr
}

// runIn runs diagnose from host h and builds the report.
func runIn(t *testing.T, h *natlab.Host, opt Options) (*Result, *report.Report) {
	t.Helper()
	opt.Env = netenv.Env{Do: h.Do}
	res := Run(context.Background(), opt)
	rep := report.New("diagnose", "test")
	Build(rep, res)
	var b strings.Builder
	_ = report.Render(&b, rep, report.Options{Format: report.FormatText, Color: report.ColorNever})
	t.Logf("report:\n%s", b.String())
	return res, rep
}

func findingIDs(rep *report.Report) []string {
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, string(f.ID)+"/"+f.Subject)
	}
	return ids
}

func hasFinding(rep *report.Report, id report.FindingID, subject string) bool {
	for _, f := range rep.Findings {
		if f.ID == id && (subject == "" || f.Subject == subject) {
			return true
		}
	}
	return false
}

func checkStatus(rep *report.Report, name string) report.CheckStatus {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

// findingOf is the report's first finding of id (nil: none).
func findingOf(rep *report.Report, id report.FindingID) *report.Finding {
	for i := range rep.Findings {
		if rep.Findings[i].ID == id {
			return &rep.Findings[i]
		}
	}
	return nil
}

func requireFindings(t *testing.T, rep *report.Report, want, notWant []report.FindingID) {
	t.Helper()
	for _, id := range want {
		id, subject, _ := strings.Cut(string(id), "/")
		if !hasFinding(rep, report.FindingID(id), subject) {
			t.Errorf("finding %s/%s missing; have %v", id, subject, findingIDs(rep))
		}
	}
	for _, id := range notWant {
		id, subject, _ := strings.Cut(string(id), "/")
		if hasFinding(rep, report.FindingID(id), subject) {
			t.Errorf("finding %s/%s present; have %v", id, subject, findingIDs(rep))
		}
	}
}

// TestLabSIPALG: the kernel SIP helper on UDP 5060 rewrites the INVITE over
// UDP; over TCP it passes unchanged. Without the helper nothing changes.
func TestLabSIPALG(t *testing.T) {
	t.Parallel()
	for _, alg := range []bool{true, false} {
		name := map[bool]string{true: "alg-on", false: "alg-off"}[alg]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			pub := lab.PublicHost("mirror", "203.0.113.20")
			r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{SIPALG: alg}})
			pc := r.LANHost("pc", "192.168.1.10")
			mirror := startMirror(t, pub, "203.0.113.20:5060")
			res, rep := runIn(t, pc, Options{Mirror: mirror, SIPPort: 5060})
			if res.ALG == nil {
				t.Fatal("the ALG test did not run")
			}
			if res.ALG.UDP.Source != netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), res.ALG.UDP.LocalAddr.Port()) {
				t.Errorf("mirror saw UDP from %s, want the router's WAN with the port preserved (local %s)", res.ALG.UDP.Source, res.ALG.UDP.LocalAddr)
			}
			if alg {
				requireFindings(t, rep, []report.FindingID{IDSIPALG + "/UDP"}, []report.FindingID{IDSIPALG + "/TCP", stunprobe.IDNoUDP})
				rw := res.ALG.UDP.Rewrites
				if !rw.Via || !rw.Contact || !rw.SDP {
					t.Errorf("rewrites %+v: want Via, Contact and SDP", rw)
				}
				if !strings.Contains(rep.Verdict, "SIP ALG is disabled") || rep.Remedies[0].ID != RemedyDisableALG {
					t.Errorf("verdict %q, first remedy %v", rep.Verdict, rep.Remedies)
				}
				if checkStatus(rep, CheckALG) != report.CheckProblem {
					t.Errorf("sip-alg check %q", checkStatus(rep, CheckALG))
				}
			} else {
				requireFindings(t, rep, []report.FindingID{IDPublicAddress}, []report.FindingID{IDSIPALG, IDSIPALGDrop, stunprobe.IDNoUDP})
				if res.ALG.UDP.Outcome != sipalg.Unchanged || res.ALG.TCP.Outcome != sipalg.Unchanged {
					t.Errorf("udp %s, tcp %s: want both unchanged", res.ALG.UDP.Outcome, res.ALG.TCP.Outcome)
				}
				if checkStatus(rep, CheckALG) != report.CheckPassed || rep.ProblemsFound() {
					t.Errorf("check %q, problems %v", checkStatus(rep, CheckALG), rep.ProblemsFound())
				}
			}
		})
	}
}

// TestLabNoUDP: the router drops all UDP; the mirror answers over TCP only
// and the STUN server never: a clear "no UDP" verdict.
func TestLabNoUDP(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	pub := lab.PublicHost("srv", "203.0.113.10", "203.0.113.11")
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{DropUDP: true}})
	pc := r.LANHost("pc", "192.168.1.10")
	stun := natlab.StartCoturn(t, pub)
	mirror := startMirror(t, pub, "203.0.113.10:5060")
	_, rep := runIn(t, pc, Options{Mirror: mirror, STUN: []string{stun.Primary.String()}, SIPPort: 5060, CheckForwarding: true})
	requireFindings(t, rep, []report.FindingID{stunprobe.IDNoUDP}, []report.FindingID{IDSIPALG, IDSIPALGDrop, IDSIPPortNotForwarded})
	if !strings.Contains(rep.Verdict, "UDP does not get through") || rep.Remedies[0].ID != RemedyAllowUDP {
		t.Errorf("verdict %q, remedies %v", rep.Verdict, rep.Remedies)
	}
}

// TestLabPortForwarding: with UDP 5060 and 10000-10100 forwarded to the PC,
// unsolicited packets arrive; without the forward they do not. Both
// methods: RFC 5780 RESPONSE-PORT (coturn) and the natdoc mirror's
// callback.
func TestLabPortForwarding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fwd  bool
		via  string
		// sipOutside, when set, is the outside port the router forwards
		// to 5060 and the one diagnose is told (--sip-public-port).
		sipOutside int
	}{{"stun-forwarded", true, "stun", 0}, {"stun-not-forwarded", false, "stun", 0}, {"mirror-forwarded", true, "mirror", 0},
		{"mirror-not-forwarded", false, "mirror", 0}, {"stun-5080-to-5060", true, "stun", 5080}, {"mirror-5080-to-5060", true, "mirror", 5080},
		{"mirror-5080-not-forwarded", false, "mirror", 5080}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			pub := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
			nat := natlab.NATConfig{}
			if tc.fwd {
				sip := natlab.Forward{Proto: "udp", Ports: "5060", To: "192.168.1.10"}
				if tc.sipOutside != 0 {
					sip = natlab.Forward{Proto: "udp", Ports: strconv.Itoa(tc.sipOutside), To: "192.168.1.10:5060"}
				}
				nat.Forwards = []natlab.Forward{sip, {Proto: "udp", Ports: "10000-10100", To: "192.168.1.10"}}
			}
			r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: nat})
			pc := r.LANHost("pc", "192.168.1.10")
			opt := Options{SIPPort: 5060, SIPPublicPort: tc.sipOutside, RTPLow: 10000, RTPHigh: 10100, CheckForwarding: true, NoRouter: true}
			if tc.via == "stun" {
				opt.STUN = []string{natlab.StartCoturn(t, pub).Primary.String()}
			} else {
				opt.Mirror = startMirror(t, pub, "203.0.113.10:5060")
			}
			res, rep := runIn(t, pc, opt)
			if res.Forward == nil || len(res.Forward.Ports) != 4 || res.Forward.Via != tc.via {
				t.Fatalf("forward result %+v", res.Forward)
			}
			if tc.sipOutside != 0 {
				if p := res.Forward.Ports[0]; p.Port != tc.sipOutside || p.Local != 5060 || (p.Outcome == forward.Reached) != tc.fwd {
					t.Errorf("SIP port: %+v, want %d checked at 5060, reached: %v", p, tc.sipOutside, tc.fwd)
				}
			}
			if tc.fwd {
				requireFindings(t, rep, []report.FindingID{IDForwardWorks}, []report.FindingID{IDSIPPortNotForwarded, IDRTPNotForwarded, stunprobe.IDNoUDP})
				if !strings.Contains(rep.Verdict, "expect two-way audio") || checkStatus(rep, CheckForward) != report.CheckPassed {
					t.Errorf("verdict %q, forwarding check %q", rep.Verdict, checkStatus(rep, CheckForward))
				}
			} else {
				requireFindings(t, rep, []report.FindingID{IDSIPPortNotForwarded, IDRTPNotForwarded}, []report.FindingID{IDForwardWorks, stunprobe.IDNoUDP})
				sip, remedy := "UDP 5060 and", "Forward UDP 5060 on the router to this host"
				if tc.sipOutside != 0 {
					sip, remedy = "UDP 5080 (to 5060) and", "Forward UDP 5080 on the router to this host's UDP 5060"
				}
				if !strings.Contains(rep.Verdict, sip+" 10000-10100 are forwarded") || rep.Remedies[0].ID != RemedyForwardPorts {
					t.Errorf("verdict %q, remedies %v", rep.Verdict, rep.Remedies)
				}
				if f := findingOf(rep, IDSIPPortNotForwarded); f == nil || !strings.HasPrefix(f.Remedy, remedy) {
					t.Errorf("SIP finding %+v, want remedy %q", f, remedy)
				}
			}
		})
	}
}

// TestLabDoubleNAT: a router behind another router; the path's first two
// hops are private.
func TestLabDoubleNAT(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	pub := lab.PublicHost("mirror", "203.0.113.20")
	outer := lab.Router("outer", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
	inner := lab.Router("inner", natlab.RouterConfig{WAN: "192.168.1.2", LAN: "192.168.2.1/24", Upstream: outer})
	pc := inner.LANHost("pc", "192.168.2.10")
	mirror := startMirror(t, pub, "203.0.113.20:5060")
	res, rep := runIn(t, pc, Options{Mirror: mirror})
	requireFindings(t, rep, []report.FindingID{igd.FindingDoubleNAT}, []report.FindingID{IDSIPALG, stunprobe.IDNoUDP})
	if res.Path == nil || len(res.Path.Hops) < 2 || res.Path.Hops[0].Addr != netip.MustParseAddr("192.168.2.1") || res.Path.Hops[1].Addr != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("path %+v", res.Path)
	}
	if !slices.ContainsFunc(rep.Remedies, func(m report.Remedy) bool { return m.ID == RemedyBridgeOuter }) {
		t.Errorf("remedies %v", rep.Remedies)
	}
	if rep.Host == nil || rep.Host.Gateway != "192.168.2.1 via eth0" {
		t.Errorf("host %+v", rep.Host)
	}
}

// sipResponder answers OPTIONS like a SIP server behind NAT that was never
// told its public address: Contact and SDP carry its private address, and
// it ignores rport (no rport value in the Via).
func sipResponder(t *testing.T, h *natlab.Host, addr string) {
	t.Helper()
	natlab.ServeUDP(t, h, addr, func(raw []byte, _ netip.AddrPort) []byte {
		req := string(raw)
		var b strings.Builder
		b.WriteString("SIP/2.0 200 OK\r\n")
		for _, line := range strings.Split(req, "\r\n") {
			name, _, _ := strings.Cut(line, ":")
			switch strings.ToLower(name) {
			case "via", "from", "call-id", "cseq":
				b.WriteString(line + "\r\n")
			case "to":
				b.WriteString(line + ";tag=srv1\r\n")
			}
		}
		sdp := "v=0\r\no=- 1 1 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"
		b.WriteString("Contact: <sip:10.0.0.10:5060>\r\nServer: tiny-pbx\r\nContent-Type: application/sdp\r\n")
		b.WriteString("Content-Length: " + itoa(len(sdp)) + "\r\n\r\n" + sdp)
		return []byte(b.String())
	})
}

func itoa(n int) string {
	return strings.TrimPrefix(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)).String(), "0.0.0.0:")
}

// TestLabServerLeaksPrivateAddress: the SIP server sits behind its own NAT
// with a port forward of 5060, and answers with its private address.
func TestLabServerLeaksPrivateAddress(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	home := lab.Router("home", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
	pc := home.LANHost("pc", "192.168.1.10")
	office := lab.Router("office", natlab.RouterConfig{WAN: "203.0.113.2", LAN: "10.0.0.1/24",
		NAT: natlab.NATConfig{Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "10.0.0.10"}}}})
	pbx := office.LANHost("pbx", "10.0.0.10")
	sipResponder(t, pbx, "10.0.0.10:5060")
	res, rep := runIn(t, pc, Options{Server: "203.0.113.2"})
	requireFindings(t, rep, []report.FindingID{IDServerReachable, IDServerPrivate, IDServerNoRport}, []report.FindingID{IDServerNoAnswer})
	if res.Server == nil || res.Server.Contacted != netip.MustParseAddrPort("203.0.113.2:5060") {
		t.Fatalf("server result %+v", res.Server)
	}
	if !strings.Contains(rep.Verdict, "main address is set to the public address") {
		t.Errorf("verdict %q", rep.Verdict)
	}

}

// TestLabNATBehaviour: behind plain masquerade (endpoint-independent
// mapping) STUN on the phones will fix audio; behind masquerade random
// (address-and-port-dependent) it will not: a relay or a VPN will.
func TestLabNATBehaviour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mapping natlab.Mapping
	}{{"eim", natlab.EndpointIndependent}, {"apdm", natlab.AddressAndPortDependent}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			pub := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
			r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: tc.mapping}})
			pc := r.LANHost("pc", "192.168.1.10")
			stun := natlab.StartCoturn(t, pub)
			res, rep := runIn(t, pc, Options{STUN: []string{stun.Primary.String()}})
			if res.NAT == nil {
				t.Fatal("the NAT probe did not run")
			}
			if res.NAT.LocalAddr != "192.168.1.10:5060" {
				t.Errorf("NAT probe from %s, want the SIP port", res.NAT.LocalAddr)
			}
			if tc.mapping == natlab.EndpointIndependent {
				// The lab router lets refused packets reach its own UDP
				// stack, whose conntrack entry then moves a phone's mapping
				// for that peer: STUN alone fails when the far end sends
				// first, and the server's symmetric RTP comes first.
				requireFindings(t, rep, []report.FindingID{IDSTUNWillHelp, stunprobe.IDRefusedFirstMoves}, []report.FindingID{report.IDMappingVaries, stunprobe.IDNoUDP})
				if !strings.Contains(rep.Verdict, "STUN on the phones fixes one-way audio on calls whose far end does not send first") ||
					!slices.ContainsFunc(rep.Remedies, func(m report.Remedy) bool { return m.ID == RemedySTUN }) || rep.Remedies[0].ID != RemedyServerNAT {
					t.Errorf("verdict %q, remedies %v", rep.Verdict, rep.Remedies)
				}
			} else {
				requireFindings(t, rep, []report.FindingID{report.IDMappingVaries}, []report.FindingID{IDSTUNWillHelp, stunprobe.IDNoUDP})
				if !strings.Contains(rep.Verdict, "STUN will not fix it") || !strings.Contains(rep.Verdict, "relay") {
					t.Errorf("verdict %q", rep.Verdict)
				}
				if slices.ContainsFunc(rep.Remedies, func(m report.Remedy) bool { return m.ID == RemedySTUN }) {
					t.Errorf("STUN recommended on an address-and-port-dependent NAT: %v", rep.Remedies)
				}
			}
		})
	}
}

// TestLabUPnPLimit: miniupnpd allows 30 external ports; diagnose finds
// them, names them in the remedies, and leaves the router's table empty.
func TestLabUPnPLimit(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	pub := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
	pc := r.LANHost("pc", "192.168.1.10")
	stun := natlab.StartCoturn(t, pub)
	natlab.StartMiniupnpd(t, r, natlab.MiniupnpdConfig{STUN: stun.Primary, Allow: []string{"10000-10029 192.168.1.0/24 1024-65535"}, NATPMP: true})
	journal := igd.OpenJournal(filepath.Join(t.TempDir(), "journal.json"))
	res, rep := runIn(t, pc, Options{STUN: []string{stun.Primary.String()}, RTPLow: 10000, RTPHigh: 10100, UPnPLimit: 40, Journal: journal, Timeout: 30 * time.Second})
	if res.Router == nil || res.Router.Limit == nil {
		t.Fatalf("no limit measured: %+v", res.Router)
	}
	if res.Router.Limit.Accepted != 30 {
		t.Errorf("limit %d, want 30", res.Router.Limit.Accepted)
	}
	// The rules allow only 10000-10029: that, not a full table, is the
	// limit, and the phones' RTP range 10000-10100 reaches beyond it.
	requireFindings(t, rep, []report.FindingID{igd.FindingPortsRestricted}, []report.FindingID{igd.FindingMappingLimit, igd.FindingDoubleNAT, igd.FindingExternalIPDiffers})
	i := slices.IndexFunc(rep.Remedies, func(m report.Remedy) bool { return m.ID == RemedyUPnPLimit })
	if i < 0 || !strings.Contains(rep.Remedies[i].Title, "allow only ports 10000-10029 (30 mappings)") {
		t.Errorf("remedies %v", rep.Remedies)
	}
	if !strings.Contains(rep.Verdict, "up to 14 simultaneous calls through UPnP") {
		t.Errorf("verdict %q", rep.Verdict)
	}
	if pending, _, err := journal.Pending(); err != nil || len(pending) != 0 {
		t.Errorf("journal after diagnose: %d pending (%v)", len(pending), err)
	}
	out, err := r.Run(context.Background(), "nft", "list", "table", "inet", "miniupnpd")
	if err != nil || strings.Contains(string(out), "dnat to") {
		t.Errorf("router table after diagnose (err %v):\n%s", err, out)
	}
}

// TestLabSIPFragments: a router that drops IP fragments past the first
// (as firewalls that do not reassemble do) on its WAN, one way: SIP too
// big for one packet is lost that way while the ALG test's small INVITE
// passes, and the finding names the way. The router without such a rule
// is TestLabSIPALG/alg-off, which must find nothing.
func TestLabSIPFragments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ way, hook string }{
		// Out: after the NAT, which reassembles and fragments again.
		{"out", "egress"},
		// In: before the NAT's reassembly.
		{"in", "ingress"},
	} {
		t.Run(tc.way, func(t *testing.T) {
			t.Parallel()
			lab := natlab.New(t)
			pub := lab.PublicHost("mirror", "203.0.113.20")
			r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
			r.Nft(t, "add table netdev fragdrop\n"+
				"add chain netdev fragdrop c { type filter hook "+tc.hook+" device \"wan0\" priority 0; }\n"+
				"add rule netdev fragdrop c ip frag-off & 0x1fff != 0 drop")
			pc := r.LANHost("pc", "192.168.1.10")
			mirror := startMirror(t, pub, "203.0.113.20:5060")
			res, rep := runIn(t, pc, Options{Mirror: mirror, SIPPort: 5060})
			if res.ALG == nil || res.ALG.UDP.Outcome != sipalg.Unchanged || res.Fragments == nil {
				t.Fatalf("the small INVITE must pass unchanged and the fragment test run: %+v", res.ALG)
			}
			requireFindings(t, rep, []report.FindingID{IDFragmentsDropped + "/" + report.FindingID(tc.way)},
				[]report.FindingID{IDSIPALG, IDSIPALGDrop, stunprobe.IDNoUDP, IDMirrorUnreachable})
			if checkStatus(rep, CheckFrags) != report.CheckProblem || rep.Remedies[0].ID != RemedySIPOverTCP ||
				!strings.Contains(rep.Verdict, "do not fit one packet") {
				t.Errorf("check %q, remedies %v, verdict %q", checkStatus(rep, CheckFrags), rep.Remedies, rep.Verdict)
			}
			// The way that passes was answered: the test tells the ways apart.
			other := map[string]sipalg.FragmentProbe{"out": res.Fragments.In, "in": res.Fragments.Out}[tc.way]
			if !other.Answered || !other.Intact || other.Direction == tc.way {
				t.Errorf("the other way: %+v", other)
			}
		})
	}
}
