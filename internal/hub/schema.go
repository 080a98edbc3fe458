package hub

// The hub's keys and record codecs, in one place: what each bucket of
// internal/store (buckets.go) holds is written by these. Records are JSON
// but for the hot ones, documents, queue entries and deliveries, which are
// binary (records.go); keys join their parts with NUL, which no code, id or
// digest contains.

import (
	"encoding/binary"
	"fmt"

	"github.com/ndxp/ndxp/internal/store"
)

// queueKey is an agency's queue entry: code NUL sequence (8 bytes,
// big-endian, so a scan runs in queue order).
func queueKey(code string, seq uint64) []byte {
	k := make([]byte, 0, len(code)+9)
	k = append(k, code...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func queuePrefix(code string) []byte { return append([]byte(code), 0) }

// pairKey joins two parts: sender NUL reference (BucketRefs), sender or
// recipient NUL document id (BucketSent, BucketInbox), document id NUL
// recipient (BucketDeliveries), SHA-256 NUL document id (BucketBlobRefs).
func pairKey(a, b string) []byte { return []byte(a + "\x00" + b) }

// enqueue appends an event to an agency's queue.
func enqueue(tx store.Tx, code string, ev Event) (uint64, error) {
	seq, err := tx.NextSequence(store.BucketQueue)
	if err != nil {
		return 0, err
	}
	ev.Seq = seq
	return seq, putRecord(tx, store.BucketQueue, queueKey(code, seq), ev)
}

// inlineKey is where a small attachment body is kept (BucketBlobData):
// document id NUL index, so a document's bodies sit beside each other
// (stores of the first layout are moved to it at start: migrate.go).
func inlineKey(docID string, index int) []byte {
	return fmt.Appendf(nil, "%s\x00%04d", docID, index)
}

// credKey is a credential record (BucketCredentials): code NUL serial;
// a credential revoked by serial alone has an empty code.
func credKey(code, serial string) []byte { return []byte(code + "\x00" + serial) }
