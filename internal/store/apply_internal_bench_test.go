package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkApplyOps is the applier copying a peak-sized batch of log
// records into the file: 64 sends and 64 acknowledgements of the hub, the
// operations of each in the order the hub writes them (documents, index
// rows, queue entries, deliveries). The transaction is rolled back, so
// every iteration applies to the same file.
func BenchmarkApplyOps(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "apply.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, bk := range []Bucket{BucketDocuments, BucketRefs, BucketSent, BucketInbox, BucketQueue, BucketDeliveries, BucketBlobData} {
			if _, err := tx.CreateBucketIfNotExists([]byte(bk)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 200)
	var ops []op
	for i := range 64 {
		id := fmt.Appendf(nil, "01JDZ%021d", i)
		qk := binary.BigEndian.AppendUint64([]byte("000.00.00.R01\x00"), uint64(2*i))
		sk := binary.BigEndian.AppendUint64([]byte("000.00.00.S01\x00"), uint64(2*i+1))
		ops = append(ops,
			op{kind: opPut, b: BucketBlobData, key: append(id, "\x000000"...), val: make([]byte, 1024)},
			op{kind: opPut, b: BucketDocuments, key: id, val: val},
			op{kind: opPut, b: BucketRefs, key: fmt.Appendf(nil, "000.00.00.S%02d\x00ref %d", i%32, i), val: id},
			op{kind: opPut, b: BucketSent, key: fmt.Appendf(nil, "000.00.00.S%02d\x00%s", i%32, id)},
			op{kind: opSeq, b: BucketQueue, seq: uint64(2 * i)},
			op{kind: opPut, b: BucketQueue, key: qk, val: val[:60]},
			op{kind: opPut, b: BucketDeliveries, key: append(append(id, 0), "000.00.00.R01"...), val: val[:80]},
			op{kind: opPut, b: BucketInbox, key: append([]byte("000.00.00.R01\x00"), id...)},
			op{kind: opDel, b: BucketQueue, key: qk},
			op{kind: opPut, b: BucketDeliveries, key: append(append(id, 0), "000.00.00.R01"...), val: val[:150]},
			op{kind: opSeq, b: BucketQueue, seq: uint64(2*i + 1)},
			op{kind: opPut, b: BucketQueue, key: sk, val: val[:90]},
		)
	}
	errRollback := errors.New("rollback")
	all := make([]op, len(ops))
	b.ReportAllocs()
	for b.Loop() {
		copy(all, ops)
		if err := db.Update(func(tx *bolt.Tx) error {
			if err := applyOps(tx, all); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			b.Fatal(err)
		}
	}
}
