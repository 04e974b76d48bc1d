package capture_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
)

// withStrayPacket copies the last record between the given UDP ports and
// inserts the copy after later, keeping the file in time order: one RTP
// packet that comes back long after its call ended.
func withStrayPacket(t *testing.T, data []byte, srcPort, dstPort uint16, later time.Duration) []byte {
	t.Helper()
	type rec struct {
		at  int64
		raw []byte
	}
	var recs []rec
	var stray []byte
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		raw := data[off : off+16+n]
		at := int64(binary.LittleEndian.Uint32(raw[0:]))*1e9 + int64(binary.LittleEndian.Uint32(raw[4:]))*1e3
		recs = append(recs, rec{at, raw})
		if f := raw[16:]; len(f) > 14+20+8 && f[23] == 17 /* UDP */ &&
			binary.BigEndian.Uint16(f[34:]) == srcPort && binary.BigEndian.Uint16(f[36:]) == dstPort {
			stray = append([]byte(nil), raw...)
		}
		off += 16 + n
	}
	if stray == nil {
		t.Fatalf("no packet %d → %d", srcPort, dstPort)
	}
	at := int64(binary.LittleEndian.Uint32(stray[0:]))*1e9 + int64(binary.LittleEndian.Uint32(stray[4:]))*1e3 + int64(later)
	binary.LittleEndian.PutUint32(stray[0:], uint32(at/1e9))
	binary.LittleEndian.PutUint32(stray[4:], uint32(at%1e9/1e3))
	recs = append(recs, rec{at, stray})
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].at < recs[j].at })
	out := append([]byte(nil), data[:24]...)
	for _, r := range recs {
		out = append(out, r.raw...)
	}
	return out
}

// TestJudgingIndependentOfBatches: the same capture analysed with events
// handed over one by one, in small and in huge batches gives the same
// calls. A stray RTP packet 35 s after the first call's media stopped is
// the case batch-end sweeps got wrong: whether the call was judged before
// or after the stray depended on where a batch ended.
func TestJudgingIndependentOfBatches(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{
		{Kind: pcapgen.Normal, Media: 5 * time.Second},
		{Kind: pcapgen.LeakCaller, Start: time.Second, Media: 60 * time.Second},
	}, pcapgen.Options{Seed: 11})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first := capture.AnalyseInBatches(t, data, capture.BatchEvents)
	if len(first.Calls) != 2 || len(first.Calls[0].Streams) == 0 || len(first.Calls[0].Streams[0].Flows) == 0 {
		t.Fatalf("unexpected calls: %+v", first.Calls)
	}
	f := first.Calls[0].Streams[0].Flows[0]
	src, dst := netip.MustParseAddrPort(f.Src), netip.MustParseAddrPort(f.Dst)
	data = withStrayPacket(t, data, src.Port(), dst.Port(), 35*time.Second)
	var want []byte
	for _, batch := range []int{1, 7, capture.BatchEvents, 1 << 20} {
		res := capture.AnalyseInBatches(t, data, batch)
		got, err := json.Marshal(res.Calls)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
			pkts, _ := capture.DirectionCounts(res.Calls[0])
			if truth := truths[0].Packets; pkts != truth {
				t.Errorf("first call counts %v, want %v: the stray after 35 s of quiet must not count", pkts, truth)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("batches of %d events judge differently:\n%s\nwant\n%s", batch, got, want)
		}
	}
}
