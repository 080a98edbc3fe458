package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// stepDeliveryFailed is the trace line of a failure report.
const stepDeliveryFailed = "delivery failed: reported by the recipient"

// ReportDeliveryFailure records that a recipient could not take a
// document it was given (the VXP API's `updateStatus fail`). The document
// stays waiting: its queue entry stays, nothing is acknowledged and the
// sender is not told, since the recipient's system will take it again.
// The failure is counted on the delivery (and its queue entry, so the
// alert survives a restart), traced, and raises a delivery_failures alert
// for the recipient while the document waits.
//
// Only a recipient may report: anyone else gets NotFound, as for a
// document it cannot see. A document already acknowledged is past
// failing: FailedPrecondition.
func (h *Hub) ReportDeliveryFailure(ctx context.Context, p Principal, docID string) error {
	if err := requireAgency(p, "reporting a delivery failure"); err != nil {
		return err
	}
	if err := h.draining(); err != nil {
		return err
	}
	var seq uint64
	var now time.Time
	err := h.st.Update(ctx, func(tx store.Tx) error {
		_, r, err := visible(tx, p, docID)
		if err != nil {
			return err
		}
		if r != roleRecipient {
			return notFoundDoc(docID)
		}
		dkey := pairKey(docID, p.Name)
		var d Delivery
		if err := getRecord(tx, store.BucketDeliveries, dkey, &d); err != nil {
			return err
		}
		if d.Status != StatusNone || d.QueueSeq == 0 {
			return newErr(ErrPrecondition, "document_id", "document %s was acknowledged already (status %s); only a document still waiting can fail to be delivered", docID, d.Status)
		}
		now = h.now()
		seq = d.QueueSeq
		d.Failures++
		d.LastFailure = &now
		d.Steps = append(d.Steps, Step{Time: now, What: stepDeliveryFailed})
		if err := putRecord(tx, store.BucketDeliveries, dkey, d); err != nil {
			return err
		}
		// The queue entry carries the count too, so that the backlog
		// rebuilt at start has it without reading every delivery.
		key := queueKey(p.Name, seq)
		var ev Event
		if err := getRecord(tx, store.BucketQueue, key, &ev); err != nil {
			return fmt.Errorf("queue entry %d of %s for document %s: %w", seq, p.Name, docID, err)
		}
		ev.Failures++
		ev.LastFailure = now
		return putRecord(tx, store.BucketQueue, key, ev)
	})
	if err != nil {
		return h.storeErr(err)
	}
	h.backlog.failed(p.Name, seq, now)
	h.metrics.DeliveryFailures.Add(1)
	h.log.Info("delivery failure reported", "id", docID, "recipient", p.Name)
	h.watch.notify()
	return nil
}
