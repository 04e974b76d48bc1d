package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// CallTotals is what a SIP server did with calls since it started, read
// at scrape time.
type CallTotals struct {
	Active  int    // calls in progress
	Started uint64 // calls taken (a refused INVITE is no call)
	// Ended counts the ended calls by how they ended: a short list of
	// kinds the server names ("bye", "cancelled", "rejected", ...).
	Ended map[string]uint64
}

// callCollector reads a server's call totals at each scrape.
type callCollector struct {
	src                    func() CallTotals
	ends                   *boundedSet
	active, started, ended *prometheus.Desc
}

// WatchCalls exports a server's calls, read from src at each scrape: in
// progress, started, and ended by how. Every call started is, once over,
// counted once in natdoc_calls_ended_total, so started minus the sum of
// ended is the calls in progress.
func (m *Metrics) WatchCalls(src func() CallTotals) {
	if m == nil {
		return
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("natdoc_calls_"+name, help, labels, nil)
	}
	m.reg.MustRegister(&callCollector{src: src, ends: newBoundedSet(),
		active:  d("active", "Calls in progress through natdoc serve."),
		started: d("started_total", "Calls natdoc serve took (INVITEs forwarded)."),
		ended:   d("ended_total", "Calls ended, by how: bye, cancelled, rejected (a final error response), no answer, media timeout, shutdown, ...", "end"),
	})
}

func (c *callCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.started, c.ended} {
		ch <- d
	}
}

func (c *callCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.src()
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(t.Active))
	ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(t.Started))
	// One series per label value: kinds past the bound are summed as "other".
	sum := map[string]uint64{}
	for k, v := range t.Ended {
		sum[c.ends.label(k)] += v
	}
	kinds := make([]string, 0, len(sum))
	for k := range sum {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		ch <- prometheus.MustNewConstMetric(c.ended, prometheus.CounterValue, float64(sum[k]), k)
	}
}
