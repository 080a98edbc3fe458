package store

import (
	"context"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// updateReq is one Update call waiting for its commit.
type updateReq struct {
	fn  func(Tx) error
	err chan error
}

// committer is the writer goroutine: group commit. It runs every Update
// queued while the previous commit was being written, appends their
// writes to the log as one record with one fdatasync, and only then
// publishes them to readers, hands the record to the applier and answers
// each caller. A batch closes when it is full or when no more writes are
// waiting; it never sleeps to wait for more.
type committer struct {
	db       *bolt.DB
	reads    *reader
	apply    *applier
	maxBatch int
	onCommit func(time.Duration, int)
	rep      Replicator // nil: commits go to the log (replicate.go)
	follow   *follower  // records of the cluster to apply (replicate.go)

	reqs   chan *updateReq
	closed chan struct{} // closed by Close: drain reqs, then stop
	done   chan struct{}

	// The goroutine's own state.
	log          *wal
	w            *overlay // the overlay it writes; readers get clones
	seqs         map[Bucket]uint64
	lsn          uint64 // last record logged
	unapplied    int    // bytes of logged writes the overlay holds
	maxUnapplied int
	buf          []byte

	statsMu sync.Mutex
	commits uint64 // group commits (one log fsync each)
	updates uint64 // Update calls committed
}

// newCommitter returns the committer of a file that holds every log record
// up to applied, whose buckets' sequences are seqs, logging into logDir.
func newCommitter(db *bolt.DB, logDir string, opts Options, applied uint64, seqs map[Bucket]uint64, reads *reader, apply *applier) *committer {
	c := &committer{
		db:           db,
		reads:        reads,
		apply:        apply,
		maxBatch:     opts.MaxBatch,
		onCommit:     opts.OnCommit,
		reqs:         make(chan *updateReq, opts.MaxBatch),
		closed:       make(chan struct{}),
		done:         make(chan struct{}),
		log:          &wal{dir: logDir},
		w:            newOverlay(),
		seqs:         seqs,
		lsn:          applied,
		maxUnapplied: opts.MaxUnapplied,
		rep:          opts.Replicator,
		follow:       newFollower(applied),
	}
	c.w.trimmed = applied
	return c
}

// submit queues fn and returns where its outcome will be reported. It
// fails only if ctx ends before fn is queued.
func (c *committer) submit(ctx context.Context, fn func(Tx) error) (<-chan error, error) {
	req := &updateReq{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- req:
		return req.err, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop lets the goroutine run what is queued and waits for it to end. The
// caller has made sure that nothing more can be queued.
func (c *committer) stop() {
	close(c.closed)
	<-c.done
}

// stats returns the commits made and the Update calls they carried.
func (c *committer) stats() (commits, updates uint64) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return c.commits, c.updates
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]*updateReq, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		case <-c.apply.trim:
			c.trim()
			continue
		case <-c.follow.sig:
			c.drainFollows()
			continue
		case <-c.closed:
			// Close has shut the gate, so nothing more can be queued:
			// drain what is there, then stop.
			for {
				select {
				case r := <-c.reqs:
					c.run([]*updateReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < c.maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.run(batch)
	}
}

// run commits batch as one log record. A function that fails has its own
// writes undone; the others' stand.
func (c *committer) run(batch []*updateReq) {
	start := time.Now()
	c.trim()
	if c.rep != nil {
		// A leader's functions see every record the cluster committed.
		c.drainFollows()
		if !c.rep.Leading() {
			answer(batch, ErrNotLeader)
			return
		}
	}
	if err := c.waitRoom(); err != nil {
		answer(batch, err)
		return
	}
	t, ok, err := c.execute(batch)
	if err != nil {
		answer(batch, err)
		return
	}
	if len(t.w.ops) > 0 {
		if err := c.logBatch(t, len(ok), start); err != nil {
			answer(ok, err)
			return
		}
	}
	answer(ok, nil)
}

// answer reports err to each caller of reqs.
func answer(reqs []*updateReq, err error) {
	for _, r := range reqs {
		r.err <- err
	}
}

// execute runs the functions of batch, one after another, in a write
// transaction over the overlay and the file, and returns it with the
// requests whose function succeeded, moved to the front of batch. Those
// that failed are answered.
func (c *committer) execute(batch []*updateReq) (*mtx, []*updateReq, error) {
	// The committer's overlay holds every write the file lacks: it trims only
	// after the applier has committed, so any transaction begun now has them.
	rtx, err := c.db.Begin(false)
	if err != nil {
		return nil, nil, err
	}
	defer rtx.Rollback()
	ws := &writeState{lsn: c.lsn + 1, seqs: c.seqs}
	t := &mtx{rtx: rtx, ov: c.w, w: ws}
	ok := batch[:0] // in batch's array, so that returning it allocates nothing
	for _, r := range batch {
		undoMark, opsMark := len(ws.undo), len(ws.ops)
		if err := r.fn(t); err != nil {
			t.rollback(undoMark, opsMark)
			r.err <- err
			continue
		}
		ok = append(ok, r)
	}
	return t, ok, nil
}

// logBatch appends the writes of t, the transaction of updates calls, to
// the log as one record and syncs it; then readers see them and the
// applier has them. If the log refuses the record, the writes are undone.
func (c *committer) logBatch(t *mtx, updates int, start time.Time) error {
	ws := t.w
	c.buf = encodeOps(c.buf[:0], ws.ops)
	var err error
	if c.rep != nil {
		err = c.replicate(ws.lsn)
	} else {
		err = c.log.append(ws.lsn, c.buf)
	}
	if err != nil {
		t.rollback(0, 0)
		return err
	}
	c.lsn = ws.lsn
	defer c.follow.published(c.lsn)
	c.unapplied += ws.bytes
	c.reads.publish(c.w.clone())
	c.apply.enqueue(&applyRec{lsn: ws.lsn, ops: ws.ops, bytes: ws.bytes, at: start})
	c.statsMu.Lock()
	c.commits++
	c.updates += uint64(updates)
	c.statsMu.Unlock()
	if c.onCommit != nil {
		c.onCommit(time.Since(start), updates)
	}
	return nil
}

// waitRoom holds the committer while the overlay is over its memory bound,
// until the applier has made room. If the applier is failing (a full disk),
// the batch fails with its error instead of waiting.
func (c *committer) waitRoom() error {
	for c.unapplied > c.maxUnapplied {
		if err := c.apply.hurry(c.lsn); err != nil {
			return err
		}
		<-c.apply.trim
		c.trim()
	}
	return nil
}

// trim removes from the committer's overlay what the applier has put in the
// file, publishes the result and drops log segments no longer needed.
func (c *committer) trim() {
	recs, applied := c.apply.takeApplied()
	if len(recs) == 0 {
		return
	}
	for _, rec := range recs {
		c.w.drop(rec.ops, applied)
		c.unapplied -= rec.bytes
	}
	c.w.trimmed = applied
	c.reads.publish(c.w.clone())
	_ = c.log.dropApplied(applied) // a segment not removed now is removed next time
}
