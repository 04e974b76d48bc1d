package capture

import (
	"net/netip"
	"testing"
)

// TestPrivateIPv4: the octet switch says what the prefix list says, for
// every first and second octet and the third octets 192.0.x turns on.
func TestPrivateIPv4(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			for _, c := range []byte{0, 1, 2, 255} {
				ip := netip.AddrFrom4([4]byte{byte(a), byte(b), c, 7})
				want := false
				for _, p := range privatePrefixes {
					want = want || p.Contains(ip)
				}
				if got := IsPrivate(ip); got != want {
					t.Fatalf("IsPrivate(%s) = %v, want %v", ip, got, want)
				}
			}
		}
	}
	if !IsPrivate(netip.MustParseAddr("::ffff:192.168.1.1")) || IsPrivate(netip.MustParseAddr("2001:db8::1")) || !IsPrivate(netip.MustParseAddr("fd00::1")) {
		t.Error("mapped or IPv6 addresses")
	}
}
