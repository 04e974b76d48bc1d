package igd

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/report"
)

func gw(ext string, hidden bool) Gateway {
	g := Gateway{Location: "http://192.168.1.1:5000/rootDesc.xml", Connection: "Connected", ExternalIPHidden: hidden, wan: replayWAN(200, nil)}
	if ext != "" {
		g.ExternalIP = netip.MustParseAddr(ext)
	}
	return g
}

func TestDiscoveryFindings(t *testing.T) {
	pub := netip.MustParseAddr("203.0.113.1")
	for _, tc := range []struct {
		name     string
		d        Discovery
		stun     netip.Addr
		want     report.FindingID
		severity report.Severity
	}{
		{"nothing answered", Discovery{Chosen: -1}, netip.Addr{}, FindingNotFound, report.SeverityWarning},
		{"only NAT-PMP", Discovery{Chosen: -1, NATPMP: PMPProbe{Tried: true, Answered: true, ExternalIP: pub}}, netip.Addr{}, "", ""},
		{"public", Discovery{Gateways: []Gateway{gw("203.0.113.1", false)}}, pub, "", ""},
		{"private external", Discovery{Gateways: []Gateway{gw("192.168.0.2", false)}}, netip.Addr{}, FindingDoubleNAT, report.SeverityError},
		{"CGNAT external", Discovery{Gateways: []Gateway{gw("100.64.3.4", false)}}, pub, FindingDoubleNAT, report.SeverityError},
		{"public but differs", Discovery{Gateways: []Gateway{gw("198.51.100.7", false)}}, pub, FindingExternalIPDiffers, report.SeverityWarning},
		{"hidden, STUN public", Discovery{Gateways: []Gateway{gw("", true)}}, pub, FindingDoubleNAT, report.SeverityError},
		{"hidden, no STUN", Discovery{Gateways: []Gateway{gw("", true)}}, netip.Addr{}, FindingDoubleNAT, report.SeverityWarning},
		{"NAT-PMP private", Discovery{Chosen: -1, NATPMP: PMPProbe{Tried: true, Answered: true, ExternalIP: netip.MustParseAddr("10.1.1.1")}}, netip.Addr{}, FindingDoubleNAT, report.SeverityError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			if len(d.Gateways) > 0 {
				d.Chosen, _ = chooseGateway(d.Gateways)
			}
			fs := DiscoveryFindings(&d, tc.stun)
			if tc.want == "" {
				if len(fs) != 0 {
					t.Errorf("want none, got %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].ID != tc.want || fs[0].Severity != tc.severity || fs[0].Remedy == "" {
				t.Errorf("want %s/%s, got %+v", tc.want, tc.severity, fs)
			}
		})
	}
}

func TestChooseGatewayPrefersPublicThenConnected(t *testing.T) {
	down := gw("203.0.113.9", false)
	down.Connection = "Disconnected" // works anyway: the quirk
	gs := []Gateway{gw("192.168.0.2", false), {Location: "x", Err: "no WAN service"}, down, gw("", false)}
	i, why := chooseGateway(gs)
	if i != 2 || !strings.Contains(why, "best of 3 usable") || !strings.Contains(why, "public external address 203.0.113.9") {
		t.Errorf("chose %d: %s", i, why)
	}
	if i, _ := chooseGateway([]Gateway{{Err: "x"}}); i != -1 {
		t.Errorf("chose unusable %d", i)
	}
}

func TestCallsFor(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 0, 2: 0, 3: 1, 30: 14, 31: 15} {
		if got := CallsFor(n); got != want {
			t.Errorf("CallsFor(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestLeaseFindings(t *testing.T) {
	rb := func(lease time.Duration) *Entry {
		return &Entry{Lease: lease, InternalClient: "192.168.1.10", InternalPort: 1}
	}
	for _, tc := range []struct {
		name         string
		asked, got   time.Duration
		want         report.FindingID
		wantSeverity report.Severity
	}{
		{"same", time.Hour, time.Hour, "", ""},
		{"remaining lease", time.Hour, time.Hour - 3*time.Second, "", ""},
		{"permanent turned into a week", 0, 604800 * time.Second, FindingLeaseRewritten, report.SeverityWarning},
		{"shortened", time.Hour, 10 * time.Minute, FindingLeaseRewritten, report.SeverityWarning},
		{"made permanent", time.Hour, 0, FindingLeaseRewritten, report.SeverityInfo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := []MappingResult{{Request: Request{Proto: "UDP", ExternalPort: 1, InternalPort: 1, Lease: tc.asked}, Accepted: true, ReadBack: rb(tc.got), ReadBackOK: Yes}}
			fs := mappingFindings(ms)
			if tc.want == "" {
				if len(fs) != 0 {
					t.Errorf("got %+v", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].ID != tc.want || fs[0].Severity != tc.wantSeverity {
				t.Errorf("got %+v", fs)
			}
		})
	}
}

func TestNotForwardingIgnoresInconclusiveVerify(t *testing.T) {
	ms := []MappingResult{
		{Request: Request{Proto: "UDP", ExternalPort: 1}, Accepted: true, Verify: &VerifyResult{Outcome: forward.Unsupported, Err: "server refused RESPONSE-PORT: 420"}},
		{Request: Request{Proto: "UDP", ExternalPort: 2}, Accepted: true, Verify: &VerifyResult{Outcome: forward.PortBusy, Err: "listen on internal port 2: address in use"}},
		{Request: Request{Proto: "UDP", ExternalPort: 3}, Accepted: true, Verify: &VerifyResult{Outcome: forward.NotReached, Err: "no packet arrived at internal port 3 after 3 tries"}},
		{Request: Request{Proto: "UDP", ExternalPort: 4}, Accepted: true, Verify: &VerifyResult{Outcome: forward.Reached, Arrived: true}},
	}
	fs := mappingFindings(ms)
	if len(fs) != 1 || fs[0].ID != FindingNotForwarding || !strings.Contains(fs[0].Title, "(3)") {
		t.Errorf("got %+v", fs)
	}
}
