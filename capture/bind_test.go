package capture

import (
	"net/netip"
	"testing"
)

// TestHeuristicIndex: a flow no SDP address names (a NAT rewrote the
// addresses) goes to the m= line that lists its payload type, so a NATed
// video call's video is not judged as its audio; of lines that list it,
// the one on the flow's port; RTCP, or a type no line lists, stays on 0.
func TestHeuristicIndex(t *testing.T) {
	media := func(kind string, port int, codecs ...string) sdpMedia {
		return sdpMedia{Media: kind, Port: port, Addr: netip.AddrPortFrom(netip.MustParseAddr("10.10.217.101"), uint16(port)), Codecs: codecs}
	}
	offer := &sdpEvent{Party: caller, SDP: &sdpInfo{Media: []sdpMedia{media("audio", 8072, "9 G722/8000", "96 opus/48000"), media("video", 8074, "100 H264/90000", "96 VP8/90000")}}}
	answer := sdpEvent{Party: callee, SDP: &sdpInfo{Media: []sdpMedia{media("audio", 25726, "9 G722/8000", "96 opus/48000"), media("video", 20248, "100 H264/90000", "96 VP8/90000")}}}
	c, d := &sipCall{Offer: offer}, &dialog{SDPs: []sdpEvent{answer}}
	flow := func(src, dst string, pt uint8, rtcp bool) *rtpFlow {
		f := &rtpFlow{Key: flowKey{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), RTCP: rtcp}}
		f.payloadTypes[0], f.nPT = pt, 1
		return f
	}
	for _, tc := range []struct {
		name   string
		f      *rtpFlow
		sender int
		want   int
	}{
		{"audio", flow("172.28.45.135:8072", "172.22.65.111:25726", 9, false), caller, 0},
		{"video", flow("172.22.65.111:20248", "172.28.45.135:8074", 100, false), callee, 1},
		{"a type both list, on the video port", flow("172.28.45.135:8074", "172.22.65.111:40000", 96, false), caller, 1},
		{"a type both list, on no SDP port", flow("172.28.45.135:9000", "172.22.65.111:9002", 96, false), caller, 0},
		{"a type none lists", flow("172.28.45.135:8074", "172.22.65.111:20248", 111, false), caller, 0},
		{"RTCP", flow("172.22.65.111:20249", "172.28.45.135:8075", 200, true), callee, 0},
	} {
		if got := heuristicIndex(c, d, tc.f, tc.sender); got != tc.want {
			t.Errorf("%s: m= line %d, want %d", tc.name, got, tc.want)
		}
	}
}
