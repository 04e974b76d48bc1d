package igd

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ig "github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/natdoc/natdoc/report"
)

func testOptions(url string) Options { return Options{URL: url, SkipPMP: true} }

func discoverFake(t *testing.T, f *fakeIGD) (*Discovery, Options) {
	t.Helper()
	opt := testOptions(f.URL())
	d, err := Discover(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if d.Best() == nil {
		t.Fatalf("no usable gateway: %+v", d.Gateways)
	}
	return d, opt
}

func newTestSession(t *testing.T, d *Discovery, opt Options) (*Session, *Journal) {
	t.Helper()
	j := OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	s, err := NewSession(d, opt, ViaAuto, j)
	if err != nil {
		t.Fatal(err)
	}
	return s, j
}

func TestDiscoverByURL(t *testing.T) {
	for _, svc := range []string{ig.URN_WANIPConnection_2, ig.URN_WANIPConnection_1, ig.URN_WANPPPConnection_1} {
		t.Run(shortService(svc), func(t *testing.T) {
			f := newFakeIGD(t, svc)
			d, _ := discoverFake(t, f)
			g := d.Best()
			if g.FriendlyName != "Fake Router" || g.Service != shortService(svc) || g.ExternalIP.String() != "203.0.113.7" || g.Connection != "Connected" {
				t.Errorf("gateway = %+v", g)
			}
			if want := 1; strings.HasSuffix(svc, ":2") && g.Version() != 2 || !strings.HasSuffix(svc, ":2") && g.Version() != want {
				t.Errorf("version %d for %s", g.Version(), svc)
			}
			if !strings.Contains(d.ChosenReason, "public external address") {
				t.Errorf("reason %q", d.ChosenReason)
			}
		})
	}
}

func TestLimitsFindsTableSize728(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.limit = 7
	// Another client's mapping and one of this host's own, which natdoc
	// must neither overwrite nor delete.
	f.add(fakeEntry{proto: "UDP", client: "192.168.1.50", desc: "other", ext: 10001, in: 10001})
	f.add(fakeEntry{proto: "UDP", client: "127.0.0.1", desc: "sipserver", ext: 10003, in: 5060})
	d, opt := discoverFake(t, f)
	s, j := newTestSession(t, d, opt)
	var progress int
	res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 10000, Max: 50, Lease: time.Hour,
		Progress: func(done, max int) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 5 || res.Refusal == nil || res.Refusal.ErrorCode != 728 || !res.Reached() {
		t.Fatalf("accepted %d refusal %+v", res.Accepted, res.Refusal)
	}
	if res.Applied != 5 || len(res.Skipped) != 2 || res.Removed != 5 || progress != 6 {
		t.Errorf("applied %d skipped %v removed %d progress %d", res.Applied, res.Skipped, res.Removed, progress)
	}
	if got := f.snapshot(); len(got) != 2 || got[0].desc != "other" || got[1].desc != "sipserver" {
		t.Errorf("table after test = %+v, want the two foreign entries only", got)
	}
	if p, _, _ := j.Pending(); len(p) != 0 {
		t.Errorf("journal pending %v", p)
	}
	fs := LimitFindings(res)
	if len(fs) != 1 || fs[0].ID != FindingMappingLimit || !strings.Contains(fs[0].Title, "at most 5") || !strings.Contains(fs[0].Remedy, "2 simultaneous calls") {
		t.Errorf("findings %+v", fs)
	}
	if l := ReportLimit(res); l.Calls != 2 || l.ErrorCode != 728 || !l.Reached {
		t.Errorf("report limit %+v", l)
	}
}

func TestLimitsSilentlyDroppedAndLeaseRewritten(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_2)
	f.dropPorts = map[uint16]bool{20002: true, 20004: true}
	f.leaseFor = func(uint32) uint32 { return 604800 }
	d, opt := discoverFake(t, f)
	s, _ := newTestSession(t, d, opt)
	res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 20000, Max: 6, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 6 || res.Applied != 4 || res.Reached() {
		t.Fatalf("accepted %d applied %d reached %v", res.Accepted, res.Applied, res.Reached())
	}
	ids := findingIDs(LimitFindings(res))
	if ids != "upnp-mapping-not-applied,upnp-lease-rewritten" {
		t.Errorf("findings %s", ids)
	}
	if len(f.snapshot()) != 0 {
		t.Errorf("left behind: %+v", f.snapshot())
	}
}

