//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestHelperNatdoc is not a test: the lab tests run this test binary inside
// a namespace with "-test.run=^TestHelperNatdoc$ -- ARGS" to get a natdoc
// process there (a Go program cannot move its goroutines into a namespace).
func TestHelperNatdoc(t *testing.T) {
	i := slices.Index(os.Args, "--")
	if i < 0 {
		t.Skip("helper process for the lab tests")
	}
	os.Exit(Main(os.Args[i+1:], os.Stdin, os.Stdout, os.Stderr))
}

// natdoc stun --json from a phone behind `masquerade random`: exit 1, the
// full NAT model, and the finding that STUN will not help. The lifetime
// search is capped at 4 s: conntrack's default 30 s outlives it.
func TestLabStunCommandSymmetricNAT(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun1 := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.10", "203.0.113.11"))
	stun2 := natlab.StartCoturn(t, lab.PublicHost("stun2", "203.0.113.20", "203.0.113.21"))
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}})
	phone := r.LANHost("phone", "192.168.1.10")

	out := filepath.Join(t.TempDir(), "stun.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, err := phone.Run(ctx, os.Args[0], "-test.run=^TestHelperNatdoc$", "--",
		"stun", "--json", "-o", out, "--local-port", "5060", "--lifetime", "--lifetime-max", "4s", stun1.Primary.String(), stun2.Primary.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitProblems {
		t.Fatalf("natdoc stun: %v, want exit %d; output:\n%s", err, exitProblems, log)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil || rep.NAT == nil {
		t.Fatalf("no NAT report: %v\n%s", err, data)
	}
	n := rep.NAT
	if n.Mapping != report.BehaviourAddressAndPortDependent || n.MappingConsistent != report.TriNo ||
		n.RFC3489Name != "symmetric" || n.LocalAddr != "192.168.1.10:5060" || len(n.MappingTests) != 3 || len(n.Servers) != 2 ||
		n.LifetimeMin != 3*time.Second || n.LifetimeMax != 0 {
		t.Errorf("NAT report:\n%s", data)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, string(f.ID))
	}
	if !slices.Contains(ids, "mapping-varies-by-destination") {
		t.Errorf("findings %v, want mapping-varies-by-destination", ids)
	}
}

// natdoc stun from a phone behind plain masquerade, whose router lets
// refused packets reach its own UDP stack: the NAT keeps one mapping for
// every destination, but a peer whose packet it refused first gets the
// port held for it, and the phone's own packet to that peer another. The
// report says STUN works only on calls whose far end does not send first,
// shows the test, and exits 1 for the warning.
func TestLabStunCommandRefusedFirst(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun1 := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.10", "203.0.113.11"))
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r.LANHost("phone", "192.168.1.10")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := phone.Run(ctx, os.Args[0], "-test.run=^TestHelperNatdoc$", "--", "stun", "--width", "100", stun1.Primary.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitProblems {
		t.Fatalf("natdoc stun: %v, want exit %d; output:\n%s", err, exitProblems, out)
	}
	for _, want := range []string{"STUN works on this network only for calls whose far end does not send first",
		"mapping after a refused packet", "[mapping-moved-by-refused-peer]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}
