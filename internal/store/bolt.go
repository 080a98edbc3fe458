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

// Bolt is a Store in one bbolt file with a write-ahead log in front. It
// is three goroutines' work: the committer (commit.go) group-commits
// Update calls into the log, the applier (apply.go) copies logged records
// into the file in large transactions, and views (read.go) read the file
// with the writes not yet applied on top. OpenBolt (open.go) replays the
// log after a crash.
type Bolt struct {
	path      string
	db        *bolt.DB
	gate      gate
	reads     *reader
	commit    *committer
	apply     *applier
	closeOnce sync.Once
}

// gate admits calls until Close shuts it; shut waits for the calls inside.
type gate struct {
	mu     sync.RWMutex // held for reading by callers, for writing by shut
	closed bool
}

// enter admits a call, which must leave, or returns ErrClosed.
func (g *gate) enter() error {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (g *gate) leave() { g.mu.RUnlock() }

func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// stop refuses new calls, lets the committer finish what is queued and
// stops the applier: after it has applied everything, or at once if abandon.
func (s *Bolt) stop(abandon bool) {
	s.gate.shut()
	s.commit.stop()
	s.apply.stop(abandon)
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
	seqs := map[Bucket]uint64{}
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			seqs[b] = tx.Bucket([]byte(b)).Sequence()
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	s := &Bolt{path: path, db: db, reads: &reader{db: db}, apply: newApplier(db, applied, opts)}
	s.commit = newCommitter(db, LogDir(path), opts, applied, seqs, s.reads, s.apply)
	s.reads.publish(s.commit.w.clone())
	go s.commit.loop()
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

// View implements Store. It sees every write whose Update has returned.
func (s *Bolt) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.gate.enter(); err != nil {
		return err
	}
	defer s.gate.leave()
	return s.reads.view(fn)
}

// Update implements Store. The caller waits for its own commit even if ctx
// ends meanwhile: once queued, a write's outcome is always reported.
func (s *Bolt) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.gate.enter(); err != nil {
		return err
	}
	res, err := s.commit.submit(ctx, fn)
	s.gate.leave()
	if err != nil {
		return err
	}
	return <-res
}

// Stats reports group-commit counters: commits (one log fsync each) and
// the Update calls they carried.
func (s *Bolt) Stats() (commits, updates uint64) { return s.commit.stats() }

// Snapshot implements Store with a read transaction, so writers go on.
// It first waits until every write committed before the call is in the
// file, so the copy holds them.
func (s *Bolt) Snapshot(ctx context.Context, fn func(tx Tx, size int64, write func(io.Writer) (int64, error)) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.gate.enter(); err != nil {
		return err
	}
	defer s.gate.leave()
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
	if err := s.gate.enter(); err != nil {
		return nil, err
	}
	defer s.gate.leave()
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
		err = s.commit.log.close(s.apply.drained())
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
