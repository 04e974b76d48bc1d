package proxy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/forward"
	"github.com/natdoc/natdoc/report"
)

var (
	routerIP = netip.MustParseAddr("203.0.113.1")
	oldIP    = netip.MustParseAddr("203.0.113.99")
)

func TestDecideAddr(t *testing.T) {
	for _, tt := range []struct {
		name     string
		literal  bool
		resolved []netip.Addr
		router   netip.Addr
		current  netip.Addr
		want     netip.Addr
		mismatch bool
	}{
		{"name points at the router", false, []netip.Addr{routerIP}, routerIP, netip.Addr{}, routerIP, false},
		{"name is stale: advertise the router", false, []netip.Addr{oldIP}, routerIP, oldIP, routerIP, true},
		{"router unknown: follow the name", false, []netip.Addr{routerIP}, netip.Addr{}, oldIP, routerIP, false},
		{"router unknown, name unresolvable: keep", false, nil, netip.Addr{}, oldIP, oldIP, false},
		{"one of several addresses is the router", false, []netip.Addr{oldIP, routerIP}, routerIP, routerIP, routerIP, false},
		{"an IP given is kept, and warned about", true, []netip.Addr{oldIP}, routerIP, netip.Addr{}, oldIP, true},
		{"an IP given matches", true, []netip.Addr{routerIP}, routerIP, netip.Addr{}, routerIP, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := decideAddr(tt.literal, tt.resolved, tt.router, tt.current)
			if d.Advertise != tt.want || d.Mismatch != tt.mismatch {
				t.Errorf("got %v mismatch %v, want %v mismatch %v", d.Advertise, d.Mismatch, tt.want, tt.mismatch)
			}
		})
	}
}

// fakeDNS is a dynamic-DNS name whose answer the test changes.
type fakeDNS struct {
	mu  sync.Mutex
	ips []netip.Addr
	err error
}

func (f *fakeDNS) set(err error, ips ...netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips, f.err = ips, err
}

func (f *fakeDNS) resolve(context.Context, string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ips), f.err
}

// TestAddrWatch: the router gets a new public address before the name
// follows; the watch warns, advertises the router's address at once, and
// reports both in its findings.
func TestAddrWatch(t *testing.T) {
	dns := &fakeDNS{ips: []netip.Addr{oldIP}}
	router := oldIP
	var notes []string
	w := &addrWatch{host: "voip.example.net", resolve: dns.resolve, now: time.Now, notify: func(s string) { notes = append(notes, s) },
		sources: []addrSource{{via: "test router", ask: func(context.Context) (netip.Addr, error) { return router, nil }}}}
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d := w.check(t.Context(), srv); d.Advertise != oldIP || d.Mismatch {
		t.Fatalf("start: %+v", d)
	}
	router = routerIP // the provider gave the router a new address
	if d := w.check(t.Context(), srv); d.Advertise != routerIP || !d.Mismatch || srv.publicIP() != routerIP {
		t.Fatalf("after the router's change: %+v, server advertises %v", d, srv.publicIP())
	}
	dns.set(nil, routerIP) // the DDNS client caught up
	if d := w.check(t.Context(), srv); d.Mismatch {
		t.Fatalf("after the name followed: %+v", d)
	}
	dns.set(errors.New("no such host"))
	if d := w.check(t.Context(), srv); d.Advertise != routerIP {
		t.Fatalf("unresolvable name: %+v", d)
	}
	ids := map[report.FindingID]bool{}
	for _, f := range w.findings() {
		ids[f.ID] = true
	}
	if !ids[IDPublicAddrNotRouter] || !ids[IDPublicAddrChanged] || len(notes) < 3 {
		t.Errorf("findings %v, notes %q", ids, notes)
	}
}

func TestForwardSample(t *testing.T) {
	for _, tt := range []struct {
		sip, lo, hi int
		want        []int
	}{
		{5060, 10000, 20000, []int{5060, 10000, 10001, 15000, 20000}},
		{5060, 20000, 20007, []int{5060, 20000, 20001, 20002, 20007}},
		{5060, 20000, 20003, []int{5060, 20000, 20001, 20003}},
	} {
		if got := forwardSample(tt.sip, tt.lo, tt.hi); !slices.Equal(got, tt.want) {
			t.Errorf("forwardSample(%d, %d, %d) = %v, want %v", tt.sip, tt.lo, tt.hi, got, tt.want)
		}
	}
}

// TestForwardsToCheck: behind a router that forwards its outside 5080 to
// the server's 5060, the mirror is asked to call back 5080 and the check
// listens on 5060; the remedy names that forward, and no --upnp (it maps
// a port only to itself).
func TestForwardsToCheck(t *testing.T) {
	o := &Options{Listen: netip.MustParseAddrPort("192.168.1.5:5060"), PublicPort: 5080, PortMin: 30000, PortMax: 30100}
	d := &deployment{o: o}
	got := d.forwardsToCheck(30000, 30100)
	want := []forward.Forward{{Outside: 5080, Local: 5060}, {Outside: 30000}, {Outside: 30001}, {Outside: 30050}, {Outside: 30100}}
	if !slices.Equal(got, want) {
		t.Errorf("forwards %v, want %v", got, want)
	}
	if r := forwardRemedy(o); !strings.Contains(r, "forward UDP 5080 to 192.168.1.5:5060 and UDP 30000-30100 to 192.168.1.5") || strings.Contains(r, "--upnp") {
		t.Errorf("remedy %q", r)
	}
	if p := (forward.PortResult{Port: 5080, Local: 5060}).Forward().Name(); p != "5080 (to 5060 here)" {
		t.Errorf("port text %q", p)
	}
	o.PublicPort = 0
	if got := d.forwardsToCheck(30000, 30100); got[0] != (forward.Forward{Outside: 5060}) {
		t.Errorf("same port: %v", got[0])
	}
}

func TestLANAddrDefault(t *testing.T) {
	private, public := netip.MustParseAddrPort("192.168.1.2:5060"), netip.MustParseAddrPort("203.0.113.10:5060")
	for _, tt := range []struct {
		name   string
		listen netip.AddrPort
		local  netip.Addr
		main   string
		want   netip.Addr
	}{
		{"private listen, public main: the listen address", private, netip.Addr{}, "203.0.113.1", private.Addr()},
		{"given local address wins", private, netip.MustParseAddr("192.168.1.3"), "203.0.113.1", netip.MustParseAddr("192.168.1.3")},
		{"public listen: none", public, netip.Addr{}, "203.0.113.10", netip.Addr{}},
		{"no main address: none", private, netip.Addr{}, "", netip.Addr{}},
		{"main is the listen address: none", private, netip.Addr{}, "192.168.1.2", netip.Addr{}},
		{"every interface: none, and said", netip.MustParseAddrPort("0.0.0.0:5060"), netip.Addr{}, "203.0.113.1", netip.Addr{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var said string
			o := Options{Listen: tt.listen, LocalAddr: tt.local, Notify: func(s string) { said = s }}
			if got := o.lanAddr(tt.main); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if (said != "") != (!tt.local.IsValid() && (tt.want.IsValid() || tt.listen.Addr().IsUnspecified())) {
				t.Errorf("start-up note %q", said)
			}
		})
	}
}
