package hub

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// Chunk is a piece of an attachment in an upload, or (Digest set, Data
// empty) the SHA-256 of attachment Index when its header gave none.
type Chunk struct {
	Index  int
	Offset int64
	Data   []byte
	Digest []byte
}

// ChunkSource yields an upload's chunks in order; io.EOF ends the upload.
// Each chunk's Data belongs to the hub once returned (it may be written out
// after the next call), so a source must not reuse it.
type ChunkSource interface {
	Next() (Chunk, error)
}

// Chunks is a ChunkSource over chunks already in memory, such as a
// pipelined send's small attachments: it cannot go idle, so a Send from
// it needs no idle watch.
type Chunks []Chunk

// Next returns the first chunk left, or io.EOF.
func (c *Chunks) Next() (Chunk, error) {
	if len(*c) == 0 {
		return Chunk{}, io.EOF
	}
	next := (*c)[0]
	*c = (*c)[1:]
	return next, nil
}

// Receipt is the hub's answer to a send.
type Receipt struct {
	ID         string
	Reference  string
	Accepted   time.Time
	Recipients []string
	// Duplicate is true when the send repeated an accepted one.
	Duplicate bool
}

// EventKind is what an event tells its agency.
type EventKind int

// Event kinds.
const (
	EventArrived  EventKind = iota + 1 // a document addressed to the agency
	EventStatus                        // a recipient reported on a document the agency sent
	EventRecalled                      // the sender recalled a document the agency received
	EventUpdated                       // an update of a document the agency received
	EventReplaced                      // a replacement of a document the agency received
)

func (k EventKind) carriesDocument() bool {
	return k == EventArrived || k == EventUpdated || k == EventReplaced
}

