package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options tunes a bbolt store. The zero value is usable.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file; 0 means 1 second.
	LockTimeout time.Duration
	// MaxBatch is the most Update calls that share one log record and one
	// fsync; 0 means 1000.
	MaxBatch int
	// CheckLimit: files up to this size get a full page check before they
	// are opened for writing; 0 means 256 MiB, negative never checks.
	// Larger stores are checked with `ndxpctl check`.
	CheckLimit int64
	// ApplyDelay is the longest a logged write waits before the applier
	// copies it into the bbolt file; 0 means 100 ms. ApplyOps: the applier
	// starts at once when this many operations are waiting; 0 means 20,000.
	ApplyDelay time.Duration
	ApplyOps   int
	// MaxUnapplied bounds the memory held by logged writes not yet in the
	// file (their keys and values); writers wait beyond it. 0 means 64 MiB.
	MaxUnapplied int
	// OnCommit, if set, is called after each group commit (one log record
	// and its fsync) with how long it took and how many Update calls it carried.
	OnCommit func(d time.Duration, updates int)
	// OnApply, if set, is called after each transaction of the applier with
	// how long it took (including bbolt's two fsyncs), how many operations
	// it copied, and its error if it failed (it is then retried).
	OnApply func(d time.Duration, ops int, err error)
}

// Bolt is a Store in one bbolt file with a write-ahead log in front.
//
// Update calls are group-committed: one goroutine (the writer) runs every
// Update queued while the previous commit was being written, appends
// their writes to the log as one record with one fdatasync, and answers
// each caller only then. The batch closes when it is full or when no more
// writes are waiting; it never sleeps to wait for more. A second goroutine
// (the applier) copies logged records into bbolt in large transactions,
// so bbolt's copy-on-write pages and its two fsyncs are paid once for
// thousands of writes instead of once for a few. Until then, reads find
// the writes in an in-memory overlay (see overlay.go). After a crash the
// records not yet applied are replayed on open (see wal.go).
type Bolt struct {
	db       *bolt.DB
	path     string
	maxBatch int
	onCommit func(time.Duration, int)

	reqs chan *updateReq

	closeOnce sync.Once
	closed    chan struct{}
	done      chan struct{}
	mu        sync.RWMutex // held for reading by callers, for writing by Close
	isClosed  bool

	// The writer goroutine's own state.
	log          *wal
	w            *overlay // the overlay it writes; readers get clones
	seqs         map[Bucket]uint64
	lsn          uint64 // last record logged
	unapplied    int    // bytes of logged writes the overlay holds
	maxUnapplied int
	buf          []byte

	reads *reader
	apply *applier

	commits uint64 // group commits (one log fsync each)
	updates uint64 // Update calls committed
	statsMu sync.Mutex
}

// stop refuses new calls, lets the writer finish what is queued and stops
// the applier: after it has applied everything, or at once if abandon.
func (s *Bolt) stop(abandon bool) {
	s.mu.Lock()
	s.isClosed = true
	s.mu.Unlock()
	close(s.closed)
	<-s.done
	s.apply.stop(abandon)
}

type updateReq struct {
	fn  func(Tx) error
	err chan error
}

// OpenBolt opens or creates the store file at path. A file written by
// another schema version is refused with ErrSchema and left untouched.
// Log records not yet applied to the file (after a crash) are applied.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.ApplyDelay <= 0 {
		opts.ApplyDelay = 100 * time.Millisecond
	}
	if opts.ApplyOps <= 0 {
		opts.ApplyOps = 20000
	}
	if opts.MaxUnapplied <= 0 {
		opts.MaxUnapplied = 64 << 20
	}
	if err := verify(path, opts); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	fail := func(err error) (*Bolt, error) {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := checkSchema(db); err != nil {
		return fail(err)
	}
	// Read (and check) the whole log before anything is written.
	recs, err := readLog(LogDir(path))
	if err != nil {
		return fail(err)
	}
	pending, applied, err := unapplied(db, recs)
	if err != nil {
		return fail(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket([]byte(BucketMeta))
		if v := meta.Get(schemaKey); v == nil || string(v) != strconv.Itoa(SchemaVersion) {
			return meta.Put(schemaKey, []byte(strconv.Itoa(SchemaVersion)))
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	if applied, err = replay(db, pending, applied); err != nil {
		return fail(err)
	}
	if len(recs) > 0 {
		if err := removeLogFiles(LogDir(path)); err != nil {
			return fail(err)
		}
	}
	s := &Bolt{
		db:           db,
		path:         path,
		maxBatch:     opts.MaxBatch,
		onCommit:     opts.OnCommit,
		reqs:         make(chan *updateReq, opts.MaxBatch),
		closed:       make(chan struct{}),
		done:         make(chan struct{}),
		log:          &wal{dir: LogDir(path)},
		w:            newOverlay(),
		seqs:         map[Bucket]uint64{},
		lsn:          applied,
		maxUnapplied: opts.MaxUnapplied,
		reads:        &reader{db: db},
		apply:        newApplier(db, applied, opts),
	}
	s.w.trimmed = applied
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			s.seqs[b] = tx.Bucket([]byte(b)).Sequence()
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	s.reads.publish(s.w.clone())
	go s.commitLoop()
	go s.apply.loop()
	return s, nil
}

// unapplied returns the log records the file does not have yet, and the
// number of the last one it has.
func unapplied(db *bolt.DB, recs []walRecord) ([]walRecord, uint64, error) {
	var applied uint64
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte(BucketMeta)) != nil {
			applied = appliedLSN(tx)
		}
		return nil
	}); err != nil {
		return nil, 0, err
	}
	for len(recs) > 0 && recs[0].lsn <= applied {
		recs = recs[1:]
	}
	if len(recs) > 0 && recs[0].lsn != applied+1 {
		return nil, 0, fmt.Errorf("%w: the log starts at record %d but the file holds records up to %d only", ErrCorrupt, recs[0].lsn, applied)
	}
	return recs, applied, nil
}

