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

	"github.com/natdoc/natdoc/diagnose/netenv"
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
	return newLabNetWith(t, allow)
}

// newLabNetWith adds extra miniupnpd configuration lines.
func newLabNetWith(t *testing.T, allow []string, extra ...string) *labNet {
	t.Helper()
	lab := natlab.New(t)
	srv := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r.LANHost("phone", "192.168.1.10")
	stun := natlab.StartCoturn(t, srv)
	igd := natlab.StartMiniupnpd(t, r, natlab.MiniupnpdConfig{STUN: stun.Primary, Allow: allow, NATPMP: true, Quiet: true, Extra: extra})
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

// checkTableUnchanged: the router's mapping table must read as it did
// before the test (natdoc undoes what it changed). extra is shown with a
// difference (e.g. natdoc's log).
func (n *labNet) checkTableUnchanged(t *testing.T, before, what string, extra ...string) {
	t.Helper()
	if after := n.routerTable(t); after != before {
		t.Errorf("router table %s:\n%s\n---\n%s\n%s", what, before, after, strings.Join(extra, "\n"))
	}
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

func hasFinding(r *report.Report, id report.FindingID) *report.Finding {
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

	// The search bound to the LAN interface finds it too; an interface
	// that does not exist is a check that could not run (exit 3).
	rep, code, log = n.natdoc(t, "upnp", "discover", "-i", "eth0", "--no-pmp")
	if code != 0 || len(rep.IGD.Devices) != 1 {
		t.Errorf("-i eth0: exit %d %+v %s", code, rep.IGD, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := n.phone.Run(ctx, natdocBinary(t), "upnp", "discover", "-i", "nosuch0", "--journal", n.journal())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("-i nosuch0: %v, want exit 3", err)
	}
}

func TestLabLimitsFindsConfiguredLimit(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, capAllow)
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--max", "40", "--port", "10000")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (limit found): %s", code, log)
	}
	// Ports 10000-10029 are all the rules allow: that is the limit, and
	// its cause is the rules, not a full table.
	l := rep.IGD.Limit
	if l == nil || l.Accepted != 30 || l.Applied != 30 || !l.ReadBack || l.ErrorCode != 606 || l.Calls != 14 || !l.Reached || l.Removed != 30 ||
		l.Cause != string(CausePermission) || len(l.Allowed) != 1 || l.Allowed[0] != "10000-10029" {
		t.Fatalf("limit %+v", l)
	}
	f := hasFinding(rep, FindingPortsRestricted)
	if f == nil || !strings.Contains(f.Title, "only ports 10000-10029") || !strings.Contains(f.Title, "14 simultaneous calls") || hasFinding(rep, FindingMappingLimit) != nil {
		t.Errorf("finding %+v", rep.Findings)
	}
	if f := hasFinding(rep, FindingLeaseRewritten); f != nil {
		t.Errorf("miniupnpd keeps finite leases, yet: %+v", f)
	}
	n.checkTableUnchanged(t, before, "changed")
	if p, _, _ := OpenJournal(n.journal()).Pending(); len(p) != 0 {
		t.Errorf("journal still holds %d entries", len(p))
	}
	t.Logf("%s (lease: %s)", rep.Verdict, l.LeaseNote)
}

func TestLabVerifyProvesForwarding(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	// The negative control: the router drops forwarded UDP to 10002, so
	// that mapping exists on paper only and --verify must say so.
	n.router.Nft(t, "add table inet natdoctest")
	n.router.Nft(t, "add chain inet natdoctest blockin { type filter hook forward priority -10; policy accept; }")
	n.router.Nft(t, "add rule inet natdoctest blockin iifname wan0 udp dport 10002 drop")
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--max", "4", "--port", "10000",
		"--verify", "--stun", n.stun.Primary.String())
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, log)
	}
	l := rep.IGD.Limit
	if l.Accepted != 4 || l.Applied != 4 || l.Verified != 3 || l.Reached {
		t.Fatalf("limit %+v", l)
	}
	for _, m := range rep.IGD.Mappings {
		want := report.TriYes
		if m.ExternalPort == 10002 {
			want = report.TriNo
		}
		if m.Verified != want {
			t.Errorf("mapping %d verified %q, want %q", m.ExternalPort, m.Verified, want)
		}
	}
	f := hasFinding(rep, FindingNotForwarding)
	if f == nil || !strings.Contains(f.Title, "10002") {
		t.Errorf("findings %+v", rep.Findings)
	}
	n.checkTableUnchanged(t, before, "changed")
}

