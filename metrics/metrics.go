package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/natdoc/natdoc/report"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxLabelValues bounds the values one open-ended label takes; later new
// values are counted as "other". Finding IDs and anomaly kinds are
// constants in natdoc's code, far fewer than this.
const maxLabelValues = 100

// Metrics is natdoc's registry. All methods are safe for concurrent use,
// and on a nil *Metrics they do nothing, so callers need no checks.
type Metrics struct {
	reg *prometheus.Registry

	callsJudged  *prometheus.CounterVec
	findings     *prometheus.CounterVec
	sipRequests  *prometheus.CounterVec
	sipResponses *prometheus.CounterVec
	rejected     *prometheus.CounterVec

	findingIDs, reasons *boundedSet
}

// New makes a registry with natdoc's metrics and the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), findingIDs: newBoundedSet(), reasons: newBoundedSet()}
	counter := func(name, help string, label string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "natdoc", Name: name, Help: help}, []string{label})
		m.reg.MustRegister(c)
		return c
	}
	m.callsJudged = counter("calls_judged_total", "Calls judged, by audio verdict.", "verdict")
	m.findings = counter("findings_total", "Findings made about calls, by finding ID.", "id")
	m.sipRequests = counter("sip_requests_total", "SIP requests seen or handled, by method.", "method")
	m.sipResponses = counter("sip_responses_total", "SIP responses seen or handled, by status class.", "class")
	m.rejected = counter("rejected_input_total", "Input rejected as malformed, oversized or not allowed, by reason.", "reason")
	for _, v := range verdicts {
		m.callsJudged.WithLabelValues(string(v)) // present at zero from the start
	}
	// The live heap as of the last collection (go_gc_heap_live_bytes)
	// besides the defaults: unlike the heap in use it does not grow with
	// garbage not yet collected, so a leak shows as a rise of it.
	liveHeap := collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}
	m.reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(liveHeap)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where more collectors (the relay's) are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CallJudged counts a judged call and its findings.
func (m *Metrics) CallJudged(c report.Call) {
	if m == nil {
		return
	}
	m.callsJudged.WithLabelValues(verdictLabel(c.Verdict)).Inc()
	m.Findings(c.Findings)
}

// Findings counts findings made about a call (natdoc serve's about the
// calls it relayed, which it does not judge).
func (m *Metrics) Findings(fs []report.Finding) {
	if m == nil {
		return
	}
	for _, f := range fs {
		m.findings.WithLabelValues(m.findingIDs.label(string(f.ID))).Inc()
	}
}

// SIPRequest counts a request by method.
func (m *Metrics) SIPRequest(method string) {
	if m == nil {
		return
	}
	m.sipRequests.WithLabelValues(methodLabel(method)).Inc()
}

// SIPResponse counts a response by class (1xx to 6xx).
func (m *Metrics) SIPResponse(status int) {
	if m == nil {
		return
	}
	m.sipResponses.WithLabelValues(classLabel(status)).Inc()
}

// Rejected counts input rejected for a reason: an anomaly kind or a
// server's refusal ("rate-limited", "not-allowed").
func (m *Metrics) Rejected(reason string, n uint64) {
	if m == nil || n == 0 {
		return
	}
	m.rejected.WithLabelValues(m.reasons.label(reason)).Add(float64(n))
}

// Handler serves the registry in the Prometheus text (or protobuf, when
// asked) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// shutdownTimeout bounds how long a scrape in progress may delay exit.
const shutdownTimeout = 2 * time.Second

// Serve listens on addr and serves /metrics until ctx ends. It returns
// once listening, with the bound address (addr may name port 0), and a
// function that waits for the server to stop.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, func() error, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	return l.Addr(), m.ServeListener(ctx, l), nil
}

// ServeListener serves /metrics on l until ctx ends; the function it
// returns waits for the server to stop.
func (m *Metrics) ServeListener(ctx context.Context, l net.Listener) func() error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return func() error { return <-done }
}

// verdicts are the call verdicts counted by name.
var verdicts = []report.Verdict{report.VerdictTwoWay, report.VerdictOneWay, report.VerdictNoWay, report.VerdictOnHold,
	report.VerdictOneWayNegotiated, report.VerdictNotAnswered, report.VerdictNoMediaExpected, report.VerdictIncompleteCapture}

func verdictLabel(v report.Verdict) string {
	if slices.Contains(verdicts, v) {
		return string(v)
	}
	return "other"
}

// sipMethods are the methods counted by name (RFC 3261 and the
// extensions in common use); anything else is "other".
var sipMethods = map[string]bool{"INVITE": true, "ACK": true, "BYE": true, "CANCEL": true, "REGISTER": true, "OPTIONS": true,
	"PRACK": true, "SUBSCRIBE": true, "NOTIFY": true, "PUBLISH": true, "INFO": true, "REFER": true, "MESSAGE": true, "UPDATE": true}

func methodLabel(m string) string {
	if sipMethods[m] {
		return m
	}
	return "other"
}

func classLabel(status int) string {
	if status < 100 || status > 699 {
		return "other"
	}
	return fmt.Sprintf("%dxx", status/100)
}

// boundedSet admits the first maxLabelValues distinct values.
type boundedSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func newBoundedSet() *boundedSet { return &boundedSet{seen: map[string]bool{}} }

func (b *boundedSet) label(v string) string {
	if v == "" {
		return "other"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= maxLabelValues {
		return "other"
	}
	b.seen[v] = true
	return v
}
