package capture

import (
	"net/netip"
	"testing"
)

// TestOtherFamilyOnly: a party's media addresses are all of the other
// family than its peer's only when none is of the peer's (an ICE
// candidate counts), holds aside, and at least one is named.
func TestOtherFamilyOnly(t *testing.T) {
	v4, v6 := netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("2001:db8::11")
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		named []netip.AddrPort
		peer  netip.Addr
		want  bool
	}{
		{[]netip.AddrPort{ap("[2001:db8::10]:4000")}, v4, true},
		{[]netip.AddrPort{ap("[2001:db8::10]:4000"), ap("203.0.113.10:4000")}, v4, false}, // a candidate of each
		{[]netip.AddrPort{ap("203.0.113.10:4000")}, v6, true},
		{[]netip.AddrPort{ap("203.0.113.10:4000")}, v4, false},
		{[]netip.AddrPort{ap("0.0.0.0:4000")}, v6, false}, // a hold names nothing
		{nil, v4, false},
		{[]netip.AddrPort{ap("[2001:db8::10]:4000")}, netip.Addr{}, false},
		{[]netip.AddrPort{ap("[::ffff:203.0.113.10]:4000")}, v4, false}, // IPv4-mapped is IPv4
	} {
		if got := otherFamilyOnly(tc.named, tc.peer); got != tc.want {
			t.Errorf("otherFamilyOnly(%v, %v) = %v, want %v", tc.named, tc.peer, got, tc.want)
		}
	}
}