func TestLabMapListUnmap(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "map", "--url", n.igd.RootURL, "--sip", "5060", "--rtp", "10000-10003", "--lease", "30m")
	if code != 0 {
		t.Fatalf("map exit %d: %s %+v", code, log, rep.Findings)
	}
	if len(rep.IGD.Mappings) != 5 {
		t.Fatalf("mappings %+v", rep.IGD.Mappings)
	}
	for _, m := range rep.IGD.Mappings {
		if m.Applied != report.TriYes || m.LeaseGranted < 29*time.Minute || m.LeaseGranted > 30*time.Minute {
			t.Errorf("mapping %+v", m)
		}
	}
	if n.routerTable(t) == before {
		t.Fatal("map left the router table unchanged")
	}
	rep, code, _ = n.natdoc(t, "upnp", "list", "--url", n.igd.RootURL)
	mine := 0
	for _, m := range rep.IGD.Mappings {
		if m.ByNatdoc && m.ThisHost && m.InternalAddr == "192.168.1.10" {
			mine++
		}
	}
	if code != 0 || mine != 5 {
		t.Errorf("list exit %d, %d natdoc mappings: %+v", code, mine, rep.IGD.Mappings)
	}
	// Remove the RTP ports first, then the rest.
	rep, code, _ = n.natdoc(t, "upnp", "unmap", "--rtp", "10000-10003")
	if code != 0 || rep.IGD.Cleanup.Removed != 4 {
		t.Errorf("unmap rtp: exit %d %+v", code, rep.IGD.Cleanup)
	}
	rep, code, _ = n.natdoc(t, "upnp", "unmap")
	if code != 0 || rep.IGD.Cleanup.Removed != 1 {
		t.Errorf("unmap: exit %d %+v", code, rep.IGD.Cleanup)
	}
	n.checkTableUnchanged(t, before, "changed")
}

