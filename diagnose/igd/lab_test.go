//go:build linux

package igd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// The lab tests run the real natdoc binary inside a LAN namespace against
// miniupnpd (nftables backend) on a real router namespace, so SSDP,
// NAT-PMP, PCP and every socket stay inside namespaces the test made.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// natdocBinary builds cmd/natdoc once per test binary.
func natdocBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "natdoc-igd-lab-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "natdoc")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/natdoc/natdoc/cmd/natdoc").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("build natdoc: %v", binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// labNet is one LAN behind a router with miniupnpd, and coturn on the
// public side.
type labNet struct {
	lab    *natlab.Lab
	router *natlab.Router
	phone  *natlab.Host
	stun   *natlab.STUNServer
	igd    *natlab.IGD
	dir    string
}

// capAllow is the permission line that makes miniupnpd refuse the 31st
// mapping with 606 (it has no other way to cap its table; LAB-NOTES).
var capAllow = []string{"10000-10029 192.168.1.0/24 1024-65535"}

func newLabNet(t *testing.T, allow []string) *labNet {
	t.Helper()
	lab := natlab.New(t)
	srv := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r.LANHost("phone", "192.168.1.10")
	stun := natlab.StartCoturn(t, srv)
	igd := natlab.StartMiniupnpd(t, r, natlab.MiniupnpdConfig{STUN: stun.Primary, Allow: allow, NATPMP: true})
	return &labNet{lab: lab, router: r, phone: phone, stun: stun, igd: igd, dir: t.TempDir()}
}

func (n *labNet) journal() string { return filepath.Join(n.dir, "journal.jsonl") }

// routerTable is miniupnpd's nftables table without counters: what must
// be identical before and after every test.
func (n *labNet) routerTable(t *testing.T) string {
	t.Helper()
	out, err := n.router.Run(context.Background(), "nft", "-s", "list", "table", "inet", n.igd.Table)
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return string(out)
}

// natdoc runs the binary in the phone's namespace and returns its JSON
// report and exit status.
func (n *labNet) natdoc(t *testing.T, args ...string) (*report.Report, int, string) {
	t.Helper()
	out := filepath.Join(n.dir, "out.json")
	os.Remove(out)
	args = append(args, "--journal", n.journal(), "--json", "-o", out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	combined, err := n.phone.Run(ctx, natdocBinary(t), args...)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("natdoc %s: %v", strings.Join(args, " "), err)
	}
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("natdoc %s: exit %d, no report: %s", strings.Join(args, " "), code, combined)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("natdoc %s: %v", strings.Join(args, " "), err)
	}
	return &rep, code, string(combined)
}

func hasFinding(r *report.Report, id string) *report.Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

func TestLabDiscover(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	// SSDP for real: the M-SEARCH is multicast inside the LAN namespace.
	rep, code, log := n.natdoc(t, "upnp", "discover", "--stun", n.stun.Primary.String())
	if code != 0 {
		t.Fatalf("exit %d: %s\n%+v", code, log, rep.Findings)
	}
	g := rep.IGD
	if len(g.Devices) != 1 || g.Chosen != 0 {
		t.Fatalf("devices %+v", g.Devices)
	}
	d := g.Devices[0]
	if d.ExternalIP != "203.0.113.1" || d.Location != n.igd.RootURL || d.Protocol == "" {
		t.Errorf("device %+v, want external 203.0.113.1 at %s", d, n.igd.RootURL)
	}
	if g.NATPMP != report.TriYes || g.NATPMPExternalIP != "203.0.113.1" {
		t.Errorf("NAT-PMP %q %q", g.NATPMP, g.NATPMPExternalIP)
	}
	if g.STUNMapped == "" || !strings.HasPrefix(g.STUNMapped, "203.0.113.1:") {
		t.Errorf("STUN mapped %q", g.STUNMapped)
	}
	t.Logf("discover: %s; PCP %s; %+v", rep.Verdict, g.PCP, d)
}
