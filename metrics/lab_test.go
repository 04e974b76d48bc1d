//go:build linux

package metrics

import (
	"context"
	"net/netip"
	"testing"

	"github.com/natdoc/natdoc/internal/natlab"
)

// TestLabPrometheusScrapes runs a real Prometheus server in a lab
// namespace that scrapes natdoc's endpoint every second, then asks its
// query API for natdoc's series: the target is up and the values are the
// ones natdoc counted.
func TestLabPrometheusScrapes(t *testing.T) {
	lab := natlab.New(t)
	host := lab.PublicHost("prometheus", "203.0.113.30")
	l, err := host.ListenTCP("tcp4", "203.0.113.30:9464")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := sample().ServeListener(ctx, l)
	defer func() {
		cancel()
		_ = wait()
	}()
	prom := natlab.StartPrometheus(t, host, netip.MustParseAddrPort("203.0.113.30:9090"), "203.0.113.30:9464")
	for _, q := range []struct{ query, want string }{
		{`up{job="natdoc"}`, "1"},
		{`natdoc_calls_judged_total{verdict="one-way"}`, "1"},
		{`natdoc_relay_packets_total{direction="caller_to_callee"}`, "510"},
		{`natdoc_registered_contacts`, "7"},
	} {
		if got := prom.Query(t, q.query, nil); got != q.want {
			t.Errorf("%s = %q, want %q", q.query, got, q.want)
		}
	}
}
