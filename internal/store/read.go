package store

import (
	"context"
	"io"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// reader serves View and Snapshot. A view reads a bbolt read transaction
// with the overlay the committer last published on top of it, so it sees
// every committed write, applied to the file or not.
type reader struct {
	db  *bolt.DB
	pub atomic.Pointer[overlay] // a clone of the committer's overlay, never modified
}

// publish makes ov, which no one will modify, what new views read.
func (r *reader) publish(ov *overlay) { r.pub.Store(ov) }

// view runs fn in a read-only transaction over the file and the overlay.
func (r *reader) view(fn func(Tx) error) error {
	tx, ov, err := r.begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(&mtx{rtx: tx, ov: ov})
}

// begin opens a bbolt read transaction and the overlay to read on top of
// it. The file is opened first: the overlay loaded after it holds every
// write the file lacks, unless the applier committed and the committer
// trimmed in between, which the check below catches.
func (r *reader) begin() (*bolt.Tx, *overlay, error) {
	for {
		tx, err := r.db.Begin(false)
		if err != nil {
			return nil, nil, err
		}
		ov := r.pub.Load()
		if ov.trimmed <= appliedLSN(tx) {
			return tx, ov, nil
		}
		tx.Rollback()
	}
}

// snapshot runs fn in a read transaction of the file alone, without the
// overlay: the caller has had the applier flush the log into the file
// first, so that the copy fn writes holds every committed write.
func (r *reader) snapshot(ctx context.Context, fn func(tx Tx, size int64, write func(io.Writer) (int64, error)) error) error {
	return r.db.View(func(tx *bolt.Tx) error {
		return fn(&mtx{rtx: tx, ov: newOverlay()}, tx.Size(), func(w io.Writer) (int64, error) {
			return tx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		})
	})
}

// ctxWriter stops a snapshot's copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