// replay applies recs, which follow record applied, and returns the
// number of the last record the file then holds.
func replay(db *bolt.DB, recs []walRecord, applied uint64) (uint64, error) {
	for len(recs) > 0 {
		// A transaction of up to 64 MiB of log at a time.
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size < 64<<20) {
			size += len(recs[n].payload)
			n++
		}
		err := db.Update(func(tx *bolt.Tx) error {
			var all []op
			for _, r := range recs[:n] {
				ops, err := decodeOps(r.payload)
				if err != nil {
					return fmt.Errorf("record %d: %w", r.lsn, err)
				}
				all = append(all, ops...)
			}
			if err := applyOps(tx, all); err != nil {
				return fmt.Errorf("records %d to %d: %w", recs[0].lsn, recs[n-1].lsn, err)
			}
			return setApplied(tx, recs[n-1].lsn)
		})
		if err != nil {
			return 0, fmt.Errorf("replaying the write-ahead log: %w", err)
		}
		applied = recs[n-1].lsn
		recs = recs[n:]
	}
	return applied, nil
}

// verify opens an existing file read-only and checks its schema version
// and (up to CheckLimit bytes) its pages, so that a damaged file, or one of
// another version, is refused before anything could write to it.
func verify(path string, opts Options) (err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("open store %s: %w: the file is empty", path, ErrCorrupt)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("open store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("open store %s: %w", path, ErrLocked)
		}
		return fmt.Errorf("open store %s: %w: %v", path, ErrCorrupt, err)
	}
	defer db.Close()
	if err := checkSchema(db); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	limit := opts.CheckLimit
	if limit == 0 {
		limit = 256 << 20
	}
	if limit > 0 && fi.Size() <= limit {
		var problems []string
		db.View(func(tx *bolt.Tx) error { problems = checkTx(tx); return nil })
		if len(problems) > 0 {
			return fmt.Errorf("open store %s: %w: %s (%d problems; the file was not modified)", path, ErrCorrupt, problems[0], len(problems))
		}
	}
	return nil
}

// checkSchema refuses a file of another schema version before anything is written.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(BucketMeta))
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: no schema version in a non-empty file", ErrSchema)
			}
			return nil
		}
		v := meta.Get(schemaKey)
		if v == nil {
			return fmt.Errorf("%w: no schema version", ErrSchema)
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("%w: unreadable schema version %q", ErrSchema, v)
		}
		if n != SchemaVersion && n != 1 { // version 1 (no log) is upgraded on open
			return fmt.Errorf("%w: file has version %d, this hub reads versions 1 to %d", ErrSchema, n, SchemaVersion)
		}
		return nil
	})
}

func (s *Bolt) enter() error {
	s.mu.RLock()
	if s.isClosed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// View implements Store. It sees every write whose Update has returned.
func (s *Bolt) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.reads.view(fn)
}

// Update implements Store. The caller waits for its own commit even if ctx
// ends meanwhile: once queued, a write's outcome is always reported.
func (s *Bolt) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	req := &updateReq{fn: fn, err: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-req.err
}

