package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestDiagnosePicture(t *testing.T) {
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
