package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// mtx implements Tx over the overlay and a bbolt read transaction under
// it. In the committer (w set) its writes go into the overlay and are
// recorded for the log; bbolt is only read.
type mtx struct {
	rtx *bolt.Tx
	ov  *overlay
	// The committer's only (nil in views):
	w *writeState
	// bks caches the bbolt buckets looked up, by position in allBuckets
	// (tx.Bucket searches the root and allocates on every call).
	bks [maxBuckets]*bolt.Bucket
}

const maxBuckets = 16

// bucketIndex is each bucket's position in allBuckets.
var bucketIndex = func() map[Bucket]int {
	if len(allBuckets) > maxBuckets {
		panic("store: raise maxBuckets")
	}
	m := make(map[Bucket]int, len(allBuckets))
	for i, b := range allBuckets {
		m[b] = i
	}
	return m
}()

// writeState is what a write transaction records for the committer.
type writeState struct {
	lsn   uint64
	ops   []op
	undo  []undo
	seqs  map[Bucket]uint64
	bytes int
}

// undo restores one key (or a sequence) after a function failed.
type undo struct {
	b       Bucket
	key     []byte
	prev    entry
	existed bool
	seq     bool // the bucket's sequence: prev.lsn holds the old value
}

var errReadOnly = errors.New("store: write in a read-only transaction")

func (t *mtx) bucket(b Bucket) (*bolt.Bucket, error) {
	i, ok := bucketIndex[b]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownBucket, b)
	}
	if bk := t.bks[i]; bk != nil {
		return bk, nil
	}
	bk := t.rtx.Bucket([]byte(b))
	if bk == nil {
		return nil, fmt.Errorf("%w: %q missing from file", ErrUnknownBucket, b)
	}
	t.bks[i] = bk
	return bk, nil
}

func (t *mtx) Get(b Bucket, key []byte) ([]byte, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return nil, err
	}
	if e, ok := t.ov.get(b, key); ok {
		if e.del {
			return nil, ErrNotFound
		}
		return bytes.Clone(e.val), nil
	}
	v := bk.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// checkPut refuses what bbolt would refuse, before the write is logged:
// the log must only hold writes bbolt will take.
func checkPut(key, value []byte) error {
	switch {
	case len(key) == 0:
		return berrors.ErrKeyRequired
	case len(key) > bolt.MaxKeySize:
		return berrors.ErrKeyTooLarge
	case int64(len(value)) > bolt.MaxValueSize:
		return berrors.ErrValueTooLarge
	}
	return nil
}

func (t *mtx) Put(b Bucket, key, value []byte) error {
	return t.write(b, key, value, false)
}

func (t *mtx) Delete(b Bucket, key []byte) error {
	return t.write(b, key, nil, true)
}

func (t *mtx) write(b Bucket, key, value []byte, del bool) error {
	if t.w == nil {
		return errReadOnly
	}
	if _, ok := bucketIndex[b]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknownBucket, b)
	}
	if err := checkPut(key, value); err != nil {
		return err
	}
	e := entry{key: bytes.Clone(key), del: del, lsn: t.w.lsn}
	kind := opDel
	if !del {
		e.val = bytes.Clone(value)
		if e.val == nil {
			e.val = []byte{}
		}
		kind = opPut
	}
	prev, existed := t.ov.tree(b, true).ReplaceOrInsert(e)
	t.w.undo = append(t.w.undo, undo{b: b, key: e.key, prev: prev, existed: existed})
	t.w.ops = append(t.w.ops, op{kind: kind, b: b, key: e.key, val: e.val})
	t.w.bytes += len(e.key) + len(e.val) + 64
	return nil
}

func (t *mtx) NextSequence(b Bucket) (uint64, error) {
	if t.w == nil {
		return 0, errReadOnly
	}
	if _, err := t.bucket(b); err != nil {
		return 0, err
	}
	cur := t.w.seqs[b]
	t.w.undo = append(t.w.undo, undo{b: b, seq: true, prev: entry{lsn: cur}})
	cur++
	t.w.seqs[b] = cur
	t.w.ops = append(t.w.ops, op{kind: opSeq, b: b, seq: cur})
	return cur, nil
}

// rollback undoes the writes recorded since mark (an index into undo and
// the number of ops then).
func (t *mtx) rollback(undoMark, opsMark int) {
	w := t.w
	for i := len(w.undo) - 1; i >= undoMark; i-- {
		u := w.undo[i]
		switch {
		case u.seq:
			w.seqs[u.b] = u.prev.lsn
		case u.existed:
			t.ov.tree(u.b, true).ReplaceOrInsert(u.prev)
		default:
			t.ov.tree(u.b, true).Delete(entry{key: u.key})
		}
	}
	w.undo = w.undo[:undoMark]
	for _, o := range w.ops[opsMark:] {
		w.bytes -= len(o.key) + len(o.val) + 64
	}
	w.ops = w.ops[:opsMark]
}

// scanTree returns the overlay tree of b to iterate: in a write
// transaction a clone, so the function may write while it scans.
func (t *mtx) scanTree(b Bucket) *tree {
	tr := t.ov.trees[b]
	if tr == nil || tr.Len() == 0 {
		return nil
	}
	if t.w != nil {
		return tr.Clone()
	}
	return tr
}

func (t *mtx) Scan(b Bucket, prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	seek := prefix
	if bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	m := &merge{fn: fn, prefix: prefix, c: bk.Cursor()}
	m.k, m.v = m.c.Seek(seek)
	if tr := t.scanTree(b); tr != nil {
		tr.AscendGreaterOrEqual(entry{key: seek}, m.visit)
	}
	return m.rest()
}

func (t *mtx) ScanDesc(b Bucket, prefix, before []byte, fn func(k, v []byte) (bool, error)) error {
	bk, err := t.bucket(b)
	if err != nil {
		return err
	}
	// Keys with the prefix that are below the bound.
	bound := prefixEnd(prefix)
	if before != nil && (bound == nil || bytes.Compare(before, bound) < 0) {
		bound = before
	}
	m := &merge{fn: fn, prefix: prefix, c: bk.Cursor(), desc: true}
	if bound == nil {
		m.k, m.v = m.c.Last()
	} else if m.k, _ = m.c.Seek(bound); m.k == nil {
		m.k, m.v = m.c.Last()
	} else {
		m.k, m.v = m.c.Prev() // Seek lands on the first key >= bound
	}
	if tr := t.scanTree(b); tr != nil {
		visit := func(e entry) bool {
			if bound != nil && bytes.Compare(e.key, bound) >= 0 {
				return true // DescendLessOrEqual includes the bound itself
			}
			return m.visit(e)
		}
		if bound == nil {
			tr.Descend(visit)
		} else {
			tr.DescendLessOrEqual(entry{key: bound}, visit)
		}
	}
	return m.rest()
}

func (t *mtx) Count(b Bucket) (int, error) {
	bk, err := t.bucket(b)
	if err != nil {
		return 0, err
	}
	n := bk.Stats().KeyN
	if tr := t.scanTree(b); tr != nil {
		tr.Ascend(func(e entry) bool {
			inBolt := bk.Get(e.key) != nil
			switch {
			case e.del && inBolt:
				n--
			case !e.del && !inBolt:
				n++
			}
			return true
		})
	}
	return n, nil
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
