//go:build !linux

package store

import "os"

// startWriteback is a no-op where sync_file_range does not exist; the
// fsync in Commit writes the whole body.
func startWriteback(*os.File, int64, int64) {}

// fdatasync falls back to a full fsync.
func fdatasync(f *os.File) error { return f.Sync() }
