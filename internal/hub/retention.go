package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// MaxRetentionDays bounds a retention period (about a hundred years).
const MaxRetentionDays = 36500

// The periodic purge runs a minute after the hub starts (not in the middle
// of a start-up storm), then hourly.
const (
	retentionFirstRun = time.Minute
	retentionEvery    = time.Hour
)

// Purge works in bounded transactions: a write transaction marks at most
// purgeBatch documents, a read transaction examines at most purgeScanPage,
// so neither holds the store (or pins old pages) for long.
const (
	purgeBatch    = 500
	purgeScanPage = 5000
)

// PurgedDocument is a document whose attachment bodies a purge removed
// (or, in a dry run, would remove).
type PurgedDocument struct {
	ID      string
	Sender  string
	Subject string
	Created time.Time
	// Bytes is the size of the document's attachment bodies that go; a
	// body still used by a kept document stays and is not counted.
	Bytes int64
}

// PurgeReport is the result of a purge.
type PurgeReport struct {
	Documents []PurgedDocument
	// BytesFreed counts each removed body once, however many of the
	// purged documents carried it.
	BytesFreed int64
	DryRun     bool
}

// retention is the hub's purge state.
type retention struct {
	run sync.Mutex // one purge at a time, so two reports never count the same body

	cancel context.CancelFunc // ends the periodic purge; nil when it does not run
	done   chan struct{}      // closed when the periodic purge has ended

	batch, scanPage int // tests make them small; 0 means purgeBatch, purgeScanPage
}

func (r *retention) limits() (batch, scanPage int) {
	batch, scanPage = purgeBatch, purgeScanPage
	if r.batch > 0 {
		batch = r.batch
	}
	if r.scanPage > 0 {
		scanPage = r.scanPage
	}
	return batch, scanPage
}

// RetentionDays is the configured retention period in days; 0 keeps
// attachment bodies forever.
func (h *Hub) RetentionDays() int { return h.cfg.RetentionDays }

// completed reports whether every recipient's delivery of doc is final:
// completed (06), refused (02), recall accepted (15) or withdrawn before
// delivery (docs/domain.md). A pending recall (13) keeps the document open even
// after 06: the recipient still has to answer it.
func completed(tx store.Tx, doc Document) (bool, error) {
	for _, rc := range doc.Header.Recipients {
		var d Delivery
		if err := getRecord(tx, store.BucketDeliveries, pairKey(doc.ID, rc), &d); err != nil {
			return false, fmt.Errorf("delivery of %s to %s: %w", doc.ID, rc, err)
		}
		switch {
		case d.Recall == RecallAsked:
			return false, nil
		case d.Status == StatusCompleted, d.Status == StatusRefused, d.Recall == RecallAccepted, d.Recall == RecallWithdrawn:
		default:
			return false, nil
		}
	}
	return true, nil
}

