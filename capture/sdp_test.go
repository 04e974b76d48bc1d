package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestParseSDP: valid SDP that pion/sdp refuses is read tolerantly; only
// a body without any readable m= line is an error.
func TestParseSDP(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	type media struct {
		kind  string
		addr  string
		rtcp  string
		dir   string
		udptl bool
	}
	tests := []struct {
		name    string
		body    string
		want    []media
		wantErr bool
	}{
		{"T.38 re-INVITE (pion refuses m=image)", head + "m=audio 0 RTP/AVP 0\r\nm=image 4000 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n",
			[]media{{"audio", "", "", "sendrecv", false}, {"image", "192.0.2.1:4000", "192.0.2.1:4001", "sendrecv", true}}, false},
		{"audio, video and BFCP", head + "m=audio 4000 RTP/AVP 0\r\nb=AS:64\r\nm=video 4002 RTP/AVP 96\r\na=sendonly\r\nm=application 4004 UDP/BFCP *\r\n",
			[]media{{"audio", "192.0.2.1:4000", "192.0.2.1:4001", "sendrecv", false}, {"video", "192.0.2.1:4002", "192.0.2.1:4003", "sendonly", false}, {"application", "192.0.2.1:4004", "192.0.2.1:4005", "sendrecv", false}}, false},
		{"two audio streams, media-level c=", head + "m=audio 4000 RTP/AVP 0\r\nm=audio 5000 RTP/AVP 8\r\nc=IN IP4 192.0.2.9\r\na=recvonly\r\n",
			[]media{{"audio", "192.0.2.1:4000", "192.0.2.1:4001", "sendrecv", false}, {"audio", "192.0.2.9:5000", "192.0.2.9:5001", "recvonly", false}}, false},
		{"rtcp-mux", head + "m=audio 4000 RTP/AVP 0\r\na=rtcp-mux\r\n", []media{{"audio", "192.0.2.1:4000", "192.0.2.1:4000", "sendrecv", false}}, false},
		{"a=rtcp with an address, and an unknown line type", head + "m=audio 4000 RTP/AVP 0\r\na=rtcp:4009 IN IP4 192.0.2.9\r\nx=natdoc\r\n",
			[]media{{"audio", "192.0.2.1:4000", "192.0.2.9:4009", "sendrecv", false}}, false},
		{"hold with c=0.0.0.0", "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
			[]media{{"audio", "0.0.0.0:4000", "0.0.0.0:4001", "sendrecv", false}}, false},
		{"no m= line at all", "v=0\r\nthis is not SDP\r\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseSDP([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(info.Media) != len(tt.want) {
				t.Fatalf("%d media, want %d", len(info.Media), len(tt.want))
			}
			for i, w := range tt.want {
				m := info.Media[i]
				addr, rtcp := "", ""
				if m.Addr.IsValid() {
					addr, rtcp = m.Addr.String(), m.RTCP.String()
				}
				if m.Media != w.kind || addr != w.addr || rtcp != w.rtcp || m.Direction != w.dir || m.UDPTL != w.udptl {
					t.Errorf("m=%d: %s %s rtcp %s %s udptl %v, want %+v", i, m.Media, addr, rtcp, m.Direction, m.UDPTL, w)
				}
			}
			if info.OriginAddr != netip.MustParseAddr("192.0.2.1") {
				t.Errorf("o= %v", info.OriginAddr)
			}
		})
	}
}

// TestICEIsNoHold: under ICE, c=0.0.0.0 with port 9 is trickle ICE's
// "no candidate yet" (RFC 8840), not RFC 3264's hold; without ICE it is a
// hold.
func TestICEIsNoHold(t *testing.T) {
	body := func(ice string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
			"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n" + ice + "a=sendrecv\r\n")
	}
	for _, tc := range []struct {
		ice  string
		hold bool
	}{
		{"", true},
		{"a=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n", false},
		{"a=candidate:1 1 udp 2130706431 192.0.2.1 50000 typ host\r\n", false},
	} {
		info, err := parseSDP(body(tc.ice))
		if err != nil {
			t.Fatal(err)
		}
		if m := &info.Media[0]; m.holds() != tc.hold {
			t.Errorf("ICE %q: holds %v, want %v", tc.ice, m.holds(), tc.hold)
		}
		// The same through pion, for bodies the plain reader leaves to it.
		full, err := parseSDPFully(body(tc.ice))
		if err != nil {
			t.Fatal(err)
		}
		if m := &full.Media[0]; m.holds() != tc.hold {
			t.Errorf("ICE %q via pion: holds %v, want %v", tc.ice, m.holds(), tc.hold)
		}
	}
}

