package capture_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// cutCapture rewrites a real capture as tcpdump -s snap would have taken
// it (each packet's first snap bytes, its length on the wire kept), as
// pcap or pcapng.
func cutCapture(t *testing.T, src string, snap int, ng bool) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	write, flush := writerFor(t, out, r.LinkType(), snap, ng)
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data = data[:min(len(data), snap)]
		ci.CaptureLength = len(data)
		if err := write(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// writerFor writes packets to out as pcap or pcapng; flush writes what
// the pcapng writer still buffers.
func writerFor(t *testing.T, out io.Writer, lt layers.LinkType, snap int, ng bool) (write func(gopacket.CaptureInfo, []byte) error, flush func() error) {
	t.Helper()
	if ng {
		w, err := pcapgo.NewNgWriter(out, lt)
		if err != nil {
			t.Fatal(err)
		}
		return w.WritePacket, w.Flush
	}
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(uint32(snap), lt); err != nil {
		t.Fatal(err)
	}
	return w.WritePacket, func() error { return nil }
}

// TestSnapLengthCutsSIP: a capture taken with a small snap length (a
// common way to lose SIP) reports its SIP as cut short by the snap length,
// not as malformed, with the frames to look at; pcap gives their byte
// offsets too, pcapng (whose offsets gopacket's reader cannot tell) none
// rather than wrong ones.
func TestSnapLengthCutsSIP(t *testing.T) {
	for _, ng := range []bool{false, true} {
		path := cutCapture(t, "../testdata/natlab-one-way-private-sdp.pcap", 200, ng)
		res := analyzeHostile(t, path, capture.Limits{})
		var cut *report.Anomaly
		for _, a := range res.Capture.Anomalies {
			if a.Kind == "malformed-sip" {
				t.Errorf("ng=%v: %d SIP messages cut by the snap length reported as malformed", ng, a.Count)
			}
			if a.Kind == "truncated-sip" {
				cut = &a
			}
		}
		if cut == nil || cut.Count == 0 || len(cut.Frames) == 0 {
			t.Fatalf("ng=%v: no truncated-sip anomaly with frames: %+v", ng, res.Capture.Anomalies)
		}
		if ng && len(cut.Offsets) != 0 {
			t.Errorf("pcapng: offsets %v given, which its reader cannot know", cut.Offsets)
		}
		if !ng && (len(cut.Offsets) != len(cut.Frames) || cut.Offsets[0] < 24) {
			t.Errorf("pcap: offsets %v for frames %v", cut.Offsets, cut.Frames)
		}
	}
}
