package hub

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// The polling side of an agency's queue, for clients that list, fetch and
// acknowledge instead of subscribing (the VXP HTTP API, docs/vxp.md). It is
// the same queue a subscription reads: whichever acknowledges an event
// first wins, and the other no longer sees it.
//
// Each waiting event has an id built from what it is about, so it is
// stable and says what it names:
//
//	<document id>.<recipient>              a document for the recipient
//	<document id>.<recipient>.<code>       a status report of the recipient,
//	                                       for the document's sender; 13 is
//	                                       a recall asked of the recipient
//
// the names `ndxp receive --format edxml` gives its files.

// Waiting is one queued event as a polling client sees it.
type Waiting struct {
	ID     string
	Agency string // whose queue holds it
	Seq    uint64
	Kind   EventKind
	DocID  string
	Sender string // the document's sender
	// Recipient is the recipient the event concerns: the agency itself for
	// a document or a recall, the reporting recipient for a status.
	Recipient string
	Code      Status // a status report's code, 13 for a recall; "" for a document
	Reason    string
	Time      time.Time // when it was queued
}

// IsStatus reports whether the event is a status (a report or a recall),
// not a document.
func (w Waiting) IsStatus() bool { return !w.Kind.carriesDocument() }

// VxpPrincipal is the principal of agency code acting through VXP system
// sysid, if the agency may act: registered and not suspended.
func (h *Hub) VxpPrincipal(sysid, code string) (Principal, error) {
	h.mu.RLock()
	e, ok := h.index[code]
	h.mu.RUnlock()
	switch {
	case !ok:
		return Principal{}, newErr(ErrUnauthenticated, "", "agency %s is not registered", code)
	case e.suspended:
		return Principal{}, newErr(ErrPermission, "", "agency %s is suspended", code)
	}
	return Principal{Name: code, Serial: "vxp:" + sysid}, nil
}

// waitingOf describes a queued event.
func waitingOf(code string, ev Event) Waiting {
	w := Waiting{Agency: code, Seq: ev.Seq, Kind: ev.Kind, DocID: ev.DocID, Sender: ev.Sender, Time: ev.Time, Reason: ev.Reason}
	switch ev.Kind {
	case EventStatus:
		if ev.Status != nil {
			w.Recipient, w.Code, w.Reason = ev.Status.Recipient, ev.Status.Code, ev.Status.Reason
		}
		w.Sender = code
	case EventRecalled:
		w.Recipient, w.Code = code, StatusRecall
	default:
		w.Recipient = code
	}
	w.ID = w.DocID + "." + w.Recipient
	if w.Code != "" {
		w.ID += "." + string(w.Code)
	}
	return w
}

// ListWaiting lists what waits in the caller's queue, oldest first: the
// documents (statuses false) or the statuses and recalls (statuses true),
// at most limit of them.
func (h *Hub) ListWaiting(ctx context.Context, p Principal, statuses bool, limit int) ([]Waiting, error) {
	if err := requireAgency(p, "polling"); err != nil {
		return nil, err
	}
	var out []Waiting
	err := h.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(store.BucketQueue, queuePrefix(p.Name), nil, func(_, v []byte) (bool, error) {
			var ev Event
			if err := decodeRecord(v, &ev); err != nil {
				return false, err
			}
			if w := waitingOf(p.Name, ev); w.IsStatus() == statuses {
				out = append(out, w)
			}
			return len(out) < limit, ctx.Err()
		})
	})
	return out, err
}

// CountWaiting counts what waits in the caller's queue: the documents
// (statuses false) or the statuses and recalls, without holding them.
func (h *Hub) CountWaiting(ctx context.Context, p Principal, statuses bool) (int, error) {
	if err := requireAgency(p, "polling"); err != nil {
		return 0, err
	}
	n := 0
	err := h.st.View(ctx, func(tx store.Tx) error {
		n = 0
		return tx.Scan(store.BucketQueue, queuePrefix(p.Name), nil, func(_, v []byte) (bool, error) {
			var ev Event
			if err := decodeRecord(v, &ev); err != nil {
				return false, err
			}
			if !ev.Kind.carriesDocument() == statuses {
				n++
			}
			return true, ctx.Err()
		})
	})
	return n, err
}

