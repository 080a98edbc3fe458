//go:build unix

package server

import "syscall"

// raiseFileLimit raises the soft open-files limit to the hard one (every
// agency's connection is a descriptor) and returns the limit in force.
func raiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return r.Cur, err
		}
		r = want
	}
	return r.Cur, nil
}
