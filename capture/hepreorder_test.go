package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/natlab"
)

// How late a HEP copy arrives in the tests of out-of-order feeds: behind
// up to maxLate messages sent within maxLateBy of it. Kamailio's workers,
// or two agents on the path, pass each other by a message or two and
// milliseconds; the tests ask for far more, up to half the time natdoc
// waits for a late request (reorderWindow).
const (
	maxLate   = 8
	maxLateBy = time.Second
)

// lateCopy returns pkts with the copy at from arriving just before the one
// at to (to < from). restamped: its agent stamped it as it sent it, so the
// time stamps follow the new order (what Kamailio's siptrace does for the
// requests it forwards); else it keeps the time it was seen at.
func lateCopy(pkts []hep.Packet, from, to int, restamped bool) []hep.Packet {
	out := slices.Clone(pkts)
	moved := out[from]
	copy(out[to+1:from+1], out[to:from])
	out[to] = moved
	if restamped {
		times := make([]time.Time, len(out))
		for i := range out {
			times[i] = out[i].Time
		}
		slices.SortFunc(times, time.Time.Compare)
		for i := range out {
			out[i].Time = times[i]
		}
	}
	return out
}

func firstLine(p hep.Packet) string {
	line, _, _ := bytes.Cut(p.Payload, []byte("\r\n"))
	return fmt.Sprintf("%q %s→%s", line, p.Src, p.Dst)
}

// TestHEPOutOfOrder: a HEP feed whose copies arrive out of order (each
// message moved before each of the maxLate sent up to maxLateBy before
// it, with the time it was seen at or restamped in the new order) gives the verdicts and
// findings the feed in order gives, without anomalies. The calls are real
// ones through proxies: Kamailio relaying a phone behind NAT, Kamailio
// with rtpengine (two legs, RTCP as JSON), and an INVITE to a private
// address retransmitted until the proxy's 408.
func TestHEPOutOfOrder(t *testing.T) {
	for _, name := range []string{"natlab-kamailio-hep-proxy.pcap", "natlab-proxy-two-legs.pcap", "natlab-inbound-unfixed-server.pcap"} {
		t.Run(name, func(t *testing.T) {
			pkts := hepPackets(t, filepath.Join("..", "testdata", name))
			want := strings.Join(capture.VerdictLines(capture.AnalyzePath(t, writeHEPFeed(t, pkts)).Calls), "\n")
			t.Logf("%d messages; in order: %s", len(pkts), want)
			for from := 1; from < len(pkts); from++ {
				for to := max(0, from-maxLate); to < from; to++ {
					if pkts[from].Time.Sub(pkts[to].Time) > maxLateBy {
						continue
					}
					for _, restamped := range []bool{false, true} {
						res := capture.AnalyzePath(t, writeHEPFeed(t, lateCopy(pkts, from, to, restamped)))
						got := strings.Join(capture.VerdictLines(res.Calls), "\n")
						if got != want || len(res.Capture.Anomalies) > 0 {
							t.Errorf("%s arriving before %s (restamped %v) gives\n%s\nanomalies %+v", firstLine(pkts[from]), firstLine(pkts[to]), restamped, got, res.Capture.Anomalies)
						}
					}
				}
			}
		})
	}
}

// TestHEPKamailioReordered: Kamailio's siptrace in the lab sent the 180
// of a callee that answered at once before the INVITE it answers, and
// stamped it earlier too (siptrace stamps a forwarded request after
// sending it). Unwrapped from the capture of that HEP and received live,
// the feed gives the verdict and findings of the SIP captured at the proxy
// (the callee's SDP address differs from the proxy's, on the caller's leg).
func TestHEPKamailioReordered(t *testing.T) {
	dir := filepath.Join("..", "testdata")
	feed := hepCopies(t, filepath.Join(dir, "natlab-kamailio-hep-reordered.pcap"))
	checkKamailioReordered(t, feed)
	proxy := capture.AnalyzePath(t, filepath.Join(dir, "natlab-kamailio-hep-proxy.pcap"))
	if len(proxy.Calls) != 1 || !capture.HasFinding(proxy.Calls[0], capture.IDSDPAddressDiffers) {
		t.Fatalf("the proxy's capture gives %v", capture.VerdictLines(proxy.Calls))
	}
	want := strings.Join(capture.VerdictLines(proxy.Calls), "\n")
	live := listenHEPLoopback(t, feed)
	for name, res := range map[string]*capture.Result{
		"HEP capture": capture.AnalyzePath(t, filepath.Join(dir, "natlab-kamailio-hep-reordered.pcap")),
		"live HEP":    live,
	} {
		if got := strings.Join(capture.VerdictLines(res.Calls), "\n"); got != want || len(res.Capture.Anomalies) > 0 {
			t.Errorf("%s gives\n%s\nwant\n%s\nanomalies %+v", name, got, want, res.Capture.Anomalies)
		}
	}
}

// hepCopies are the HEP packets (UDP to port 9060) in path, in its order.
func hepCopies(t *testing.T, path string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range natlab.ReadPcap(t, path) {
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && udp.DstPort == 9060 {
			out = append(out, udp.Payload)
		}
	}
	return out
}

// checkKamailioReordered holds the fixture to what it is kept for: the
// callee's first response arrives, and is stamped, before the INVITE
// Kamailio forwarded to it.
func checkKamailioReordered(t *testing.T, feed [][]byte) {
	t.Helper()
	var invite, response int = -1, -1
	var at [2]time.Time
	for i, b := range feed {
		var p hep.Packet
		if _, err := hep.Decode(b, &p); err != nil {
			t.Fatal(err)
		}
		switch {
		case invite < 0 && bytes.HasPrefix(p.Payload, []byte("INVITE ")) && p.Dst.Addr().String() == "203.0.113.20":
			invite, at[0] = i, p.Time
		case response < 0 && bytes.HasPrefix(p.Payload, []byte("SIP/2.0 1")) && p.Src.Addr().String() == "203.0.113.20":
			response, at[1] = i, p.Time
		}
	}
	if response < 0 || invite < 0 || response > invite || !at[1].Before(at[0]) {
		t.Fatalf("the fixture lost its point: callee's response %d at %s, INVITE to it %d at %s", response, at[1], invite, at[0])
	}
}

// listenHEPLoopback sends the HEP packets (SIP) over UDP on loopback to
// ListenHEP, in their order, and returns what it judged once it has read
// them all.
func listenHEPLoopback(t *testing.T, feed [][]byte) *capture.Result {
	t.Helper()
	udp, tcp := capture.LoopbackHEPSockets(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *capture.Result, 1)
	read := make(chan struct{}, len(feed))
	onSIP := func(bool, string, int) { read <- struct{}{} }
	go func() {
		res, err := capture.ListenHEP(ctx, capture.HEPOptions{UDP: udp, TCP: tcp, LiveOptions: capture.LiveOptions{OnSIP: onSIP}})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	c, err := net.Dial("udp", udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range feed {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for range feed {
		select {
		case <-read:
		case <-time.After(10 * time.Second):
			t.Fatal("ListenHEP did not read every message")
		}
	}
	cancel()
	return <-done
}
