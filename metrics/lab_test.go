//go:build linux

package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: natdoc\n    static_configs:\n      - targets: ['203.0.113.30:9464']\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	host.Start(t, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=203.0.113.30:9090")
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return host.DialTCP(network, addr, time.Second)
		}}}
	for _, q := range []struct{ query, want string }{
		{`up{job="natdoc"}`, "1"},
		{`natdoc_calls_judged_total{verdict="one-way"}`, "1"},
		{`natdoc_relay_packets_total{direction="caller_to_callee"}`, "510"},
		{`natdoc_registered_contacts`, "7"},
	} {
		if got := promQuery(t, client, q.query); got != q.want {
			t.Errorf("%s = %q, want %q", q.query, got, q.want)
		}
	}
}

// promQuery polls Prometheus's instant query API (up to 30 s: the server
// starts, then scrapes) until the query has a value.
func promQuery(t *testing.T, c *http.Client, query string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := promValue(c, query)
		if err == nil && v != "" {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus never answered %s: %v", query, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func promValue(c *http.Client, query string) (string, error) {
	resp, err := c.Get("http://203.0.113.30:9090/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", err
	}
	if r.Status != "success" || len(r.Data.Result) == 0 {
		return "", fmt.Errorf("status %q, %d results", r.Status, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s, nil
}