func (s *Bolt) commitLoop() {
	defer close(s.done)
	batch := make([]*updateReq, 0, s.maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.apply.trim:
			s.trim()
			continue
		case <-s.closed:
			// Close holds the write lock, so nothing more can be queued:
			// drain what is there, then stop.
			for {
				select {
				case r := <-s.reqs:
					s.run([]*updateReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.run(batch)
	}
}

// run commits batch as one log record. A function that fails has its own
// writes undone; the others' stand.
func (s *Bolt) run(batch []*updateReq) {
	start := time.Now()
	s.trim()
	if err := s.waitRoom(); err != nil {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	// The writer's overlay holds every write the file lacks: it trims only
	// after the applier has committed, so any transaction begun now has them.
	rtx, err := s.db.Begin(false)
	if err != nil {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	ws := &writeState{lsn: s.lsn + 1, seqs: s.seqs}
	t := &mtx{rtx: rtx, ov: s.w, w: ws}
	ok := make([]*updateReq, 0, len(batch))
	for _, r := range batch {
		undoMark, opsMark := len(ws.undo), len(ws.ops)
		if err := r.fn(t); err != nil {
			t.rollback(undoMark, opsMark)
			r.err <- err
			continue
		}
		ok = append(ok, r)
	}
	rtx.Rollback()
	if len(ws.ops) > 0 {
		s.buf = encodeOps(s.buf[:0], ws.ops)
		if err := s.log.append(ws.lsn, s.buf); err != nil {
			t.rollback(0, 0)
			for _, r := range ok {
				r.err <- err
			}
			return
		}
		s.lsn = ws.lsn
		s.unapplied += ws.bytes
		s.reads.publish(s.w.clone())
		s.apply.enqueue(&applyRec{lsn: ws.lsn, ops: ws.ops, bytes: ws.bytes, at: start})
		s.statsMu.Lock()
		s.commits++
		s.updates += uint64(len(ok))
		s.statsMu.Unlock()
		if s.onCommit != nil {
			s.onCommit(time.Since(start), len(ok))
		}
	}
	for _, r := range ok {
		r.err <- nil
	}
}

// waitRoom holds the writer while the overlay is over its memory bound,
// until the applier has made room. If the applier is failing (a full disk),
// the batch fails with its error instead of waiting.
func (s *Bolt) waitRoom() error {
	for s.unapplied > s.maxUnapplied {
		if err := s.apply.hurry(s.lsn); err != nil {
			return err
		}
		<-s.apply.trim
		s.trim()
	}
	return nil
}

// trim removes from the writer's overlay what the applier has put in the
// file, publishes the result and drops log segments no longer needed.
func (s *Bolt) trim() {
	recs, applied := s.apply.takeApplied()
	if len(recs) == 0 {
		return
	}
	for _, rec := range recs {
		for _, o := range rec.ops {
			if o.kind == opSeq {
				continue
			}
			tr := s.w.trees[o.b]
			if e, ok := tr.Get(entry{key: o.key}); ok && e.lsn <= applied {
				tr.Delete(e)
			}
		}
		s.unapplied -= rec.bytes
	}
	s.w.trimmed = applied
	s.reads.publish(s.w.clone())
	_ = s.log.dropApplied(applied) // a segment not removed now is removed next time
}

// Stats reports group-commit counters: commits (one log fsync each) and
// the Update calls they carried.
func (s *Bolt) Stats() (commits, updates uint64) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.commits, s.updates
}

// Snapshot implements Store with a read transaction, so writers go on.
// It first waits until every write committed before the call is in the
// file, so the copy holds them.
func (s *Bolt) Snapshot(ctx context.Context, fn func(tx Tx, size int64, write func(io.Writer) (int64, error)) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.apply.flush(ctx); err != nil {
		return err
	}
	return s.reads.snapshot(ctx, fn)
}

// Check implements Store: it walks every page reachable from the root.
// It does so in a write transaction that it rolls back. bbolt's check
// reads the file's free list, which a writer committing meanwhile (the
// applier) changes: in a read transaction it reported pages freed by
// later commits as damage, and could crash the process (the free list is
// a map, read and written at once: a fatal error, not a panic). The
// applier waits for the check and commits go on into the log; on a store
// whose check outlasts the log's memory bound (MaxUnapplied), writers
// then wait for it too.
func (s *Bolt) Check(ctx context.Context) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	problems := checkTx(tx)
	return problems, ctx.Err()
}

// checkTx runs bbolt's page check, turning a panic on a damaged page into
// a reported problem.
func checkTx(tx *bolt.Tx) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("page check stopped on damaged data: %v", r))
		}
	}()
	// Read every key first, here: a damaged page then panics in this
	// goroutine, where it is recovered, instead of in the goroutine that
	// bbolt's own check starts to rebuild the free list.
	if err := touchAll(tx); err != nil {
		return append(problems, err.Error())
	}
	for err := range tx.Check() {
		problems = append(problems, err.Error())
		if len(problems) >= 100 {
			problems = append(problems, "(more problems not listed)")
			break
		}
	}
	return problems
}

// touchAll reads every key and value of every bucket.
func touchAll(tx *bolt.Tx) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					return walk(nb)
				}
			}
			return nil
		})
	}
	return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
}

// Size implements Store: the file and its write-ahead log.
func (s *Bolt) Size() int64 {
	var n int64
	if fi, err := os.Stat(s.path); err == nil {
		n = fi.Size()
	}
	segs, _ := listSegments(LogDir(s.path))
	for _, sg := range segs {
		if fi, err := os.Stat(sg.path); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Path returns the file the store lives in.
func (s *Bolt) Path() string { return s.path }

// Close implements Store: it waits for queued writes, applies the log to
// the file and deletes it, then closes the file. If the log cannot be
// applied (a full disk), it is kept and replayed on the next open.
func (s *Bolt) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stop(false)
		err = s.log.close(s.apply.drained())
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
