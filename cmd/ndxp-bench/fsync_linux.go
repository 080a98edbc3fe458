package main

import (
	"os"
	"syscall"
)

// datasync is what bbolt calls after each commit on Linux.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

const datasyncName = "fdatasync"