// ParseWaitingID splits a waiting event's id into the document id, the
// recipient and the code ("" for a document). Codes end with a letter and
// digits, so a trailing group of two digits is a status code.
func ParseWaitingID(id string) (docID, recipient string, code Status, err error) {
	bad := invalid("docId", "%q is not an id of the hub's lists (<document id>.<recipient>[.<status code>])", id)
	if len(id) < ulid.EncodedSize+2 || id[ulid.EncodedSize] != '.' {
		return "", "", "", bad
	}
	docID, rest := id[:ulid.EncodedSize], id[ulid.EncodedSize+1:]
	if checkDocID(docID) != nil {
		return "", "", "", bad
	}
	if i := strings.LastIndexByte(rest, '.'); i > 0 && len(rest)-i == 3 && isDigits(rest[i+1:]) {
		rest, code = rest[:i], Status(rest[i+1:])
	}
	if rest == "" {
		return "", "", "", bad
	}
	return docID, rest, code, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// FindWaiting finds a waiting event of the caller's queue by its id.
// NotFound when it is not (or no longer) waiting: acknowledged already,
// through this or another channel, or withdrawn by a recall.
func (h *Hub) FindWaiting(ctx context.Context, p Principal, id string) (Waiting, error) {
	if err := requireAgency(p, "polling"); err != nil {
		return Waiting{}, err
	}
	docID, recipient, code, err := ParseWaitingID(id)
	if err != nil {
		return Waiting{}, err
	}
	gone := newErr(ErrNotFound, "docId", "%s is not waiting for %s: acknowledged already, or not the caller's", id, p.Name)
	var found Waiting
	err = h.st.View(ctx, func(tx store.Tx) error {
		if code == "" {
			// A document: its delivery names the queue entry.
			if recipient != p.Name {
				return gone
			}
			var d Delivery
			if err := getRecord(tx, store.BucketDeliveries, pairKey(docID, recipient), &d); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return gone
				}
				return err
			}
			return findEvent(tx, p.Name, func(ev Event) bool { return ev.Seq == d.QueueSeq && ev.DocID == docID }, &found)
		}
		return findEvent(tx, p.Name, func(ev Event) bool {
			w := waitingOf(p.Name, ev)
			return w.IsStatus() && w.DocID == docID && w.Recipient == recipient && w.Code == code
		}, &found)
	})
	if errors.Is(err, store.ErrNotFound) {
		return Waiting{}, gone
	}
	return found, err
}

// findEvent scans code's queue for the first event that match accepts,
// or store.ErrNotFound.
func findEvent(tx store.Tx, code string, match func(Event) bool, out *Waiting) error {
	found := false
	err := tx.Scan(store.BucketQueue, queuePrefix(code), nil, func(_, v []byte) (bool, error) {
		var ev Event
		if err := decodeRecord(v, &ev); err != nil {
			return false, err
		}
		if match(ev) {
			*out, found = waitingOf(code, ev), true
			return false, nil
		}
		return true, nil
	})
	if err == nil && !found {
		return store.ErrNotFound
	}
	return err
}

// AcknowledgeWaiting acknowledges a waiting event by its id, as
// Acknowledge does by sequence: for a document, status 01 for its sender.
func (h *Hub) AcknowledgeWaiting(ctx context.Context, p Principal, id string) (Waiting, error) {
	w, err := h.FindWaiting(ctx, p, id)
	if err != nil {
		return Waiting{}, err
	}
	_, err = h.Acknowledge(ctx, p, []uint64{w.Seq})
	return w, err
}

// MaxPacketSize is the largest packet SendPacket reads.
func (h *Hub) MaxPacketSize() int64 { return h.maxPacketSize() }

// sortWaiting orders events of several queues oldest first.
func sortWaiting(ws []Waiting) {
	slices.SortStableFunc(ws, func(a, b Waiting) int { return a.Time.Compare(b.Time) })
}

// ListWaitingOf lists what waits for several agencies, oldest first, at
// most limit: the queues of a system that serves them all.
func (h *Hub) ListWaitingOf(ctx context.Context, ps []Principal, statuses bool, limit int) ([]Waiting, error) {
	var all []Waiting
	for _, p := range ps {
		ws, err := h.ListWaiting(ctx, p, statuses, limit)
		if err != nil {
			return nil, err
		}
		// Keep the oldest limit after each agency, so a system serving
		// a thousand agencies holds two lists' worth, not a thousand.
		all = append(all, ws...)
		sortWaiting(all)
		if len(all) > limit {
			all = all[:limit:limit]
		}
	}
	return all, nil
}

// CheckDocumentID refuses what is not a document id the hub made.
func CheckDocumentID(id string) error { return checkDocID(id) }
