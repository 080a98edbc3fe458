//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseOpenFiles makes room for n more descriptors than a plain run uses.
// Go already lifts the soft limit to the hard one at start; this also
// tries the hard limit (root may), and sets the limit explicitly so that
// the hub child inherits it.
func raiseOpenFiles(n int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	want := uint64(n) + 4096
	if lim.Max < want {
		lim.Max = want
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		// Not privileged: take the soft limit up to the current hard one.
		if err2 := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err2 != nil {
			return 0, err2
		}
		lim.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err2 != nil {
			return 0, err2
		}
		if lim.Cur < want {
			return lim.Cur, fmt.Errorf("open files limited to %d, want %d: raise the hard limit (ulimit -Hn) or run as root: %w", lim.Cur, want, err)
		}
	}
	return lim.Cur, nil
}
