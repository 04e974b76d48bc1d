package igd

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	ig "github.com/huin/goupnp/dcps/internetgateway2"
)

// Routers whose permission rules refuse natdoc's first port, on the fake
// IGD (the lab runs the same against miniupnpd): what limits them, and
// how natdoc finds where they allow mappings.
func TestLimitsUnderPermissionRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		service string
		allowed []PortRange
		limit   int
		max     int
		// want
		accepted int
		ranges   []PortRange
		cause    LimitCause
		findings []string
	}{
		{"IGDv2: two ranges the first search reads as one", ig.URN_WANIPConnection_2, []PortRange{{40000, 40009}, {40050, 40059}}, 0, 20,
			20, []PortRange{{40000, 40009}, {40050, 40059}}, CauseNone, []string{string(FindingPortsRestricted)}},
		{"IGDv1: exact ports only, one wide range", ig.URN_WANIPConnection_1, []PortRange{{20000, 39999}}, 0, 10,
			10, []PortRange{{20000, 39999}}, CauseNone, []string{string(FindingPortsRestricted)}},
		{"a full table inside the allowed range is the limit", ig.URN_WANIPConnection_2, []PortRange{{40000, 40100}}, 5, 40,
			5, []PortRange{{40000, 40100}}, CauseTableSize, []string{string(FindingMappingLimit), string(FindingPortsRestricted)}},
		{"nothing allowed", ig.URN_WANIPConnection_2, []PortRange{{80, 80}}, 0, 10,
			0, nil, CausePermission, []string{string(FindingPortsRestricted)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeIGD(t, tc.service)
			f.allowed, f.limit = tc.allowed, tc.limit
			d, opt := discoverFake(t, f)
			s, j := newTestSession(t, d, opt)
			res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 10000, Max: tc.max, Lease: time.Hour, RTP: PortRange{10000, 20000}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != tc.accepted || !slices.Equal(res.Allowed, tc.ranges) || res.Cause != tc.cause || !res.Restricted {
				t.Errorf("accepted %d allowed %v cause %q (refusal %+v), want %d %v %q", res.Accepted, res.Allowed, res.Cause, res.Refusal, tc.accepted, tc.ranges, tc.cause)
			}
			var ids []string
			for _, fd := range LimitFindings(res) {
				ids = append(ids, string(fd.ID))
			}
			if !slices.Equal(ids, tc.findings) {
				t.Errorf("findings %v, want %v", ids, tc.findings)
			}
			if len(f.snapshot()) != 0 || res.Removed != tc.accepted || mustPending(t, j) != nil {
				t.Errorf("left behind: table %+v, removed %d", f.snapshot(), res.Removed)
			}
			t.Logf("%d search requests; %s", res.SearchRequests, LimitsVerdict(res))
		})
	}
}

// The finding says what the rules mean for the server's RTP range.
func TestPortsRestrictedAdvice(t *testing.T) {
	r := &LimitResult{Via: "upnp-igd2", Proto: "UDP", Max: 40, Accepted: 8, Cause: CausePermission, Restricted: true,
		Allowed: []PortRange{{40000, 40007}}, RTP: PortRange{10000, 20000}, Refusal: &MappingResult{Request: Request{ExternalPort: 40008}, ErrorCode: 606},
		Mappings: []MappingResult{{Request: Request{ExternalPort: 10000}, ErrorCode: 606, Refusal: RefusalPermission}}}
	f := restrictedFinding(r)
	if f == nil || !strings.Contains(f.Title, "only ports 40000-40007") || !strings.Contains(f.Title, "3 simultaneous calls") ||
		f.Remedy != "Forward UDP 10000-20000 by hand, or set the SIP server's RTP range to the allowed 40000-40007 (4 RTP/RTCP pairs)." {
		t.Errorf("finding %+v", f)
	}
	if lf := limitFinding(r); lf != nil {
		t.Errorf("rules read as a table limit: %+v", lf)
	}
}
