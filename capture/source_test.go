package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
		"XCP\x00001.100\x00": "NetXray", "TRSNIFF data    \x1a": "Sniffer (DOS)", "\x05VNF": "Visual Networks",
		"ObserverPktBufferVersion=15.00": "Observer", "\x7fver": "Peek"} {
		_, err := openSource(bytes.NewReader(append([]byte(magic), make([]byte, 64)...)), nil)
		if err == nil || !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "editcap -F pcap") {
			t.Errorf("%q: %v", magic, err)
		}
	}
	// A format natdoc does not know, as the NetScreen firewall's snoop
	// text export: what it looks like, and the same way out.
	for head, looks := range map[string]string{"HawthorneCCM7-> get db st\r\n05707.0: bgroup0(i) len=60:": "text", "\x00\x01\x02\x03 binary header bytes": "binary"} {
		_, err := openSource(strings.NewReader(head), nil)
		if err == nil || !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), looks) || !strings.Contains(err.Error(), "editcap -F pcap") {
			t.Errorf("%q: %v", head, err)
		}
	}
}

// toModified rewrites a little-endian pcap in the modified (Kuznetzov)
// format with extra header bytes per record (8: ss991029, 12: ss990915),
// big-endian if asked.
func toModified(le []byte, extra int, bigEndian bool) []byte {
	var order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	// The file header's fields in the chosen order, the magic's last.
	out := make([]byte, 24)
	for _, i := range []int{8, 12, 16, 20} {
		order.PutUint32(out[i:], binary.LittleEndian.Uint32(le[i:]))
	}
	for _, i := range []int{4, 6} {
		order.PutUint16(out[i:], binary.LittleEndian.Uint16(le[i:]))
	}
	order.PutUint32(out, modifiedPcapMagic)
	for _, off := range recordOffsets(le) {
		for k := range 4 {
			out = order.AppendUint32(out, binary.LittleEndian.Uint32(le[off+4*k:]))
		}
		// Interface index 2, protocol IPv4, packet type "to us": what a
		// patched tcpdump wrote; natdoc must skip, not read, them.
		ext := make([]byte, extra)
		order.PutUint32(ext, 2)
		binary.BigEndian.PutUint16(ext[4:], 0x0800)
		out = append(out, ext...)
		end := min(off+16+int(binary.LittleEndian.Uint32(le[off+8:])), len(le)) // a cut file's last record stays cut
		out = append(out, le[off+16:end]...)
	}
	return out
}

