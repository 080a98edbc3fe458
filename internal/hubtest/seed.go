package hubtest

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Seed is the seed of a randomised test: the value of the environment
// variable env when set, so that a failed run can be replayed, else the
// clock's. The test logs it either way.
func Seed(tb testing.TB, env string) uint64 {
	tb.Helper()
	if s := os.Getenv(env); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q: %v", env, s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}
