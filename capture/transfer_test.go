package capture_test

import (
	"bytes"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestStopAtTransfer: a party whose RTP stops half a second after a REFER
// in the call (a blind transfer: the transferee leaves this call for the
// one it sets up, RFC 5589) did not go silent by fault: no
// media-stopped-mid-call, and the call stays two-way (talka17 MTAA's
// transfer read "the caller heard nothing"). Without the REFER the same
// stop is the finding.
func TestStopAtTransfer(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.MediaStopped}}, pcapgen.Options{Seed: 4})
	alone := capture.AnalyzePath(t, path)
	if c := alone.Calls[0]; c.Verdict != report.VerdictOneWay || findingByID(c.Findings, capture.IDMediaStopped) == nil {
		t.Fatalf("without a REFER: %s, %v; want one-way with %s", c.Verdict, capture.FindingIDs(c), capture.IDMediaStopped)
	}
	stop := report.MainFlow(alone.Calls[0], "caller->callee").Last
	res := capture.AnalyzePath(t, withReferAt(t, path, stop.Add(-500*time.Millisecond)))
	if c := res.Calls[0]; c.Verdict != report.VerdictTwoWay || findingByID(c.Findings, capture.IDMediaStopped) != nil {
		t.Errorf("with a REFER before the stop: %s, %v; want two-way, no %s", c.Verdict, capture.FindingIDs(c), capture.IDMediaStopped)
	}
}

// withReferAt copies the capture at path with a REFER at the given time:
// the call's BYE, made a REFER (same hop, tags and Call-ID).
func withReferAt(t *testing.T, path string, at time.Time) string {
	t.Helper()
	var refer []byte
	var src, dst netip.AddrPort
	r := capture.PcapReader(t, path)
	for refer == nil {
		data, _, err := r.ReadPacketData()
		if err != nil {
			t.Fatal("no BYE in the capture")
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pkt.NetworkLayer().(*layers.IPv4)
		udp, _ := pkt.TransportLayer().(*layers.UDP)
		if udp == nil || !bytes.HasPrefix(udp.Payload, []byte("BYE ")) {
			continue
		}
		refer = append([]byte("REFER "), udp.Payload[len("BYE "):]...)
		refer = regexp.MustCompile(`(?m)^CSeq: (\d+) BYE`).ReplaceAll(refer, []byte("CSeq: $1 REFER"))
		a, _ := netip.AddrFromSlice(ip.SrcIP)
		b, _ := netip.AddrFromSlice(ip.DstIP)
		src, dst = netip.AddrPortFrom(a, uint16(udp.SrcPort)), netip.AddrPortFrom(b, uint16(udp.DstPort))
	}
	r = capture.PcapReader(t, path)
	out, w := createPcap(t, "refer.pcap", r.LinkType())
	written := false
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if !written && !ci.Timestamp.Before(at) {
			writeUDP(t, w, src, dst, refer, at)
			written = true
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
