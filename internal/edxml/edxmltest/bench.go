package edxmltest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// RSS is the process's resident set size, from /proc (Linux), a sample
// for PeakMiB; 0 where there is none.
func RSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		return 0
	}
	return rss * uint64(os.Getpagesize())
}

// BenchSize is the size of a large benchmark's attachment: env's value in
// mebibytes, def when unset.
func BenchSize(tb testing.TB, env string, def int64) int64 {
	tb.Helper()
	mib := def
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			tb.Fatalf("%s=%q: not a positive number", env, s)
		}
		mib = v
	}
	return mib << 20
}
