package capture

import (
	"net/netip"
	"strings"
	"testing"
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
	fs := s.mediaWithoutSignalling()
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "100 more streams were not paired") || len(fs[0].Evidence) != maxOrphanEvidence {
		t.Errorf("findings %+v", fs)
	}
}
