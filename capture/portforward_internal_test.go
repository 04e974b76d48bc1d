package capture

import (
	"math"
	"net/netip"
	"testing"
)

// TestSplitChance: how often ports picked at random put every unheard
// call above (or below) every heard one, or the heard ones in one block
// with the unheard anywhere around it.
func TestSplitChance(t *testing.T) {
	for _, tc := range []struct {
		heard, deaf int
		around      bool
		want        float64
	}{
		{2, 2, false, 2.0 / 6}, {4, 3, false, 2.0 / 35}, {4, 4, false, 2.0 / 70}, {3, 5, false, 2.0 / 56},
		{4, 4, true, 5.0 / 70}, {4, 6, true, 7.0 / 210}, {3, 5, true, 6.0 / 56},
	} {
		if got := splitChance(tc.heard, tc.deaf, tc.around); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%d heard, %d not, around %v: %g, want %g", tc.heard, tc.deaf, tc.around, got, tc.want)
		}
	}
}

// TestPortSplit: where the unheard calls' ports lie decides the split;
// one unheard port inside the heard range, or too few calls for chance
// to be unlikely, name none.
func TestPortSplit(t *testing.T) {
	hosts := func(heard, deaf []uint16) *hostPorts {
		var f forwardedPorts
		for _, p := range heard {
			f.note(lanHost, publicPort(p), true, "h")
		}
		for _, p := range deaf {
			f.note(lanHost, publicPort(p), false, "d")
		}
		return f.byHost[lanHost]
	}
	for _, tc := range []struct {
		name        string
		heard, deaf []uint16
		want        portSplit
	}{
		{"above", []uint16{10000, 10002, 10004, 10006}, []uint16{10010, 10012, 10014, 10016}, splitAbove},
		{"below", []uint16{20000, 20002, 20004, 20006}, []uint16{10010, 10012, 10014, 10016}, splitBelow},
		{"around", []uint16{16384, 16390, 16400, 16420}, []uint16{10000, 12000, 14000, 17000, 18000, 19000}, splitAround},
		{"one unheard within", []uint16{16384, 16390, 16400, 16420}, []uint16{10000, 12000, 16392, 17000, 18000, 19000}, noSplit},
		{"around, too few calls", []uint16{16384, 16390, 16400, 16420}, []uint16{10000, 17000, 18000, 19000}, noSplit},
		{"too few heard", []uint16{10000, 10002}, []uint16{10010, 10012, 10014, 10016, 10018, 10020}, noSplit},
	} {
		if got := hosts(tc.heard, tc.deaf).split(); got != tc.want {
			t.Errorf("%s: split %d, want %d", tc.name, got, tc.want)
		}
	}
}

var lanHost = netip.MustParseAddr("192.168.1.20")

func publicPort(p uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), p)
}
