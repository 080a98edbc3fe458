package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// recorder keeps every latency sample; exact percentiles from sorted
// samples are affordable up to a few million and need no bucket error
// analysis.
type recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// sorted returns a sorted copy of the samples.
func (r *recorder) sorted() []time.Duration {
	r.mu.Lock()
	d := slices.Clone(r.d)
	r.mu.Unlock()
	slices.Sort(d)
	return d
}

// percentile is the nearest-rank percentile of sorted samples: the
// smallest sample with at least p% of the samples at or below it. It is
// 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps float error from pushing an exact rank up one
	// (99.9% of 1000 is 999.0000000000001 in float64).
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ms is a duration in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// latencyMS summarises samples for the report.
type latencyMS struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

func summarize(r *recorder) latencyMS {
	d := r.sorted()
	if len(d) == 0 {
		return latencyMS{}
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return latencyMS{
		Count: int64(len(d)),
		P50:   ms(percentile(d, 50)), P99: ms(percentile(d, 99)), P999: ms(percentile(d, 99.9)),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d))),
	}
}
