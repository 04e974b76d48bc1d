//go:build linux

package capture

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabRegistrationRemapped: Alice's baresip registers from behind a
// router whose NAT drops idle UDP mappings after 5 s and gives each new
// one a random port; Kamailio grants 20 s, so she is silent for most of
// it. Bob calls her 8 s in: Kamailio sends the INVITE to the mapping her
// REGISTER came from, which is gone, and the router drops it. Her next
// REGISTER comes from a new port. The capture on the internet's switch
// shows it all; the registration-outlives-nat finding must say the NAT
// did drop the mapping (not only that it may have), name the new port
// and the INVITE sent into the dead one. The capture on Alice's LAN shows
// her REGISTERs from one address, and Kamailio's answers saying (Via
// received=, rport=) from which port it saw each: the same finding.
func TestLabRegistrationRemapped(t *testing.T) {
	t.Parallel() // it waits on the NAT's and the phones' timers
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent, UDPTimeout: 5 * time.Second, UDPStreamTimeout: 5 * time.Second}})
	registrar := netip.MustParseAddrPort("203.0.113.20:5060")
	startNATKamailio(t, lab.PublicHost("server", "203.0.113.20"), "203.0.113.20", natKamailio{maxExpires: 20 * time.Second})
	pcap := filepath.Join(t.TempDir(), "switch.pcap")
	dump := lab.Core().StartTcpdumpOn(t, "br0", pcap, "udp or icmp")
	lanPcap := filepath.Join(t.TempDir(), "lan.pcap")
	lanDump := r1.StartTcpdumpOn(t, "brlan", lanPcap, "udp or icmp")
	alice := natlab.StartBaresip(t, r1.LANHost("alice", "192.168.1.10"), natlab.BaresipConfig{User: "100", Registrar: registrar, AutoAnswer: true})
	time.Sleep(8 * time.Second) // registered, then silent past the NAT's timeout
	bob := natlab.StartBaresip(t, lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: registrar,
		Seconds: 36, Dial: "sip:100@203.0.113.20"})
	time.Sleep(36 * time.Second) // Alice re-registers; Kamailio gives up on the INVITE (408)
	bob.Proc.Stop()
	alice.Proc.Stop()
	time.Sleep(300 * time.Millisecond)
	dump.Stop()
	lanDump.Stop()
	keepLabFile(t, pcap, "registration-remapped.pcap")
	keepLabFile(t, lanPcap, "registration-remapped-lan.pcap")
	t.Run("registrar's side", func(t *testing.T) { checkRemapped(t, pcap, true) })
	t.Run("phone's LAN", func(t *testing.T) { checkRemapped(t, lanPcap, false) })
}

