package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Opening a store: the file is verified read-only before anything may
// write to it, then opened for writing with a lock timeout, given its
// buckets and brought up to date from the write-ahead log.

// OpenBolt opens or creates the store file at path. A file written by
// another schema version is refused with ErrSchema and left untouched.
// Log records not yet applied to the file (after a crash) are applied.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	opts = opts.withDefaults()
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
	applied, seqs, err := prepare(db, LogDir(path))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return newBolt(path, db, opts, applied, seqs), nil
}

// prepare makes an open file ready for the committer: it refuses another
// schema version, creates the buckets, replays the log records the file
// lacks and deletes the log. It returns the number of the last record the
// file holds and each bucket's sequence.
func prepare(db *bolt.DB, logDir string) (uint64, map[Bucket]uint64, error) {
	if err := checkSchema(db); err != nil {
		return 0, nil, err
	}
	// Read (and check) the whole log before anything is written.
	recs, err := readLog(logDir)
	if err != nil {
		return 0, nil, err
	}
	pending, applied, err := unapplied(db, recs)
	if err != nil {
		return 0, nil, err
	}
	if err := createBuckets(db); err != nil {
		return 0, nil, err
	}
	if applied, err = replay(db, pending, applied); err != nil {
		return 0, nil, err
	}
	if len(recs) > 0 {
		if err := removeLogFiles(logDir); err != nil {
			return 0, nil, err
		}
	}
	seqs, err := sequences(db)
	if err != nil {
		return 0, nil, err
	}
	return applied, seqs, nil
}

// createBuckets creates the buckets the file lacks and stamps it with
// this schema version (a version 1 file is upgraded here).
func createBuckets(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
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
	})
}

// sequences returns each bucket's sequence, which the committer counts on from.
func sequences(db *bolt.DB) (map[Bucket]uint64, error) {
	seqs := map[Bucket]uint64{}
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			seqs[b] = tx.Bucket([]byte(b)).Sequence()
		}
		return nil
	})
	return seqs, err
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
	if opts.CheckLimit > 0 && fi.Size() <= opts.CheckLimit {
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