// TestRecordsOverWireLength: a pcap whose every record holds 4 bytes
// beyond its wire length (a trailing FCS counted in the captured bytes
// only, as editcap writes a Visual Networks capture) is read whole, as
// Wireshark reads it: it was skipped as garbage from its first record.
func TestRecordsOverWireLength(t *testing.T) {
	clean, err := os.ReadFile(filepath.Join("..", "testdata", "natlab-media-outage.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	want := analyzeBytes(t, clean)
	withFCS := append([]byte(nil), clean[:24]...)
	for _, off := range recordOffsets(clean) {
		incl := binary.LittleEndian.Uint32(clean[off+8:])
		hdr := binary.LittleEndian.AppendUint32(append([]byte(nil), clean[off:off+8]...), incl+4)
		hdr = append(hdr, clean[off+12:off+16]...)
		withFCS = append(append(append(withFCS, hdr...), clean[off+16:off+16+int(incl)]...), 0xde, 0xad, 0xbe, 0xef)
	}
	res := analyzeBytes(t, withFCS)
	if res.Capture.Packets != want.Capture.Packets || res.Verdict != want.Verdict || len(res.Capture.Anomalies) != 0 {
		t.Errorf("%d packets, %q, anomalies %+v; want %d, %q", res.Capture.Packets, res.Verdict, res.Capture.Anomalies,
			want.Capture.Packets, want.Verdict)
	}
}

// TestRecordsWireLengthWithoutLinkHeader: a pcap whose writer counted
// the link-layer header in each record's captured bytes but not in its
// wire length (rtpengine-era tools' Linux cooked captures: every record
// 16 over) is read whole, as Wireshark reads it; it was skipped as
// garbage from its first record. A record further over than any link
// header explains is still garbage.
func TestRecordsWireLengthWithoutLinkHeader(t *testing.T) {
	clean, err := os.ReadFile(filepath.Join("..", "testdata", "natlab-media-outage.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	want := analyzeBytes(t, clean)
	for _, tc := range []struct {
		under   uint32 // bytes the wire length says less than captured
		garbage bool
	}{
		{14, false}, // Ethernet's header (this file's link type)
		{14 + fcsSlack, false},
		{40, true},
	} {
		short := append([]byte(nil), clean...)
		for _, off := range recordOffsets(clean) {
			incl := binary.LittleEndian.Uint32(clean[off+8:])
			binary.LittleEndian.PutUint32(short[off+12:], incl-tc.under)
		}
		res := analyzeBytes(t, short)
		whole := res.Capture.Packets == want.Capture.Packets && res.Verdict == want.Verdict && len(res.Capture.Anomalies) == 0
		if whole == tc.garbage {
			t.Errorf("%d under: %d packets, %q, anomalies %+v; want read whole %v", tc.under, res.Capture.Packets, res.Verdict, res.Capture.Anomalies, !tc.garbage)
		}
	}
}

// TestModifiedPcap: files in the modified libpcap format, of both record
// header lengths and byte orders, read as the plain pcap they were made
// from; one that editcap wrote too, and a cut one is read up to the cut.
func TestModifiedPcap(t *testing.T) {
	path := filepath.Join("..", "testdata", "natlab-media-outage.pcap")
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := analyzeBytes(t, clean)
	same := func(t *testing.T, res *Result) {
		t.Helper()
		if res.Capture.Packets != want.Capture.Packets || res.Verdict != want.Verdict || len(res.Capture.Anomalies) != 0 ||
			len(res.Calls) != len(want.Calls) || !res.Capture.Last.Equal(want.Capture.Last) {
			t.Fatalf("%d packets, %d calls, %q, anomalies %+v; want %d, %d, %q", res.Capture.Packets, len(res.Calls), res.Verdict,
				res.Capture.Anomalies, want.Capture.Packets, len(want.Calls), want.Verdict)
		}
		for i, c := range res.Calls {
			if c.Verdict != want.Calls[i].Verdict || len(c.Findings) != len(want.Calls[i].Findings) {
				t.Errorf("call %d: %q, %d findings; want %q, %d", i, c.Verdict, len(c.Findings), want.Calls[i].Verdict, len(want.Calls[i].Findings))
			}
		}
	}
	for _, extra := range []int{8, 12} {
		for _, big := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d-byte headers big-endian=%v", 16+extra, big), func(t *testing.T) {
				same(t, analyzeBytes(t, toModified(clean, extra, big)))
			})
		}
	}
	t.Run("cut", func(t *testing.T) {
		res := analyzeBytes(t, toModified(clean, 8, false)[:len(clean)-20])
		if anomalyCount(res, "truncated-record") != 1 || res.Capture.Packets == 0 || res.Capture.Packets >= want.Capture.Packets {
			t.Errorf("packets %d of %d, anomalies %+v", res.Capture.Packets, want.Capture.Packets, res.Capture.Anomalies)
		}
	})
	t.Run("editcap", func(t *testing.T) {
		if _, err := exec.LookPath("editcap"); err != nil {
			t.Skip("editcap (wireshark-common) not installed")
		}
		out := filepath.Join(t.TempDir(), "modified.pcap")
		if b, err := exec.Command("editcap", "-F", "modpcap", path, out).CombinedOutput(); err != nil {
			t.Fatalf("editcap: %v: %s", err, b)
		}
		res, err := Analyze(context.Background(), Options{Files: []string{out}})
		if err != nil {
			t.Fatal(err)
		}
		same(t, res)
	})
}
