package store

import (
	"bytes"
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
	// MaxBatch is the most Update calls that share one transaction and one
	// fsync; 0 means 1000.
	MaxBatch int
	// CheckLimit: files up to this size get a full page check before they
	// are opened for writing; 0 means 256 MiB, negative never checks.
	// Larger stores are checked with `ndxpctl check`.
	CheckLimit int64
	// OnCommit, if set, is called after each committed transaction with
	// how long the commit (and its fsync) took and how many Update calls it carried.
	OnCommit func(d time.Duration, updates int)
}

// Bolt is a Store in one bbolt file.
//
// Update calls are group-committed: one goroutine runs every Update queued
// while the previous commit was being written in a single transaction, so
// many writers share one fsync, and each caller is answered only after the
// transaction holding its writes is on disk. A batch closes when it is full
// or when no more writes are waiting; it never sleeps to wait for more.
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

	commits uint64 // transactions committed (each one fsync)
	updates uint64 // Update calls committed
	statsMu sync.Mutex
}

type updateReq struct {
	fn  func(Tx) error
	err chan error
}

// OpenBolt opens or creates the store file at path. A file written by
// another schema version is refused with ErrSchema and left untouched.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
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
	if err := checkSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket([]byte(BucketMeta))
		if meta.Get(schemaKey) == nil {
			return meta.Put(schemaKey, []byte(strconv.Itoa(SchemaVersion)))
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Bolt{
		db:       db,
		path:     path,
		maxBatch: opts.MaxBatch,
		onCommit: opts.OnCommit,
		reqs:     make(chan *updateReq, opts.MaxBatch),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
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
		if n != SchemaVersion {
			return fmt.Errorf("%w: file has version %d, this hub reads version %d", ErrSchema, n, SchemaVersion)
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

// View implements Store.
func (s *Bolt) View(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
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

// errBatchFn aborts a batch because one of its functions failed.
type errBatchFn struct {
	i   int
	err error
}

func (e *errBatchFn) Error() string { return e.err.Error() }

func (s *Bolt) commitLoop() {
	defer close(s.done)
	batch := make([]*updateReq, 0, s.maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
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

// run commits batch in one transaction. A function that fails is taken out
// and run alone so its error cannot undo the others' writes.
func (s *Bolt) run(batch []*updateReq) {
	for len(batch) > 0 {
		start := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if err := r.fn(boltTx{tx}); err != nil {
					return &errBatchFn{i: i, err: err}
				}
			}
			return nil
		})
		var fnErr *errBatchFn
		if errors.As(err, &fnErr) {
			failed := batch[fnErr.i]
			if len(batch) == 1 {
				failed.err <- fnErr.err
				return
			}
			// Run the failing one alone, then retry the rest together.
			s.run([]*updateReq{failed})
			batch = append(batch[:fnErr.i:fnErr.i], batch[fnErr.i+1:]...)
			continue
		}
		s.statsMu.Lock()
		if err == nil {
			s.commits++
			s.updates += uint64(len(batch))
		}
		s.statsMu.Unlock()
		if err == nil && s.onCommit != nil {
			s.onCommit(time.Since(start), len(batch))
		}
		for _, r := range batch {
			r.err <- err
		}
		return
	}
}

// Stats reports group-commit counters: transactions committed (one fsync
// each) and Update calls they carried.
func (s *Bolt) Stats() (commits, updates uint64) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.commits, s.updates
}

// Snapshot implements Store with a read transaction, so writers go on.
func (s *Bolt) Snapshot(ctx context.Context, fn func(tx Tx, size int64, write func(io.Writer) (int64, error)) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error {
		return fn(boltTx{tx}, tx.Size(), func(w io.Writer) (int64, error) {
			return tx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		})
	})
}

// Check implements Store: it walks every page reachable from the root
// in a read transaction.
func (s *Bolt) Check(ctx context.Context) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var problems []string
	err := s.db.View(func(tx *bolt.Tx) error {
		problems = checkTx(tx)
		return ctx.Err()
	})
	return problems, err
}

// checkTx runs bbolt's page check, turning a panic on a damaged page into
// a reported problem.
func checkTx(tx *bolt.Tx) (problems []string) {
	defer func() {
		if r := recover(); r != nil {
			problems = append(problems, fmt.Sprintf("page check stopped on damaged data: %v", r))
		}
	}()
	for err := range tx.Check() {
		problems = append(problems, err.Error())
		if len(problems) >= 100 {
			problems = append(problems, "(more problems not listed)")
			break
		}
	}
	return problems
}

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

// Size implements Store.
func (s *Bolt) Size() int64 {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Path returns the file the store lives in.
func (s *Bolt) Path() string { return s.path }

// Close implements Store: it waits for queued writes, then closes the file.
func (s *Bolt) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.isClosed = true
		s.mu.Unlock()
		close(s.closed)
		<-s.done
		err = s.db.Close()
	})
	return err
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) bucket(b Bucket) (*bolt.Bucket, error) {
	if !known(b) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBucket, b)
	}
	bk := t.tx.Bucket([]byte(b))
	if bk == nil {
		return nil, fmt.Errorf("%w: %q missing from file", ErrUnknownBucket, b)
	}
	return bk, nil
}

func (t boltTx) Get(b Bucket, key []byte) ([]byte, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return nil, err
	}
	v := bk.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t boltTx) Put(b Bucket, key, value []byte) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	return bk.Put(key, value)
}

func (t boltTx) Delete(b Bucket, key []byte) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	return bk.Delete(key)
}

func (t boltTx) Scan(b Bucket, prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	c := bk.Cursor()
	seek := prefix
	if bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(bytes.Clone(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t boltTx) ScanDesc(b Bucket, prefix, before []byte, fn func(k, v []byte) (bool, error)) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	// Start at the last key below the bound: before, or the end of the prefix.
	c := bk.Cursor()
	bound := before
	if bound == nil {
		bound = prefixEnd(prefix)
	}
	var k, v []byte
	if bound == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(bound); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev() // Seek lands on the first key >= bound
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		more, err := fn(bytes.Clone(k), bytes.Clone(v))
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// prefixEnd returns the first key after every key with prefix, or nil if
// there is none (an empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (t boltTx) Count(b Bucket) (int, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return 0, err
	}
	return bk.Stats().KeyN, nil
}

func (t boltTx) NextSequence(b Bucket) (uint64, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return 0, err
	}
	return bk.NextSequence()
}
