package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// replayAsHEP sends every UDP packet of a capture to addr as HEPv3 (SIP
// as SIP, the rest as RTP), stamped with its capture time, as an agent
// that copies media would.
func replayAsHEP(t *testing.T, path, addr string) int {
	t.Helper()
	s, err := hep.Dial("udp", addr, hep.SenderOptions{CaptureID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for _, p := range natlab.ReadPcap(t, path) {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			continue
		}
		typ := hep.TypeRTP
		if strings.Contains(string(udp.Payload[:min(len(udp.Payload), 200)]), "SIP/2.0") {
			typ = hep.TypeSIP
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(udp.SrcPort))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(udp.DstPort))
		s.Send(&hep.Packet{Proto: 17, Src: src, Dst: dst, Time: p.Time, Type: typ, Payload: udp.Payload})
		n++
		if n%100 == 0 {
			time.Sleep(time.Millisecond) // loopback's socket buffer is not a queue for a whole file
		}
	}
	if _, failed, last := s.Stats(); failed > 0 {
		t.Fatalf("%d HEP packets not sent: %v", failed, last)
	}
	return n
}

func callSummary(calls []report.Call) string {
	var out []string
	for _, c := range calls {
		out = append(out, fmt.Sprintf("%s %s (%s) %s", c.CallID, c.Verdict, c.CannotHear, c.Explain))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestCaptureHEPMatchesAnalyze: natdoc capture --hep, fed the example
// capture's SIP and RTP as HEP over loopback, gives the verdicts natdoc
// analyze gives for the capture itself, and its --metrics endpoint counts
// the SIP while it runs.
func TestCaptureHEPMatchesAnalyze(t *testing.T) {
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	// Ports the kernel picks, read back from stderr: a port found free
	// and closed again may be taken before natdoc listens on it.
	stderr := &lineWatch{}
	go func() {
		var out bytes.Buffer
		code := Main([]string{"capture", "--hep", "127.0.0.1:0", "--duration", "3s", "--json", "--metrics", "127.0.0.1:0"},
			strings.NewReader(""), &out, stderr)
		done <- result{code, out.String(), stderr.String()}
	}()
	addr := stderr.wait(t, "receiving HEP on udp and tcp ")
	metricsAddr := strings.TrimSuffix(stderr.wait(t, "metrics on http://"), "/metrics")
	waitHEPListening(t, addr)
	sent := replayAsHEP(t, exampleCapture, addr)
	time.Sleep(500 * time.Millisecond)
	scrape := httpGet(t, "http://"+metricsAddr+"/metrics")
	if !strings.Contains(scrape, `natdoc_sip_requests_total{method="INVITE"} 2`) {
		t.Errorf("metrics during the capture:\n%s", scrape)
	}
	if _, err := exec.LookPath("promtool"); err == nil {
		check := exec.Command("promtool", "check", "metrics")
		check.Stdin = strings.NewReader(scrape)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	res := <-done
	var live report.Report
	if err := json.Unmarshal([]byte(res.out), &live); err != nil {
		t.Fatalf("exit %d, %v; stderr %s", res.code, err, res.err)
	}
	code, out, _ := run(t, "analyze", "--json", exampleCapture)
	var file report.Report
	if err := json.Unmarshal([]byte(out), &file); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d packets sent as HEP; verdicts:\n%s", sent, callSummary(live.Calls))
	if res.code != code || callSummary(live.Calls) != callSummary(file.Calls) {
		t.Errorf("capture --hep: exit %d\n%s\nanalyze: exit %d\n%s", res.code, callSummary(live.Calls), code, callSummary(file.Calls))
	}
}

// waitHEPListening waits until capture --hep listens on addr: it opens
// UDP first, then TCP on the same port, so an accepted TCP connection
// (closed at once, without data) means the UDP socket is there too. A
// fixed sleep was too short on a loaded machine (the replay met
// "connection refused").
func waitHEPListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("capture --hep is not listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
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

func TestAnalyzeKeyFlagsErrors(t *testing.T) {
	empty := t.TempDir() + "/empty.log"
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"analyze", "--tls-keylog", "/nonexistent/keys.log", exampleCapture},
		{"analyze", "--tls-keylog", empty, exampleCapture},
		{"analyze", "--tls-key", exampleCapture, exampleCapture},
		{"analyze", "--hep-out", "sctp:127.0.0.1:9060", exampleCapture},
		{"capture", "--hep", "127.0.0.1:9060", "-i", "lo"},
		{"capture"},
	} {
		if code, _, errOut := run(t, args...); code != exitUsage {
			t.Errorf("natdoc %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

// lineWatch is a stderr a test can read while the command still writes.
type lineWatch struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWatch) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// wait returns the rest of the first whole line starting with prefix,
// once written, as waitLog does for a lab process's log.
func (w *lineWatch) wait(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		text := w.String()
		for line := range strings.Lines(text) {
			if rest, ok := strings.CutPrefix(line, prefix); ok && strings.HasSuffix(rest, "\n") {
				return strings.TrimSpace(rest)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line %q on stderr:\n%s", prefix, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
