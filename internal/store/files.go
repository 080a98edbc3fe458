package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Files keeps large attachment bodies as files beside the database, named
// by their SHA-256, so they stay out of the B+tree's pages and out of the
// hub's memory (reads are plain file reads, not mmap).
//
// A body is written to a temporary file, fsynced and renamed into place
// before the transaction that references it commits; a crash in between
// leaves an unreferenced file that Sweep removes at the next start. The
// database row is the commit point, so a document is either whole or absent.
type Files struct {
	dir string
}

// OpenFiles opens (creating) the blob directory.
func OpenFiles(dir string) (*Files, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob directory: %w", err)
	}
	return &Files{dir: dir}, nil
}

// Dir returns the blob directory.
func (f *Files) Dir() string { return f.dir }

func (f *Files) path(sum string) string { return filepath.Join(f.dir, sum[:2], sum) }

// FileWriter receives one body. Hashing and writing run on a goroutine of
// the writer, so the caller can receive the next chunk of an upload
// meanwhile; at most writerQueue chunks wait in between, so memory does not
// grow with the body. Write-back to the disk is started as the body grows
// (Linux), so the fsync in Commit does not have the whole body to write.
type FileWriter struct {
	f    *Files
	tmp  *os.File
	h    hash.Hash
	size int64 // bytes handed over
	done bool

	queue    chan []byte   // nil until the first write
	finished chan struct{} // closed when the worker has written everything queued
	failed   atomic.Pointer[error]
	stopped  bool
}

// writerQueue bounds the chunks handed over but not yet written.
const writerQueue = 8

// writebackEvery is how much a body grows between write-back requests.
const writebackEvery = 16 << 20

// Create starts a new body in a temporary file.
func (f *Files) Create() (*FileWriter, error) {
	tmp, err := os.CreateTemp(filepath.Join(f.dir, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &FileWriter{f: f, tmp: tmp, h: sha256.New()}, nil
}

// Write appends a copy of p to the body.
func (w *FileWriter) Write(p []byte) (int, error) {
	if err := w.Give(bytes.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Give appends p to the body and takes it: the caller must not touch p
// afterwards. It returns the first write error the worker met, if any.
func (w *FileWriter) Give(p []byte) error {
	if w.done || w.stopped {
		return errors.New("blob already finished")
	}
	if e := w.failed.Load(); e != nil {
		return *e
	}
	if len(p) == 0 {
		return nil
	}
	if w.queue == nil {
		w.queue = make(chan []byte, writerQueue)
		w.finished = make(chan struct{})
		go w.work()
	}
	w.queue <- p
	w.size += int64(len(p))
	return nil
}

// work writes the queued chunks in order; a second goroutine hashes them
// meanwhile (hashing costs about as much as receiving, so the two stages
// run side by side on a multi-core machine).
func (w *FileWriter) work() {
	defer close(w.finished)
	hashQ := make(chan []byte, writerQueue)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for p := range hashQ {
			w.h.Write(p)
		}
	}()
	defer func() { close(hashQ); <-hashed }()
	var written, kicked int64
	for p := range w.queue {
		if w.failed.Load() != nil {
			continue // drain: the upload fails at the next Give or at the end
		}
		hashQ <- p
		if _, err := w.tmp.Write(p); err != nil {
			err = fmt.Errorf("write blob: %w", err)
			w.failed.Store(&err)
			continue
		}
		written += int64(len(p))
		if written-kicked >= writebackEvery {
			startWriteback(w.tmp, kicked, written-kicked)
			kicked = written
		}
	}
}

// stop waits until everything handed over is written and hashed.
func (w *FileWriter) stop() error {
	if !w.stopped {
		w.stopped = true
		if w.queue != nil {
			close(w.queue)
			<-w.finished
		}
	}
	if e := w.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// Size returns the bytes handed over so far.
func (w *FileWriter) Size() int64 { return w.size }

// Sum ends the body (no more writes) and returns its SHA-256, or the
// error that stopped writing it.
func (w *FileWriter) Sum() ([]byte, error) {
	if err := w.stop(); err != nil {
		return nil, err
	}
	return w.h.Sum(nil), nil
}

// Commit makes the body durable under its digest and returns the digest
// (hex). If an identical body exists already, the new copy is dropped.
func (w *FileWriter) Commit() (string, error) {
	if w.done {
		return "", errors.New("blob already committed or aborted")
	}
	if err := w.stop(); err != nil {
		w.Abort()
		return "", err
	}
	w.done = true
	sum := hex.EncodeToString(w.h.Sum(nil))
	name := w.tmp.Name()
	if err := w.tmp.Sync(); err != nil {
		w.tmp.Close()
		os.Remove(name)
		return "", fmt.Errorf("sync blob: %w", err)
	}
	if err := w.tmp.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("close blob: %w", err)
	}
	final := w.f.path(sum)
	if _, err := os.Stat(final); err == nil {
		os.Remove(name)
		// In use again: a sweep of stale files (SweepStale) leaves it.
		_ = w.f.Touch(sum)
		return sum, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		os.Remove(name)
		return "", err
	}
	if err := os.Rename(name, final); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("place blob: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", err
	}
	return sum, nil
}

// Abort drops an unfinished body. It is safe after Commit.
func (w *FileWriter) Abort() {
	if w.done {
		return
	}
	w.stop()
	w.done = true
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}

// Open opens a body for reading.
func (f *Files) Open(sum string) (*os.File, error) {
	if !validSum(sum) {
		return nil, fmt.Errorf("blob %q: %w", sum, ErrNotFound)
	}
	r, err := os.Open(f.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", sum, ErrNotFound)
	}
	return r, err
}

// Remove deletes a body; a missing one is not an error.
func (f *Files) Remove(sum string) error {
	if !validSum(sum) {
		return nil
	}
	err := os.Remove(f.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Sweep removes temporary files and every body for which keep returns
// false. Run it only when no upload is in progress (at start).
func (f *Files) Sweep(keep func(sum string) (bool, error)) (removed int, err error) {
	return f.SweepStale(time.Now().Add(time.Hour), keep)
}

// Touch marks a body as just used, so SweepStale leaves it for a while.
func (f *Files) Touch(sum string) error {
	if !validSum(sum) {
		return fmt.Errorf("blob %q: %w", sum, ErrNotFound)
	}
	now := time.Now()
	return os.Chtimes(f.path(sum), now, now)
}

// SweepStale removes temporary files, and bodies for which keep returns
// false, last modified before cutoff: Sweep for a store that is in use (a
// cluster node's), where a recent file may belong to an upload under way
// or to a record not yet committed.
func (f *Files) SweepStale(cutoff time.Time, keep func(sum string) (bool, error)) (removed int, err error) {
	stale := func(path string) bool {
		fi, err := os.Stat(path)
		return err == nil && fi.ModTime().Before(cutoff)
	}
	tmp := filepath.Join(f.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if p := filepath.Join(tmp, e.Name()); stale(p) && os.Remove(p) == nil {
			removed++
		}
	}
	_, err = f.Walk(func(sum string) error {
		p := f.path(sum)
		if !stale(p) {
			return nil
		}
		ok, err := keep(sum)
		if err != nil {
			return err
		}
		if !ok && os.Remove(p) == nil {
			removed++
		}
		return nil
	})
	return removed, err
}

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

var _ io.Writer = (*FileWriter)(nil)
