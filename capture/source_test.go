package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordOffsets lists where each record header of a little-endian pcap
// starts.
func recordOffsets(data []byte) []int {
	var offs []int
	for off := 24; off+16 <= len(data); {
		offs = append(offs, off)
		off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
	}
	return offs
}

func analyzeBytes(t *testing.T, data []byte) *Result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func anomalyCount(res *Result, kind string) uint64 {
	for _, a := range res.Capture.Anomalies {
		if a.Kind == kind {
			return a.Count
		}
	}
	return 0
}

// TestHostileFiles: garbage between records, a record claiming 1 GiB, a
// truncated end, gzip and big-endian files are read as far as they can be,
// with anomalies at their offsets, and the calls still judged.
func TestHostileFiles(t *testing.T) {
	clean, err := os.ReadFile(filepath.Join("..", "testdata", "one-way-private-sdp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	offs := recordOffsets(clean)
	mid := offs[len(offs)/2]
	want := analyzeBytes(t, clean)

	t.Run("garbage between records", func(t *testing.T) {
		bad := append(append(append([]byte(nil), clean[:mid]...), bytes.Repeat([]byte{0xde, 0xad}, 37)...), clean[mid:]...)
		res := analyzeBytes(t, bad)
		if anomalyCount(res, "garbage-between-records") != 1 {
			t.Errorf("anomalies %+v", res.Capture.Anomalies)
		}
		if res.Capture.Packets != want.Capture.Packets {
			t.Errorf("read %d packets, want all %d", res.Capture.Packets, want.Capture.Packets)
		}
		if res.Capture.Anomalies[0].Offsets[0] != int64(mid) {
			t.Errorf("anomaly at offset %d, want %d", res.Capture.Anomalies[0].Offsets[0], mid)
		}
	})
	t.Run("record claiming 1 GiB", func(t *testing.T) {
		bad := append([]byte(nil), clean...)
		binary.LittleEndian.PutUint32(bad[mid+8:], 1<<30)
		binary.LittleEndian.PutUint32(bad[mid+12:], 1<<30)
		res := analyzeBytes(t, bad)
		if anomalyCount(res, "garbage-between-records") == 0 {
			t.Errorf("no anomaly: %+v", res.Capture.Anomalies)
		}
		if res.Capture.Packets < want.Capture.Packets-2 {
			t.Errorf("read %d packets of %d", res.Capture.Packets, want.Capture.Packets)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		res := analyzeBytes(t, clean[:len(clean)-50])
		if anomalyCount(res, "truncated-record") != 1 || res.Capture.Packets != want.Capture.Packets-1 {
			t.Errorf("packets %d, anomalies %+v", res.Capture.Packets, res.Capture.Anomalies)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(clean)
		zw.Close()
		res := analyzeBytes(t, buf.Bytes())
		if res.Capture.Packets != want.Capture.Packets || res.Verdict != want.Verdict {
			t.Errorf("gzip: %d packets, %q", res.Capture.Packets, res.Verdict)
		}
	})
	t.Run("big-endian nanoseconds", func(t *testing.T) {
		res := analyzeBytes(t, toBigEndianNanos(clean))
		if res.Capture.Packets != want.Capture.Packets || res.Verdict != want.Verdict || !res.Capture.First.Equal(want.Capture.First) {
			t.Errorf("big-endian: %d packets, %q, first %v", res.Capture.Packets, res.Verdict, res.Capture.First)
		}
	})
}

// toBigEndianNanos rewrites a little-endian microsecond pcap as a
// big-endian nanosecond one.
func toBigEndianNanos(le []byte) []byte {
	be := append([]byte(nil), le...)
	binary.BigEndian.PutUint32(be[0:], 0xa1b23c4d)
	for _, i := range []int{4, 6} {
		binary.BigEndian.PutUint16(be[i:], binary.LittleEndian.Uint16(le[i:]))
	}
	for _, i := range []int{8, 12, 16, 20} {
		binary.BigEndian.PutUint32(be[i:], binary.LittleEndian.Uint32(le[i:]))
	}
	for _, off := range recordOffsets(le) {
		for k := 0; k < 4; k++ {
			v := binary.LittleEndian.Uint32(le[off+4*k:])
			if k == 1 {
				v *= 1000
			}
			binary.BigEndian.PutUint32(be[off+4*k:], v)
		}
	}
	return be
}

// TestRecordsLargerThanABatch: a batch reads rawBatchBytes of the file and
// grows only for a record that does not fit; records of up to MaxRecordLen
// around that size are all framed, none lost or reported truncated.
func TestRecordsLargerThanABatch(t *testing.T) {
	sizes := []int{MaxRecordLen, 100, rawBatchBytes - 16, MaxRecordLen - 1, rawBatchBytes - 100, 60, MaxRecordLen, rawBatchBytes/2 + 1, MaxRecordLen - 2}
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], MaxRecordLen)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	for i, n := range sizes {
		rec := make([]byte, 16+n)
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_700_000_000+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(n))
		binary.LittleEndian.PutUint32(rec[12:], uint32(n))
		// An Ethernet frame of a local experimental EtherType: counted,
		// not decoded further.
		rec[16+12], rec[16+13] = 0x88, 0xb5
		b.Write(rec)
	}
	res := analyzeBytes(t, b.Bytes())
	if res.Capture.Packets != uint64(len(sizes)) {
		t.Errorf("read %d records, want %d; anomalies %+v", res.Capture.Packets, len(sizes), res.Capture.Anomalies)
	}
	for _, kind := range []string{"truncated-record", "oversized-record", "garbage-between-records"} {
		if n := anomalyCount(res, kind); n > 0 {
			t.Errorf("%d × %s: %+v", n, kind, res.Capture.Anomalies)
		}
	}
}

// TestOtherCaptureFormats: a capture in a format editcap converts is
// refused with the command that converts it, not just "not a pcap".
func TestOtherCaptureFormats(t *testing.T) {
	for magic, name := range map[string]string{"GMBU": "Microsoft Network Monitor", "RTSS": "Microsoft Network Monitor", "snoop\x00\x00\x00": "Solaris snoop",
		"\x34\xcd\xb2\xa1\x02\x00\x04\x00": "modified (Kuznetzov) libpcap", "\xa1\xb2\xcd\x34\x00\x02\x00\x04": "modified (Kuznetzov) libpcap"} {
		_, err := openSource(bytes.NewReader(append([]byte(magic), make([]byte, 64)...)), nil)
		if err == nil || !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "editcap -F pcap") {
			t.Errorf("%q: %v", magic, err)
		}
	}
}
