package figures

import (
	"math"
	"time"
)

// Bounds are the fixed upper bounds of the duration histograms, roughly
// geometric from seconds to days, so that the case's figures (47 s, 8 min,
// 1.2 h, 5.4 h) each fall in a narrow bin. Bin i holds durations in
// [Bounds[i-1], Bounds[i]); the last bin, len(Bounds), everything longer.
var Bounds = []time.Duration{
	5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 45 * time.Second,
	time.Minute, 90 * time.Second, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute,
	450 * time.Second, 10 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute,
	45 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour, 3 * time.Hour,
	4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour, 16 * time.Hour,
	24 * time.Hour, 36 * time.Hour, 48 * time.Hour, 72 * time.Hour, 96 * time.Hour,
}

// Bins is the number of histogram bins.
var Bins = len(Bounds) + 1

// Bin is the bin of d; negative durations (clocks disagreeing) count as 0.
func Bin(d time.Duration) int {
	lo, hi := 0, len(Bounds)
	for lo < hi {
		m := (lo + hi) / 2
		if d < Bounds[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Histogram is a count per bin.
type Histogram []int64

// Add counts n durations in bin b (out-of-range bins are ignored).
func (h *Histogram) Add(b int, n int64) {
	if b < 0 || b >= Bins {
		return
	}
	if len(*h) < Bins {
		*h = append(*h, make([]int64, Bins-len(*h))...)
	}
	(*h)[b] += n
}

// Count is the number of durations counted.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += max(c, 0)
	}
	return n
}

// Quantile estimates the q-quantile (0 < q ≤ 1) by linear interpolation
// within the bin that holds it; ok is false for an empty histogram. In the
// last, unbounded bin the estimate is its lower bound: "at least".
func (h Histogram) Quantile(q float64) (d time.Duration, ok bool) {
	total := h.Count()
	if total == 0 || q <= 0 || q > 1 {
		return 0, false
	}
	rank := q * float64(total)
	var seen float64
	for b, c := range h {
		if c <= 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := time.Duration(0)
			if b > 0 {
				lo = Bounds[b-1]
			}
			if b >= len(Bounds) {
				return lo, true
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(math.Round(frac*float64(Bounds[b]-lo))), true
		}
		seen += float64(c)
	}
	return Bounds[len(Bounds)-1], true
}
