package store

import (
	"errors"
	"syscall"
)

// IsFull reports whether err is the disk (or the user's quota) running out
// of space, from a commit or a body file: the caller's write failed, and
// may succeed once space returns.
func IsFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
