//go:build linux

package diagnose

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// labDNS answers A and SRV queries from a fixed zone over UDP inside h: the
// lab has no DNS, and tests must not ask the host's resolver.
func labDNS(t *testing.T, h *natlab.Host, addr string, a map[string]string, srv map[string]dnsmessage.SRVResource) {
	t.Helper()
	natlab.ServeUDP(t, h, addr, func(req []byte, _ netip.AddrPort) []byte { return answerDNS(req, a, srv) })
}

func answerDNS(raw []byte, a map[string]string, srv map[string]dnsmessage.SRVResource) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(raw)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	switch {
	case q.Type == dnsmessage.TypeA && a[name] != "":
		_ = b.AResource(rh, dnsmessage.AResource{A: netip.MustParseAddr(a[name]).As4()})
	case q.Type == dnsmessage.TypeSRV && srv[name].Target.Length > 0:
		_ = b.SRVResource(rh, srv[name])
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// TestLabServerDNS: the server is found by SRV (port 5070), and a
// dynamic-DNS name still pointing at an old address is reported stale.
func TestLabServerDNS(t *testing.T) {
	t.Parallel()
	lab := natlab.New(t)
	pub := lab.PublicHost("dns", "203.0.113.53")
	pbx := lab.PublicHost("pbx", "203.0.113.2")
	home := lab.Router("home", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24"})
	pc := home.LANHost("pc", "192.168.1.10")
	mirror := startMirror(t, pub, "203.0.113.53:5060")
	sipResponder(t, pbx, "203.0.113.2:5070")
	labDNS(t, pub, "203.0.113.53:53",
		map[string]string{"pbx.voip.example.org.": "203.0.113.2", "home.dyndns.org.": "198.51.100.77"},
		map[string]dnsmessage.SRVResource{"_sip._udp.voip.example.org.": {Priority: 10, Weight: 5, Port: 5070, Target: dnsmessage.MustNewName("pbx.voip.example.org.")}})

	t.Run("srv", func(t *testing.T) {
		res, rep := runIn(t, pc, Options{Server: "voip.example.org", DNSServer: "203.0.113.53:53", NoRouter: true})
		if res.Server == nil || len(res.Server.SRV) != 1 || res.Server.Contacted != netip.MustParseAddrPort("203.0.113.2:5070") {
			t.Fatalf("server %+v", res.Server)
		}
		requireFindings(t, rep, []report.FindingID{IDServerReachable}, []report.FindingID{IDServerUnresolved, IDDynDNSStale})
	})
	t.Run("dyndns-stale", func(t *testing.T) {
		_, rep := runIn(t, pc, Options{Server: "home.dyndns.org", Mirror: mirror, DNSServer: "203.0.113.53:53", NoRouter: true})
		requireFindings(t, rep, []report.FindingID{IDDynDNSStale, IDServerNoAnswer}, []report.FindingID{IDServerUnresolved})
		if rep.Remedies[0].ID != RemedyFixDNS {
			t.Errorf("remedies %v", rep.Remedies)
		}
	})
	t.Run("unresolved", func(t *testing.T) {
		_, rep := runIn(t, pc, Options{Server: "nothing.example.org", DNSServer: "203.0.113.53:53", NoRouter: true})
		requireFindings(t, rep, []report.FindingID{IDServerUnresolved}, nil)
	})

}
