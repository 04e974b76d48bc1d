package capture

import (
	"errors"
	"reflect"
	"testing"

	"github.com/natdoc/natdoc/report"
)

// TestOrderedCalls: judged calls go on in the order of their numbers; a
// call left out by the filter only takes its place; past the limit the
// earliest held call goes, and a call judged later goes at once; after a
// sink error nothing more goes and the reading is stopped.
func TestOrderedCalls(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		judged  []int
		skipped []int // left out by the filter
		want    []int
	}{
		{"in order", 10, []int{1, 2, 3}, nil, []int{1, 2, 3}},
		{"a long call holds later ones back", 10, []int{2, 3, 1, 5, 4}, nil, []int{1, 2, 3, 4, 5}},
		{"filtered calls keep their place", 10, []int{3, 1, 2, 4}, []int{2}, []int{1, 3, 4}},
		{"past the limit", 2, []int{2, 3, 4, 5, 1}, nil, []int{2, 3, 4, 5, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			o := newOrderedCalls(func(c report.Call) error { got = append(got, c.Status); return nil }, nil)
			o.limit = tt.limit
			for _, n := range tt.judged {
				skip := false
				for _, s := range tt.skipped {
					skip = skip || s == n
				}
				o.add(n, report.Call{Status: n}, !skip)
			}
			o.flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("handed on %v, want %v", got, tt.want)
			}
		})
	}
	stopped := false
	o := newOrderedCalls(func(c report.Call) error { return errors.New("broken pipe") }, func() { stopped = true })
	o.add(1, report.Call{}, true)
	o.add(2, report.Call{}, true)
	if o.err == nil || !stopped {
		t.Errorf("sink error %v, stopped %v", o.err, stopped)
	}
}
