package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// legInvite is the INVITE that starts a leg from src to dst with vias Via
// headers and the caller's tag.
func legInvite(src, dst string, vias int, tag string) *sipInfo {
	return &sipInfo{
		sipHeaders: &sipHeaders{Request: true, Method: "INVITE", CallID: "legs@test", FromTag: tag, CSeq: 1, Via: via{Count: vias}},
		Src:        netip.MustParseAddrPort(src + ":5060"), Dst: netip.MustParseAddrPort(dst + ":5060"),
	}
}

// describeGroup names a call's first leg and place (its Seq), then each
// leg with the leg it continues and how, sorted (forks come in any order).
// It fails when a leg is listed before the leg it continues.
func describeGroup(t *testing.T, g *callGroup) string {
	t.Helper()
	name := func(c *sipCall) string { return c.hop[0].Addr().String() + ">" + c.hop[1].Addr().String() }
	var links []string
	for i, c := range g.legs {
		if c.upstream == nil {
			continue
		}
		if slices.Index(g.legs, c.upstream) > i {
			t.Errorf("%s is listed before %s, which it continues", name(c), name(c.upstream))
		}
		links = append(links, name(c)+" after "+name(c.upstream)+" "+c.linkRole)
	}
	slices.Sort(links)
	return fmt.Sprintf("seq %d %s; %s", g.legs[0].Seq, name(g.legs[0]), strings.Join(links, "; "))
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestLegsIndependentOfOrder: the INVITEs of a call's legs, copied by
// several HEP agents, arrive in any order; the call's first leg and
// place, and the leg each leg continues, come out as when they arrive in
// order.
func TestLegsIndependentOfOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		legs []*sipInfo
		want string
	}{
		{"two proxies", []*sipInfo{
			legInvite("192.0.2.1", "198.51.100.1", 1, "a"),
			legInvite("198.51.100.1", "198.51.100.2", 2, "a"),
			legInvite("198.51.100.2", "203.0.113.9", 3, "a"),
		}, "seq 1 192.0.2.1>198.51.100.1; 198.51.100.1>198.51.100.2 after 192.0.2.1>198.51.100.1 proxy; 198.51.100.2>203.0.113.9 after 198.51.100.1>198.51.100.2 proxy"},
		{"a proxy forking to two phones", []*sipInfo{
			legInvite("192.0.2.1", "198.51.100.1", 1, "a"),
			legInvite("198.51.100.1", "203.0.113.8", 2, "a"),
			legInvite("198.51.100.1", "203.0.113.9", 2, "a"),
		}, "seq 1 192.0.2.1>198.51.100.1; 198.51.100.1>203.0.113.8 after 192.0.2.1>198.51.100.1 proxy; 198.51.100.1>203.0.113.9 after 192.0.2.1>198.51.100.1 proxy"},
		{"an SBC keeping the Call-ID, then a proxy", []*sipInfo{
			legInvite("192.0.2.1", "198.51.100.1", 1, "a"),
			legInvite("198.51.100.1", "198.51.100.2", 1, "sbc"),
			legInvite("198.51.100.2", "203.0.113.9", 2, "sbc"),
		}, "seq 1 192.0.2.1>198.51.100.1; 198.51.100.1>198.51.100.2 after 192.0.2.1>198.51.100.1 b2bua; 198.51.100.2>203.0.113.9 after 198.51.100.1>198.51.100.2 proxy"},
		{"an SBC keeping the Call-ID and tags, with Via headers of its own", []*sipInfo{
			legInvite("192.0.2.1", "198.51.100.1", 2, "a"),
			legInvite("198.51.100.1", "203.0.113.9", 1, "a"),
		}, "seq 1 192.0.2.1>198.51.100.1; 198.51.100.1>203.0.113.9 after 192.0.2.1>198.51.100.1 proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range permutations(len(tc.legs)) {
				table := newCallTable()
				for _, i := range order { // each agent stamped its copy when the leg started
					table.add(tc.legs[i], time.Unix(1000, int64(i)*int64(time.Millisecond)), nil, nil)
				}
				g := table.order[0].group
				for _, c := range table.order {
					if c.group != g {
						t.Fatalf("order %v: the legs are in more than one call", order)
					}
				}
				if got := describeGroup(t, g); got != tc.want {
					t.Errorf("order %v:\n%s\nwant\n%s", order, got, tc.want)
				}
			}
		})
	}
}
