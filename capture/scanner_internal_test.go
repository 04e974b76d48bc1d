package capture

import "testing"

// TestDialsAbroad: the numbers toll-fraud scanners probe (an
// international prefix behind a few digits of route prefix), not
// extensions or national numbers.
func TestDialsAbroad(t *testing.T) {
	for number, want := range map[string]bool{
		"000048422032120": true, "9011441234567": true, "00972595267459": true, "+442071234567": true, "0110000032075": true,
		"100": false, "francisco": false, "02071234567": false, "4155550123": false, "+4420": false, "00abc1234567": false, "08001234567": false, "0800123456": false,
	} {
		if got := dialsAbroad(number); got != want {
			t.Errorf("dialsAbroad(%q) = %v, want %v", number, got, want)
		}
	}
}
