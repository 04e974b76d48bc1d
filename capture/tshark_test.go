package capture_test

import (
	"math"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
)

// tsharkStream is one line of `tshark -z rtp,streams`.
type tsharkStream struct {
	src, dst netip.AddrPort
	ssrc     uint32
	packets  uint64
	lost     int64
	// Max Delta, Mean Jitter and Max Jitter, in milliseconds.
	maxDelta, meanJitter, maxJitter float64
}

// tsharkStreams runs tshark's RTP stream statistics with its RTP heuristic
// on, as bench/analyze.sh does.
func tsharkStreams(t *testing.T, path string) []tsharkStream {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams", "-r", path).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var streams []tsharkStream
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// start end srcIP srcPort dstIP dstPort SSRC payload... pkts lost (pct) ...
		if len(f) < 10 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		src, err1 := netip.ParseAddrPort(joinHostPort(f[2], f[3]))
		dst, err2 := netip.ParseAddrPort(joinHostPort(f[4], f[5]))
		ssrc, err3 := strconv.ParseUint(f[6][2:], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("cannot read tshark line %q", line)
		}
		// The payload column may hold several words ("g711U", "g711A, CN");
		// the packet count is the field before the "(x%)" loss pair.
		i := len(f) - 1
		for ; i > 7 && !strings.HasPrefix(f[i], "("); i-- {
		}
		pkts, err4 := strconv.ParseUint(f[i-2], 10, 64)
		lost, err5 := strconv.ParseInt(f[i-1], 10, 64)
		if err4 != nil || err5 != nil || len(f) < i+7 {
			t.Fatalf("cannot read counts in %q", line)
		}
		// After the loss: min, mean and max delta, min, mean and max jitter.
		var ms [6]float64
		for k := range ms {
			v, err := strconv.ParseFloat(f[i+1+k], 64)
			if err != nil {
				t.Fatalf("cannot read delta and jitter in %q", line)
			}
			ms[k] = v
		}
		streams = append(streams, tsharkStream{src: src, dst: dst, ssrc: uint32(ssrc), packets: pkts, lost: lost,
			maxDelta: ms[2], meanJitter: ms[4], maxJitter: ms[5]})
	}
	return streams
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// checkQualityWithTshark holds a stream's max delta and jitter to tshark's,
// which prints milliseconds with three decimals. The mean jitter may differ
// by up to 0.1 ms: natdoc averages the jitter over the regular packets,
// while Wireshark's running mean weighs each by the count of all packets
// before it, comfort noise and talk-spurt starts included, so the two part
// a little on streams with silence suppression (heplify's TCP call: 2.324
// against 2.304 ms).
func checkQualityWithTshark(t *testing.T, got capture.StreamStats, w tsharkStream) {
	t.Helper()
	const printed = 0.0005 + 1e-9
	if math.Abs(got.MaxDeltaMs-w.maxDelta) > printed || math.Abs(got.JitterMaxMs-w.maxJitter) > printed ||
		math.Abs(got.JitterMeanMs-w.meanJitter) > 0.1 {
		t.Errorf("stream %s → %s SSRC %#x: max delta %.3f ms, jitter mean %.3f max %.3f ms; tshark %.3f, %.3f, %.3f",
			w.src, w.dst, w.ssrc, got.MaxDeltaMs, got.JitterMeanMs, got.JitterMaxMs, w.maxDelta, w.meanJitter, w.maxJitter)
	}
}

// TestRTPStreamsMatchTshark cross-checks per-stream packets, loss, max
// delta and jitter with Wireshark's own RTP analysis on generated and real
// captures.
func TestRTPStreamsMatchTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	gen, _ := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 11})
	files := []string{gen, filepath.Join("..", "testdata", "one-way-private-sdp.pcap")}
	if dir := capture.RealPcapDirOrEmpty(); dir != "" {
		for _, f := range []string{"voipshark__SIP-RTP-Normal_Call_two_parties.pcap", "heplify__rtp_rtcp_sip_ipv4_udp.pcap",
			"heplify__sip_ipv4_tcp.pcap", "drawmycall__sip-rtp-g722.pcap", "drawmycall__sip-rtp-lpc.pcap"} {
			files = append(files, filepath.Join(dir, f))
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			streams := capture.StreamCounts(t, path)
			want := tsharkStreams(t, path)
			if len(want) == 0 {
				t.Fatal("tshark found no RTP streams")
			}
			for _, w := range want {
				got, ok := streams(w.src, w.dst, w.ssrc)
				if !ok {
					t.Errorf("stream %s → %s SSRC %#x (%d packets in tshark) not found", w.src, w.dst, w.ssrc, w.packets)
					continue
				}
				if got.Packets != w.packets || got.Lost != w.lost {
					t.Errorf("stream %s → %s SSRC %#x: %d packets, %d lost; tshark %d, %d",
						w.src, w.dst, w.ssrc, got.Packets, got.Lost, w.packets, w.lost)
				}
				checkQualityWithTshark(t, got, w)
			}
		})
	}
}