// Event is one entry of an agency's queue, in BucketQueue under
// code NUL sequence.
type Event struct {
	Seq    uint64        `json:"seq"`
	Kind   EventKind     `json:"kind"`
	DocID  string        `json:"doc"`
	Sender string        `json:"sender,omitempty"` // of the document, so an acknowledgement need not read it
	Size   int64         `json:"size,omitempty"`   // the document's stored bytes, for the quotas (Limits)
	Time   time.Time     `json:"time"`
	Status *StatusReport `json:"status,omitempty"`
	Reason string        `json:"reason,omitempty"`
	// Failures counts the recipient's reports that it could not take the
	// document (ReportDeliveryFailure), kept on the queue entry so that
	// the backlog (and its alerts) is rebuilt with them at start.
	Failures    int       `json:"failures,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
}

// StatusReport is one status of one recipient.
type StatusReport struct {
	DocID     string    `json:"doc"`
	Recipient string    `json:"recipient"`
	Code      Status    `json:"code"`
	Reason    string    `json:"reason,omitempty"`
	Staff     string    `json:"staff,omitempty"`
	Time      time.Time `json:"time"`
	// Packet is what a status packet said beyond these fields.
	Packet *StatusPacket `json:"packet,omitempty"`
}

// Step is one line of a recipient's trace.
type Step struct {
	Time   time.Time `json:"time"`
	Code   Status    `json:"code,omitempty"`
	What   string    `json:"what"`
	Reason string    `json:"reason,omitempty"`
	Staff  string    `json:"staff,omitempty"`
	// Packet is what the status packet of this step said, if it came as one.
	Packet *StatusPacket `json:"packet,omitempty"`
}

// Delivery is a document's state at one recipient, in BucketDeliveries
// under document id NUL recipient.
type Delivery struct {
	Recipient string      `json:"recipient"`
	Status    Status      `json:"status,omitempty"` // StatusNone until arrival is acknowledged, then 01..06 or 02
	Recall    RecallState `json:"recall,omitempty"`
	Delivered *time.Time  `json:"delivered,omitempty"`
	QueueSeq  uint64      `json:"queue_seq,omitempty"` // the arrival event, while queued
	// Failures counts the recipient's reports that it could not take the
	// document (ReportDeliveryFailure); LastFailure is the latest.
	Failures    int        `json:"failures,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"`
	Steps       []Step     `json:"steps"`
}

// idSource makes document ids: ULIDs, sortable by time, safe in file names and URLs.
type idSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

func newIDSource() *idSource { return &idSource{entropy: ulid.Monotonic(rand.Reader, 0)} }

func (s *idSource) next(t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), s.entropy).String()
}

func receiptOf(d Document, dup bool) Receipt {
	return Receipt{ID: d.ID, Reference: d.Header.Reference, Accepted: d.Created, Recipients: d.Header.Recipients, Duplicate: dup}
}

// findReceipt returns the receipt of an accepted send with this reference.
func findReceipt(tx store.Tx, sender, reference string) (Receipt, bool, error) {
	id, err := tx.Get(store.BucketRefs, pairKey(sender, reference))
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, false, nil
	}
	if err != nil {
		return Receipt{}, false, err
	}
	var d Document
	if err := getRecord(tx, store.BucketDocuments, id, &d); err != nil {
		return Receipt{}, false, fmt.Errorf("document %s of reference %q: %w", id, reference, err)
	}
	return receiptOf(d, true), true, nil
}

// Send accepts a document from an agency: it validates the header, checks
// every recipient, receives and verifies the attachments, and commits the
// document with one arrival event per recipient in one transaction. It
// returns only after that commit is on disk. A retry of an accepted send
// (same sender and reference) returns the first receipt without reading
// the attachments again.
func (h *Hub) Send(ctx context.Context, p Principal, hdr Header, src ChunkSource) (Receipt, error) {
	s := &sending{h: h, sender: p.Name, hdr: hdr, now: h.now()}
	if dup, found, err := s.admit(ctx, p); err != nil || found {
		return dup, err
	}
	if _, inMemory := src.(*Chunks); !inMemory {
		var stop func()
		src, stop = h.watchIdle(ctx, src)
		defer stop()
	}
	blobs, err := h.receive(ctx, s.hdr.Attachments, src)
	if err != nil {
		return Receipt{}, err
	}
	return s.finish(ctx, blobs)
}

// sendReceived is a Send whose bodies are received already (a packet's):
// blobs are the attachments' and, last, the packet's own. They are
// released whatever happens.
func (s *sending) sendReceived(ctx context.Context, p Principal, blobs []received) (Receipt, error) {
	dup, found, err := s.admit(ctx, p)
	if err != nil || found {
		s.h.bodies.releaseReceived(blobs)
		return dup, err
	}
	return s.finish(ctx, blobs)
}

// finish stores an admitted document whose bodies are received and tells
// its recipients.
func (s *sending) finish(ctx context.Context, blobs []received) (Receipt, error) {
	defer s.h.bodies.releaseReceived(blobs) // the purge may remove these files again (bodies.commit)
	receipt, err := s.store(ctx, blobs)
	if err != nil {
		return Receipt{}, err
	}
	if !receipt.Duplicate {
		s.announce()
	}
	return receipt, nil
}

// sending is one document on its way in (Send).
type sending struct {
	h      *Hub
	sender string
	hdr    Header
	now    time.Time
	size   int64 // stored bytes, for the quotas: attachments, then the header once encoded
	doc    Document
	queued []queued // the recipients' queue entries, once committed
	// packet is the edXML packet the document arrived as, its body the
	// last of the blobs stored (packets.go).
	packet *PacketInfo
}

// admit checks everything that needs no attachment byte: the caller, the
// header, a retry of an accepted send (its receipt, found = true), the
// document an update or replacement points at, the recipients, and the
// sender's limits.
func (s *sending) admit(ctx context.Context, p Principal) (dup Receipt, found bool, err error) {
	h := s.h
	if err := requireAgency(p, "sending"); err != nil {
		return Receipt{}, false, err
	}
	if err := h.requireExchanging(p, "send documents"); err != nil {
		return Receipt{}, false, err
	}
	if err := h.draining(); err != nil {
		return Receipt{}, false, err
	}
	if err := normalizeHeader(s.sender, &s.hdr, s.now); err != nil {
		return Receipt{}, false, err
	}
	err = h.st.View(ctx, func(tx store.Tx) error {
		var err error
		if dup, found, err = findReceipt(tx, s.sender, s.hdr.Reference); err != nil || found {
			return err
		}
		if s.hdr.Original != "" {
			return checkOriginal(tx, s.sender, s.hdr.Original)
		}
		return nil
	})
	if err != nil || found {
		return dup, found, err
	}
	if err := h.checkRecipients(s.hdr.Recipients); err != nil {
		return Receipt{}, false, err
	}
	// Limits come after the retry check: a retry of an accepted send costs
	// the hub nothing and must get its receipt.
	if err := h.allowSend(s.sender); err != nil {
		return Receipt{}, false, err
	}
	for _, a := range s.hdr.Attachments {
		s.size += a.Size
	}
	if s.packet != nil {
		s.size += s.packet.Size
	}
	return Receipt{}, false, h.checkQuotas(s.sender, s.hdr.Recipients, s.size)
}

// store commits the document, its bodies and its recipients' queue entries
// in one transaction, unless a concurrent retry committed it first.
func (s *sending) store(ctx context.Context, blobs []received) (Receipt, error) {
	h := s.h
	s.doc = Document{ID: h.ids.next(s.now), Sender: s.sender, Header: s.hdr, Created: s.now, Packet: s.packet}
	// Encode outside the transaction: the commit goroutine is shared by
	// every writer, so only what needs the transaction runs there.
	rec, err := encodeRecord(&s.doc)
	if err != nil {
		return Receipt{}, err
	}
	s.size += int64(len(rec))
	// Keep what the pushes need before the commit: a subscriber already
	// awake may see the queue entry as soon as it is committed. Nothing
	// else knows the new id, so an entry for a send that fails is harmless
	// (and dropped below).
	h.mu.RLock()
	senderName := h.index[s.sender].name
	h.mu.RUnlock()
	h.recent.add(&DocumentView{Doc: s.doc, SenderName: senderName}, h.inlineBodies(s.doc, func(i int) ([]byte, bool) {
		return blobs[i].inline, !blobs[i].file
	}))
	var receipt Receipt
	err = h.st.Update(ctx, func(tx store.Tx) error {
		r, ok, err := findReceipt(tx, s.sender, s.hdr.Reference)
		if err != nil {
			return err
		}
		if ok { // a concurrent retry won the race
			receipt = r
			return nil
		}
		receipt = receiptOf(s.doc, false)
		return s.write(tx, rec, blobs)
	})
	if err != nil || receipt.Duplicate {
		h.recent.drop(s.doc.ID)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("store document: %w", h.storeErr(err))
	}
	return receipt, nil
}

// write puts the document's records. Recipients were checked against the
// in-memory registry before; a suspension committed in between is not a
// reason to refuse (the document is stored, and the suspended agency gets
// it on resume).
func (s *sending) write(tx store.Tx, rec []byte, blobs []received) error {
	id := s.doc.ID
	for i, a := range s.doc.bodies() {
		if err := putBody(tx, id, i, a, blobs[i]); err != nil {
			return err
		}
	}
	if err := tx.Put(store.BucketDocuments, []byte(id), rec); err != nil {
		return err
	}
	if err := tx.Put(store.BucketRefs, pairKey(s.sender, s.hdr.Reference), []byte(id)); err != nil {
		return err
	}
	if err := tx.Put(store.BucketSent, pairKey(s.sender, id), nil); err != nil {
		return err
	}
	kind := EventArrived
	switch s.hdr.Business {
	case BusinessUpdate:
		kind = EventUpdated
	case BusinessReplace:
		kind = EventReplaced
	}
	s.queued = s.queued[:0] // the transaction may run again
	for _, r := range s.hdr.Recipients {
		seq, err := enqueue(tx, r, Event{Kind: kind, DocID: id, Sender: s.sender, Size: s.size, Time: s.now})
		if err != nil {
			return err
		}
		s.queued = append(s.queued, queued{code: r, seq: seq, pendingDoc: pendingDoc{since: s.now, doc: id, sender: s.sender, size: s.size}})
		d := Delivery{Recipient: r, QueueSeq: seq, Steps: []Step{{Time: s.now, What: "queued"}}}
		if err := putRecord(tx, store.BucketDeliveries, pairKey(id, r), d); err != nil {
			return err
		}
		if err := tx.Put(store.BucketInbox, pairKey(r, id), nil); err != nil {
			return err
		}
	}
	return nil
}

// announce tells the recipients' subscriptions, the backlog, the metrics
// and the watchers of a committed document.
func (s *sending) announce() {
	h, hdr := s.h, s.hdr
	h.backlog.add(s.queued...)
	for _, r := range hdr.Recipients {
		h.deliv.notify(r)
	}
	h.log.Info("document accepted", "id", s.doc.ID, "sender", s.sender, "reference", hdr.Reference,
		"recipients", len(hdr.Recipients), "attachments", len(hdr.Attachments))
	h.metrics.sent(len(hdr.Recipients))
	h.traffic.addSend(s.doc.Created, s.sender, hdr.Recipients)
	h.watch.notify()
}

// checkOriginal: an update or replacement must refer to a document the
// same agency sent.
func checkOriginal(tx store.Tx, sender, id string) error {
	if _, err := ulid.ParseStrict(id); err != nil {
		return invalid("original_document_id", "%q is not a document id", id)
	}
	var d Document
	err := getRecord(tx, store.BucketDocuments, []byte(id), &d)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.Sender != sender) {
		return newErr(ErrNotFound, "original_document_id", "document %s not found among the documents you sent", id)
	}
	return err
}

// checkRecipients refuses a send naming any unregistered or suspended
// recipient, naming every bad code at once.
func (h *Hub) checkRecipients(codes []string) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var unknown, suspended, pending []string
	for _, c := range codes {
		e, ok := h.index[c]
		switch {
		case !ok:
			unknown = append(unknown, c)
		case e.suspended:
			suspended = append(suspended, c)
		case e.stage == StagePending:
			pending = append(pending, c)
		}
	}
	return recipientsError(unknown, suspended, pending)
}

func recipientsError(unknown, suspended, pending []string) error {
	var parts []string
	if len(unknown) > 0 {
		parts = append(parts, "not registered: "+strings.Join(unknown, ", "))
	}
	if len(suspended) > 0 {
		parts = append(parts, "suspended: "+strings.Join(suspended, ", "))
	}
	if len(pending) > 0 {
		parts = append(parts, "pending, not yet exchanging: "+strings.Join(pending, ", "))
	}
	if parts == nil {
		return nil
	}
	return invalid("recipients", "cannot deliver to every recipient (%s); nothing was sent", strings.Join(parts, "; "))
}

// Acknowledge removes handled events from the caller's queue. Acknowledging
// an arrival records status 01 for that recipient and tells the sender.
func (h *Hub) Acknowledge(ctx context.Context, p Principal, seqs []uint64) (int, error) {
	if err := requireAgency(p, "acknowledging events"); err != nil {
		return 0, err
	}
	if len(seqs) > MaxAckBatch {
		return 0, invalid("sequences", "%d sequences, the limit is %d", len(seqs), MaxAckBatch)
	}
	code := p.Name
	var removed int
	var senders []string
	var taken []queued // document-carrying entries removed
	err := h.st.Update(ctx, func(tx store.Tx) error {
		removed, senders, taken = 0, senders[:0], taken[:0]
		now := h.now()
		for _, seq := range seqs {
			key := queueKey(code, seq)
			var ev Event
			if err := getRecord(tx, store.BucketQueue, key, &ev); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if err := tx.Delete(store.BucketQueue, key); err != nil {
				return err
			}
			removed++
			if !ev.Kind.carriesDocument() {
				continue
			}
			taken = append(taken, queued{code: code, seq: seq})
			sender, err := arrived(tx, code, ev, now)
			if err != nil {
				return err
			}
			if sender != "" {
				senders = append(senders, sender)
			}
		}
		return nil
	})
	if err != nil {
		return 0, h.storeErr(err)
	}
	h.backlog.remove(taken...)
	h.deliv.acked(code, seqs)
	for _, s := range senders {
		h.deliv.notify(s)
	}
	h.metrics.delivered(len(senders))
	if len(senders) > 0 {
		h.traffic.addDelivered(h.cfg.Now(), len(senders))
	}
	if removed > 0 {
		h.watch.notify()
	}
	return removed, nil
}

// arrived records status 01 for recipient code of the document an
// acknowledged arrival event carries, and queues it for the sender,
// whom it returns ("" when the arrival was acknowledged before).
func arrived(tx store.Tx, code string, ev Event, now time.Time) (sender string, err error) {
	sender = ev.Sender
	if sender == "" { // an event queued before events named their sender
		var doc Document
		if err := getRecord(tx, store.BucketDocuments, []byte(ev.DocID), &doc); err != nil {
			return "", err
		}
		sender = doc.Sender
	}
	var d Delivery
	dkey := pairKey(ev.DocID, code)
	if err := getRecord(tx, store.BucketDeliveries, dkey, &d); err != nil {
		return "", err
	}
	if d.Status != StatusNone {
		return "", nil
	}
	d.Status, d.Delivered, d.QueueSeq = StatusArrived, &now, 0
	d.Steps = append(d.Steps, Step{Time: now, Code: StatusArrived, What: "delivered: arrival acknowledged by the recipient"})
	if err := putRecord(tx, store.BucketDeliveries, dkey, d); err != nil {
		return "", err
	}
	st := &StatusReport{DocID: ev.DocID, Recipient: code, Code: StatusArrived, Time: now}
	if _, err := enqueue(tx, sender, Event{Kind: EventStatus, DocID: ev.DocID, Time: now, Status: st}); err != nil {
		return "", err
	}
	return sender, nil
}

// MaxAckBatch bounds one acknowledgement call.
const MaxAckBatch = 1024

// StatusRequest is a recipient's status report on a document.
type StatusRequest struct {
	DocID  string
	Code   Status
	Reason string // required with 02 and 16
	Staff  string // who handled it, optional
	// Packet is what the status packet it came in said, if any.
	Packet *StatusPacket
}

// ReportStatus records a recipient's status report and queues it for the
// sender. The workflow (docs/domain.md, checkReport): statuses move forward and
// may skip steps; 02 and 16 need a reason; nothing follows 02 or 06 except
// the recall flow; 15 and 16 answer a pending recall (13).
func (h *Hub) ReportStatus(ctx context.Context, p Principal, req StatusRequest) (StatusReport, error) {
	if err := requireAgency(p, "reporting a status"); err != nil {
		return StatusReport{}, err
	}
	if err := h.draining(); err != nil {
		return StatusReport{}, err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	// Refusals that need no stored state come first: the workflow again
	// once the delivery is read.
	if err := checkReport(StatusArrived, RecallNone, req.Code, req.Reason); err != nil && !errors.Is(err, ErrPrecondition) {
		return StatusReport{}, err
	}
	if err := checkText("reason", req.Reason, MaxSubjectLen, false); err != nil {
		return StatusReport{}, err
	}
	if err := checkText("staff", req.Staff, MaxShortFieldLen, false); err != nil {
		return StatusReport{}, err
	}
	var rep StatusReport
	var sender string
	err := h.st.Update(ctx, func(tx store.Tx) error {
		doc, r, err := visible(tx, p, req.DocID)
		if err != nil {
			return err
		}
		if r != roleRecipient {
			return newErr(ErrPermission, "", "only the recipients of document %s report its status", req.DocID)
		}
		sender = doc.Sender
		dkey := pairKey(req.DocID, p.Name)
		var d Delivery
		if err := getRecord(tx, store.BucketDeliveries, dkey, &d); err != nil {
			return err
		}
		if err := checkReport(d.Status, d.Recall, req.Code, req.Reason); err != nil {
			return err
		}
		now := h.now()
		rep = StatusReport{DocID: req.DocID, Recipient: p.Name, Code: req.Code, Reason: req.Reason, Staff: req.Staff, Time: now, Packet: req.Packet}
		switch req.Code {
		case StatusRecallAccepted, StatusRecallRefused:
			d.Recall = RecallState(req.Code)
		default:
			d.Status = req.Code
		}
		d.Steps = append(d.Steps, Step{Time: now, Code: req.Code, What: req.Code.Text(), Reason: req.Reason, Staff: req.Staff, Packet: req.Packet})
		if err := putRecord(tx, store.BucketDeliveries, dkey, d); err != nil {
			return err
		}
		_, err = enqueue(tx, doc.Sender, Event{Kind: EventStatus, DocID: req.DocID, Time: now, Status: &rep})
		return err
	})
	if err != nil {
		return StatusReport{}, h.storeErr(err)
	}
	h.deliv.notify(sender)
	h.watch.notify()
	return rep, nil
}
