package capture

import (
	"encoding/hex"
	"testing"

	"github.com/pion/rtcp"
)

// TestRTCPOpaqueStream: a stream whose first packet does not parse is one
// anomaly and is not read (a Linphone SRTCP stream with a trailer of its
// own made 599 anomalies in Chalupa99's call_unavailable; an LLMNR query
// whose ID reads as RTCP XR made two); a readable stream's bad packet is
// still one anomaly each.
func TestRTCPOpaqueStream(t *testing.T) {
	linphone, _ := hex.DecodeString("81c9000700001ec1386076b4bbcee09867e0d27d99ea8b381c003d3e59d8e007a42736d1f8c53476038cb9c82f54186766f20200")
	s := newState()
	f := &rtpFlow{Key: flowKey{RTCP: true}}
	for i := range 50 {
		s.rtcpPacket(f, linphone, int64(i)*5e9, 0, uint64(i+1))
	}
	if r := s.byKind["malformed-rtcp"]; r == nil || r.Count != 1 || !f.rtcp.opaque || f.rtcp.reports != 0 {
		t.Errorf("opaque stream: anomalies %+v, state %+v", s.list(), f.rtcp)
	}

	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, LastSequenceNumber: 10}}}})
	if err != nil {
		t.Fatal(err)
	}
	s = newState()
	f = &rtpFlow{Key: flowKey{RTCP: true}}
	s.rtcpPacket(f, rr, 1e9, 0, 1)
	s.rtcpPacket(f, rr[:len(rr)-4], 2e9, 0, 2) // cut short
	s.rtcpPacket(f, rr, 3e9, 0, 3)
	if r := s.byKind["malformed-rtcp"]; r == nil || r.Count != 1 || f.rtcp.opaque || f.rtcp.reports != 2 {
		t.Errorf("readable stream: anomalies %+v, state %+v", s.list(), f.rtcp)
	}
}

// TestRTCPGoodbyeReport: Ekiga's last SR, sent with its BYE as it hangs
// up, has no reception blocks though it received all along (the nesfit
// codec captures): it says nothing of what its author heard, so it does
// not count as a receiver that heard nothing; its sender information
// still counts. A report with blocks beside a BYE counts as any other.
func TestRTCPGoodbyeReport(t *testing.T) {
	bye := &rtcp.Goodbye{Sources: []uint32{7}}
	empty, err := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 7, PacketCount: 390}, bye})
	if err != nil {
		t.Fatal(err)
	}
	withBlock, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 7, Reports: []rtcp.ReceptionReport{{SSRC: 9, LastSequenceNumber: 400}}}, bye})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 7}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		data      []byte
		reports   int
		srReports int
	}{
		{"empty SR with BYE", empty, 0, 1},
		{"RR with a block and BYE", withBlock, 1, 0},
		{"empty RR alone", alone, 1, 0},
	} {
		s := newState()
		f := &rtpFlow{Key: flowKey{RTCP: true}}
		s.rtcpPacket(f, tc.data, 5e9, 0, 1)
		if f.rtcp.reports != tc.reports || f.rtcp.srReports != tc.srReports {
			t.Errorf("%s: reports %d, sender reports %d; want %d, %d", tc.name, f.rtcp.reports, f.rtcp.srReports, tc.reports, tc.srReports)
		}
	}
}
