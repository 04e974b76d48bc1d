package capture_test

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
	"github.com/pion/rtcp"
)

// jsonBlock and jsonReport are an RTCP report as heplify and Asterisk's
// res_hep_rtcp write it into HEP (payload type 5).
type jsonBlock struct {
	SSRC         uint32 `json:"source_ssrc"`
	FractionLost uint8  `json:"fraction_lost"`
	Lost         int32  `json:"packets_lost"`
	HighestSeq   uint32 `json:"highest_seq_no"`
	Jitter       uint32 `json:"ia_jitter"`
	LSR          uint32 `json:"lsr"`
	DLSR         uint32 `json:"dlsr"`
}

type jsonReport struct {
	Sender *struct {
		NTPSec  uint32 `json:"ntp_timestamp_sec"`
		NTPFrac uint32 `json:"ntp_timestamp_usec"`
		RTPTime uint32 `json:"rtp_timestamp"`
		Packets uint32 `json:"packets"`
		Octets  uint32 `json:"octets"`
	} `json:"sender_information,omitempty"`
	SSRC   uint32      `json:"ssrc"`
	Type   uint8       `json:"type"`
	Count  int         `json:"report_count"`
	Blocks []jsonBlock `json:"report_blocks"`
}

// rtcpAsJSON writes the first SR or RR of a compound RTCP packet as JSON.
func rtcpAsJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	ps, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var r jsonReport
	var blocks []rtcp.ReceptionReport
	switch p := ps[0].(type) {
	case *rtcp.SenderReport:
		r.SSRC, r.Type, blocks = p.SSRC, 200, p.Reports
		r.Sender = &struct {
			NTPSec  uint32 `json:"ntp_timestamp_sec"`
			NTPFrac uint32 `json:"ntp_timestamp_usec"`
			RTPTime uint32 `json:"rtp_timestamp"`
			Packets uint32 `json:"packets"`
			Octets  uint32 `json:"octets"`
		}{uint32(p.NTPTime >> 32), uint32(p.NTPTime), p.RTPTime, p.PacketCount, p.OctetCount}
	case *rtcp.ReceiverReport:
		r.SSRC, r.Type, blocks = p.SSRC, 201, p.Reports
	default:
		t.Fatalf("RTCP %T", p)
	}
	for _, b := range blocks {
		r.Blocks = append(r.Blocks, jsonBlock{SSRC: b.SSRC, FractionLost: b.FractionLost, Lost: int32(b.TotalLost<<8) >> 8,
			HighestSeq: b.LastSequenceNumber, Jitter: b.Jitter, LSR: b.LastSenderReport, DLSR: b.Delay})
	}
	r.Count = len(r.Blocks)
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hepFeed writes what a HEP agent on a SIP server sends of the calls in
// path: their SIP, and their RTCP as JSON reports, but no RTP; as a
// capture of that HEP traffic (UDP to port 9060).
func hepFeed(t *testing.T, path string) string {
	t.Helper()
	return writeHEPFeed(t, hepPackets(t, path))
}

// hepPackets are the HEP packets an agent sends for the SIP and RTCP in
// path, in its order. HEP copies in path (UDP to port 9060: a capture at a
// tracing proxy holds them) are left out.
func hepPackets(t *testing.T, path string) []hep.Packet {
	t.Helper()
	var out []hep.Packet
	for _, p := range natlab.ReadPcap(t, path) {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil || len(udp.Payload) < 8 || udp.DstPort == 9060 {
			continue
		}
		h := hep.Packet{Proto: 17, Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(udp.SrcPort)),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(udp.DstPort)), Time: p.Time, CaptureID: 2}
		switch pt := udp.Payload[1]; {
		case strings.Contains(string(udp.Payload[:min(len(udp.Payload), 100)]), "SIP/2.0"):
			h.Type, h.Payload = hep.TypeSIP, udp.Payload
		case udp.Payload[0]>>6 == 2 && (pt == 200 || pt == 201):
			h.Type, h.Payload = hep.TypeRTCPJSON, rtcpAsJSON(t, udp.Payload)
		default:
			continue // RTP: what HEP feeds rarely carry
		}
		out = append(out, h)
	}
	return out
}

