package edxmltest

import (
	"runtime"
	"sync"
	"time"
)

// PeakMiB runs f while sampling a measure of memory (the heap in use, the
// resident set) every 2 ms, and returns the peak's growth over the value
// before f, in MiB: what the flat-memory benchmarks report.
func PeakMiB(sample func() uint64, f func()) float64 {
	runtime.GC()
	base := sample()
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, sample())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	peak = max(peak, sample())
	return float64(peak-base) / (1 << 20)
}

// HeapInUse is the heap in use, a sample for PeakMiB.
func HeapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
