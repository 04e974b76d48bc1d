//go:build linux

package igd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// The router's permission rules allow only 40000-40100, which does not
// hold natdoc's default first port 10000 (as many routers' and miniupnpd's
// own allow/deny lines do). A refusal of 10000 is no limit: natdoc finds
// the allowed range and maps there, over each protocol, and leaves the
// table as `upnpc -l` showed it.
func TestLabLimitsFindAllowedRange(t *testing.T) {
	t.Parallel()
	for _, via := range []string{ViaUPnP, ViaPCP, ViaNATPMP} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			n := newLabNet(t, []string{"40000-40100 192.168.1.0/24 1-65535"})
			before, listed := n.routerTable(t), n.igd.Mappings(t, n.phone)
			rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--via", via, "--max", "20", "--port", "10000", "--rtp-ports", "10000-20000")
			l := rep.IGD.Limit
			if code != 1 || l == nil || l.Accepted != 20 || l.Reached || !slices.Equal(l.Allowed, wantAllowed(via)) || l.Removed != 20 {
				t.Fatalf("exit %d limit %+v: %s", code, l, log)
			}
			f := hasFinding(rep, FindingPortsRestricted)
			if f == nil || !strings.Contains(f.Remedy, "10000-20000 by hand") || !strings.Contains(f.Remedy, "allowed 40000-") {
				t.Errorf("findings %+v", rep.Findings)
			}
			if hasFinding(rep, FindingMappingLimit) != nil {
				t.Errorf("a refused port read as a table limit: %+v", rep.Findings)
			}
			n.checkTableUnchanged(t, before, "changed", log)
			if after := n.igd.Mappings(t, n.phone); !slices.Equal(after, listed) {
				t.Errorf("upnpc -l before %q, after %q", listed, after)
			}
			t.Logf("%s: %s (%d search requests)", via, rep.Verdict, l.SearchRequests)
		})
	}
}

// wantAllowed: UPnP and PCP find both ends of the range; a NAT-PMP
// gateway only hands out ports, so natdoc knows the ones it got.
func wantAllowed(via string) []string {
	if via == ViaNATPMP {
		return []string{"40000-40019"}
	}
	return []string{"40000-40100"}
}

// A small table: the rules allow eight ports. natdoc maps all eight,
// names the range and the cause, and removes them.
func TestLabLimitsSmallTable(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, []string{"40000-40007 192.168.1.0/24 1-65535"})
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--max", "40", "--port", "10000")
	l := rep.IGD.Limit
	if code != 1 || l == nil || l.Accepted != 8 || !l.Reached || l.Cause != string(CausePermission) || !slices.Equal(l.Allowed, []string{"40000-40007"}) ||
		l.Calls != 3 || l.Removed != 8 {
		t.Fatalf("exit %d limit %+v: %s", code, l, log)
	}
	if f := hasFinding(rep, FindingPortsRestricted); f == nil || !strings.Contains(f.Title, "3 simultaneous calls") {
		t.Errorf("findings %+v", rep.Findings)
	}
	n.checkTableUnchanged(t, before, "changed", log)
	t.Logf("%s", rep.Verdict)
}

// Mappings of another LAN host and of this host's own softphone sit in
// the allowed range: natdoc skips them, maps around them, and leaves
// them exactly as they were.
func TestLabLimitsForeignMappings(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, []string{"40000-40100 192.168.1.0/24 1-65535"})
	other := n.router.LANHost("other", "192.168.1.20")
	n.igd.AddMapping(t, other, "192.168.1.20", 40002, 40002, "UDP", "other-phone")
	n.igd.AddMapping(t, n.phone, "192.168.1.10", 40005, 5062, "UDP", "softphone")
	before, listed := n.routerTable(t), n.igd.Mappings(t, n.phone)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--max", "10", "--port", "10000")
	l := rep.IGD.Limit
	if code != 1 || l == nil || l.Accepted != 10 || l.Skipped != 2 || !slices.Equal(l.Allowed, []string{"40000-40100"}) || l.Removed != 10 {
		t.Fatalf("exit %d limit %+v: %s", code, l, log)
	}
	for _, m := range rep.IGD.Mappings {
		if m.ExternalPort == 40002 || m.ExternalPort == 40005 {
			t.Errorf("natdoc asked for a port another mapping holds: %+v", m)
		}
	}
	n.checkTableUnchanged(t, before, "changed", log)
	if after := n.igd.Mappings(t, n.phone); !slices.Equal(after, listed) || len(after) != 2 {
		t.Errorf("upnpc -l before %q, after %q", listed, after)
	}
}

// Leases the router rewrites: miniupnpd turns a permanent UPnP lease into
// 604800 s, and caps PCP lifetimes at its max_lifetime.
func TestLabLeasesRewritten(t *testing.T) {
	t.Parallel()
	t.Run("upnp permanent", func(t *testing.T) {
		t.Parallel()
		n := newLabNet(t, nil)
		rep, _, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--max", "3", "--port", "10000", "--lease", "0")
		f := hasFinding(rep, FindingLeaseRewritten)
		if f == nil || f.Severity != report.SeverityWarning || !strings.Contains(f.Title, "604800 s") {
			t.Fatalf("findings %+v: %s", rep.Findings, log)
		}
	})
	t.Run("pcp capped", func(t *testing.T) {
		t.Parallel()
		n := newLabNetWith(t, nil, "max_lifetime=600")
		rep, _, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--via", "pcp", "--max", "3", "--port", "10000", "--lease", "1h")
		f := hasFinding(rep, FindingLeaseRewritten)
		if f == nil || f.Severity != report.SeverityWarning || !strings.Contains(f.Title, "granted 600 s") {
			t.Fatalf("findings %+v: %s", rep.Findings, log)
		}
		if m := rep.IGD.Mappings[0]; m.LeaseGranted != 10*time.Minute {
			t.Errorf("mapping %+v", m)
		}
	})
}

// An IGDv1 router (no AddAnyPortMapping: natdoc can only ask for exact
// ports) whose rules allow a 600-port range between the first spread of
// requests: the finer second pass finds it, natdoc maps there, and the
// table is as before.
func TestLabLimitsIGDv1NarrowRange(t *testing.T) {
	t.Parallel()
	n := newLabNetWith(t, []string{"23000-23599 192.168.1.0/24 1-65535"}, "force_igd_desc_v1=yes")
	before := n.routerTable(t)
	rep, code, log := n.natdoc(t, "upnp", "limits", "--url", n.igd.RootURL, "--via", ViaUPnP, "--max", "10", "--port", "10000", "--rtp-ports", "10000-20000")
	l := rep.IGD.Limit
	if code != 1 || l == nil || l.Accepted != 10 || !slices.Equal(l.Allowed, []string{"23000-23599"}) || l.Removed != 10 {
		t.Fatalf("exit %d limit %+v: %s", code, l, log)
	}
	if f := hasFinding(rep, FindingPortsRestricted); f == nil || !strings.Contains(f.Remedy, "allowed 23000-23599") {
		t.Errorf("findings %+v", rep.Findings)
	}
	n.checkTableUnchanged(t, before, "changed", log)
	t.Logf("%s (%d search requests)", rep.Verdict, l.SearchRequests)
}
