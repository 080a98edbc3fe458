package store

import (
	"context"
	"errors"
	"io"
)

// Errors returned by stores. Callers branch on them with errors.Is.
var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrSchema means the file was written by an incompatible schema version.
	ErrSchema = errors.New("incompatible store schema")
	// ErrUnknownBucket means a bucket name not declared in buckets.go.
	ErrUnknownBucket = errors.New("unknown bucket")
	// ErrLocked means another process holds the store open.
	ErrLocked = errors.New("store is locked by another process")
	// ErrCorrupt means the file failed its consistency check.
	ErrCorrupt = errors.New("store is corrupt")
)

// Store is a transactional, ordered key-value store of named buckets.
type Store interface {
	// View runs fn in a read-only transaction; it sees one consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and returns only after the
	// transaction is durable on disk. If fn returns an error nothing it
	// wrote is kept. fn may be run more than once, so it must not have
	// side effects outside the transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// Snapshot runs fn in a read transaction while writers go on: fn gets
	// the transaction, the size of a consistent copy of the whole store as
	// of that transaction, and a function that writes that copy to w.
	Snapshot(ctx context.Context, fn func(tx Tx, size int64, write func(w io.Writer) (int64, error)) error) error
	// Check verifies the store's structure and returns the problems found.
	Check(ctx context.Context) ([]string, error)
	// Size returns the size of the store in bytes.
	Size() int64
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// Tx is one transaction. It must not be used after its function returns.
type Tx interface {
	// Get returns a copy of the value of key, or ErrNotFound.
	Get(b Bucket, key []byte) ([]byte, error)
	// Put stores value under key. It fails in a read-only transaction.
	Put(b Bucket, key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(b Bucket, key []byte) error
	// Scan calls fn with copies of each key and value whose key has the
	// given prefix and is not before start (nil start: from the prefix),
	// in key order, until fn returns false or an error.
	Scan(b Bucket, prefix, start []byte, fn func(k, v []byte) (bool, error)) error
	// ScanDesc is Scan in reverse key order: keys with the prefix that are
	// before `before` (nil: from the last key of the prefix).
	ScanDesc(b Bucket, prefix, before []byte, fn func(k, v []byte) (bool, error)) error
	// Count returns the number of keys in a bucket.
	Count(b Bucket) (int, error)
	// NextSequence returns the next value of the bucket's durable counter.
	NextSequence(b Bucket) (uint64, error)
}
