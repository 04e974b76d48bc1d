//go:build linux

package natlab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server in a lab host, scraping its
// targets every second, and a client for its query API from that host.
type Prometheus struct {
	addr   netip.AddrPort
	client *http.Client
}

// promQueryTimeout bounds the wait for a query's value: the server
// starts, scrapes, and only then has series.
const promQueryTimeout = 30 * time.Second

// StartPrometheus runs Debian's prometheus in h, listening on listen and
// scraping the /metrics of each target (HOST:PORT) as job "natdoc".
func StartPrometheus(t testing.TB, h *Host, listen netip.AddrPort, targets ...string) *Prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: natdoc\n    static_configs:\n      - targets: ['%s']\n",
		strings.Join(targets, "', '"))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Start(t, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen.String())
	return &Prometheus{addr: listen, client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialTCP(network, addr, time.Second)
		}}}}
}

// Query polls the instant query API until query has a value that ok
// accepts (nil: any), and returns it; after promQueryTimeout it fails the
// test with the last answer.
func (p *Prometheus) Query(t testing.TB, query string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(promQueryTimeout)
	for {
		v, err := p.value(query)
		if err == nil && v != "" && (ok == nil || ok(v)) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %s: last value %q (%v)", query, v, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *Prometheus) value(query string) (string, error) {
	resp, err := p.client.Get(fmt.Sprintf("http://%s/api/v1/query?query=%s", p.addr, url.QueryEscape(query)))
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
