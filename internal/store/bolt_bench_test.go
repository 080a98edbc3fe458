package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
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

// BenchmarkApplyBulk is one transaction adding many keys to one bucket in
// no particular order (a registry import), until the applier has copied it
// into the file (Close waits for that).
func BenchmarkApplyBulk(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			val := make([]byte, 200)
			b.ReportAllocs()
			for b.Loop() {
				s, err := store.OpenBolt(filepath.Join(b.TempDir(), "ndxp.db"), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				err = s.Update(context.Background(), func(tx store.Tx) error {
					for i := range n {
						// A multiplicative hash: every key once, scattered.
						k := binary.BigEndian.AppendUint32(nil, uint32(i)*2654435761)
						if err := tx.Put(store.BucketAgencies, k, val); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
