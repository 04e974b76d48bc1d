package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/pion/rtcp"
)

// HEP agents that see RTCP (captagent and heplify, Asterisk's
// res_hep_rtcp, rtpengine, FreeSWITCH) send each report decoded to JSON,
// payload type 5, with the RTCP packet's own addresses and the call's
// Call-ID. They name the fields of RFC 3550 §6.4 alike: ssrc, type,
// sender_information {packets, octets, ...}, report_blocks [{source_ssrc,
// fraction_lost, packets_lost, highest_seq_no, ia_jitter, lsr, dlsr}]. A
// report is turned back into the RTCP packet it describes (pion/rtcp), so
// it takes the path captured RTCP takes: bound to its call by the SDP's
// RTCP address and read into the same state (rtcp.go).

// maxRTCPJSON bounds a report's JSON; a real one is a few hundred bytes.
const maxRTCPJSON = 16 << 10

// hepRTCP is one RTCP report as JSON. Numbers are read as JSON numbers and
// range-checked, since agents differ in how they print them.
type hepRTCP struct {
	SSRC   float64 `json:"ssrc"`
	Type   float64 `json:"type"`
	Sender *struct {
		NTPSec  float64 `json:"ntp_timestamp_sec"`
		NTPFrac float64 `json:"ntp_timestamp_usec"`
		RTPTime float64 `json:"rtp_timestamp"`
		Packets float64 `json:"packets"`
		Octets  float64 `json:"octets"`
	} `json:"sender_information"`
	Blocks []hepRTCPBlock `json:"report_blocks"`
}

type hepRTCPBlock struct {
	SSRC         float64 `json:"source_ssrc"`
	FractionLost float64 `json:"fraction_lost"`
	Lost         float64 `json:"packets_lost"`
	HighestSeq   float64 `json:"highest_seq_no"`
	Jitter       float64 `json:"ia_jitter"`
	LSR          float64 `json:"lsr"`
	DLSR         float64 `json:"dlsr"`
}

var errRTCPJSON = errors.New("HEP RTCP report")

// rtcpFromJSON rebuilds the sender or receiver report a JSON report
// describes.
func rtcpFromJSON(b []byte) ([]byte, error) {
	if len(b) > maxRTCPJSON {
		return nil, fmt.Errorf("%w: %d bytes of JSON", errRTCPJSON, len(b))
	}
	var r hepRTCP
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errRTCPJSON, err)
	}
	blocks, err := r.receptionReports()
	if err != nil {
		return nil, err
	}
	ssrc, ok := u32(r.SSRC)
	if !ok {
		return nil, fmt.Errorf("%w: ssrc %v", errRTCPJSON, r.SSRC)
	}
	var p rtcp.Packet = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	if r.Type == rtcpSR || (r.Sender != nil && r.Sender.Packets > 0) {
		p, err = r.senderReport(ssrc, blocks)
		if err != nil {
			return nil, err
		}
	}
	return rtcp.Marshal([]rtcp.Packet{p})
}

func (r *hepRTCP) senderReport(ssrc uint32, blocks []rtcp.ReceptionReport) (rtcp.Packet, error) {
	if r.Sender == nil {
		return nil, fmt.Errorf("%w: a sender report without sender_information", errRTCPJSON)
	}
	si := r.Sender
	sec, ok1 := u32(si.NTPSec)
	frac, ok2 := u32(si.NTPFrac)
	rtpTime, ok3 := u32(si.RTPTime)
	pkts, ok4 := u32(si.Packets)
	octets, ok5 := u32(si.Octets)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return nil, fmt.Errorf("%w: sender_information out of range", errRTCPJSON)
	}
	return &rtcp.SenderReport{SSRC: ssrc, NTPTime: uint64(sec)<<32 | uint64(frac), RTPTime: rtpTime,
		PacketCount: pkts, OctetCount: octets, Reports: blocks}, nil
}

// receptionReports reads the report blocks; an RTCP packet holds at most
// 31 (its 5-bit count).
func (r *hepRTCP) receptionReports() ([]rtcp.ReceptionReport, error) {
	if len(r.Blocks) > 31 {
		return nil, fmt.Errorf("%w: %d report blocks", errRTCPJSON, len(r.Blocks))
	}
	out := make([]rtcp.ReceptionReport, 0, len(r.Blocks))
	for _, b := range r.Blocks {
		ssrc, ok1 := u32(b.SSRC)
		seq, ok2 := u32(b.HighestSeq)
		jitter, ok3 := u32(b.Jitter)
		lsr, ok4 := u32(b.LSR)
		dlsr, ok5 := u32(b.DLSR)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || b.FractionLost < 0 || b.FractionLost > 255 ||
			b.Lost < -(1<<23) || b.Lost >= 1<<23 || b.Lost != math.Trunc(b.Lost) {
			return nil, fmt.Errorf("%w: report block out of range", errRTCPJSON)
		}
		out = append(out, rtcp.ReceptionReport{SSRC: ssrc, FractionLost: uint8(b.FractionLost),
			TotalLost: uint32(int32(b.Lost)) & 0xffffff, LastSequenceNumber: seq, Jitter: jitter, LastSenderReport: lsr, Delay: dlsr})
	}
	return out, nil
}

// u32 reads a JSON number that must be a 32-bit unsigned integer.
func u32(v float64) (uint32, bool) {
	if v < 0 || v > math.MaxUint32 || v != math.Trunc(v) {
		return 0, false
	}
	return uint32(v), true
}
