package main

import "time"

// histogram of latencies with bins fine where relays differ: 1 µs up to
// 1 ms, 10 µs up to 100 ms, 1 ms up to 10 s, then one overflow bin. Fixed
// size: no allocation per sample, whatever the load.
type histogram struct {
	bins  [1000 + 9900 + 9900 + 1]uint64
	n     uint64
	max   int64
	under uint64 // negative samples (wall clock stepped): counted as 0
}

func newHistogram() *histogram { return &histogram{} }

func binOf(ns int64) int {
	us := ns / 1000
	switch {
	case us < 1000:
		return int(us)
	case us < 100_000:
		return 1000 + int(us-1000)/10
	case us < 10_000_000:
		return 10900 + int(us-100_000)/1000
	}
	return 20800
}

// upper is the upper edge of bin i in microseconds.
func upper(i int) float64 {
	switch {
	case i < 1000:
		return float64(i + 1)
	case i < 10900:
		return float64(1000 + (i-1000+1)*10)
	case i < 20800:
		return float64(100_000 + (i-10900+1)*1000)
	}
	return float64(10_000_000)
}

func (h *histogram) add(ns int64) {
	if ns < 0 {
		h.under++
		ns = 0
	}
	h.bins[binOf(ns)]++
	h.n++
	if ns > h.max {
		h.max = ns
	}
}

func (h *histogram) merge(o *histogram) {
	for i, v := range o.bins {
		h.bins[i] += v
	}
	h.n += o.n
	h.under += o.under
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bin holding quantile q, in µs.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, v := range h.bins {
		seen += v
		if seen >= rank {
			return upper(i)
		}
	}
	return float64(time.Duration(h.max).Microseconds())
}
