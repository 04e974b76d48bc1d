package report

import (
	"bytes"
	"strings"
	"testing"
)

// usePicture registers p for one test; report itself knows no finding ID.
func usePicture(t *testing.T, p NetworkPicture) {
	saved := picture
	RegisterNetworkPicture(p)
	t.Cleanup(func() { picture = saved })
}

var testPicture = NetworkPicture{
	Router:        []FindingID{"sip-alg-rewrite", "no-udp"},
	SecondRouter:  []FindingID{"double-nat"},
	ProviderNAT:   []FindingID{"carrier-grade-nat"},
	Server:        []FindingID{"sip-server-private-address"},
	ServerNamed:   []FindingID{"sip-server-private-address", "sip-server-reachable"},
	PublicAddress: []FindingID{"public-address"},
}

func TestDiagnosePicture(t *testing.T) {
	usePicture(t, testPicture)
	r := New("diagnose", "test")
	r.Host = &HostReport{Gateway: "192.168.2.1 via eth0", Interfaces: []HostInterface{{Name: "eth0", Addrs: []string{"192.168.2.10/24"}}}, PublicAddress: TriNo}
	r.Checks = []Check{{Name: "sip-alg", Status: CheckProblem}}
	r.Findings = []Finding{
		{ID: "sip-alg-rewrite", Severity: SeverityError, Subject: "UDP"},
		{ID: "double-nat", Severity: SeverityWarning},
		{ID: "public-address", Severity: SeverityInfo, Evidence: []Evidence{{Addrs: []string{"203.0.113.1"}}}},
		{ID: "sip-server-private-address", Severity: SeverityError, Subject: "sip.example.org"},
	}
	nodes := pictureNodes(r)
	var titles []string
	for _, n := range nodes {
		titles = append(titles, n.Title)
	}
	if strings.Join(titles, ",") != "this host,router,second router,internet,SIP server" {
		t.Fatalf("nodes %v", titles)
	}
	if !nodes[1].Problem || !nodes[2].Problem || nodes[3].Problem || !nodes[4].Problem || nodes[0].Problem {
		t.Errorf("problem marks %+v", nodes)
	}
	if nodes[3].Label != "203.0.113.1" || nodes[1].Label != "192.168.2.1" {
		t.Errorf("labels %+v", nodes)
	}
	var buf bytes.Buffer
	if err := RenderHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "<svg") || !strings.Contains(buf.String(), "second router") {
		t.Error("html has no network picture")
	}
	// Other commands get no picture.
	r.Command = "analyze"
	if diagnosePicture(r) != "" {
		t.Error("picture on a non-diagnose report")
	}
}

func TestDiagnosePictureOuterNAT(t *testing.T) {
	usePicture(t, testPicture)
	r := New("diagnose", "test")
	r.Checks = []Check{{Name: "path", Status: CheckProblem}}
	r.Findings = []Finding{
		{ID: "carrier-grade-nat", Severity: SeverityWarning},
		{ID: "sip-server-reachable", Severity: SeverityInfo, Subject: "sip.example.org"},
	}
	var titles []string
	for _, n := range pictureNodes(r) {
		titles = append(titles, n.Title)
		if n.Problem != (n.Title == "provider's NAT") {
			t.Errorf("%s: problem %v", n.Title, n.Problem)
		}
	}
	if got := strings.Join(titles, ","); got != "this host,router,provider's NAT,internet,SIP server" {
		t.Fatalf("nodes %s", got)
	}
}

// Without a registered picture nothing is marked, and nothing breaks.
func TestDiagnosePictureUnregistered(t *testing.T) {
	usePicture(t, NetworkPicture{})
	r := New("diagnose", "test")
	r.Checks = []Check{{Name: "sip-alg", Status: CheckProblem}}
	r.Findings = []Finding{{ID: "sip-alg-rewrite", Severity: SeverityError}}
	for _, n := range pictureNodes(r) {
		if n.Problem {
			t.Errorf("%s marked with no picture registered", n.Title)
		}
	}
}
