package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestMediaSessionsBounded: past maxMediaSessions pairs, streams are
// counted, not kept, and the finding says how many were not paired.
func TestMediaSessionsBounded(t *testing.T) {
	s := newState()
	for i := range maxMediaSessions + 100 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 10000)
		dst := netip.MustParseAddrPort("203.0.113.5:20000")
		s.orphan(&rtpFlow{Key: flowKey{Src: src, Dst: dst}, Packets: 10, firstNs: int64(i), lastNs: int64(i) + 1})
	}
	if len(s.sessions.list) != maxMediaSessions || s.sessions.dropped != 100 {
		t.Fatalf("kept %d pairs, dropped %d streams", len(s.sessions.list), s.sessions.dropped)
	}
	fs := s.mediaWithoutSignalling(nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "100 more streams were not paired") || len(fs[0].Evidence) != maxOrphanEvidence {
		t.Errorf("findings %+v", fs)
	}
}

// TestOrphansBesideUnreadSIP: media no call claims, in a capture whose
// SIP could not all be read, may belong to the calls of those messages:
// the finding and the report's answer say so.
func TestOrphansBesideUnreadSIP(t *testing.T) {
	s := newState()
	s.orphan(&rtpFlow{Key: flowKey{Src: netip.MustParseAddrPort("127.0.0.1:35113"), Dst: netip.MustParseAddrPort("127.0.0.1:23032")}, Packets: 297, lastNs: 1})
	if fs := s.mediaWithoutSignalling(nil); len(fs) == 0 || !strings.Contains(fs[0].Title, "(their SIP is missing or encrypted)") {
		t.Errorf("findings %+v", fs)
	}
	for range 22 {
		s.anomaly("malformed-sip", 0, 1, "sip: no Call-ID")
	}
	if fs := s.mediaWithoutSignalling(nil); len(fs) == 0 || !strings.Contains(fs[0].Title, "(their SIP is missing, encrypted, or among the 22 malformed SIP messages)") {
		t.Errorf("findings %+v", fs)
	}
	if got, want := verdictSentence(0, nil, s.unreadSIP(), 0), "No SIP calls (INVITE dialogs) found in the capture; 22 SIP messages could not be read (malformed-sip)."; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
}

// TestOrphanRefusedEvidence: a one-way stream no call claims whose packets
// drew ICMP errors all along says that its receiver refused them.
func TestOrphanRefusedEvidence(t *testing.T) {
	var ms mediaSessions
	f := &rtpFlow{Key: flowKey{Src: netip.MustParseAddrPort("127.0.0.1:35113"), Dst: netip.MustParseAddrPort("127.0.0.1:23032")},
		Packets: 297, firstNs: 0, lastNs: int64(7700 * time.Millisecond)}
	ms.add(f, "port unreachable")
	got := ms.sessionEvidence(ms.list[0]).Text
	if want := "127.0.0.1:35113 → 127.0.0.1:23032: 297 RTP packets over 7.7s; nothing came back from 127.0.0.1:23032, which refused them all along (ICMP port unreachable)"; got != want {
		t.Errorf("evidence\n got %s\nwant %s", got, want)
	}
}

// TestOrphanRTCPBack: a stream no call claims whose receiver sends only
// RTCP back (a listener's feedback and reports: Discord's receive-only
// voice beside a softphone) is listening, not gone: its evidence says so,
// on the RTP ports (rtcp-mux) or the ports above them, and it draws no
// one-way warning, where a stream with nothing back does.
func TestOrphanRTCPBack(t *testing.T) {
	ap := netip.MustParseAddrPort
	stream := func(src, dst string) *rtpFlow {
		return &rtpFlow{Key: flowKey{Src: ap(src), Dst: ap(dst)}, Packets: 300, firstNs: 0, lastNs: int64(6 * time.Second)}
	}
	rtcp := func(src, dst string) *rtpFlow {
		return &rtpFlow{Key: flowKey{Src: ap(src), Dst: ap(dst), RTCP: true}, Packets: 40}
	}
	var ms mediaSessions
	ms.add(stream("198.51.100.9:50004", "192.168.0.183:60689"), "")
	ms.addRTCP(rtcp("192.168.0.183:60689", "198.51.100.9:50004")) // rtcp-mux
	ms.add(stream("198.51.100.9:40000", "192.168.0.183:20000"), "")
	ms.addRTCP(rtcp("192.168.0.183:20001", "198.51.100.9:40001"))   // the ports above
	ms.add(stream("198.51.100.7:30000", "192.168.0.183:10000"), "") // nothing back
	ms.add(stream("198.51.100.8:8000", "192.168.0.184:9000"), "")   // a session both ways
	ms.add(stream("192.168.0.184:9000", "198.51.100.8:8000"), "")
	sessions := ms.sorted()
	back := 0
	for _, s := range sessions {
		if strings.Contains(ms.sessionEvidence(s).Text, "only RTCP came back from 192.168.0.183:") {
			back++
		}
	}
	if back != 2 {
		t.Errorf("%d sessions with RTCP back, want 2", back)
	}
	fs := ms.oneWayFindings(sessions)
	if len(fs) != 1 || len(fs[0].Evidence) != 1 || !strings.Contains(fs[0].Evidence[0].Text, "198.51.100.7:30000 → 192.168.0.183:10000") {
		t.Errorf("one-way findings %+v, want the stream with nothing back alone", fs)
	}
}
