package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// backlog is, per recipient, the queued events that carry a document: the
// documents waiting for their recipient, which is what the monitoring
// picture (Snapshot) reports. It is kept in memory, rebuilt from the queue
// at start and changed after each commit that adds or removes such an
// event, so that a snapshot does not read the queues: they also hold every
// status report and recall notice an agency has not taken yet, which grow
// without bound for an agency system that only sends, and a scan of them
// took every dashboard refresh and metrics scrape.
//
// Changes arrive after their commits, from different goroutines, so not
// in commit order: a recipient may acknowledge an event before the send
// that queued it has added it here. Such a removal leaves a tombstone that
// the late add consumes. Only events the committing transaction saw in the
// queue are removed, so every tombstone has its add coming.
type backlog struct {
	mu      sync.Mutex
	pending map[string]map[uint64]pendingDoc // recipient -> queue sequence -> document
	early   map[uint64]bool                  // removed before their add arrived
	// Bytes waiting, for the storage quotas (Limits): by sender and by
	// recipient, each document once per recipient that has not taken it.
	bySender, byRecipient map[string]int64
}

// pendingDoc is one document waiting for its recipient.
type pendingDoc struct {
	since  time.Time // when it was queued
	doc    string
	sender string
	size   int64 // stored bytes: header and attachments
	// failures counts the recipient's reports that it could not take it,
	// the last at lastFailure.
	failures    int
	lastFailure time.Time
}

// queued is one document-carrying queue entry, as a commit reports it.
type queued struct {
	code string
	seq  uint64
	pendingDoc
}

func newBacklog() *backlog {
	return &backlog{pending: map[string]map[uint64]pendingDoc{}, early: map[uint64]bool{},
		bySender: map[string]int64{}, byRecipient: map[string]int64{}}
}

// add records committed queue entries.
func (b *backlog) add(qs ...queued) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range qs {
		if b.early[q.seq] {
			delete(b.early, q.seq)
			continue
		}
		m := b.pending[q.code]
		if m == nil {
			m = map[uint64]pendingDoc{}
			b.pending[q.code] = m
		}
		m[q.seq] = q.pendingDoc
		b.count(q.code, q.pendingDoc, q.size)
	}
}

// count adds n bytes of p waiting for recipient code (n < 0 removes them).
func (b *backlog) count(code string, p pendingDoc, n int64) {
	if n == 0 {
		return
	}
	if b.bySender[p.sender] += n; b.bySender[p.sender] <= 0 {
		delete(b.bySender, p.sender)
	}
	if b.byRecipient[code] += n; b.byRecipient[code] <= 0 {
		delete(b.byRecipient, code)
	}
}

// waitingBytes returns the bytes waiting for delivery from sender, and for
// each of recipients.
func (b *backlog) waitingBytes(sender string, recipients []string) (bySender int64, byRecipient []int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	byRecipient = make([]int64, len(recipients))
	for i, r := range recipients {
		byRecipient[i] = b.byRecipient[r]
	}
	return b.bySender[sender], byRecipient
}

// remove records committed removals (acknowledged or withdrawn entries).
func (b *backlog) remove(qs ...queued) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range qs {
		m := b.pending[q.code]
		p, ok := m[q.seq]
		if !ok {
			b.early[q.seq] = true
			continue
		}
		b.count(q.code, p, -p.size)
		delete(m, q.seq)
		if len(m) == 0 {
			delete(b.pending, q.code)
		}
	}
}

// failed records a committed failure report on the queue entry seq of
// recipient code. An entry not (yet) here is left alone: the report
// reached the store, and the next start counts it.
func (b *backlog) failed(code string, seq uint64, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.pending[code]
	p, ok := m[seq]
	if !ok {
		return
	}
	p.failures++
	p.lastFailure = at
	m[seq] = p
}

// recipientBacklog sums up the documents waiting for one recipient.
type recipientBacklog struct {
	n         int       // documents waiting
	oldest    time.Time // when the oldest was queued
	oldestDoc string    // its id (the first queued, among equally old ones)
	overdue   int       // how many were queued at or before the cutoff
	// Documents waiting whose delivery the recipient reported failed: how
	// many, the reports in all, the oldest such document and the last report.
	failedDocs   int
	failures     int
	oldestFailed time.Time
	failedDoc    string
	lastFailure  time.Time
}

// summaries sums up each recipient's waiting documents, counting as overdue
// those queued at or before cutoff. It walks the documents under the lock
// without copying them, so its cost is the number waiting, and what it
// returns is one entry per recipient.
func (b *backlog) summaries(cutoff time.Time) map[string]recipientBacklog {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]recipientBacklog, len(b.pending))
	for code, m := range b.pending {
		r := recipientBacklog{n: len(m)}
		var oldestSeq, failedSeq uint64
		for seq, p := range m {
			if r.oldestDoc == "" || p.since.Before(r.oldest) || (p.since.Equal(r.oldest) && seq < oldestSeq) {
				r.oldest, r.oldestDoc, oldestSeq = p.since, p.doc, seq
			}
			if p.failures > 0 {
				r.failedDocs++
				r.failures += p.failures
				if r.failedDoc == "" || p.since.Before(r.oldestFailed) || (p.since.Equal(r.oldestFailed) && seq < failedSeq) {
					r.oldestFailed, r.failedDoc, failedSeq = p.since, p.doc, seq
				}
				if p.lastFailure.After(r.lastFailure) {
					r.lastFailure = p.lastFailure
				}
			}
			if !p.since.After(cutoff) {
				r.overdue++
			}
		}
		out[code] = r
	}
	return out
}

// loadBacklog reads the document-carrying events of every queue: once, at
// start. An entry it cannot read (a key not code NUL sequence, an event
// that does not decode) is skipped and counted, not a reason to refuse to
// start: such an entry cannot be delivered either, and `ndxpctl check`
// names it.
func loadBacklog(ctx context.Context, st store.Store) (b *backlog, skipped int, err error) {
	b = newBacklog()
	err = st.View(ctx, func(tx store.Tx) error {
		skipped = 0
		return tx.Scan(store.BucketQueue, nil, nil, func(k, v []byte) (bool, error) {
			i := bytes.IndexByte(k, 0)
			var ev Event
			if i < 0 || len(k) != i+9 || decodeRecord(v, &ev) != nil {
				skipped++
				return true, ctx.Err()
			}
			if ev.Kind.carriesDocument() {
				b.add(queued{code: string(k[:i]), seq: binary.BigEndian.Uint64(k[i+1:]), pendingDoc: pendingDoc{since: ev.Time, doc: ev.DocID, sender: ev.Sender, size: ev.Size,
					failures: ev.Failures, lastFailure: ev.LastFailure}})
			}
			return true, ctx.Err()
		})
	})
	if err != nil {
		return nil, 0, err
	}
	return b, skipped, nil
}