// writeHEPFeed writes pkts, in their order, as a capture of HEP traffic at
// a collector: the i-th arrives at the i-th earliest of their time stamps,
// so the capture's own times go forward whatever the agents stamped.
func writeHEPFeed(t *testing.T, pkts []hep.Packet) string {
	t.Helper()
	out, w := createPcap(t, "hep.pcap", layers.LinkTypeEthernet)
	arrivals := make([]time.Time, len(pkts))
	for i := range pkts {
		arrivals[i] = pkts[i].Time
	}
	slices.SortFunc(arrivals, time.Time.Compare)
	for i := range pkts {
		writeHEPPacket(t, w, &pkts[i], arrivals[i])
	}
	return out
}

// writeHEPPacket writes one HEP packet from an agent to a collector,
// arriving at.
func writeHEPPacket(t *testing.T, w *pcapgo.Writer, h *hep.Packet, at time.Time) {
	t.Helper()
	payload, err := hep.AppendV3(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	writeUDP(t, w, netip.MustParseAddrPort("192.0.2.98:9060"), netip.MustParseAddrPort("192.0.2.99:9060"), payload, at)
}

// TestHEPRTCPReportsJudge: a HEP feed of SIP and RTCP reports, without
// RTP, is judged from what the reports say about each direction and gives
// the verdicts the full capture gives: a two-way call whose receivers both
// report the other's stream, a one-way call whose caller's reports never
// mention the callee's stream while the callee's say it sent. A call with
// no RTCP stays unjudged, and says why.
func TestHEPRTCPReportsJudge(t *testing.T) {
	calls := []pcapgen.Call{
		{Kind: pcapgen.Normal, Media: 12 * time.Second},
		{Kind: pcapgen.LeakCaller, Start: time.Second, Media: 12 * time.Second},
		{Kind: pcapgen.Normal, Start: 2 * time.Second, Media: 3 * time.Second}, // over before any RTCP
	}
	path, _ := generate(t, calls, pcapgen.Options{Seed: 13})
	full, feed := capture.AnalyzePath(t, path), capture.AnalyzePath(t, hepFeed(t, path))
	if len(feed.Calls) != 3 || len(full.Calls) != 3 {
		t.Fatalf("%d calls from the HEP feed, %d from the capture", len(feed.Calls), len(full.Calls))
	}
	for i, want := range []struct {
		verdict    report.Verdict
		cannotHear string
	}{{report.VerdictTwoWay, ""}, {report.VerdictOneWay, "caller"}, {report.VerdictIncompleteCapture, ""}} {
		c := feed.Calls[i]
		t.Logf("%s: %s (%s) %s; delivery %+v", c.ID, c.Verdict, c.CannotHear, c.Explain, c.Streams[0].Delivery)
		if c.Verdict != want.verdict || c.CannotHear != want.cannotHear {
			t.Errorf("%s from HEP: %s (%q), want %s (%q)", c.ID, c.Verdict, c.CannotHear, want.verdict, want.cannotHear)
		}
		if i < 2 && (c.Verdict != full.Calls[i].Verdict || c.CannotHear != full.Calls[i].CannotHear) {
			t.Errorf("%s: HEP %s, capture %s", c.ID, c.Verdict, full.Calls[i].Verdict)
		}
	}
	if d := feed.Calls[0].Streams[0].Delivery; len(d) != 2 || d[0].Proof != report.ProofRTCPReported || d[1].Proof != report.ProofRTCPReported {
		t.Errorf("two-way call's delivery %+v, want both directions rtcp-reported", d)
	}
	if !strings.Contains(feed.Calls[2].Explain, "cannot be judged") {
		t.Errorf("the call without RTCP: %s", feed.Calls[2].Explain)
	}
}