// Purge removes the attachment bodies of completed documents accepted
// more than olderThan ago, keeping their headers and traces: each such
// document is marked Purged, and a body goes once every document that
// uses it is purged. With dryRun it only reports what would go.
//
// It works in transactions of at most purgeBatch documents. A body is
// removed only in the transaction that purges the last document using it,
// so a run cut short leaves every unpurged document whole; files are
// removed after their transaction commits. On an error the report lists
// the documents purged before it.
func (h *Hub) Purge(ctx context.Context, olderThan time.Duration, dryRun bool) (rep PurgeReport, err error) {
	if olderThan <= 0 {
		return PurgeReport{}, invalid("older_than_days", "must be positive")
	}
	h.ret.run.Lock()
	defer h.ret.run.Unlock()
	start := time.Now()
	cutoff := h.now().Add(-olderThan)
	rep.DryRun = dryRun
	var filesRemoved int
	defer func() {
		// The error itself is logged by whoever handles it.
		h.log.Info("retention purge", "dry_run", dryRun, "older_than", olderThan, "cutoff", cutoff,
			"documents", len(rep.Documents), "bytes_freed", rep.BytesFreed, "files_removed", filesRemoved,
			"interrupted", err != nil, "duration", time.Since(start))
	}()
	// done holds the documents this run purged (or, dry, would have): a
	// dry run then decides later batches as the real run would.
	done := map[string]bool{}
	var from []byte
	for {
		ids, next, err := h.purgeCandidates(ctx, cutoff, from)
		if err != nil {
			return rep, h.storeErr(err)
		}
		if len(ids) > 0 {
			docs, freed, files, err := h.purgeBatch(ctx, ids, done, dryRun)
			if err != nil {
				return rep, h.storeErr(err)
			}
			for _, d := range docs {
				done[d.ID] = true
			}
			rep.Documents = append(rep.Documents, docs...)
			rep.BytesFreed += freed
			if !dryRun {
				h.bodies.doom(files...)
				if err := h.flushPurged(ctx, &filesRemoved); err != nil {
					return rep, err
				}
			}
		}
		if next == nil {
			break
		}
		from = next
	}
	if !dryRun { // files left by an earlier run
		if err := h.flushPurged(ctx, &filesRemoved); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// flushPurged is bodies.flush for Purge: an interrupted wait ends the run;
// a file that cannot be removed is logged and tried again next run, since
// the purge in the store stands either way.
func (h *Hub) flushPurged(ctx context.Context, removed *int) error {
	n, err := h.bodies.flush(ctx)
	*removed += n
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.log.Warn("retention purge: could not remove attachment files; retrying at the next run", "files", h.bodies.doomedCount(), "err", err)
	}
	return nil
}

// purgeCandidates scans documents from key from on (nil: the first) for
// up to a batch that are older than cutoff, not purged, carry
// attachments and are completed. next is where to go on, nil when the scan
// reached documents newer than cutoff or the end.
func (h *Hub) purgeCandidates(ctx context.Context, cutoff time.Time, from []byte) (ids []string, next []byte, err error) {
	limit := ulid.Timestamp(cutoff)
	batch, scanPage := h.ret.limits()
	err = h.st.View(ctx, func(tx store.Tx) error {
		ids, next = nil, nil
		seen := 0
		return tx.Scan(store.BucketDocuments, nil, from, func(k, v []byte) (bool, error) {
			if len(ids) == batch || seen == scanPage {
				next = k
				return false, nil
			}
			seen++
			// Ids are ULIDs made from the acceptance time, so documents are
			// in time order: past the cutoff's millisecond, all are newer.
			if id, err := ulid.ParseStrict(string(k)); err == nil && id.Time() > limit {
				return false, nil
			}
			var d Document
			if err := decodeRecord(v, &d); err != nil {
				return false, fmt.Errorf("document %s: %w", k, err)
			}
			if d.Purged != nil || len(d.bodies()) == 0 || !d.Created.Before(cutoff) {
				return true, ctx.Err()
			}
			ok, err := completed(tx, d)
			if err != nil {
				return false, err
			}
			if ok {
				ids = append(ids, d.ID)
			}
			return true, ctx.Err()
		})
	})
	return ids, next, err
}

// bodyFate is what a purge batch decided about one attachment body.
type bodyFate struct {
	goes bool
	size int64
}

// purgeBatch purges the documents ids that (still) qualify in one write
// transaction (a read transaction in a dry run). done holds documents
// purged earlier in the run. It returns the documents purged, the bytes
// freed and the digests of the files to remove once it has committed.
func (h *Hub) purgeBatch(ctx context.Context, ids []string, done map[string]bool, dryRun bool) (docs []PurgedDocument, freed int64, files []string, err error) {
	var pb *purgeTx
	fn := func(tx store.Tx) error {
		// The transaction may be run again: start from nothing each time.
		pb = &purgeTx{tx: tx, now: h.now(), dryRun: dryRun, done: done,
			inBatch: map[string]bool{}, purged: map[string]bool{}, fates: map[string]bodyFate{}}
		batch, err := pb.eligible(ids)
		if err != nil {
			return err
		}
		for _, d := range batch {
			if err := pb.purge(d); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	if dryRun {
		err = h.st.View(ctx, fn)
	} else {
		for _, id := range ids {
			h.recent.drop(id) // before the change: nothing adds it back
		}
		err = h.st.Update(ctx, fn)
	}
	if err != nil {
		return nil, 0, nil, err
	}
	return pb.docs, pb.freed, pb.files, nil
}

// purgeTx is one purgeBatch transaction.
type purgeTx struct {
	tx     store.Tx
	now    time.Time
	dryRun bool
	done   map[string]bool // purged by earlier batches of the run

	inBatch map[string]bool     // purged by this batch
	purged  map[string]bool     // other documents' purge state, as looked up
	fates   map[string]bodyFate // decided bodies, by SHA-256

	docs  []PurgedDocument
	freed int64
	files []string // body files to remove once committed
}

// eligible loads the batch's documents that are still completed and not
// purged: a recall may have reopened one since the scan.
func (pb *purgeTx) eligible(ids []string) ([]Document, error) {
	var batch []Document
	for _, id := range ids {
		var d Document
		if err := getRecord(pb.tx, store.BucketDocuments, []byte(id), &d); err != nil {
			return nil, fmt.Errorf("document %s: %w", id, err)
		}
		if d.Purged != nil {
			continue
		}
		ok, err := completed(pb.tx, d)
		if err != nil {
			return nil, err
		}
		if ok {
			batch = append(batch, d)
			pb.inBatch[id] = true
		}
	}
	return batch, nil
}

// gone says whether document id is purged, or is being purged now.
func (pb *purgeTx) gone(id string) (bool, error) {
	if pb.inBatch[id] || pb.done[id] {
		return true, nil
	}
	if p, ok := pb.purged[id]; ok {
		return p, nil
	}
	var d Document
	err := getRecord(pb.tx, store.BucketDocuments, []byte(id), &d)
	if errors.Is(err, store.ErrNotFound) {
		// Documents are never deleted; a dangling reference needs no body.
		pb.purged[id] = true
		return true, nil
	}
	if err != nil {
		return false, err
	}
	pb.purged[id] = d.Purged != nil
	return pb.purged[id], nil
}

// purge removes document d's bodies that no kept document shares, and
// marks it purged.
func (pb *purgeTx) purge(d Document) error {
	var bytes int64
	counted := map[string]bool{}
	for i, a := range d.bodies() {
		// A small body kept with its document is its alone.
		if _, ok, err := inlineBody(pb.tx, d.ID, i); err != nil {
			return err
		} else if ok {
			pb.freed += a.Size
			bytes += a.Size
			if err := pb.delete(store.BucketBlobData, inlineKey(d.ID, i)); err != nil {
				return err
			}
			continue
		}
		sum := hex.EncodeToString(a.SHA256)
		if counted[sum] {
			continue
		}
		counted[sum] = true
		f, err := pb.fate(sum)
		if err != nil {
			return err
		}
		if f.goes {
			bytes += f.size
		}
	}
	if !pb.dryRun {
		d.Purged = &pb.now
		if err := putRecord(pb.tx, store.BucketDocuments, []byte(d.ID), d); err != nil {
			return err
		}
	}
	pb.docs = append(pb.docs, PurgedDocument{ID: d.ID, Sender: d.Sender, Subject: d.Header.Subject, Created: d.Created, Bytes: bytes})
	return nil
}

// fate decides a shared body once per transaction, removing its records
// when it goes.
func (pb *purgeTx) fate(sum string) (bodyFate, error) {
	if f, ok := pb.fates[sum]; ok {
		return f, nil
	}
	f, err := decideBody(pb.tx, sum, pb.gone)
	if err != nil {
		return f, err
	}
	pb.fates[sum] = f
	if !f.goes {
		return f, nil
	}
	pb.freed += f.size
	pb.files = append(pb.files, sum)
	return f, pb.delete(store.BucketBlobs, []byte(sum))
}

// delete deletes a key, unless this is a dry run.
func (pb *purgeTx) delete(b store.Bucket, key []byte) error {
	if pb.dryRun {
		return nil
	}
	return pb.tx.Delete(b, key)
}

// decideBody: a body goes when every document using it (BucketBlobRefs)
// is purged. The reference rows stay: they are the history of who sent it.
func decideBody(tx store.Tx, sum string, gone func(id string) (bool, error)) (bodyFate, error) {
	var rec blobRecord
	if err := getRecord(tx, store.BucketBlobs, []byte(sum), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return bodyFate{}, nil // nothing left to remove
		}
		return bodyFate{}, fmt.Errorf("body %s: %w", sum, err)
	}
	prefix := []byte(sum + "\x00")
	keep := false
	err := tx.Scan(store.BucketBlobRefs, prefix, nil, func(k, _ []byte) (bool, error) {
		ok, err := gone(string(bytes.TrimPrefix(k, prefix)))
		if err != nil {
			return false, err
		}
		keep = !ok
		return ok, nil
	})
	if err != nil {
		return bodyFate{}, err
	}
	return bodyFate{goes: !keep, size: rec.Size}, nil
}

// purgedErr is OpenAttachment's answer for a body the purge removed.
func purgedErr(docID string, index int, at *time.Time) error {
	if at == nil {
		return newErr(ErrNotFound, "index", "the body of attachment %d of document %s was purged; the header and the trace are kept", index, docID)
	}
	return newErr(ErrNotFound, "index", "the body of attachment %d of document %s was removed by the retention policy on %s; the header and the trace are kept",
		index, docID, at.UTC().Format(dateLayout))
}

// startRetention runs Purge with the configured retention first after
// first, then every every, until stopRetention (called by Drain).
func (h *Hub) startRetention(first, every time.Duration) {
	if h.cfg.RetentionDays <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.ret.cancel, h.ret.done = cancel, make(chan struct{})
	go func() {
		defer close(h.ret.done)
		t := time.NewTicker(first)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			t.Reset(every)
			olderThan := time.Duration(h.cfg.RetentionDays) * 24 * time.Hour
			if _, err := h.Purge(ctx, olderThan, false); err != nil && ctx.Err() == nil {
				h.log.Error("retention purge failed; retrying at the next run", "err", err, "next_run", every)
			}
		}
	}()
}

// stopRetention ends the periodic purge, cancelling a run in progress, and
// waits for it, so no purge transaction starts after Drain returns.
func (h *Hub) stopRetention() {
	if h.ret.cancel == nil {
		return
	}
	h.ret.cancel()
	<-h.ret.done
	h.ret.cancel = nil
}
