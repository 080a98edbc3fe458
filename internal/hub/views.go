package hub

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// DocumentView is a document with what the caller may see of its deliveries.
type DocumentView struct {
	Doc        Document
	SenderName string
	Deliveries []DeliveryView
}

// DeliveryView is one recipient's line.
type DeliveryView struct {
	Delivery
	Name string
}

// GetDocument returns a document the caller may see.
func (h *Hub) GetDocument(ctx context.Context, p Principal, docID string) (DocumentView, error) {
	return h.view(ctx, p, docID, false)
}

// Trace returns a document with its deliveries: all for the sender and
// admins, the caller's own for a recipient.
func (h *Hub) Trace(ctx context.Context, p Principal, docID string) (DocumentView, error) {
	return h.view(ctx, p, docID, true)
}

func (h *Hub) view(ctx context.Context, p Principal, docID string, withDeliveries bool) (DocumentView, error) {
	var v DocumentView
	err := h.st.View(ctx, func(tx store.Tx) error {
		doc, r, err := visible(tx, p, docID)
		if err != nil {
			return err
		}
		v, err = viewTx(tx, doc, r, p, withDeliveries)
		return err
	})
	return v, err
}

func viewTx(tx store.Tx, doc Document, r role, p Principal, withDeliveries bool) (DocumentView, error) {
	v := DocumentView{Doc: doc}
	if a, err := getAgency(tx, doc.Sender); err == nil {
		v.SenderName = a.Name
	}
	if !withDeliveries {
		return v, nil
	}
	for _, rc := range doc.Header.Recipients {
		if r == roleRecipient && rc != p.Name {
			continue
		}
		var d Delivery
		if err := getRecord(tx, store.BucketDeliveries, pairKey(doc.ID, rc), &d); err != nil {
			return v, err
		}
		dv := DeliveryView{Delivery: d}
		if a, err := getAgency(tx, rc); err == nil {
			dv.Name = a.Name
		}
		v.Deliveries = append(v.Deliveries, dv)
	}
	return v, nil
}

// ListFilter selects documents in ListSent and ListReceived.
type ListFilter struct {
	Counterpart string
	Status      string // a recipient status; "00" = not yet acknowledged
	Since       time.Time
	Until       time.Time
}

// Summary is a line of a document list.
type Summary = DocumentView

// Document list page sizes.
const (
	DefaultDocPage = 50
	MaxDocPage     = 500
)

// ListSent lists the caller's sent documents, newest first.
func (h *Hub) ListSent(ctx context.Context, p Principal, f ListFilter, pageSize int, token string) ([]Summary, string, error) {
	return h.list(ctx, p, store.BucketSent, f, pageSize, token)
}

// ListReceived lists documents addressed to the caller, newest first.
func (h *Hub) ListReceived(ctx context.Context, p Principal, f ListFilter, pageSize int, token string) ([]Summary, string, error) {
	return h.list(ctx, p, store.BucketInbox, f, pageSize, token)
}

func (h *Hub) list(ctx context.Context, p Principal, b store.Bucket, f ListFilter, pageSize int, token string) ([]Summary, string, error) {
	if err := requireAgency(p, "listing documents"); err != nil {
		return nil, "", err
	}
	pageSize, err := f.check(pageSize)
	if err != nil {
		return nil, "", err
	}
	prefix := []byte(p.Name + "\x00")
	var before []byte
	if token != "" {
		if checkDocID(token) != nil {
			return nil, "", invalid("page_token", "is not a token this hub issued")
		}
		before = append(bytes.Clone(prefix), token...)
	}
	var out []Summary
	next := ""
	maxBytes := h.cfg.Limits.ListBytes
	err = h.st.View(ctx, func(tx store.Tx) error {
		out, next = out[:0], ""
		size := 0 // stored size of the documents in out
		return tx.ScanDesc(b, prefix, before, func(k, _ []byte) (bool, error) {
			id := string(k[len(prefix):])
			if len(out) == pageSize || (maxBytes > 0 && size >= maxBytes) {
				// A page is bounded by its size as well as its length:
				// headers may be large, and a page is built in memory.
				next = out[len(out)-1].Doc.ID
				return false, nil
			}
			raw, err := tx.Get(store.BucketDocuments, []byte(id))
			if err != nil {
				return false, err
			}
			var doc Document
			if err := decodeRecord(raw, &doc); err != nil {
				return false, fmt.Errorf("decode document %s: %w", id, err)
			}
			if !f.Since.IsZero() && doc.Created.Before(f.Since) {
				return false, nil // newest first: everything after is older still
			}
			v, ok, err := f.view(tx, p, b, doc)
			if err != nil || !ok {
				return err == nil, err
			}
			out = append(out, v)
			size += len(raw)
			return true, ctx.Err()
		})
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// check checks the filter and returns the page size to use.
func (f ListFilter) check(pageSize int) (int, error) {
	pageSize, err := pageSizeOf(pageSize, DefaultDocPage, MaxDocPage)
	if err != nil {
		return 0, err
	}
	if f.Counterpart != "" {
		if _, err := parseCode("counterpart", f.Counterpart); err != nil {
			return 0, err
		}
	}
	if f.Status != "" && f.Status != "00" && !Status(f.Status).Known() {
		return 0, invalid("status", "unknown status code %q", f.Status)
	}
	return pageSize, nil
}

// view is doc's line in a list of b (sent or inbox) for p, and whether the
// filter keeps it (Since is the scan's own stop).
func (f ListFilter) view(tx store.Tx, p Principal, b store.Bucket, doc Document) (DocumentView, bool, error) {
	if !f.Until.IsZero() && !doc.Created.Before(f.Until) {
		return DocumentView{}, false, nil
	}
	r := roleSender
	if b == store.BucketInbox {
		r = roleRecipient
		if f.Counterpart != "" && doc.Sender != f.Counterpart {
			return DocumentView{}, false, nil
		}
	} else if f.Counterpart != "" && !contains(doc.Header.Recipients, f.Counterpart) {
		return DocumentView{}, false, nil
	}
	v, err := viewTx(tx, doc, r, p, true)
	if err != nil {
		return DocumentView{}, false, err
	}
	if r == roleRecipient && len(v.Deliveries) == 1 && v.Deliveries[0].recalledAway() {
		v.Doc = recalledCopy(v.Doc)
	}
	if f.Status != "" && !hasStatus(v.Deliveries, f.Status, f.Counterpart) {
		return DocumentView{}, false, nil
	}
	return v, true, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasStatus(ds []DeliveryView, status, counterpart string) bool {
	if status == "00" {
		status = ""
	}
	for _, d := range ds {
		if counterpart != "" && d.Recipient != counterpart && len(ds) > 1 {
			continue
		}
		if string(d.Status) == status || (d.Recall != RecallNone && string(d.Recall) == status) {
			return true
		}
	}
	return false
}
