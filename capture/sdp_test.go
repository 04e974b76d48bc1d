package capture

import (
	"net/netip"
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
