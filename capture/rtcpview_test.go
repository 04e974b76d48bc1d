package capture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestReceiverHeardNothing: a receiver's RTCP that mentions none of a
// stream's packets says it received nothing, unless it reports on another
// source the sender sent on the same path. A Cisco gateway takes a new
// SSRC around each DTMF event (collab_pcap dtmf_relay_asymm: bursts of 7,
// 11 and 13 packets between the main streams); the receiver's reports name
// the main SSRC only, and each burst read as "received nothing, lost
// beyond the capture point", three false warnings on a two-way call.
func TestReceiverHeardNothing(t *testing.T) {
	caller, mtp, other := netip.MustParseAddrPort("10.0.0.1:16482"), netip.MustParseAddrPort("10.0.0.2:8266"), netip.MustParseAddrPort("10.0.0.3:16000")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	rtp := func(src, dst netip.AddrPort, ssrc uint32) boundFlow {
		return boundFlow{flow: &rtpFlow{Key: flowKey{Src: src, Dst: dst, SSRC: ssrc}, firstNs: t0, Packets: 10, baseSeq: 100, maxSeq: 110}, bd: binding{sender: 0}}
	}
	// The receiver's RTCP, 10 s in, with a block about each of about,
	// reporting sequence number 5 received (none of the streams').
	rtcp := func(about ...uint32) boundFlow {
		st := &rtcpState{reports: 2, lastNs: t0 + int64(10*time.Second)}
		for _, s := range about {
			st.sources = append(st.sources, reportedSource{ssrc: s, blocks: 2, highestSeq: 5})
		}
		k := flowKey{Src: netip.AddrPortFrom(mtp.Addr(), mtp.Port()+1), Dst: netip.AddrPortFrom(caller.Addr(), caller.Port()+1), RTCP: true}
		return boundFlow{flow: &rtpFlow{Key: k, rtcp: st}, bd: binding{sender: 1}}
	}
	main, burst, elsewhere := rtp(caller, mtp, 0x0901), rtp(caller, mtp, 0x14de), rtp(other, mtp, 0x0777)
	for _, tc := range []struct {
		name    string
		flows   []boundFlow
		nothing bool
	}{
		{"no block about the path", []boundFlow{main, burst, rtcp(0x9999)}, true},
		{"a block about the path's main source", []boundFlow{main, burst, rtcp(0x0901)}, false},
		{"a block about another path's source", []boundFlow{burst, elsewhere, rtcp(0x0777)}, true},
	} {
		v := rtcpView(burst, tc.flows)
		if got := v != nil && v.ReceiverHeardNothing; got != tc.nothing {
			t.Errorf("%s: heard nothing %v, want %v", tc.name, got, tc.nothing)
		}
	}
	// A Yeastar PBX names SSRC 1 in every block: a source no stream has,
	// its highest sequence number one the stream carried. The receiver
	// heard the stream; the reports are matched to it, their label noted.
	yeastar := rtcp(0x0001)
	yeastar.flow.rtcp.sources[0].highestSeq = 105
	v := rtcpView(main, []boundFlow{main, yeastar})
	if v == nil || v.ReceiverHeardNothing || v.Receiver == nil || v.Receiver.MislabelledSSRC != 1 {
		t.Errorf("mislabelled blocks: %+v, want them matched to the stream, labelled SSRC 1", v)
	}
	// One packet (a keepalive) is no source a receiver reports on (RFC
	// 3550 Appendix A.1): its silence about it says nothing.
	single := rtp(caller, mtp, 0x0abc)
	single.flow.Packets = 1
	if v := rtcpView(single, []boundFlow{single, rtcp(0x9999)}); v != nil && v.ReceiverHeardNothing {
		t.Errorf("one packet: %+v, want no heard nothing", v)
	}
	// The same label with a sequence number the stream never carried is
	// no report about it.
	yeastar.flow.rtcp.sources[0].highestSeq = 5000
	if v := rtcpView(main, []boundFlow{main, yeastar}); v == nil || !v.ReceiverHeardNothing {
		t.Errorf("a foreign block with a foreign sequence number: %+v, want heard nothing", v)
	}
}

// TestReportedForeignSource: a receiver whose blocks name a source no
// stream of the call has neither proves nor disproves the sender's
// stream arriving (ReceiverForeign); one whose blocks name nothing but
// its own stream's disproves it.
func TestReportedForeignSource(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("10.0.0.2:5000")
	rtcpFlow := func(src, dst netip.AddrPort, sender int, sr uint32, about ...uint32) boundFlow {
		st := &rtcpState{reports: 3, lastNs: t0.Add(10 * time.Second).UnixNano(), srSSRC: sr, srReports: 3, srPackets: 250}
		for _, s := range about {
			st.sources = append(st.sources, reportedSource{ssrc: s, blocks: 3, heard: true})
		}
		return boundFlow{flow: &rtpFlow{Key: flowKey{Src: src, Dst: dst, RTCP: true}, rtcp: st}, bd: binding{sender: sender}}
	}
	for _, tc := range []struct {
		name          string
		about         uint32
		foreign, open bool
	}{
		{"a block about SSRC 1, no stream's", 1, true, true},
		{"a block about the receiver's own stream", 0xb, false, false},
	} {
		flows := []boundFlow{
			rtcpFlow(a, b, caller, 0xa, 0xb),      // the caller heard the callee
			rtcpFlow(b, a, callee, 0xb, tc.about), // the callee's blocks
		}
		r := reportedDirections(flows, t0, nil)
		known, _ := r[caller].outcome()
		if r[caller].ReceiverForeign != tc.foreign || known == tc.open {
			t.Errorf("%s: %+v (settled %v), want foreign %v, open %v", tc.name, r[caller], known, tc.foreign, tc.open)
		}
	}
}

// TestReportedPlaceholderBlock: pjsip's softphones send one reception
// block in every report, about SSRC 0 with nothing filled in until the far
// end's RTP arrives. Such a block proves nothing arrived: the direction
// stays open, where it read as "the caller's RTCP reports it arriving"
// (a relay's leg whose callee sent nothing, resaa-sip-over-websocket).
// A block that reports a sequence number past 0 proves it.
func TestReportedPlaceholderBlock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("10.0.0.2:5000")
	for _, tc := range []struct {
		name  string
		block rtcp.ReceptionReport
		got   bool
	}{
		{"pjsip's block about SSRC 0", rtcp.ReceptionReport{}, false},
		{"a block about the stream's first packet, all else zero", rtcp.ReceptionReport{SSRC: 0xb}, false},
		{"a block about SSRC 0 that received to sequence 2", rtcp.ReceptionReport{LastSequenceNumber: 2}, true},
		{"a block with loss about sequence 0", rtcp.ReceptionReport{SSRC: 0xb, TotalLost: 3}, true},
	} {
		st := &rtcpState{reports: 3, lastNs: t0.Add(10 * time.Second).UnixNano(), srSSRC: 0xa, srReports: 3, srPackets: 250}
		st.receptionBlocks([]rtcp.ReceptionReport{tc.block}, 7)
		flows := []boundFlow{{flow: &rtpFlow{Key: flowKey{Src: a, Dst: b, RTCP: true}, rtcp: st}, bd: binding{sender: caller}}}
		r := reportedDirections(flows, t0, nil)
		if r[callee].ReceiverGot != tc.got || st.sources[0].blocks != 1 {
			t.Errorf("%s: %+v, %d blocks; want got %v, 1 block", tc.name, r[callee], st.sources[0].blocks, tc.got)
		}
	}
}
