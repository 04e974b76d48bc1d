package stunprobe

import (
	"net/netip"
	"testing"
)

func TestValidServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"stun.example.net", true},
		{"stun.example.net:3478", true},
		{"203.0.113.10", true},
		{"203.0.113.10:19302", true},
		{"2001:db8::1", true},
		{"[2001:db8::1]:3478", true},
		{"host:port:x", false},
		{"stun.example.net:0", false},
		{"stun.example.net:99999", false},
		{":3478", false},
		{"", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidServer(tc.name); (err == nil) != tc.ok {
				t.Errorf("ValidServer(%q) = %v, want ok %t", tc.name, err, tc.ok)
			}
		})
	}
}

func TestRFC5780ServerChoice(t *testing.T) {
	primary := netip.MustParseAddrPort("203.0.113.10:3478")
	for _, tc := range []struct {
		name  string
		other string
		ok    bool
	}{
		{"alternate IP and port", "203.0.113.11:3479", true},
		{"same IP: cannot test address-dependence", "203.0.113.10:3479", false},
		{"same port: cannot test port-dependence", "203.0.113.11:3478", false},
		{"other family", "[2001:db8::11]:3479", false},
		{"none", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ServerResult{Addr: primary, Mapped: public1}
			if tc.other != "" {
				s.Other = netip.MustParseAddrPort(tc.other)
			}
			if _, ok := rfc5780Server([]ServerResult{s}); ok != tc.ok {
				t.Errorf("usable = %t, want %t", ok, tc.ok)
			}
		})
	}
}
