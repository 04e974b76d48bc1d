package capture

import (
	"math"
	"testing"
)

// TestSplitChance: how often ports picked at random put every unheard
// call above (or below) every heard one.
func TestSplitChance(t *testing.T) {
	for _, tc := range []struct {
		heard, deaf int
		want        float64
	}{{2, 2, 2.0 / 6}, {4, 3, 2.0 / 35}, {4, 4, 2.0 / 70}, {3, 5, 2.0 / 56}} {
		if got := splitChance(tc.heard, tc.deaf); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%d heard, %d not: %g, want %g", tc.heard, tc.deaf, got, tc.want)
		}
	}
}