// TestICECandidates: a=candidate lines (RFC 8839 §5.1) become addresses
// media may go to, but only over UDP at an IP address with a known type;
// the fast reader and pion agree.
func TestICECandidates(t *testing.T) {
	const body = "v=0\r\no=- 1 1 IN IP4 192.168.1.5\r\ns=-\r\nc=IN IP4 192.168.1.5\r\nt=0 0\r\n" +
		"m=audio 50000 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=ice-ufrag:F7gI\r\n" +
		"a=candidate:1 1 udp 2130706431 192.168.1.5 50000 typ host generation 0\r\n" +
		"a=candidate:1 2 UDP 2130706430 192.168.1.5 50001 typ host\r\n" +
		"a=candidate:2 1 udp 1694498815 203.0.113.5 61000 typ srflx raddr 192.168.1.5 rport 50000\r\n" +
		"a=candidate:3 1 udp 16777215 198.51.100.9 3478 typ relay raddr 203.0.113.5 rport 61000\r\n" +
		"a=candidate:4 1 udp 2122262783 2001:db8::5 50002 typ host\r\n" +
		"a=candidate:5 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active\r\n" + // TCP: no UDP flow
		"a=candidate:6 1 udp 2113937151 7f8e-4a.local 50003 typ host\r\n" + // mDNS: no address
		"a=candidate:7 3 udp 2113937151 192.168.1.5 50004 typ host\r\n" + // no such component
		"a=candidate:8 1 udp 2113937151 192.168.1.5 0 typ host\r\n" + // no port
		"a=candidate:9 1 udp 2113937151 192.168.1.5 50005 typ weird\r\n" + // unknown type
		"a=candidate:10 1 udp 2113937151 192.168.1.5 50006 host\r\n" + // no typ
		"a=candidate:11 1 udp\r\n" // truncated
	want := []iceCandidate{
		{netip.MustParseAddrPort("192.168.1.5:50000"), 1, "host"},
		{netip.MustParseAddrPort("192.168.1.5:50001"), 2, "host"},
		{netip.MustParseAddrPort("203.0.113.5:61000"), 1, "srflx"},
		{netip.MustParseAddrPort("198.51.100.9:3478"), 1, "relay"},
		{netip.MustParseAddrPort("[2001:db8::5]:50002"), 1, "host"},
	}
	for name, parse := range map[string]func([]byte) (*sdpInfo, error){"plain": parseSDP, "pion": parseSDPFully} {
		info, err := parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		m := &info.Media[0]
		if !slices.Equal(m.Candidates, want) {
			t.Errorf("%s: candidates %+v, want %+v", name, m.Candidates, want)
		}
		for _, tc := range []struct {
			dst  string
			rtcp bool
			typ  string
		}{
			{"203.0.113.5:61000", false, "srflx"},
			{"198.51.100.9:3478", false, "relay"},
			{"192.168.1.5:50001", true, "host"},
			{"192.168.1.5:50001", false, ""}, // an RTCP candidate takes no RTP
			{"203.0.113.5:61000", true, ""},  // nor an RTP one RTCP, without rtcp-mux
			{"192.168.1.5:9", false, ""},
		} {
			typ, ok := m.candidateAt(netip.MustParseAddrPort(tc.dst), tc.rtcp)
			if typ != tc.typ || ok != (tc.typ != "") {
				t.Errorf("%s: candidateAt(%s, rtcp %v) = %q, %v; want %q", name, tc.dst, tc.rtcp, typ, ok, tc.typ)
			}
		}
	}
	// Under rtcp-mux RTCP goes to the RTP candidates.
	muxed, err := parseSDP([]byte(body + "a=rtcp-mux\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := muxed.Media[0].candidateAt(netip.MustParseAddrPort("203.0.113.5:61000"), true); typ != "srflx" {
		t.Errorf("rtcp-mux: RTCP to the srflx candidate matched %q", typ)
	}
	// A browser's dozens of candidates are bounded.
	var many strings.Builder
	many.WriteString(body)
	for i := range 100 {
		fmt.Fprintf(&many, "a=candidate:%d 1 udp 1 10.0.%d.%d 5000 typ host\r\n", 100+i, i/250, i%250)
	}
	if info, _ := parseSDP([]byte(many.String())); len(info.Media[0].Candidates) != maxCandidates {
		t.Errorf("kept %d candidates, want %d", len(info.Media[0].Candidates), maxCandidates)
	}
}

// TestListsPayloadType reads the payload type at the start of each codec
// label, whole.
func TestListsPayloadType(t *testing.T) {
	m := sdpMedia{Codecs: []string{"0 PCMU/8000", "101 telephone-event/8000", "96", "x 1"}}
	for pt, want := range map[uint8]bool{0: true, 101: true, 96: true, 10: false, 1: false, 9: false, 8: false} {
		if m.lists(pt) != want {
			t.Errorf("lists(%d) = %v", pt, !want)
		}
	}
}
