package capture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/report"
)

// TestPcapngComments: the section comment and packet comments of a pcapng
// file reach the report with their frames, control characters removed.
func TestPcapngComments(t *testing.T) {
	src := filepath.Join("..", "testdata", "one-way-private-sdp.pcap")
	r := pcapReader(t, src)
	path := filepath.Join(t.TempDir(), "commented.pcapng")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(out, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Comment: "taken at the PBX\x1b[31m, ticket 4711"}})
	if err != nil {
		t.Fatal(err)
	}
	for frame := 1; ; frame++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		ci.InterfaceIndex = 0
		var opts pcapgo.NgPacketOptions
		if frame == 313 {
			opts.Comments = []string{"C2: audio\nfrom here on"}
		}
		if err := w.WritePacketWithOptions(ci, data, opts); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	res := analyzePath(t, path)
	want := []report.CaptureComment{{Text: "taken at the PBX [31m, ticket 4711"}, {Frame: 313, Text: "C2: audio from here on"}}
	if len(res.Capture.Comments) != 2 || res.Capture.Comments[0] != want[0] || res.Capture.Comments[1] != want[1] {
		t.Errorf("comments %+v, want %+v", res.Capture.Comments, want)
	}
	if strings.ContainsRune(res.Capture.Comments[0].Text, 0x1b) {
		t.Error("an escape character reached the report")
	}
}
