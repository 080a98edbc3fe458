package store

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkCommitLayout measures what bounds the hub's commit path: the
// pages one commit writes for the key pattern of a send (document, small
// body and delivery keyed by document id; idempotency, sent, inbox and
// queue entries keyed by agency), on a tree already holding 100,000
// documents, with 32 senders and 8 recipients. It compares the hub's layout
// (seven buckets) with the same keys in one bucket under seven prefixes, at
// 3 and 12 sends per commit. Each op is one committed send (fsync included).
// Every run loads the history first, so give a count:
//
//	go test -run '^$' -bench CommitLayout -benchtime 3000x ./internal/store/
//
// On the reference machine: seven buckets, 3 sends a commit: 437 µs and
// 16.0 pages a send; 12 a commit: 213 µs and 8.8 pages. One bucket saves
// only 3-8% of the pages (14.8 and 8.5). Copy-on-write of a leaf and its
// branches for every agency a commit touches is the cost, not the number
// of buckets.
func BenchmarkCommitLayout(b *testing.B) {
	for _, batch := range []int{3, 12} {
		for _, single := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d/buckets=7", batch)
			if single {
				name = fmt.Sprintf("batch=%d/buckets=1", batch)
			}
			b.Run(name, func(b *testing.B) { benchLayout(b, batch, single) })
		}
	}
}

type layoutLoad struct {
	single   bool
	doc, seq uint64
	r        *rand.Rand
}

var layoutBuckets = []string{"documents", "blob_data", "deliveries", "refs", "sent", "inbox", "queue"}

func (l *layoutLoad) put(tx *bolt.Tx, i int, key, val []byte) error {
	if l.single {
		return tx.Bucket([]byte("all")).Put(append([]byte{byte('A' + i)}, key...), val)
	}
	return tx.Bucket([]byte(layoutBuckets[i])).Put(key, val)
}

func (l *layoutLoad) send(tx *bolt.Tx) error {
	l.doc++
	id := fmt.Appendf(nil, "01M8%022d", l.doc)
	s := fmt.Sprintf("000.00.00.S%02d", l.r.IntN(32))
	rc := fmt.Sprintf("000.00.00.R%02d", l.r.IntN(8))
	l.seq++
	for i, kv := range [][2][]byte{
		{id, make([]byte, 600)},
		{fmt.Appendf(nil, "%s\x000000", id), make([]byte, 1024)},
		{fmt.Appendf(nil, "%s\x00%s", id, rc), make([]byte, 150)},
		{fmt.Appendf(nil, "%s\x00%s,2026/11/27,%012x/NDXP", s, s, l.r.Uint64()>>16), id},
		{fmt.Appendf(nil, "%s\x00%s", s, id), nil},
		{fmt.Appendf(nil, "%s\x00%s", rc, id), nil},
		{binary.BigEndian.AppendUint64(append([]byte(rc), 0), l.seq), make([]byte, 120)},
	} {
		if err := l.put(tx, i, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func benchLayout(b *testing.B, batch int, single bool) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "layout.db"), 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := &layoutLoad{single: single, r: rand.New(rand.NewPCG(1, 2))}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range append(layoutBuckets, "all") {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	db.NoSync = true // history, not measured
	for range 100 {
		if err := db.Update(func(tx *bolt.Tx) error {
			for range 1000 {
				if err := l.send(tx); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	db.NoSync = false
	before := db.Stats().TxStats
	commits := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		commits++
		if err := db.Update(func(tx *bolt.Tx) error {
			for range batch {
				if err := l.send(tx); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := db.Stats().TxStats
	b.ReportMetric(float64(after.GetWrite()-before.GetWrite())/float64(commits*batch), "pages/send")
}
