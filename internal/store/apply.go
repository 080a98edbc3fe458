package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// applyRec is one logged record on its way into the file.
type applyRec struct {
	lsn   uint64
	ops   []op
	bytes int
	at    time.Time
}

// applier is the goroutine that copies logged records into the bbolt file
// in large transactions, so bbolt's copy-on-write pages and its two fsyncs
// are paid once for thousands of writes instead of once for a few. The
// committer hands it records (enqueue) and takes back the applied ones
// (takeApplied) to trim its overlay.
type applier struct {
	db      *bolt.DB
	delay   time.Duration // Options.ApplyDelay
	maxOps  int           // Options.ApplyOps
	onApply func(time.Duration, int, error)
	kick    chan struct{} // wakes the loop before its timer
	// trim tells the committer that an apply ended: it trims its overlay,
	// or, out of room, sees the error.
	trim chan struct{}
	done chan struct{}

	mu          sync.Mutex
	queue       []*applyRec // logged, not yet applied, oldest first
	queuedOps   int
	flushTo     uint64 // someone waits for records up to this one
	applied     uint64 // last record applied to the file
	appliedRecs []*applyRec
	appliedCh   chan struct{} // closed and replaced after each apply
	err         error         // the last apply failed with this
	stopping    bool
	abandon     bool // a simulated crash: stop without applying (tests)
}

func newApplier(db *bolt.DB, applied uint64, opts Options) *applier {
	return &applier{
		db:        db,
		delay:     opts.ApplyDelay,
		maxOps:    opts.ApplyOps,
		onApply:   opts.OnApply,
		kick:      make(chan struct{}, 1),
		trim:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		applied:   applied,
		appliedCh: make(chan struct{}),
	}
}

// enqueue hands a logged record to the applier.
func (a *applier) enqueue(rec *applyRec) {
	a.mu.Lock()
	a.queue = append(a.queue, rec)
	a.queuedOps += len(rec.ops)
	due := a.queuedOps >= a.maxOps || len(a.queue) == 1
	a.mu.Unlock()
	if due {
		a.poke()
	}
}

func (a *applier) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// hurry asks for every record up to lsn to be applied now, unless the last
// apply failed: then it returns that error.
func (a *applier) hurry(lsn uint64) error {
	a.mu.Lock()
	err := a.err
	a.flushTo = max(a.flushTo, lsn)
	a.mu.Unlock()
	if err == nil {
		a.poke()
	}
	return err
}

// takeApplied returns the records applied since the last call and the
// number of the last record the file holds.
func (a *applier) takeApplied() ([]*applyRec, uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	recs := a.appliedRecs
	a.appliedRecs = nil
	return recs, a.applied
}

// drained reports whether every record handed over is in the file.
func (a *applier) drained() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue) == 0
}

// stop ends the loop: after it has applied everything, or at once if abandon.
func (a *applier) stop(abandon bool) {
	a.mu.Lock()
	a.stopping, a.abandon = true, abandon
	a.mu.Unlock()
	a.poke()
	<-a.done
}

// loop applies queued records: when ApplyOps operations are waiting, when
// the oldest has waited ApplyDelay, or when someone needs them in the file
// (a snapshot, the committer out of room, Close).
func (a *applier) loop() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	backoff := time.Duration(0)
	for {
		a.mu.Lock()
		n, stop, abandon := len(a.queue), a.stopping, a.abandon
		var wait time.Duration
		due := false
		if n > 0 {
			wait = a.delay - time.Since(a.queue[0].at)
			due = wait <= 0 || a.queuedOps >= a.maxOps || a.flushTo >= a.queue[0].lsn || stop
		}
		a.mu.Unlock()
		if (n == 0 && stop) || abandon {
			return
		}
		if due && backoff == 0 {
			if err := a.applyOnce(); err != nil {
				if stop {
					return // Close: what is left stays in the log for the next open
				}
				backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
				timer.Reset(backoff)
				select {
				case <-timer.C:
				case <-a.kick: // Close, or a writer out of room: try again now
					timer.Stop()
				}
				backoff = 0
			}
			continue
		}
		if n == 0 {
			wait = time.Hour
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-timer.C:
		case <-a.kick:
			timer.Stop()
		}
	}
}

