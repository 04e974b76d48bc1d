package capture_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestSameStreamKeyInConsecutiveCalls: a second call between the same two
// media addresses sends under the same SSRC as the first (sipp replays
// one RTP file for every call of a test; found in ossobv/sipzamine's
// capture of five such calls). Each call's RTP is its own stream: both
// calls two-way, with the first call's counts each. Before, the first
// call took the RTP of both and the second read one-way.
func TestSameStreamKeyInConsecutiveCalls(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	once := capture.AnalyzePath(t, path)
	if len(once.Calls) != 1 || once.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("the call alone: %+v", once.Calls)
	}
	path = repeatCall(t, path, truths[0].CallID, 20*time.Second)
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 2 {
		t.Fatalf("got %d calls, want 2", len(res.Calls))
	}
	want := directionPackets(once.Calls[0])
	for _, c := range res.Calls {
		if got := directionPackets(c); c.Verdict != report.VerdictTwoWay || got != want {
			t.Errorf("%s: %s, RTP %v, want two-way and %v as alone; %s", c.ID, c.Verdict, got, want, c.Explain)
		}
	}
}

// repeatCall writes the capture at path twice, the copy later by after
// and with another Call-ID (the last byte of callID changed): the same
// call again, its RTP the same to the byte.
func repeatCall(t *testing.T, path, callID string, after time.Duration) string {
	t.Helper()
	r := capture.PcapReader(t, path)
	out, w := createPcap(t, "repeated.pcap", r.LinkType())
	var copies [][]byte
	var stamps []time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		again := bytes.ReplaceAll(data, []byte(callID), []byte(callID[:len(callID)-1]+"Z"))
		copies, stamps = append(copies, again), append(stamps, ci.Timestamp.Add(after))
	}
	for i, data := range copies {
		ci := gopacket.CaptureInfo{Timestamp: stamps[i], CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// directionPackets are a call's RTP packets caller→callee and back.
func directionPackets(c report.Call) [2]uint64 {
	pkts, _ := capture.DirectionCounts(c)
	return pkts
}