// checkRemapped checks the capture's registration-outlives-nat finding
// and Alice's row of the registrations table; wan: the capture shows
// Bob's INVITE sent into her dead mapping.
func checkRemapped(t *testing.T, pcap string, wan bool) {
	res := analyzePath(t, pcap)
	var found []report.Finding
	for _, f := range res.Findings {
		if f.ID == IDRegistrationOutlivesNAT {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s findings, want 1: %+v", len(found), IDRegistrationOutlivesNAT, res.Findings)
	}
	f := found[0]
	if !strings.HasPrefix(f.Title, "100's NAT dropped the mapping of its SIP port ") || !strings.Contains(f.Title, "its next REGISTER came from a new port") ||
		!strings.Contains(f.Title, "; the router forgets an idle UDP mapping in less than 1") {
		t.Errorf("title %q", f.Title)
	}
	dark := false
	for _, e := range f.Evidence {
		dark = dark || strings.HasPrefix(e.Text, "INVITE 203.0.113.20:5060 → 203.0.113.1:") && strings.Contains(e.Text, ", the old mapping, sent ")
	}
	if dark != wan {
		t.Errorf("no evidence of Bob's INVITE sent into the old mapping: %+v", f.Evidence)
	}
	if wan {
		// Bob's call: Kamailio's INVITE into the dead mapping.
		var unanswered *report.Finding
		for _, c := range res.Calls {
			for i, f := range c.Findings {
				if f.ID == IDRequestUnanswered {
					unanswered = &c.Findings[i]
				}
			}
		}
		if unanswered == nil || !strings.Contains(unanswered.Title, ": it is the NAT mapping 100 registered from, and the phone had sent nothing from there for ") ||
			!strings.HasSuffix(unanswered.Title, ": its NAT had dropped the mapping") || unanswered.Remedy != remedyKeepAlive {
			t.Errorf("the unanswered INVITE's finding %+v", unanswered)
		}
	}
	var rows []report.Binding
	for _, b := range res.Registrations {
		if strings.HasPrefix(b.AOR, "100@") {
			rows = append(rows, b)
		}
	}
	if len(rows) != 1 || len(rows[0].EarlierMappings) == 0 || !slices.Contains(rows[0].Findings, IDRegistrationOutlivesNAT) {
		t.Errorf("Alice's registrations %+v, want one row with her earlier mappings", rows)
	}
}

// siteRegisters has three baresip phones behind one router (and Bob's on
// the internet) register at a Kamailio for 8 s, block set up on the
// Kamailio's host, captured on the internet's switch; it returns the
// analysis.
func siteRegisters(t *testing.T, k natKamailio, block func(server *natlab.Host), name string) *Result {
	l := newKamailioLab(t, k)
	r1 := l.homeRouter()
	if block != nil {
		block(l.server)
	}
	phones := []*natlab.Baresip{natlab.StartBaresip(t, l.lab.PublicHost("bob", "203.0.113.11"), natlab.BaresipConfig{User: "200", Registrar: l.registrar})}
	for i := range 3 {
		host := r1.LANHost(fmt.Sprintf("phone%d", i), fmt.Sprintf("192.168.1.%d", 10+i))
		phones = append(phones, natlab.StartBaresip(t, host, natlab.BaresipConfig{User: fmt.Sprint(100 + i), Registrar: l.registrar}))
	}
	time.Sleep(8 * time.Second)
	for _, p := range phones {
		p.Proc.Stop()
	}
	return l.analyze(t, name)
}

// findingsWithID returns the capture-wide findings with the ID.
func findingsWithID(res *Result, id report.FindingID) []report.Finding {
	var fs []report.Finding
	for _, f := range res.Findings {
		if f.ID == id {
			fs = append(fs, f)
		}
	}
	return fs
}

// TestLabSiteRefused: three baresip phones behind one router register at
// a Kamailio that refuses the router's address (403, an access list that
// lacks the site). The capture on the internet's switch is one
// register-refused finding about the site, not three about phones'
// accounts.
func TestLabSiteRefused(t *testing.T) {
	t.Parallel() // it waits on the phones
	res := siteRegisters(t, natKamailio{refuse: "203.0.113.1"}, nil, "site-refused.pcap")
	refused := findingsWithID(res, IDRegisterRefused)
	if len(refused) != 1 || refused[0].Title != "The registrar 203.0.113.20 refused every phone behind 203.0.113.1 (3 phones, 3 accounts) and none registered: it refuses the site, not one phone's account" ||
		!strings.HasPrefix(refused[0].Evidence[1].Text, "answered 403 Forbidden") {
		t.Errorf("refusals %+v, want one about the site", refused)
	}
}

// TestLabSiteDropped: the same phones, and a firewall on the Kamailio's
// host that drops the router's address (fail2ban's ban): their REGISTERs,
// resent, get no response at all, while Bob's do. One register-unanswered
// finding about the site says they arrived at the registrar's side.
func TestLabSiteDropped(t *testing.T) {
	t.Parallel() // it waits on the phones
	res := siteRegisters(t, natKamailio{}, func(server *natlab.Host) {
		server.Nft(t, "table inet ban {\n chain input {\n type filter hook input priority 0; policy accept;\n ip saddr 203.0.113.1 drop\n }\n}\n")
	}, "site-dropped.pcap")
	unanswered := findingsWithID(res, IDRegisterUnanswered)
	if len(unanswered) != 1 || unanswered[0].Remedy != remedySiteUnanswered ||
		!strings.HasPrefix(unanswered[0].Title, "No phone behind 203.0.113.1 got any response from the registrar 203.0.113.20 (3 phones, 3 accounts, ") ||
		!strings.HasSuffix(unanswered[0].Title, "; the capture, taken on the registrar's side, shows they arrived: the registrar, or a firewall on its host, drops the site (fail2ban after failed logins)") {
		t.Errorf("findings %+v, want one about the site", unanswered)
	}
}