func findingIDs(fs []report.Finding) string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, string(f.ID))
	}
	return strings.Join(ids, ",")
}

func mustPending(t *testing.T, j *Journal) []JournalEntry {
	t.Helper()
	p, bad, err := j.Pending()
	if err != nil || bad != 0 {
		t.Fatalf("pending: bad %d, %v", bad, err)
	}
	return p
}

// rewritePIDs makes the journal's entries look like another (dead)
// process's, as after a crash.
func rewritePIDs(t *testing.T, j *Journal, pid int) {
	t.Helper()
	p := mustPending(t, j)
	os.Remove(j.Path())
	for _, e := range p {
		e.PID = pid
		if err := j.append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaultWithoutText(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.faultNoText = true
	f.limit = 1
	d, opt := discoverFake(t, f)
	s, _ := newTestSession(t, d, opt)
	res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 30000, Max: 5, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Refusal == nil || res.Refusal.ErrorCode != 728 {
		t.Fatalf("refusal %+v", res.Refusal)
	}
	if !strings.Contains(res.Refusal.Err, "no port maps available") {
		t.Errorf("error text %q should name 728 from natdoc's own table", res.Refusal.Err)
	}
}

func TestOnlyPermanentLeaseRetried(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.onlyPermanent = true
	d, opt := discoverFake(t, f)
	s, _ := newTestSession(t, d, opt)
	res, err := Limits(context.Background(), s, opt, LimitOptions{StartPort: 30000, Max: 2, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "725") {
		t.Errorf("accepted %d notes %v", res.Accepted, res.Notes)
	}
	if len(f.snapshot()) != 0 {
		t.Error("permanent mappings left behind")
	}
}

func TestLimitsCancelledRemovesEverything(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adds := 0
	f.hook = func(action string) {
		if action == "AddPortMapping" {
			if adds++; adds == 4 {
				cancel() // Ctrl-C in the middle of the test
			}
		}
	}
	d, opt := discoverFake(t, f)
	s, j := newTestSession(t, d, opt)
	res, err := Limits(ctx, s, opt, LimitOptions{StartPort: 40000, Max: 100, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Accepted < 3 || res.Removed < res.Accepted {
		t.Errorf("interrupted %v accepted %d removed %d", res.Interrupted, res.Accepted, res.Removed)
	}
	if got := f.snapshot(); len(got) != 0 {
		t.Errorf("left behind after cancel: %+v", got)
	}
	if p, _, _ := j.Pending(); len(p) != 0 {
		t.Errorf("journal pending %v", p)
	}
}

func TestCleanupAfterCrash(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	d, opt := discoverFake(t, f)
	s, j := newTestSession(t, d, opt)
	for _, p := range []uint16{5060, 10000, 10001} {
		if _, err := s.Map(context.Background(), Request{Proto: "udp", ExternalPort: p, InternalPort: p, Lease: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	// "Crash": the session is dropped without Close. Meanwhile the lease
	// of 10001 expired and another host took the port.
	f.mu.Lock()
	f.table[2] = fakeEntry{proto: "UDP", client: "192.168.1.77", desc: "game", ext: 10001, in: 10001}
	f.mu.Unlock()
	pending, _, _ := j.Pending()
	if len(pending) != 3 {
		t.Fatalf("pending %d", len(pending))
	}
	// Our own process is alive: pretend the entries are a dead run's.
	rewritePIDs(t, j, 0)
	if pf := PendingFinding(mustPending(t, j), j.Path()); pf == nil || pf.ID != FindingJournalPending {
		t.Errorf("pending finding %+v", pf)
	}
	c, err := Cleanup(context.Background(), opt, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Removed) != 2 || len(c.NotOurs) != 1 || len(c.Failed) != 0 {
		t.Errorf("cleanup %+v", c)
	}
	if got := f.snapshot(); len(got) != 1 || got[0].desc != "game" {
		t.Errorf("table %+v: want only the other host's mapping", got)
	}
	if p := mustPending(t, j); len(p) != 0 {
		t.Errorf("still pending %v", p)
	}
	// A second cleanup has nothing to do.
	c, _ = Cleanup(context.Background(), opt, j, nil)
	if c.Pending != 0 {
		t.Errorf("second cleanup %+v", c)
	}
}

func TestCleanupUnreachableKeepsJournal(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	d, opt := discoverFake(t, f)
	s, j := newTestSession(t, d, opt)
	if _, err := s.Map(context.Background(), Request{Proto: "UDP", ExternalPort: 6000, InternalPort: 6000}); err != nil {
		t.Fatal(err)
	}
	rewritePIDs(t, j, 0)
	f.srv.Close()
	c, err := Cleanup(context.Background(), opt, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Failed) != 1 || len(mustPending(t, j)) != 1 {
		t.Errorf("cleanup %+v", c)
	}
	if fs := CleanupFindings(c); len(fs) != 1 || fs[0].ID != FindingCleanupFailed {
		t.Errorf("findings %+v", fs)
	}
}

func TestListEndOfTableQuirk(t *testing.T) {
	for _, code := range []int{713, 714, 402, 501} {
		f := newFakeIGD(t, ig.URN_WANIPConnection_1)
		f.endOfTableCode = code
		f.add(fakeEntry{proto: "UDP", client: "127.0.0.1", desc: "natdoc", ext: 1, in: 1})
		f.add(fakeEntry{proto: "TCP", client: "10.0.0.9", desc: "x", ext: 2, in: 2})
		d, _ := discoverFake(t, f)
		es, err := List(context.Background(), d.Best())
		if err != nil || len(es) != 2 {
			t.Errorf("end code %d: %v %v", code, es, err)
		}
		rows := ReportTable(es, netip.MustParseAddr("127.0.0.1"))
		if !rows[0].ByNatdoc || !rows[0].ThisHost || rows[1].ThisHost {
			t.Errorf("rows %+v", rows)
		}
	}
}

func TestMapAllRefusedAndUpperCase(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.add(fakeEntry{proto: "UDP", client: "192.168.1.50", desc: "other", ext: 5060, in: 5060})
	d, opt := discoverFake(t, f)
	s, _ := newTestSession(t, d, opt)
	ms := MapAll(context.Background(), s, opt, []Request{{Proto: "udp", ExternalPort: 5060, InternalPort: 5060}, {Proto: "udp", ExternalPort: 10000, InternalPort: 10000}}, netip.AddrPort{})
	if ms[0].Accepted || ms[0].ErrorCode != 718 || !ms[1].Accepted || ms[1].ReadBackOK != Yes {
		t.Fatalf("results %+v", ms)
	}
	if ids := findingIDs(MapFindings(ms)); ids != "upnp-mapping-refused" {
		t.Errorf("findings %s", ids)
	}
	if n, err := s.Close(context.Background()); n != 1 || err != nil {
		t.Errorf("close %d %v", n, err)
	}
	if got := f.snapshot(); len(got) != 1 || got[0].desc != "other" {
		t.Errorf("table %+v", got)
	}
}

func TestHostileIGDBodyCapped(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.rootXML = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>x</deviceType><friendlyName>` +
		strings.Repeat("A", 2<<20) + `</friendlyName></device></root>`
	d, err := Discover(context.Background(), testOptions(f.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if d.Best() != nil || len(d.Gateways) != 1 || d.Gateways[0].Err == "" {
		t.Errorf("want an unusable gateway with an error, got %+v", d.Gateways)
	}
	if fs := DiscoveryFindings(d, netip.Addr{}); len(fs) != 1 || fs[0].ID != FindingNotFound {
		t.Errorf("findings %+v", fs)
	}
}

func TestSSDPSearchOnLoopbackRepointsLocation(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	port := f.srv.Listener.Addr().(*net.TCPAddr).Port
	// A responder on loopback plays the router: it answers with a
	// LOCATION that names another address (quirk), plus garbage.
	resp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := resp.ReadFrom(buf)
			if err != nil {
				return
			}
			if !strings.HasPrefix(string(buf[:n]), "M-SEARCH * HTTP/1.1\r\n") {
				continue
			}
			resp.WriteTo([]byte("garbage"), from)
			resp.WriteTo([]byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"+
				"USN: uuid:1::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nSERVER: Linux UPnP/1.1 fake/1\r\n"+
				"LOCATION: http://192.0.2.99:"+strconv.Itoa(port)+"/rootDesc.xml\r\n\r\n"), from)
		}
	}()
	opt := Options{SSDPAddr: resp.LocalAddr().(*net.UDPAddr).AddrPort(), SkipPMP: true, SearchTime: 500 * time.Millisecond}
	d, err := Discover(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Gateways) != 1 || d.Best() == nil {
		t.Fatalf("gateways %+v", d.Gateways)
	}
	g := d.Best()
	if !strings.HasPrefix(g.Location, "http://127.0.0.1:") || !strings.Contains(g.LocationAdvertised, "192.0.2.99") || d.SSDPMalformed == 0 {
		t.Errorf("location %q advertised %q malformed %d", g.Location, g.LocationAdvertised, d.SSDPMalformed)
	}
	if ids := findingIDs(DiscoveryFindings(d, netip.Addr{})); ids != "upnp-location-elsewhere" {
		t.Errorf("findings %s", ids)
	}
}

func TestMappingPointsElsewhere(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.rewriteClient = "192.168.1.254"
	d, opt := discoverFake(t, f)
	s, _ := newTestSession(t, d, opt)
	ms := MapAll(context.Background(), s, opt, []Request{{Proto: "UDP", ExternalPort: 5060, InternalPort: 5060}}, netip.AddrPort{})
	if !ms[0].Accepted || ms[0].ReadBackOK != No || ms[0].ReadBack == nil {
		t.Fatalf("result %+v", ms[0])
	}
	fs := MapFindings(ms)
	if len(fs) != 1 || fs[0].ID != FindingNotApplied || !strings.Contains(fs[0].Evidence[0].Addrs[0], "192.168.1.254") {
		t.Errorf("findings %+v", fs)
	}
	// The entry now names another client: natdoc must not delete it.
	n, err := s.Close(context.Background())
	if n != 0 || err != nil || len(f.snapshot()) != 1 {
		t.Errorf("close %d %v, table %+v", n, err, f.snapshot())
	}
}

func TestSeveralIGDsChoosesPublicAndSaysWhy(t *testing.T) {
	behind := newFakeIGD(t, ig.URN_WANIPConnection_2)
	behind.externalIP = "10.0.0.2" // a second router behind the first
	behind.status = "Connected"
	main := newFakeIGD(t, ig.URN_WANIPConnection_1)
	main.status = "Disconnected" // reports it, forwards anyway (quirk)
	resp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := resp.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, f := range []*fakeIGD{behind, main} {
				resp.WriteTo([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: "+f.URL()+"\r\n\r\n"), from)
			}
		}
	}()
	d, err := Discover(context.Background(), Options{SSDPAddr: resp.LocalAddr().(*net.UDPAddr).AddrPort(), SkipPMP: true, SearchTime: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Gateways) != 2 || d.Best() == nil || d.Best().Location != main.URL() {
		t.Fatalf("chose %d of %+v", d.Chosen, d.Gateways)
	}
	if !strings.Contains(d.ChosenReason, "best of 2") || !strings.Contains(d.ChosenReason, "public external address 203.0.113.7") || !strings.Contains(d.ChosenReason, "Disconnected") {
		t.Errorf("reason %q", d.ChosenReason)
	}
	if fs := DiscoveryFindings(d, netip.Addr{}); len(fs) != 0 {
		t.Errorf("findings %+v", fs)
	}
}
