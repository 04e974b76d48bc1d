package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestJitterUsesRtpmapClockRate: a dynamic payload type's jitter is counted
// at the clock rate its SDP gives (RFC 3550 A.8 works in timestamp units).
// Opus at 48 kHz sent every 20 ms advances its timestamp by 960: perfectly
// regular, so the jitter is zero; read at the 8 kHz default the same stream
// would look 100 ms late on every packet.
func TestJitterUsesRtpmapClockRate(t *testing.T) {
	sd, err := parseSDP([]byte("v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
		"m=audio 20000 RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	sdpAddr := netip.MustParseAddrPort("203.0.113.5:20000")
	other := netip.MustParseAddrPort("198.51.100.7:30000")
	nat := netip.MustParseAddrPort("198.51.100.200:41000")
	// Both parties behind NATs, the media sent between their mappings: the
	// SDP's party's NAT kept its port (Cisco's NATed video call did).
	keptPort := netip.MustParseAddrPort("192.0.2.80:20000")
	for _, tc := range []struct {
		name       string
		src, dst   netip.AddrPort
		pt         uint8
		noted      bool
		wantRate   float64
		wantJitter float64 // ms
	}{
		{"to the SDP address", other, sdpAddr, 96, true, 48000, 0},
		{"from the SDP address to a NAT mapping", sdpAddr, nat, 96, true, 48000, 0},
		{"static type in the same SDP", other, sdpAddr, 0, true, 8000, -1},
		{"no SDP seen: 8 kHz default", other, sdpAddr, 96, false, 8000, -1},
		{"unrelated stream", other, nat, 96, true, 8000, -1},
		{"between NAT mappings, one on the SDP's port", keptPort, nat, 96, true, 48000, 0},
		{"to a mapping on the SDP's port", nat, keptPort, 96, true, 48000, 0},
		{"on the SDP's port, a type it does not list", keptPort, nat, 97, true, 8000, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState()
			c := &sipCall{}
			if tc.noted {
				s.noteRtpmaps(sd, c, time.Time{})
			}
			k := flowKey{Src: tc.src, Dst: tc.dst, SSRC: 1}
			ev := &event{kind: evRTP, rtp: rtpFields{PT: tc.pt}, info: 0}
			b := &eventBatch{infos: []packetInfo{{src: tc.src, dst: tc.dst}}}
			start := time.Unix(1000, 0).UnixNano()
			for i := range 50 {
				ev.ssrc, ev.at, ev.frame = 1, start+int64(i)*int64(20*time.Millisecond), uint64(i+1)
				ev.rtp.Seq, ev.rtp.Timestamp = uint16(i), uint32(i*960)
				s.mediaEvent(b, ev)
			}
			f := s.flows[k]
			if f == nil {
				t.Fatal("no stream")
			}
			if f.clockRate != tc.wantRate {
				t.Errorf("clock rate %v, want %v", f.clockRate, tc.wantRate)
			}
			if tc.wantJitter >= 0 && f.JitterMs() != tc.wantJitter {
				t.Errorf("jitter %.3f ms, want %v", f.JitterMs(), tc.wantJitter)
			}
			if tc.wantJitter < 0 && f.JitterMs() < 50 {
				t.Errorf("jitter %.3f ms: expected the 8 kHz misreading of a 48 kHz stream", f.JitterMs())
			}
			s.forgetRtpmaps(map[*sipCall]bool{c: true})
			if len(s.rtpmaps) != 0 || len(s.rtpmapPorts) != 0 {
				t.Errorf("%d rtpmap entries and %d ports left after the call ended", len(s.rtpmaps), len(s.rtpmapPorts))
			}
		})
	}
}

// TestClockAdoptedFromLaterType: a stream whose first packet has a
// dynamic payload type no SDP names (Linphone sends one on 95 before its
// answer; found in filippetran/mtaa-z1 presmerovanie.pcap) takes the
// clock of the type its SDP names when that type comes: Opus at 48 kHz,
// its jitter measured (Wireshark: 8.5 ms mean there), its codec named.
// Before, the first packet's type kept an 8 kHz guess, the Opus packets
// were not timed, and the jitter read 0.
func TestClockAdoptedFromLaterType(t *testing.T) {
	sd, err := parseSDP([]byte("v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
		"m=audio 20000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := newState()
	s.noteRtpmaps(sd, &sipCall{}, time.Time{})
	checkAdoptedClock(t, s, 96, 960, 48000, "opus/48000/2")
}

// TestClockAdoptedFromStaticType: a stream whose first packet is of a
// type no SDP names (Linphone's keepalive on 95) and whose audio is PCMU,
// a static type SDP may name without rtpmap, takes PCMU's clock and
// name: its jitter counts the audio, its codec is no blank.
func TestClockAdoptedFromStaticType(t *testing.T) {
	checkAdoptedClock(t, newState(), 0, 160, 8000, "PCMU/8000")
}

// checkAdoptedClock feeds s a stream whose first packet is of type 95
// (no SDP names it) and the 49 after it of type pt, step timestamp units
// apart, every other one 5 ms late, and wants the stream timed on pt at
// rate with its codec named codec, and the lateness in its jitter.
func checkAdoptedClock(t *testing.T, s *state, pt uint8, step uint32, rate float64, codec string) {
	t.Helper()
	src, dst := netip.MustParseAddrPort("198.51.100.7:30000"), netip.MustParseAddrPort("203.0.113.5:20000")
	ev := &event{kind: evRTP, info: 0}
	b := &eventBatch{infos: []packetInfo{{src: src, dst: dst}}}
	start := time.Unix(1000, 0).UnixNano()
	for i := range 50 {
		ev.rtp.PT = pt
		if i == 0 {
			ev.rtp.PT = 95
		}
		late := int64(i%2) * int64(5*time.Millisecond)
		ev.ssrc, ev.at, ev.frame = 1, start+int64(i)*int64(20*time.Millisecond)+late, uint64(i+1)
		ev.rtp.Seq, ev.rtp.Timestamp = uint16(i), uint32(i)*step
		s.mediaEvent(b, ev)
	}
	f := s.flows[flowKey{Src: src, Dst: dst, SSRC: 1}]
	if f == nil {
		t.Fatal("no stream")
	}
	if f.clockRate != rate || f.clockPT != pt || f.q.codec != codec {
		t.Errorf("clock %v Hz on type %d, codec %q; want %v on %d, %s", f.clockRate, f.clockPT, f.q.codec, rate, pt, codec)
	}
	if j := f.JitterMs(); j < 1 || j > 5 {
		t.Errorf("jitter %.3f ms, want that of packets 5 ms late every other one", j)
	}
}
