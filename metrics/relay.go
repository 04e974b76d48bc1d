package metrics

import (
	"sync"

	"github.com/natdoc/natdoc/relay"
	"github.com/prometheus/client_golang/prometheus"
)

// Relay directions, the values of the direction label: leg A faces the
// caller, leg B the callee, and a leg counts what its party sent.
var directions = [2]string{"caller_to_callee", "callee_to_caller"}

// RelayTotals is what a relay has done since it started, read at scrape
// time: counters include sessions already closed.
type RelayTotals struct {
	Sessions   int // in progress
	PortsInUse int // RTP and RTCP ports held by sessions
	PortsFree  int // ports of the relay's range free for new sessions
	// Packets, Bytes and Lost (RTP by sequence number) per direction.
	Packets, Bytes, Lost [2]uint64
}

// RelayCounter keeps the totals of closed sessions, whose counters the
// relay forgets, so the exported counters never go down.
type RelayCounter struct {
	mu     sync.Mutex
	closed RelayTotals
	// last is what Totals returned before: a session released between
	// reading the open sessions and the closed totals is briefly in
	// neither, and a counter must not dip for it.
	last RelayTotals
}

// Closed adds a session's final counters (relay.Config.OnRelease).
func (r *RelayCounter) Closed(s relay.SessionStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addSession(&r.closed, s)
}

// Totals adds the sessions still open, read by open, to the closed ones.
// The closed totals are read first: a session that closes meanwhile is
// missed once rather than counted twice.
func (r *RelayCounter) Totals(open func() []relay.SessionStats) RelayTotals {
	r.mu.Lock()
	t := r.closed
	r.mu.Unlock()
	sessions := open()
	t.Sessions, t.PortsInUse = len(sessions), 4*len(sessions) // two legs of an RTP and an RTCP port
	for _, s := range sessions {
		addSession(&t, s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range 2 {
		t.Packets[i] = max(t.Packets[i], r.last.Packets[i])
		t.Bytes[i] = max(t.Bytes[i], r.last.Bytes[i])
		t.Lost[i] = max(t.Lost[i], r.last.Lost[i])
	}
	r.last = t
	return t
}

// OpenSessions reads the counters of a relay's sessions in progress.
func OpenSessions(rl *relay.Relay) func() []relay.SessionStats {
	return func() []relay.SessionStats {
		open := rl.Sessions()
		out := make([]relay.SessionStats, len(open))
		for i, s := range open {
			out[i] = s.Stats()
		}
		return out
	}
}

func addSession(t *RelayTotals, s relay.SessionStats) {
	for i, leg := range []relay.LegStats{s.A, s.B} {
		t.Packets[i] += leg.RTP.Packets + leg.RTCP.Packets
		t.Bytes[i] += leg.RTP.Bytes + leg.RTCP.Bytes
		if leg.RTP.Lost > 0 {
			t.Lost[i] += uint64(leg.RTP.Lost)
		}
	}
}

// relayCollector reads a relay's totals at each scrape.
type relayCollector struct {
	src                                         func() RelayTotals
	sessions, ports, free, packets, bytes, lost *prometheus.Desc
}

// WatchRelay exports the relay's totals, read from src at each scrape.
func (m *Metrics) WatchRelay(src func() RelayTotals) {
	if m == nil {
		return
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("natdoc_relay_"+name, help, labels, nil)
	}
	m.reg.MustRegister(&relayCollector{src: src,
		sessions: d("sessions", "Relay sessions (calls with anchored media) in progress."),
		ports:    d("ports_in_use", "UDP ports the relay holds for sessions in progress."),
		free:     d("ports_free", "UDP ports of the relay's range free for new sessions (none: new calls get 503)."),
		packets:  d("packets_total", "RTP and RTCP packets received from the parties, by direction.", "direction"),
		bytes:    d("bytes_total", "RTP and RTCP payload bytes received from the parties, by direction.", "direction"),
		lost:     d("lost_packets_total", "RTP packets missing by sequence number (RFC 3550), by direction.", "direction"),
	})
}

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.ports, c.free, c.packets, c.bytes, c.lost} {
		ch <- d
	}
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.src()
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(t.Sessions))
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(t.PortsInUse))
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(t.PortsFree))
	for i, dir := range directions {
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(t.Packets[i]), dir)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.Bytes[i]), dir)
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(t.Lost[i]), dir)
	}
}

// WatchRegistrations exports the number of registered contacts, read
// from src at each scrape.
func (m *Metrics) WatchRegistrations(src func() int) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "natdoc", Name: "registered_contacts",
		Help: "SIP contacts currently registered with natdoc serve."}, func() float64 { return float64(src()) }))
}
