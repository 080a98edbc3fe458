package main

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// fsyncResult is the raw cost of one durable write on the data
// directory's disk: the floor under every send's latency, since the hub
// answers only after its commit is on disk.
type fsyncResult struct {
	Dir     string  `json:"dir"`
	Syscall string  `json:"syscall"`
	Count   int     `json:"count"`
	MeanMS  float64 `json:"mean_ms"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
	PerSec  float64 `json:"per_second"`
}

// fsyncProbe writes 4 KiB and syncs, count times, overwriting a
// preallocated 1 MiB file in place as bbolt does with its pages (so the
// file size, and thus the inode, does not change on each sync).
func fsyncProbe(ctx context.Context, dir string, count int) (*fsyncResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const page, pages = 4096, 256
	buf := make([]byte, page)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := range pages {
		if _, err := f.WriteAt(buf, int64(i*page)); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	var rec recorder
	start := time.Now()
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		buf[0] = byte(i)
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%pages*page)); err != nil {
			return nil, err
		}
		if err := datasync(f); err != nil {
			return nil, err
		}
		rec.add(time.Since(t))
	}
	total := time.Since(start)
	d := rec.sorted()
	abs, _ := filepath.Abs(dir)
	return &fsyncResult{
		Dir: abs, Syscall: datasyncName, Count: count,
		MeanMS: ms(total / time.Duration(count)),
		P50MS:  ms(percentile(d, 50)), P99MS: ms(percentile(d, 99)), MaxMS: ms(d[len(d)-1]),
		PerSec: round3(float64(count) / total.Seconds()),
	}, nil
}
