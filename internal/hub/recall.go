package hub

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// Recall is the sender's recall (status 13): recipients that have not
// acknowledged the arrival lose it from their queue (withdrawn); those that
// have it get a recall event and answer 15 or 16.
func (h *Hub) Recall(ctx context.Context, p Principal, docID, reason string) (withdrawn, asked []string, err error) {
	if err := requireAgency(p, "recalling"); err != nil {
		return nil, nil, err
	}
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxSubjectLen, true); err != nil {
		return nil, nil, err
	}
	h.recent.drop(docID) // before the change: nothing adds it back
	var taken []queued   // queue entries withdrawn
	err = h.st.Update(ctx, func(tx store.Tx) error {
		withdrawn, asked, taken = nil, nil, nil
		doc, r, err := visible(tx, p, docID)
		if err != nil {
			return err
		}
		if r != roleSender {
			return newErr(ErrPermission, "", "only the sender of document %s may recall it", docID)
		}
		if doc.Recalled != nil {
			return newErr(ErrPrecondition, "", "document %s was already recalled at %s", docID, doc.Recalled.Format(time.RFC3339))
		}
		now := h.now()
		doc.Recalled, doc.RecallReason = &now, reason
		if err := putRecord(tx, store.BucketDocuments, []byte(docID), doc); err != nil {
			return err
		}
		for _, rc := range doc.Header.Recipients {
			gone, took, err := recallAt(tx, docID, rc, reason, now)
			if err != nil {
				return err
			}
			if took != nil {
				taken = append(taken, *took)
			}
			if gone {
				withdrawn = append(withdrawn, rc)
			} else {
				asked = append(asked, rc)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, h.storeErr(err)
	}
	h.backlog.remove(taken...)
	for _, rc := range append(append([]string(nil), withdrawn...), asked...) {
		h.deliv.notify(rc)
	}
	h.watch.notify()
	h.log.Info("document recalled", "id", docID, "withdrawn", len(withdrawn), "asked", len(asked))
	return withdrawn, asked, nil
}

// recallAt recalls document docID at recipient rc: it withdraws it from
// rc's queue if rc has not acknowledged its arrival (withdrawn, with the
// queue entry taken if it was still there), or queues the recall for rc
// to answer.
func recallAt(tx store.Tx, docID, rc, reason string, now time.Time) (withdrawn bool, taken *queued, err error) {
	dkey := pairKey(docID, rc)
	var d Delivery
	if err := getRecord(tx, store.BucketDeliveries, dkey, &d); err != nil {
		return false, nil, err
	}
	if d.Status == StatusNone {
		withdrawn = true
		qkey := queueKey(rc, d.QueueSeq)
		if _, err := tx.Get(store.BucketQueue, qkey); err == nil {
			taken = &queued{code: rc, seq: d.QueueSeq}
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, nil, err
		}
		if err := tx.Delete(store.BucketQueue, qkey); err != nil {
			return false, nil, err
		}
		d.Recall, d.QueueSeq = RecallWithdrawn, 0
		d.Steps = append(d.Steps, Step{Time: now, Code: StatusRecall, What: "recalled before delivery: withdrawn from the queue", Reason: reason})
	} else {
		d.Recall = RecallAsked
		d.Steps = append(d.Steps, Step{Time: now, Code: StatusRecall, What: StatusRecall.Text(), Reason: reason})
		if _, err := enqueue(tx, rc, Event{Kind: EventRecalled, DocID: docID, Time: now, Reason: reason}); err != nil {
			return false, nil, err
		}
	}
	return withdrawn, taken, putRecord(tx, store.BucketDeliveries, dkey, d)
}

// recalledAway says the recipient no longer has the document: it was
// withdrawn before the recipient took it, or the recipient accepted the
// recall (15). A recipient asked (13) or refusing (16) keeps it.
func (d Delivery) recalledAway() bool {
	return d.Recall == RecallWithdrawn || d.Recall == RecallAccepted
}

// recalledCopy is what a list shows a recipient of a document recalled
// away from it: that it existed, from whom, under which reference, and
// that it was recalled, and nothing of its content.
func recalledCopy(d Document) Document {
	return Document{ID: d.ID, Sender: d.Sender, Created: d.Created, Recalled: d.Recalled, RecallReason: d.RecallReason,
		Header: Header{Reference: d.Header.Reference, Business: d.Header.Business}}
}
