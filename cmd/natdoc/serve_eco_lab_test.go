//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabServeMetricsAndHEP: natdoc serve in fix mode with --metrics and
// --hep-out, a phone behind a real NAT calling a public phone through it.
// A real Prometheus server scrapes the endpoint and Kamailio's sipcapture
// receives the HEP: Prometheus reads the relay's packets as the serve
// report counts them, the INVITE and the two registrations, and promtool
// accepts the endpoint; sipcapture logs the call's SIP under its Call-ID
// and natdoc's JSON log of the ended call.
func TestLabServeMetricsAndHEP(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("sip", "203.0.113.10")
	homer := lab.PublicHost("homer", "203.0.113.9")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	alice := r1.LANHost("alice", "192.168.1.10")
	bob := lab.PublicHost("bob", "198.51.100.20")
	collector := natlab.KamailioCollector(t, homer, netip.MustParseAddrPort("203.0.113.9:9060"))
	prom := natlab.StartPrometheus(t, srv, netip.MustParseAddrPort("203.0.113.10:9090"), "203.0.113.10:9464")

	dir := t.TempDir()
	helper := []string{"-test.run=^TestHelperNatdoc$", "--"}
	serve := srv.Start(t, os.Args[0], append(helper, "serve", "--listen", "203.0.113.10:5060", "--allow", "0.0.0.0/0", "--tcp=false",
		"--echo=false", "--metrics", "203.0.113.10:9464", "--hep-out", "203.0.113.9:9060", "--hep-id", "4243", "--hep-password", "natdoc",
		"--json", "-o", filepath.Join(dir, "serve.json"))...)
	waitLog(t, serve, "listening on")
	ra := placeLabCall(t, helper, dir, alice, bob)
	if ra.CallTest.Verdict != report.VerdictTwoWay {
		t.Fatalf("alice measured %s (%s) through the relay", ra.CallTest.Verdict, ra.CallTest.Explain)
	}
	callID := ra.CallTest.CallID

	checkPromtool(t, srv, "http://203.0.113.10:9464/metrics")
	prom.Query(t, `natdoc_sip_requests_total{method="INVITE"}`, func(v string) bool { return v != "0" })
	prom.Query(t, `max_over_time(natdoc_registered_contacts[5m])`, func(v string) bool { return v == "2" })
	prom.Query(t, `natdoc_relay_sessions`, func(v string) bool { return v == "0" }) // the call's session was released
	toCallee := prom.Query(t, `natdoc_relay_packets_total{direction="caller_to_callee"}`, func(v string) bool { return v != "0" })
	toCaller := prom.Query(t, `natdoc_relay_packets_total{direction="callee_to_caller"}`, func(v string) bool { return v != "0" })
	collector.WaitLog(t, 10*time.Second, "corr="+callID+" key=natdoc", "type=1 cid=4243", "HEPDATA INVITE sip:bob",
		`type=100 cid=4243`, `HEPDATA {"source":"natdoc serve","call":{"call_id":"`+callID+`"`)
	serve.Stop()

	rs := loadReport(t, filepath.Join(dir, "serve.json"))
	var rc *report.RelayedCall
	for i := range rs.Serve.Calls {
		if rs.Serve.Calls[i].CallID == callID {
			rc = &rs.Serve.Calls[i]
		}
	}
	if rc == nil || len(rc.Legs) != 2 {
		t.Fatalf("the serve report lacks call %s: %+v", callID, rs.Serve)
	}
	t.Logf("Prometheus: %s packets caller→callee, %s callee→caller; serve report: %d, %d", toCallee, toCaller, rc.Legs[0].Received, rc.Legs[1].Received)
	// Each leg counts what its party sent; the phones send no RTCP.
	if want := strconv.FormatUint(rc.Legs[0].Received, 10); toCallee != want {
		t.Errorf("Prometheus: %s packets caller→callee, the serve report %s", toCallee, want)
	}
	if want := strconv.FormatUint(rc.Legs[1].Received, 10); toCaller != want {
		t.Errorf("Prometheus: %s packets callee→caller, the serve report %s", toCaller, want)
	}
}

// checkPromtool scrapes url from inside h and has promtool check it.
func checkPromtool(t *testing.T, h *natlab.Host, url string) {
	t.Helper()
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Fatal("promtool is not installed (.ci/run installs Debian's prometheus)")
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialTCP(network, addr, time.Second)
		}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, series := range []string{"natdoc_relay_packets_total", "natdoc_registered_contacts", "natdoc_sip_responses_total", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), series) {
			t.Errorf("the endpoint has no %s", series)
		}
	}
}
