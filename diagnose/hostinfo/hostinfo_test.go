package hostinfo

import (
	"net/netip"
	"strings"
	"testing"
)

const procRoute = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
wlan0	00000000	0101A8C0	0003	0	0	600	00000000	0	0	0
eth0	00000000	0100A8C0	0003	0	0	100	00000000	0	0	0
`

func TestParseProcRoute(t *testing.T) {
	for _, tc := range []struct {
		name, in, gw, iface string
	}{
		{"lowest metric wins", procRoute, "192.168.0.1", "eth0"},
		{"no default route", "Iface\tDestination\nlo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\n", "", ""},
		{"garbage", "x\ny z\n\x00\x01", "", ""},
		{"bad hex", "h\neth0\t00000000\tZZZZZZZZ\t0003\t0\t0\t0\t00000000\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw, iface := ParseProcRoute(strings.NewReader(tc.in))
			got := ""
			if gw.IsValid() {
				got = gw.String()
			}
			if got != tc.gw || iface != tc.iface {
				t.Errorf("got %q %q, want %q %q", got, iface, tc.gw, tc.iface)
			}
		})
	}
}

func FuzzParseProcRoute(f *testing.F) {
	f.Add(procRoute)
	f.Add("Iface\n\t\t\t\n")
	f.Fuzz(func(t *testing.T, in string) { ParseProcRoute(strings.NewReader(in)) })
}

func TestIsPublic(t *testing.T) {
	for a, want := range map[string]bool{"192.168.1.10": false, "10.0.0.1": false, "172.16.5.5": false, "100.64.1.1": false,
		"203.0.113.1": true, "8.8.8.8": true, "127.0.0.1": false, "169.254.1.1": false, "fd00::1": false, "2001:db8::1": true} {
		if got := IsPublic(netip.MustParseAddr(a)); got != want {
			t.Errorf("IsPublic(%s) = %v", a, got)
		}
	}
}

func TestPrivateHopsBeforePublic(t *testing.T) {
	hop := func(s string) Hop { return Hop{Addr: netip.MustParseAddr(s)} }
	for _, tc := range []struct {
		name string
		hops []Hop
		n    int
		ok   bool
	}{
		{"single nat", []Hop{hop("192.168.1.1"), hop("203.0.113.254")}, 1, true},
		{"double nat", []Hop{hop("192.168.2.1"), hop("192.168.1.1"), hop("203.0.113.254")}, 2, true},
		{"cgnat", []Hop{hop("192.168.1.1"), hop("100.64.0.1"), hop("198.51.100.1")}, 2, true},
		{"silent hop", []Hop{hop("192.168.1.1"), {TTL: 2}, hop("203.0.113.254")}, 1, false},
		{"destination reached", []Hop{hop("192.168.1.1"), {Addr: netip.MustParseAddr("203.0.113.10"), Reached: true}}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := (&Path{Hops: tc.hops}).PrivateHopsBeforePublic()
			if n != tc.n || ok != tc.ok {
				t.Errorf("got %d %v, want %d %v", n, ok, tc.n, tc.ok)
			}
		})
	}
}
