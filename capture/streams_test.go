package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestOneHostSpan: how long a stream's offer and answer named two ports
// of one address (two softphones on one computer, handed the media by a
// B2BUA that takes it back just before the BYE). An SDP filed out of
// order (a proxy's copy of the first answer, kept with its leg) changes
// nothing.
func TestOneHostSpan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	media := func(addr string) *sdpMedia { return &sdpMedia{Addr: netip.MustParseAddrPort(addr)} }
	phone1, phone2, b2bua := media("172.17.0.200:40030"), media("172.17.0.200:4008"), media("172.17.0.52:19632")
	var h oneHostSpan
	h.follow(phone1, b2bua, at(0))    // the answer: media through the B2BUA
	h.follow(phone1, phone2, at(100)) // its re-INVITE hands it to the other phone
	h.follow(phone1, b2bua, at(50))   // the first answer's copy on the proxy's hop, filed late
	h.follow(phone1, b2bua, at(5300)) // taken back before the BYE
	if got := h.lasted(at(5500)); got != 5200*time.Millisecond || h.pair != [2]netip.AddrPort{phone1.Addr, phone2.Addr} {
		t.Errorf("lasted %s, pair %v; want 5.2s on %v and %v", got, h.pair, phone1.Addr, phone2.Addr)
	}
	var open oneHostSpan
	open.follow(phone1, phone2, at(100))
	if got := open.lasted(at(2100)); got != 2*time.Second {
		t.Errorf("still on one host: lasted %s, want 2s", got)
	}
}
