package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sample fills a registry as a capture and a server would.
func sample() *Metrics {
	m := New()
	m.CallJudged(report.Call{Verdict: report.VerdictOneWay, Findings: []report.Finding{{ID: "private-sdp-address"}, {ID: "sip-alg"}}})
	m.CallJudged(report.Call{Verdict: report.VerdictTwoWay})
	for _, method := range []string{"INVITE", "ACK", "BYE", "X-CUSTOM"} {
		m.SIPRequest(method)
	}
	for _, st := range []int{100, 180, 200, 200, 486, 99} {
		m.SIPResponse(st)
	}
	m.Rejected("malformed-sip", 3)
	var rc RelayCounter
	rc.Closed(relay.SessionStats{A: relay.LegStats{RTP: relay.StreamStats{Packets: 500, Bytes: 86000, Lost: 2}},
		B: relay.LegStats{RTP: relay.StreamStats{Packets: 498, Bytes: 85656}}})
	open := []relay.SessionStats{{A: relay.LegStats{RTP: relay.StreamStats{Packets: 10, Bytes: 1720}}}}
	m.WatchRelay(func() RelayTotals {
		t := rc.Totals(func() []relay.SessionStats { return open })
		t.PortsFree = 396
		return t
	})
	m.WatchRegistrations(func() int { return 7 })
	m.WatchCalls(func() CallTotals {
		return CallTotals{Active: 1, Started: 12, Ended: map[string]uint64{"bye": 8, "cancelled": 2, "rejected": 1}}
	})
	return m
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScrape(t *testing.T) {
	body := scrape(t, sample())
	for _, want := range []string{
		`natdoc_calls_judged_total{verdict="one-way"} 1`,
		`natdoc_calls_judged_total{verdict="no-way"} 0`,
		`natdoc_findings_total{id="private-sdp-address"} 1`,
		`natdoc_sip_requests_total{method="INVITE"} 1`,
		`natdoc_sip_requests_total{method="other"} 1`,
		`natdoc_sip_responses_total{class="2xx"} 2`,
		`natdoc_sip_responses_total{class="other"} 1`,
		`natdoc_rejected_input_total{reason="malformed-sip"} 3`,
		`natdoc_relay_packets_total{direction="caller_to_callee"} 510`,
		`natdoc_relay_bytes_total{direction="callee_to_caller"} 85656`,
		`natdoc_relay_lost_packets_total{direction="caller_to_callee"} 2`,
		`natdoc_relay_sessions 1`,
		`natdoc_relay_ports_in_use 4`,
		`natdoc_relay_ports_free 396`,
		`natdoc_registered_contacts 7`,
		`natdoc_calls_active 1`,
		`natdoc_calls_started_total 12`,
		`natdoc_calls_ended_total{end="bye"} 8`,
		`natdoc_calls_ended_total{end="rejected"} 1`,
		`go_goroutines `,
		`go_gc_heap_live_bytes `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestLint runs the client library's own linter over natdoc's metrics
// (names, units, _total suffixes, help text).
func TestLint(t *testing.T) {
	problems, err := testutil.GatherAndLint(sample().Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "natdoc_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestPromtool checks a scrape with promtool, Prometheus's own checker.
func TestPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		if os.Getenv("NATDOC_LAB") == "require" {
			t.Fatal("promtool not installed (apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, sample()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestLabelsBounded(t *testing.T) {
	m := New()
	for i := 0; i < 3*maxLabelValues; i++ {
		m.CallJudged(report.Call{Verdict: "made-up", Findings: []report.Finding{{ID: report.FindingID(fmt.Sprintf("id-%d", i))}}})
		m.Rejected(fmt.Sprintf("reason-%d", i), 1)
	}
	if n := testutil.CollectAndCount(m.findings); n != maxLabelValues+1 {
		t.Errorf("%d finding series, want %d", n, maxLabelValues+1)
	}
	if n := testutil.CollectAndCount(m.rejected); n != maxLabelValues+1 {
		t.Errorf("%d rejection series, want %d", n, maxLabelValues+1)
	}
	if v := testutil.ToFloat64(m.callsJudged.WithLabelValues("other")); v != 3*maxLabelValues {
		t.Errorf("made-up verdicts counted as other: %v", v)
	}
	ends := map[string]uint64{}
	for i := 0; i < 3*maxLabelValues; i++ {
		ends[fmt.Sprintf("end-%d", i)] = 1
	}
	calls := New()
	calls.WatchCalls(func() CallTotals { return CallTotals{Ended: ends} })
	if n := testutil.CollectAndCount(calls.Registry(), "natdoc_calls_ended_total"); n != maxLabelValues+1 {
		t.Errorf("%d call end series, want %d", n, maxLabelValues+1)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.CallJudged(report.Call{})
	m.SIPRequest("INVITE")
	m.SIPResponse(200)
	m.Rejected("x", 1)
	m.WatchRelay(nil)
	m.WatchRegistrations(nil)
	m.WatchCalls(nil)
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := sample().Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if err := wait(); err != nil {
		t.Error(err)
	}
}

// TestRelayCountersNeverFall: a session released between the read of the
// open sessions and of the closed totals is briefly in neither; the
// counters hold their value instead of dipping, and catch up.
func TestRelayCountersNeverFall(t *testing.T) {
	var rc RelayCounter
	call := relay.SessionStats{A: relay.LegStats{RTP: relay.StreamStats{Packets: 100, Bytes: 17200, Lost: 1}}}
	open := []relay.SessionStats{call}
	if got := rc.Totals(func() []relay.SessionStats { return open }); got.Packets[0] != 100 || got.Sessions != 1 {
		t.Fatalf("open call: %+v", got)
	}
	// Released while the scrape runs: not in the closed totals read
	// first, no longer open when the sessions are read.
	got := rc.Totals(func() []relay.SessionStats { rc.Closed(call); return nil })
	if got.Packets[0] != 100 || got.Bytes[0] != 17200 || got.Lost[0] != 1 || got.Sessions != 0 {
		t.Errorf("during the release: %+v, want the counters held and no session", got)
	}
	if got := rc.Totals(func() []relay.SessionStats { return nil }); got.Packets[0] != 100 {
		t.Errorf("after it: %+v", got)
	}
}
