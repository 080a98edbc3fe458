package store

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
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
	// Replicator, when set, makes the store one node of a replicated store
	// (replicate.go): commits go through it instead of the write-ahead log.
	Replicator Replicator
}

// withDefaults returns opts with each zero setting replaced by its default.
func (opts Options) withDefaults() Options {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.CheckLimit == 0 {
		opts.CheckLimit = 256 << 20
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
	return opts
}

// Bolt is a Store in one bbolt file with a write-ahead log in front,
// composed of roles that each keep their own state: the committer
// (commit.go, a goroutine) group-commits Update calls into the log, the
// applier (apply.go, a goroutine) copies logged records into the file in
// large transactions, and the reader (read.go) serves View and Snapshot
// from the file with the writes not yet applied on top. OpenBolt (open.go)
// verifies the file and replays the log after a crash; check.go checks it.
type Bolt struct {
	path      string
	db        *bolt.DB
	gate      gate
	reads     *reader
	commit    *committer
	apply     *applier
	closeOnce sync.Once
}

// newBolt starts the goroutines of a store whose file db holds every log
// record up to applied, its buckets' sequences being seqs.
func newBolt(path string, db *bolt.DB, opts Options, applied uint64, seqs map[Bucket]uint64) *Bolt {
	s := &Bolt{path: path, db: db, reads: &reader{db: db}, apply: newApplier(db, applied, opts)}
	s.commit = newCommitter(db, LogDir(path), opts, applied, seqs, s.reads, s.apply)
	s.reads.publish(s.commit.w.clone())
	go s.commit.loop()
	go s.apply.loop()
	return s
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

// Check implements Store: it walks every page reachable from the root,
// holding the applier off meanwhile (see check).
func (s *Bolt) Check(ctx context.Context) ([]string, error) {
	if err := s.gate.enter(); err != nil {
		return nil, err
	}
	defer s.gate.leave()
	return check(ctx, s.db)
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