func TestLabKilledMidwayThenCleanup(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	before := n.routerTable(t)
	j := OpenJournal(n.journal())
	p := n.phone.Start(t, natdocBinary(t), "upnp", "limits", "--url", n.igd.RootURL, "--max", "500", "--port", "20000", "--journal", n.journal())
	deadline := time.Now().Add(time.Minute)
	for {
		pending, _, _ := j.Pending()
		if len(pending) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("natdoc made no progress: %s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill() // SIGKILL: no deferred cleanup runs
	pending, _, _ := j.Pending()
	if n.routerTable(t) == before || len(pending) < 10 {
		t.Fatalf("want mappings left behind by the killed run, journal has %d", len(pending))
	}
	// The next run notices the leftovers...
	rep, _, _ := n.natdoc(t, "upnp", "discover", "--url", n.igd.RootURL)
	if hasFinding(rep, FindingJournalPending) == nil {
		t.Errorf("discover did not report the leftovers: %+v", rep.Findings)
	}
	// ...and cleanup removes them all.
	rep, code, log := n.natdoc(t, "upnp", "cleanup")
	c := rep.IGD.Cleanup
	if code != 0 || c.Removed+c.AlreadyGone != len(pending) || len(c.Failed) != 0 {
		t.Fatalf("cleanup exit %d %+v: %s", code, c, log)
	}
	n.checkTableUnchanged(t, before, "after cleanup differs")
	if left, _, _ := j.Pending(); len(left) != 0 {
		t.Errorf("journal still holds %d", len(left))
	}
	t.Logf("killed with %d mappings made; cleanup removed %d (already gone %d)", len(pending), c.Removed, c.AlreadyGone)
}

// doubleNAT builds phone → home router (miniupnpd) → ISP router (CGNAT
// address space) → internet.
func doubleNAT(t *testing.T, igdSTUN bool) *labNet {
	lab := natlab.New(t)
	srv := lab.PublicHost("stun", "203.0.113.10", "203.0.113.11")
	outer := lab.Router("isp", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "100.64.0.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	home := lab.Router("home", natlab.RouterConfig{WAN: "100.64.0.2", LAN: "192.168.1.1/24", Upstream: outer,
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := home.LANHost("phone", "192.168.1.10")
	stun := natlab.StartCoturn(t, srv)
	cfg := natlab.MiniupnpdConfig{STUN: stun.Primary, NATPMP: true}
	if !igdSTUN {
		// Like most home routers: no STUN, so it knows only its WAN address.
		cfg.Extra = []string{"ext_perform_stun=no"}
	}
	igd := natlab.StartMiniupnpd(t, home, cfg)
	return &labNet{lab: lab, router: home, phone: phone, stun: stun, igd: igd, dir: t.TempDir()}
}

func TestLabDoubleNAT(t *testing.T) {
	t.Parallel()
	n := doubleNAT(t, false)
	rep, code, log := n.natdoc(t, "upnp", "discover", "--url", n.igd.RootURL, "--stun", n.stun.Primary.String())
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s %+v", code, log, rep.IGD)
	}
	f := hasFinding(rep, FindingDoubleNAT)
	if f == nil || f.Severity != report.SeverityError || !strings.Contains(f.Title, "203.0.113.1") {
		t.Fatalf("no double-NAT finding: %+v (devices %+v, stun %s)", rep.Findings, rep.IGD.Devices, rep.IGD.STUNMapped)
	}
}

// With STUN, miniupnpd reports the outer public address, so addresses
// cannot tell; a packet can: the mapping exists but nothing arrives.
func TestLabDoubleNATCaughtByVerify(t *testing.T) {
	t.Parallel()
	n := doubleNAT(t, true)
	before := n.routerTable(t)
	rep, _, log := n.natdoc(t, "upnp", "map", "--url", n.igd.RootURL, "--sip", "5060", "--for", "1ms",
		"--verify", "--stun", n.stun.Primary.String())
	accepted := 0
	for _, m := range rep.IGD.Mappings {
		if m.Error == "" {
			accepted++
		}
	}
	switch {
	case accepted == 0 && hasFinding(rep, FindingMappingRefused) != nil:
		t.Logf("miniupnpd refused the mapping behind the outer NAT: %+v", rep.IGD.Mappings)
	case accepted == 1 && hasFinding(rep, FindingNotForwarding) != nil:
		t.Logf("mapping accepted, no packet arrived: %s", hasFinding(rep, FindingNotForwarding).Title)
	default:
		t.Fatalf("want a refused or non-forwarding mapping: %+v %+v %s", rep.IGD.Mappings, rep.Findings, log)
	}
	n.checkTableUnchanged(t, before, "changed")
}

// NAT-PMP and PCP through miniupnpd: the same commands, the same promise
// to leave the router as it was.
func TestLabPCPLimit(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, capAllow)
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--via", "pcp", "--max", "40", "--port", "10000")
	l := rep.IGD.Limit
	// 10030 cannot be provided, and the search finds no other port the
	// rules allow: 10000-10029 are all natdoc gets.
	if code != 1 || rep.IGD.Via != "pcp" || l == nil || l.Accepted != 30 || !l.Reached || l.ErrorCode != PCPCannotProvideExt || l.ReadBack || l.Removed != 30 ||
		l.Cause != string(CausePermission) || len(l.Allowed) != 1 || l.Allowed[0] != "10000-10029" {
		t.Fatalf("exit %d via %q limit %+v: %s", code, rep.IGD.Via, l, log)
	}
	n.checkTableUnchanged(t, before, "changed")
}

// NAT-PMP has no way to ask for "this port or nothing", and miniupnpd
// 2.3.1 answers a refused port only after trying every other port of the
// range (its log: "Failed to find available eport for NAT-PMP"), so the
// NAT-PMP test stays below the limit and checks mapping and removal.
func TestLabNATPMPMapAndRemove(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--via", "nat-pmp", "--max", "6", "--port", "10000")
	l := rep.IGD.Limit
	if code != 0 || rep.IGD.Via != "nat-pmp" || l == nil || l.Accepted != 6 || l.Reached || l.Removed != 6 {
		t.Fatalf("exit %d via %q limit %+v: %s", code, rep.IGD.Via, l, log)
	}
	n.checkTableUnchanged(t, before, "changed")
}

// SIGTERM (as Ctrl-C) in the middle of the limit test: natdoc removes what
// it made before it exits.
func TestLabTerminatedMidwayCleansUp(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, nil)
	before := n.routerTable(t)
	j := OpenJournal(n.journal())
	p := n.phone.Start(t, natdocBinary(t), "upnp", "limits", "--url", n.igd.RootURL, "--max", "500", "--port", "20000", "--journal", n.journal())
	deadline := time.Now().Add(time.Minute)
	for {
		if pending, _, _ := j.Pending(); len(pending) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("natdoc made no progress: %s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Stop() // SIGTERM to the process group; SIGKILL only after 3 s
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("natdoc exit: %v (want 3: interrupted)\n%s", err, p.Log())
	}
	n.checkTableUnchanged(t, before, "after SIGTERM differs", p.Log())
	if left, _, _ := j.Pending(); len(left) != 0 {
		t.Errorf("journal still holds %d", len(left))
	}
}

// The library with its seam, as `natdoc diagnose` uses it: the SSDP, HTTP,
// NAT-PMP, PCP and STUN sockets are created inside the LAN namespace (h.Do),
// while the test runs in the host namespace.
func TestLabLibraryWithInjectedSockets(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, capAllow)
	before := n.routerTable(t)
	// Every socket, go-nat-pmp's included, is made inside the phone's
	// namespace through the one seam.
	opt := Options{Env: netenv.Env{Do: n.phone.Do}}
	ctx := context.Background()
	d, err := Discover(ctx, opt) // real SSDP multicast, from the phone's namespace
	if err != nil {
		t.Fatal(err)
	}
	g := d.Best()
	if g == nil || g.ExternalIP.String() != "203.0.113.1" || LocalAddrToward(g).String() != "192.168.1.10" {
		t.Fatalf("discovery %+v", d.Gateways)
	}
	s, err := NewSession(d, opt, ViaUPnP, OpenJournal(n.journal()))
	if err != nil {
		t.Fatal(err)
	}
	// 10030 is refused by the rules: natdoc finds 10000-10029 and maps
	// the rest of its ten below 10026.
	res, err := Limits(ctx, s, opt, LimitOptions{StartPort: 10026, Max: 10, Lease: time.Hour, VerifyServer: n.stun.Primary})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 10 || res.Applied != 10 || res.Verified != 10 || res.Mappings[4].ErrorCode != ErrNotAuthorized ||
		!res.Restricted || len(res.Allowed) != 1 || res.Allowed[0] != (PortRange{10000, 10029}) || res.Reached() {
		t.Errorf("limits %+v refusal %+v", res, res.Refusal)
	}
	n.checkTableUnchanged(t, before, "changed")
}
