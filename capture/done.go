package capture

import (
	"fmt"
	"sort"

	"github.com/natdoc/natdoc/report"
)

// doneChunk is how many finalised calls one chunk of doneCalls holds.
const doneChunk = 256

// doneCalls keeps the finalised calls of an analysis in fixed chunks. A
// growing slice would, at each doubling, copy every call with both copies
// alive, and keep up to half its capacity spare: on a long capture that is
// the largest piece of memory the analysis holds.
type doneCalls struct {
	chunks [][]doneCall
	n      int
}

func (d *doneCalls) add(c doneCall) {
	if d.n%doneChunk == 0 {
		d.chunks = append(d.chunks, make([]doneCall, 0, doneChunk))
	}
	last := &d.chunks[len(d.chunks)-1]
	*last = append(*last, c)
	d.n++
}

func (d *doneCalls) len() int { return d.n }

// at returns the i-th call added.
func (d *doneCalls) at(i int) *doneCall { return &d.chunks[i/doneChunk][i%doneChunk] }

// take returns the calls in order of their INVITEs, named
// C1, C2, ..., and empties d. A chunk is let go once all its calls are
// copied out, so the calls are not held twice over.
func (d *doneCalls) take() []report.Call {
	order := make([]int32, d.n)
	for i := range order {
		order[i] = int32(i)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return d.at(int(order[i])).seq < d.at(int(order[j])).seq
	})
	left := make([]int, len(d.chunks))
	for i := range left {
		left[i] = len(d.chunks[i])
	}
	out := make([]report.Call, 0, d.n)
	for i, k := range order {
		if dc := d.at(int(k)); !dc.filtered {
			call := dc.call
			call.ID = fmt.Sprintf("C%d", i+1)
			out = append(out, call)
		}
		c := int(k) / doneChunk
		if left[c]--; left[c] == 0 {
			d.chunks[c] = nil
		}
	}
	*d = doneCalls{}
	return out
}
