package store_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ndxp/ndxp/internal/store"
)

// BenchmarkUpdateSerial is one writer: one transaction and one fsync per Update.
func BenchmarkUpdateSerial(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "ndxp.db"))
	val := make([]byte, 1024)
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i++
		key := binary.BigEndian.AppendUint64(nil, i)
		if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.Put(store.BucketQueue, key, val) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateParallel is many writers: group commit shares
// transactions and fsyncs among them. It reports fsyncs per update.
func BenchmarkUpdateParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "ndxp.db"))
	val := make([]byte, 1024)
	var n atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(64)
	c0, u0 := s.Stats()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := binary.BigEndian.AppendUint64(nil, n.Add(1))
			if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.Put(store.BucketQueue, key, val) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	c1, u1 := s.Stats()
	if u1 > u0 {
		b.ReportMetric(float64(c1-c0)/float64(u1-u0), "fsyncs/op")
	}
}
