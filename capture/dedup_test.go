package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestDedupIPIdentification: two packets alike in addresses and payload a
// few milliseconds apart are one packet captured twice when their IP
// identifications agree (or there are none), and two sends when they
// differ, as a UAS's 2xx resent at once on a resent INVITE beside its
// timer's copy (RFC 3261 §13.3.1.4).
func TestDedupIPIdentification(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pkt := func(ms int, id uint32) *packet {
		return &packet{Time: t0.Add(time.Duration(ms) * time.Millisecond), Proto: protoUDP, IPID: id,
			Src: netip.MustParseAddrPort("203.0.113.3:5060"), Dst: netip.MustParseAddrPort("198.51.100.40:5060"),
			Payload: []byte("SIP/2.0 200 OK\r\n\r\n")}
	}
	for _, tc := range []struct {
		name       string
		first, dup *packet
		want       bool
	}{
		{"a copy: the same identification", pkt(0, 0xeaa1), pkt(1, 0xeaa1), true},
		{"no identification (IPv6, or 0 in every datagram)", pkt(0, 0), pkt(20, 0), true},
		{"two sends: another identification", pkt(0, 0xead9), pkt(29, 0xeadc), false},
		{"the same identification, outside the window", pkt(0, 7), pkt(500, 7), false},
	} {
		d := newDedup()
		if d.duplicate(tc.first) {
			t.Errorf("%s: the first packet taken for a copy", tc.name)
		}
		if got := d.duplicate(tc.dup); got != tc.want {
			t.Errorf("%s: duplicate %v, want %v", tc.name, got, tc.want)
		}
	}
}
