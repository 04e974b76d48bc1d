package relay

import (
	"net/netip"
	"strings"
	"testing"
)

var testSpec = kernelSpec{
	src:     netip.MustParseAddrPort("203.0.113.1:40000"),
	local:   netip.MustParseAddrPort("203.0.113.10:20000"),
	out:     netip.MustParseAddrPort("203.0.113.10:20002"),
	dst:     netip.MustParseAddrPort("198.51.100.20:7000"),
	nexthop: netip.MustParseAddr("203.0.113.254"),
	dev:     "eth0",
}

var testSpec6 = kernelSpec{
	src:     netip.MustParseAddrPort("[2001:db8::1]:40000"),
	local:   netip.MustParseAddrPort("[2001:db8::10]:20000"),
	out:     netip.MustParseAddrPort("[2001:db8::10]:20002"),
	dst:     netip.MustParseAddrPort("[2001:db8:1::20]:7000"),
	nexthop: netip.MustParseAddr("fe80::1"),
	dev:     "eth0",
}

func TestNftText(t *testing.T) {
	moved := testSpec
	moved.src = netip.MustParseAddrPort("203.0.113.1:40002") // the party's NAT rebinding
	redirected := testSpec
	redirected.dst = netip.MustParseAddrPort("198.51.100.21:7002")
	tests := []struct {
		name  string
		build func(*nftText)
		want  []string
	}{
		{"table", func(t *nftText) { t.createTable() }, []string{
			"add table netdev T",
			"add map netdev T streams { type ipv4_addr . inet_service . ipv4_addr . inet_service : verdict ; }",
			"add map netdev T streams6 { type ipv6_addr . inet_service . ipv6_addr . inet_service : verdict ; }",
		}},
		{"ingress chain", func(t *nftText) { t.ingressChain("in0", "eth0") }, []string{
			`add chain netdev T in0 { type filter hook ingress device "eth0" priority 0 ; policy accept ; }`,
			"add rule netdev T in0 ip saddr . udp sport . ip daddr . udp dport vmap @streams",
			"add rule netdev T in0 ip6 saddr . udp sport . ip6 daddr . udp dport vmap @streams6",
		}},
		{"add IPv6 stream", func(t *nftText) { t.addStream(8, testSpec6) }, []string{
			"add counter netdev T c8",
			"add chain netdev T s8",
			`add rule netdev T s8 counter name "c8" ip6 saddr set 2001:db8::10 udp sport set 20002 ip6 daddr set 2001:db8:1::20 udp dport set 7000 fwd ip6 to fe80::1 device "eth0"`,
			"add element netdev T streams6 { 2001:db8::1 . 40000 . 2001:db8::10 . 20000 : jump s8 }",
		}},
		{"add stream", func(t *nftText) { t.addStream(7, testSpec) }, []string{
			"add counter netdev T c7",
			"add chain netdev T s7",
			`add rule netdev T s7 counter name "c7" ip saddr set 203.0.113.10 udp sport set 20002 ip daddr set 198.51.100.20 udp dport set 7000 fwd ip to 203.0.113.254 device "eth0"`,
			"add element netdev T streams { 203.0.113.1 . 40000 . 203.0.113.10 . 20000 : jump s7 }",
		}},
		{"re-latch: new source swaps the element only", func(t *nftText) { t.changeStream(7, testSpec, moved) }, []string{
			"delete element netdev T streams { 203.0.113.1 . 40000 . 203.0.113.10 . 20000 }",
			"add element netdev T streams { 203.0.113.1 . 40002 . 203.0.113.10 . 20000 : jump s7 }",
		}},
		{"other party re-latched: the rule is replaced", func(t *nftText) { t.changeStream(7, testSpec, redirected) }, []string{
			"flush chain netdev T s7",
			`add rule netdev T s7 counter name "c7" ip saddr set 203.0.113.10 udp sport set 20002 ip daddr set 198.51.100.21 udp dport set 7002 fwd ip to 203.0.113.254 device "eth0"`,
		}},
		{"delete: element before chain", func(t *nftText) { t.deleteStream(7, testSpec) }, []string{
			"delete element netdev T streams { 203.0.113.1 . 40000 . 203.0.113.10 . 20000 }",
			"delete chain netdev T s7",
			"delete counter netdev T c7",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txt := &nftText{table: "T"}
			tt.build(txt)
			got := strings.Split(strings.TrimSuffix(txt.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestKernelSpecValid(t *testing.T) {
	mixed := testSpec
	mixed.dst = netip.MustParseAddrPort("[2001:db8::1]:7000")
	mapped := testSpec
	mapped.dst = netip.MustParseAddrPort("[::ffff:198.51.100.20]:7000")
	zoned := testSpec6
	zoned.nexthop = netip.MustParseAddr("fe80::1%eth0")
	odd := testSpec
	odd.dev = `eth0" ; flush ruleset ; "`
	long := testSpec
	long.dev = "averyveryverylongname"
	for name, tc := range map[string]struct {
		k    kernelSpec
		want bool
	}{
		"ipv4":                             {testSpec, true},
		"ipv6":                             {testSpec6, true},
		"ipv4 to ipv6 stays in user space": {mixed, false},
		"v4-mapped address":                {mapped, false},
		"zone":                             {zoned, false},
		"device name with nft syntax":      {odd, false},
		"device name too long":             {long, false},
		"zero":                             {kernelSpec{}, false},
	} {
		if got := tc.k.valid(); got != tc.want {
			t.Errorf("%s: valid() = %v, want %v", name, got, tc.want)
		}
	}
}

func TestParseCounters(t *testing.T) {
	// As nft 1.0.6 prints `nft -j list counters table netdev T`.
	out := `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
{"counter": {"family": "netdev", "name": "c1", "table": "T", "handle": 4, "packets": 12, "bytes": 2400}},
{"counter": {"family": "netdev", "name": "c22", "table": "T", "handle": 9, "packets": 0, "bytes": 0}},
{"counter": {"family": "netdev", "name": "other", "table": "T", "handle": 10, "packets": 5, "bytes": 5}},
{"counter": {"family": "netdev", "name": "cx", "table": "T", "handle": 11, "packets": 5, "bytes": 5}}]}`
	got, err := parseCounters([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] != (counterValue{12, 2400}) || got[22] != (counterValue{}) {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"", "{", `{"nftables": 3}`, `[1,2]`} {
		if _, err := parseCounters([]byte(bad)); err == nil {
			t.Errorf("parseCounters(%q): no error", bad)
		}
	}
}

func TestParseTables(t *testing.T) {
	out := `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
{"table": {"family": "netdev", "name": "natdoc_relay_4242_1", "handle": 1}},
{"table": {"family": "netdev", "name": "natdoc_relay_x_1", "handle": 2}},
{"table": {"family": "netdev", "name": "natdoc_relay_0_1", "handle": 3}},
{"table": {"family": "inet", "name": "natdoc_relay_77_1", "handle": 4}},
{"table": {"family": "netdev", "name": "someone_else", "handle": 5}}]}`
	got, err := parseTables([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["natdoc_relay_4242_1"] != 4242 {
		t.Errorf("got %v, want only natdoc_relay_4242_1 → 4242", got)
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		name, out string
		want      routeInfo
		wantErr   bool
	}{
		{"via gateway", `[{"dst":"198.51.100.20","gateway":"203.0.113.254","dev":"eth0","prefsrc":"203.0.113.10","flags":[],"uid":0,"cache":[]}]`,
			routeInfo{dev: "eth0", gateway: netip.MustParseAddr("203.0.113.254"), src: netip.MustParseAddr("203.0.113.10")}, false},
		{"on link", `[{"dst":"203.0.113.1","dev":"eth0","prefsrc":"203.0.113.10","flags":[],"uid":0,"cache":[]}]`,
			routeInfo{dev: "eth0", src: netip.MustParseAddr("203.0.113.10")}, false},
		{"local", `[{"type":"local","dst":"127.0.0.1","dev":"lo","prefsrc":"127.0.0.1","flags":[],"uid":0,"cache":["local"]}]`,
			routeInfo{dev: "lo", src: netip.MustParseAddr("127.0.0.1"), local: true}, false},
		{"empty", `[]`, routeInfo{}, true},
		{"bad gateway", `[{"dev":"eth0","gateway":"x"}]`, routeInfo{}, true},
		{"not json", `RTNETLINK answers: Network is unreachable`, routeInfo{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoute([]byte(tt.out))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %+v, %v; want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
	r := routeInfo{dev: "eth0", gateway: netip.MustParseAddr("203.0.113.254")}
	if got := r.nexthop(netip.MustParseAddr("198.51.100.20")); got != r.gateway {
		t.Errorf("nexthop via gateway = %v", got)
	}
	dst := netip.MustParseAddr("203.0.113.1")
	if got := (routeInfo{dev: "eth0"}).nexthop(dst); got != dst {
		t.Errorf("nexthop on link = %v", got)
	}
}

func TestParseAddrDevice(t *testing.T) {
	out := `[{"ifindex":4,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1400,"addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24}]}]`
	if dev, err := parseAddrDevice([]byte(out)); dev != "eth0" || err != nil {
		t.Errorf("got %q, %v", dev, err)
	}
	for _, bad := range []string{`[]`, `[{"ifname":"a b"}]`, `x`} {
		if dev, err := parseAddrDevice([]byte(bad)); err == nil {
			t.Errorf("parseAddrDevice(%s) = %q, want an error", bad, dev)
		}
	}
}

// FuzzKernelParsers: what nft and ip print is parsed without trusting it
// (a different nft version, a truncated run): errors, never a panic.
func FuzzKernelParsers(f *testing.F) {
	f.Add([]byte(`{"nftables": [{"counter": {"family": "netdev", "name": "c1", "table": "T", "handle": 4, "packets": 12, "bytes": 2400}}]}`))
	f.Add([]byte(`{"nftables": [{"table": {"family": "netdev", "name": "natdoc_relay_4242_1", "handle": 1}}]}`))
	f.Add([]byte(`[{"dst":"198.51.100.20","gateway":"203.0.113.254","dev":"eth0","prefsrc":"203.0.113.10"}]`))
	f.Add([]byte(`[{"ifindex":4,"ifname":"eth0"}]`))
	f.Add([]byte(`{"nftables": [{"counter": {"name": "c18446744073709551616", "packets": -1}}]}`))
	f.Add([]byte(`[{"dev":"","gateway":"::1%eth0"}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseCounters(b)
		parseTables(b)
		if r, err := parseRoute(b); err == nil && r.dev == "" {
			t.Errorf("parseRoute accepted a route without device: %+v", r)
		}
		if dev, err := parseAddrDevice(b); err == nil && !validDevName(dev) {
			t.Errorf("parseAddrDevice returned %q", dev)
		}
	})
}
