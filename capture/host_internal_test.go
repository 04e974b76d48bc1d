package capture

import (
	"net/netip"
	"testing"
)

// TestCommonHost: the one address every packet is to or from; none when
// two hosts only talk to each other, or nothing is shared; broadcasts,
// multicasts and DHCP's 0.0.0.0 are other hosts' chatter.
func TestCommonHost(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name  string
		pairs [][2]string
		want  string
	}{
		{"a PC and two servers", [][2]string{{"192.168.1.10", "192.168.1.1"}, {"8.8.8.8", "192.168.1.10"}, {"192.168.1.10", "203.0.113.5"}}, "192.168.1.10"},
		{"one pair only", [][2]string{{"192.168.1.10", "192.168.1.1"}, {"192.168.1.1", "192.168.1.10"}}, ""},
		{"a link between hosts", [][2]string{{"192.168.1.10", "192.168.1.1"}, {"192.168.1.11", "192.168.1.1"}, {"192.168.1.11", "192.168.1.12"}}, ""},
		{"chatter of others", [][2]string{{"192.168.1.10", "192.168.1.1"}, {"192.168.1.10", "8.8.8.8"}, {"192.168.1.22", "255.255.255.255"},
			{"192.168.1.23", "192.168.1.255"}, {"192.168.1.24", "239.255.255.250"}, {"0.0.0.0", "192.168.1.1"}}, "192.168.1.10"},
		{"loopback", [][2]string{{"127.0.0.1", "127.0.0.1"}}, "127.0.0.1"},
		{"nothing", nil, ""},
	} {
		var h commonHost
		for _, p := range tc.pairs {
			h.observe(a(p[0]), a(p[1]))
		}
		if got := h.host(); (tc.want == "" && got.IsValid()) || (tc.want != "" && got != a(tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, got, tc.want)
		}
	}
}

// TestLoopbackView: a capture whose every unicast packet is addressed to
// its own source (or goes between loopback addresses) was taken on a
// loopback interface, and names its host's addresses; one packet between
// two hosts makes it a capture of a network (an "any" capture holds lo's
// traffic too).
func TestLoopbackView(t *testing.T) {
	a := netip.MustParseAddr
	var h commonHost
	for _, p := range [][2]string{{"192.168.0.149", "192.168.0.149"}, {"192.168.56.1", "192.168.56.1"}, {"127.0.0.1", "127.0.0.1"},
		{"192.168.56.1", "239.255.255.250"}, {"192.168.0.149", "192.168.0.149"}} {
		h.observe(a(p[0]), a(p[1]))
	}
	v := h.view()
	if len(v.loopback) != 2 || !v.onHost(a("192.168.56.1")) || !v.onHost(a("127.0.0.2")) || v.onHost(a("192.168.0.229")) {
		t.Errorf("loopback view %+v, want the host's two addresses", v)
	}
	h.observe(a("192.168.0.149"), a("192.168.0.229"))
	if v := h.view(); v.loopback != nil {
		t.Errorf("a packet between two hosts, yet a loopback view %+v", v)
	}
}
