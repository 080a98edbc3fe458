package store

import (
	"bytes"

	"github.com/google/btree"
	bolt "go.etcd.io/bbolt"
)

// The overlay holds every write that is in the log but not yet applied to
// bbolt, newest value per key, so that reads see a write as soon as its
// caller has been answered. A transaction reads the overlay first, then a
// bbolt read transaction under it.

// entry is the newest logged write of one key.
type entry struct {
	key []byte
	val []byte
	del bool   // a deletion
	lsn uint64 // the log record that wrote it
}

func lessEntry(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

type tree = btree.BTreeG[entry]

// overlay maps bucket -> the logged writes to it that bbolt may not have.
// A published overlay is never modified again; the committer modifies its
// own copy and publishes clones (copy-on-write, so a clone costs little).
type overlay struct {
	trees map[Bucket]*tree
	// trimmed: writes of records up to this LSN have been removed, so a
	// reader must pair the overlay with a bbolt state that has them.
	trimmed uint64
}

func newOverlay() *overlay { return &overlay{trees: map[Bucket]*tree{}} }

func (o *overlay) tree(b Bucket, create bool) *tree {
	t := o.trees[b]
	if t == nil && create {
		t = btree.NewG(32, lessEntry)
		o.trees[b] = t
	}
	return t
}

// clone returns a copy for readers; o stays the committer's.
func (o *overlay) clone() *overlay {
	c := &overlay{trees: make(map[Bucket]*tree, len(o.trees)), trimmed: o.trimmed}
	for b, t := range o.trees {
		if t.Len() > 0 {
			c.trees[b] = t.Clone()
		}
	}
	return c
}

// drop removes the entries that ops wrote, now that the file holds every
// record up to applied, unless a later record wrote the key again.
func (o *overlay) drop(ops []op, applied uint64) {
	for _, w := range ops {
		if w.kind == opSeq {
			continue
		}
		tr := o.trees[w.b]
		if e, ok := tr.Get(entry{key: w.key}); ok && e.lsn <= applied {
			tr.Delete(e)
		}
	}
}

func (o *overlay) get(b Bucket, key []byte) (entry, bool) {
	t := o.trees[b]
	if t == nil {
		return entry{}, false
	}
	return t.Get(entry{key: key})
}

// merge walks a bucket's keys in one direction: the file's through a
// bbolt cursor, the overlay's through visit, which the tree calls in the
// same order. An overlay entry replaces (or, deleted, hides) the file's
// value of its key.
type merge struct {
	fn     func(k, v []byte) (bool, error)
	err    error
	stop   bool
	desc   bool
	prefix []byte
	c      *bolt.Cursor
	k, v   []byte // the cursor's current key and value
}

func (m *merge) emit(k, v []byte) bool {
	more, err := m.fn(bytes.Clone(k), bytes.Clone(v))
	if err != nil {
		m.err = err
	}
	if err != nil || !more {
		m.stop = true
	}
	return !m.stop
}

func (m *merge) next() {
	if m.desc {
		m.k, m.v = m.c.Prev()
	} else {
		m.k, m.v = m.c.Next()
	}
}

// first reports whether the cursor's key comes before key in the walk.
func (m *merge) first(key []byte) bool {
	c := bytes.Compare(m.k, key)
	return m.k != nil && bytes.HasPrefix(m.k, m.prefix) && (c < 0 && !m.desc || c > 0 && m.desc)
}

func (m *merge) visit(e entry) bool {
	if !bytes.HasPrefix(e.key, m.prefix) {
		return false
	}
	for m.first(e.key) {
		if !m.emit(m.k, m.v) {
			return false
		}
		m.next()
	}
	if m.k != nil && bytes.Equal(m.k, e.key) {
		m.next()
	}
	return e.del || m.emit(e.key, e.val)
}

// rest emits the file's keys after the overlay's last.
func (m *merge) rest() error {
	for !m.stop && m.k != nil && bytes.HasPrefix(m.k, m.prefix) {
		if !m.emit(m.k, m.v) {
			break
		}
		m.next()
	}
	return m.err
}