// applyOnce copies every queued record into the file in one transaction.
func (a *applier) applyOnce() error {
	a.mu.Lock()
	recs := a.queue
	a.mu.Unlock()
	start := time.Now()
	ops := 0
	err := a.db.Update(func(tx *bolt.Tx) error {
		n := 0
		for _, r := range recs {
			n += len(r.ops)
		}
		all := make([]op, 0, n)
		for _, r := range recs {
			all = append(all, r.ops...)
		}
		ops = len(all)
		if err := applyOps(tx, all); err != nil {
			return err
		}
		return setApplied(tx, recs[len(recs)-1].lsn)
	})
	if a.onApply != nil {
		a.onApply(time.Since(start), ops, err)
	}
	a.finish(recs, ops, err)
	return err
}

// finish records how applying recs (ops operations) ended and wakes those
// who wait for it: flush, and the committer.
func (a *applier) finish(recs []*applyRec, ops int, err error) {
	a.mu.Lock()
	if err != nil {
		a.err = fmt.Errorf("store: applying the write-ahead log: %w", err)
	} else {
		a.err = nil
		a.queue = append([]*applyRec(nil), a.queue[len(recs):]...)
		a.queuedOps -= ops
		a.applied = recs[len(recs)-1].lsn
		a.appliedRecs = append(a.appliedRecs, recs...)
	}
	close(a.appliedCh)
	a.appliedCh = make(chan struct{})
	a.mu.Unlock()
	select {
	case a.trim <- struct{}{}:
	default:
	}
}

// flush waits until every record handed over before it was called is in
// the file.
func (a *applier) flush(ctx context.Context) error {
	a.mu.Lock()
	target := a.applied
	if n := len(a.queue); n > 0 {
		target = a.queue[n-1].lsn
	}
	a.flushTo = max(a.flushTo, target)
	a.mu.Unlock()
	a.poke()
	for {
		a.mu.Lock()
		applied, err, ch := a.applied, a.err, a.appliedCh
		a.mu.Unlock()
		if applied >= target {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// appliedLSN returns the number of the last log record tx's file holds.
func appliedLSN(tx *bolt.Tx) uint64 {
	v := tx.Bucket([]byte(BucketMeta)).Get(appliedKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func setApplied(tx *bolt.Tx, lsn uint64) error {
	return tx.Bucket([]byte(BucketMeta)).Put(appliedKey, binary.BigEndian.AppendUint64(nil, lsn))
}

// applyOps writes operations, in log order, into a bbolt write
// transaction. It applies them sorted by bucket and key, which leaves the
// same file: ties keep their log order, so the last write to a key still
// wins, and writes to different keys commute. It matters for speed: bbolt
// inserts each key into its leaf's sorted slice, and splits leaves only
// when the transaction commits, so keys added in no particular order cost
// a copy of the growing leaf each, quadratic in one transaction; in order
// each lands at the end. It sorts positions, not the operations: a stable
// sort of the operations themselves moves each many times. ops is left as
// it is.
func applyOps(tx *bolt.Tx, ops []op) error {
	order := make([]int32, len(ops))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &ops[i], &ops[j]
		if c := cmp.Compare(a.b, b.b); c != 0 {
			return c
		}
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	var bk *bolt.Bucket
	for n, i := range order {
		o := &ops[i]
		if n == 0 || o.b != ops[order[n-1]].b {
			if bk = tx.Bucket([]byte(o.b)); bk == nil {
				return fmt.Errorf("%w: log names unknown bucket %q", ErrCorrupt, o.b)
			}
		}
		var err error
		switch o.kind {
		case opPut:
			err = bk.Put(o.key, o.val)
		case opDel:
			err = bk.Delete(o.key)
		case opSeq:
			err = bk.SetSequence(o.seq)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
