package rtpseq

import "testing"

func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint16
		want int64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0},
		{"one gap", []uint16{1, 2, 4, 5}, 1},
		{"reordered late packet fills the gap", []uint16{1, 3, 2, 4}, 0},
		{"wrap without loss", []uint16{65534, 65535, 0, 1}, 0},
		{"wrap with loss", []uint16{65534, 0, 1}, 1},
		{"duplicate counts negative", []uint16{1, 2, 2, 3}, -1}, // RFC 3550 A.3
		{"wrap with gap", []uint16{65534, 1}, 2},
		{"gap of two", []uint16{1, 2, 5}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			var got int64
			for _, s := range tc.seqs {
				got = tr.Add(s)
			}
			if got != tc.want {
				t.Errorf("loss after %v = %d, want %d", tc.seqs, got, tc.want)
			}
		})
	}
}
