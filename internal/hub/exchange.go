package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
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
}

// StatusReport is one status of one recipient.
type StatusReport struct {
	DocID     string    `json:"doc"`
	Recipient string    `json:"recipient"`
	Code      Status    `json:"code"`
	Reason    string    `json:"reason,omitempty"`
	Staff     string    `json:"staff,omitempty"`
	Time      time.Time `json:"time"`
}

// Step is one line of a recipient's trace.
type Step struct {
	Time   time.Time `json:"time"`
	Code   Status    `json:"code,omitempty"`
	What   string    `json:"what"`
	Reason string    `json:"reason,omitempty"`
	Staff  string    `json:"staff,omitempty"`
}

// Delivery is a document's state at one recipient, in BucketDeliveries
// under document id NUL recipient.
type Delivery struct {
	Recipient string      `json:"recipient"`
	Status    Status      `json:"status,omitempty"` // StatusNone until arrival is acknowledged, then 01..06 or 02
	Recall    RecallState `json:"recall,omitempty"`
	Delivered *time.Time  `json:"delivered,omitempty"`
	QueueSeq  uint64      `json:"queue_seq,omitempty"` // the arrival event, while queued
	Steps     []Step      `json:"steps"`
}

// blobRecord says where an attachment body is, in BucketBlobs under its digest.
type blobRecord struct {
	Size   int64 `json:"size"`
	Inline bool  `json:"inline,omitempty"`
}

func queueKey(code string, seq uint64) []byte {
	k := make([]byte, 0, len(code)+9)
	k = append(k, code...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func queuePrefix(code string) []byte { return append([]byte(code), 0) }

func pairKey(a, b string) []byte { return []byte(a + "\x00" + b) }

func getJSON(tx store.Tx, b store.Bucket, key []byte, v any) error {
	raw, err := tx.Get(b, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func putJSON(tx store.Tx, b store.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(b, key, raw)
}

// enqueue appends an event to an agency's queue.
func enqueue(tx store.Tx, code string, ev Event) (uint64, error) {
	seq, err := tx.NextSequence(store.BucketQueue)
	if err != nil {
		return 0, err
	}
	ev.Seq = seq
	return seq, putJSON(tx, store.BucketQueue, queueKey(code, seq), ev)
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

func checkDocID(id string) error {
	if _, err := ulid.ParseStrict(id); err != nil {
		return invalid("document_id", "%q is not a document id", id)
	}
	return nil
}

func notFoundDoc(id string) error {
	return newErr(ErrNotFound, "document_id", "document %s not found", id)
}

// role is how a caller relates to a document.
type role int

const (
	roleNone role = iota
	roleSender
	roleRecipient
	roleAdmin
)

// visible loads a document and the caller's role; callers that are
// neither sender, recipient nor admin get NotFound, as if it did not exist,
// and so does a recipient whose copy was recalled (recalledAway).
func visible(tx store.Tx, p Principal, id string) (Document, role, error) {
	if err := checkDocID(id); err != nil {
		return Document{}, roleNone, err
	}
	var d Document
	if err := getJSON(tx, store.BucketDocuments, []byte(id), &d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Document{}, roleNone, notFoundDoc(id)
		}
		return Document{}, roleNone, err
	}
	switch {
	case p.Admin:
		return d, roleAdmin, nil
	case p.Name == d.Sender:
		return d, roleSender, nil
	}
	if !contains(d.Header.Recipients, p.Name) {
		return Document{}, roleNone, notFoundDoc(id)
	}
	if d.Recalled != nil {
		var dl Delivery
		if err := getJSON(tx, store.BucketDeliveries, pairKey(id, p.Name), &dl); err != nil {
			return Document{}, roleNone, err
		}
		if dl.recalledAway() {
			return Document{}, roleNone, notFoundDoc(id)
		}
	}
	return d, roleRecipient, nil
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

func requireAgency(p Principal, what string) error {
	if p.Admin || p.Name == "" {
		return newErr(ErrPermission, "", "%s needs an agency credential, not an admin one", what)
	}
	return nil
}

// requireExchanging refuses an agency still pending: its code is issued
// and it may prepare (credentials, the directory, a subscription that
// shows operators its system is connected), but it sends nothing, and
// nothing may be addressed to it (checkRecipients), until an operator
// moves it to pilot or production.
func (h *Hub) requireExchanging(p Principal, what string) error {
	h.mu.RLock()
	e := h.index[p.Name]
	h.mu.RUnlock()
	if e.stage == StagePending {
		return newErr(ErrPrecondition, "", "agency %s is pending: it may %s once an operator moves it to pilot or production (ndxpctl agency set-stage)", p.Name, what)
	}
	return nil
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
	if err := getJSON(tx, store.BucketDocuments, id, &d); err != nil {
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
	if err := requireAgency(p, "sending"); err != nil {
		return Receipt{}, err
	}
	if err := h.requireExchanging(p, "send documents"); err != nil {
		return Receipt{}, err
	}
	if err := h.draining(); err != nil {
		return Receipt{}, err
	}
	now := h.now()
	sender := p.Name
	if err := normalizeHeader(sender, &hdr, now); err != nil {
		return Receipt{}, err
	}
	var dup Receipt
	var found bool
	err := h.st.View(ctx, func(tx store.Tx) error {
		var err error
		dup, found, err = findReceipt(tx, sender, hdr.Reference)
		if err != nil || found {
			return err
		}
		if hdr.Original != "" {
			return checkOriginal(tx, sender, hdr.Original)
		}
		return nil
	})
	if err != nil {
		return Receipt{}, err
	}
	if found {
		return dup, nil
	}
	if err := h.checkRecipients(hdr.Recipients); err != nil {
		return Receipt{}, err
	}
	// Limits come after the retry check: a retry of an accepted send costs
	// the hub nothing and must get its receipt.
	if err := h.allowSend(sender); err != nil {
		return Receipt{}, err
	}
	var size int64 // the stored bytes, for the quotas: attachments now, the header once encoded
	for _, a := range hdr.Attachments {
		size += a.Size
	}
	if err := h.checkQuotas(sender, hdr.Recipients, size); err != nil {
		return Receipt{}, err
	}
	src, stop := h.watchIdle(ctx, src)
	defer stop()
	blobs, err := h.receive(ctx, hdr.Attachments, src)
	if err != nil {
		return Receipt{}, err
	}
	defer h.releaseReceived(blobs) // retention: the purge may remove these files again (commitFile)
	doc := Document{ID: h.ids.next(now), Sender: sender, Header: hdr, Created: now}
	kind := EventArrived
	switch hdr.Business {
	case BusinessUpdate:
		kind = EventUpdated
	case BusinessReplace:
		kind = EventReplaced
	}
	// Encode outside the transaction: the commit goroutine is shared by
	// every writer, so only what needs the transaction runs there.
	docJSON, err := json.Marshal(doc)
	if err != nil {
		return Receipt{}, err
	}
	size += int64(len(docJSON))
	// Keep what the pushes need before the commit: a subscriber already
	// awake may see the queue entry as soon as it is committed. Nothing
	// else knows the new id, so an entry for a send that fails is harmless
	// (and dropped below).
	h.mu.RLock()
	senderName := h.index[sender].name
	h.mu.RUnlock()
	h.recent.add(&DocumentView{Doc: doc, SenderName: senderName}, h.inlineBodies(doc, func(i int) ([]byte, bool) {
		return blobs[i].inline, !blobs[i].file
	}))
	var receipt Receipt
	var queuedDocs []queued
	err = h.st.Update(ctx, func(tx store.Tx) error {
		queuedDocs = queuedDocs[:0]
		r, ok, err := findReceipt(tx, sender, hdr.Reference)
		if err != nil {
			return err
		}
		if ok { // a concurrent retry won the race
			receipt = r
			return nil
		}
		receipt = receiptOf(doc, false)
		// Recipients were checked against the in-memory registry above; a
		// suspension committed in between is not a reason to refuse (the
		// document is stored, and the suspended agency gets it on resume).
		for i, a := range hdr.Attachments {
			if !blobs[i].file {
				// A small body belongs to its document, under a key next to
				// the document's own: one page, not three scattered ones.
				if err := tx.Put(store.BucketBlobData, inlineKey(doc.ID, i), blobs[i].inline); err != nil {
					return err
				}
				continue
			}
			if err := putBlob(tx, a, blobs[i]); err != nil {
				return err
			}
			if err := tx.Put(store.BucketBlobRefs, pairKey(blobs[i].sum, doc.ID), nil); err != nil {
				return err
			}
		}
		if err := tx.Put(store.BucketDocuments, []byte(doc.ID), docJSON); err != nil {
			return err
		}
		if err := tx.Put(store.BucketRefs, pairKey(sender, hdr.Reference), []byte(doc.ID)); err != nil {
			return err
		}
		if err := tx.Put(store.BucketSent, pairKey(sender, doc.ID), nil); err != nil {
			return err
		}
		for _, r := range hdr.Recipients {
			seq, err := enqueue(tx, r, Event{Kind: kind, DocID: doc.ID, Sender: sender, Size: size, Time: now})
			if err != nil {
				return err
			}
			queuedDocs = append(queuedDocs, queued{code: r, seq: seq, pendingDoc: pendingDoc{since: now, doc: doc.ID, sender: sender, size: size}})
			d := Delivery{Recipient: r, QueueSeq: seq, Steps: []Step{{Time: now, What: "queued"}}}
			if err := putJSON(tx, store.BucketDeliveries, pairKey(doc.ID, r), d); err != nil {
				return err
			}
			if err := tx.Put(store.BucketInbox, pairKey(r, doc.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || receipt.Duplicate {
		h.recent.drop(doc.ID)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("store document: %w", h.storeErr(err))
	}
	if !receipt.Duplicate {
		h.backlog.add(queuedDocs...)
		for _, r := range hdr.Recipients {
			h.deliv.notify(r)
		}
		h.log.Info("document accepted", "id", doc.ID, "sender", sender, "reference", hdr.Reference,
			"recipients", len(hdr.Recipients), "attachments", len(hdr.Attachments))
		h.metrics.sent(len(hdr.Recipients))
		h.traffic.addSend(doc.Created, sender, hdr.Recipients)
		h.watch.notify()
	}
	return receipt, nil
}

// checkOriginal: an update or replacement must refer to a document the
// same agency sent.
func checkOriginal(tx store.Tx, sender, id string) error {
	if _, err := ulid.ParseStrict(id); err != nil {
		return invalid("original_document_id", "%q is not a document id", id)
	}
	var d Document
	err := getJSON(tx, store.BucketDocuments, []byte(id), &d)
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

// received is where one attachment's verified bytes are.
type received struct {
	sum    string
	inline []byte // small bodies, stored in the send's transaction
	file   bool   // placed by commitFile: released after the send's transaction
}

// receive reads the upload's chunks: every attachment in header order, each
// from offset 0 without gaps, up to its declared size, then checks the
// SHA-256 (declared in the header, or sent right after the attachment's last
// chunk; the digest received is written into atts). Small bodies stay in
// memory (each at most InlineLimit, together at most Limits.UploadMemory);
// the others stream to a file, so memory grows neither with attachment
// size nor with their number.
func (h *Hub) receive(ctx context.Context, atts []AttachmentInfo, src ChunkSource) (out []received, err error) {
	out = make([]received, len(atts))
	var writers []*store.FileWriter
	var placed []string // retention: files placed by commitFile, released on failure
	defer func() {
		if err != nil {
			for _, w := range writers {
				w.Abort()
			}
			h.releaseFiles(placed...)
		}
	}()
	for i, a := range atts {
		if a.Size > h.cfg.MaxAttachmentSize {
			return nil, invalid(fmt.Sprintf("attachments[%d].size", i), "%d bytes, the limit is %d", a.Size, h.cfg.MaxAttachmentSize)
		}
	}
	cur := 0
	var off int64
	var buf bytes.Buffer
	var held int64 // inline bytes kept in memory for this upload
	var fw *store.FileWriter
	hasher := sha256.New()
	awaitDigest := false // attachment cur is complete; its digest comes next
	// finish completes attachment cur and moves to the next non-empty one.
	finish := func() error {
		a := atts[cur]
		field := fmt.Sprintf("attachments[%d].sha256", cur)
		if fw != nil {
			got, err := fw.Sum()
			if err != nil {
				return h.storeErr(err)
			}
			if !bytes.Equal(got, a.SHA256) {
				return invalid(field, "the received bytes have SHA-256 %x, the sender declares %x", got, a.SHA256)
			}
			sum, err := h.commitFile(fw) // retention: guards the file against a concurrent purge
			if err != nil {
				return h.storeErr(err)
			}
			placed = append(placed, sum)
			out[cur] = received{sum: sum, file: true}
			fw = nil
		} else {
			got := hasher.Sum(nil)
			if a.Size == 0 && len(a.SHA256) == 0 {
				// No chunk can carry an empty body, so none is followed by
				// its digest: the digest of nothing is known.
				atts[cur].SHA256, a.SHA256 = got, got
			}
			if !bytes.Equal(got, a.SHA256) {
				return invalid(field, "the received bytes have SHA-256 %x, the sender declares %x", got, a.SHA256)
			}
			out[cur] = received{sum: hex.EncodeToString(got), inline: bytes.Clone(buf.Bytes())}
			held += int64(buf.Len())
		}
		cur++
		off = 0
		return nil
	}
	start := func() error {
		for {
			// Each attachment starts from an empty hash and buffer, an
			// empty one too: it must hash as empty, not as the one before.
			buf.Reset()
			hasher.Reset()
			if cur == len(atts) || atts[cur].Size > 0 {
				break
			}
			if err := finish(); err != nil {
				return err
			}
		}
		if cur < len(atts) {
			size := atts[cur].Size
			if size > h.cfg.InlineLimit || (h.cfg.Limits.UploadMemory > 0 && held+size > h.cfg.Limits.UploadMemory) {
				w, err := h.files.Create()
				if err != nil {
					return h.storeErr(err)
				}
				writers = append(writers, w)
				fw = w
			}
		}
		return nil
	}
	if err := start(); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := h.draining(); err != nil {
			// A shutdown does not wait for a long upload: the sender is told
			// to retry, and the retry is idempotent.
			return nil, err
		}
		c, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if c.Digest != nil {
			switch {
			case !awaitDigest:
				return nil, invalid("digest", "a digest for attachment %d came where none was expected: only right after the last chunk of an attachment whose header gave no sha256", c.Index)
			case c.Index != cur:
				return nil, invalid("digest.index", "a digest for attachment %d came after the last chunk of attachment %d", c.Index, cur)
			case len(c.Digest) != sha256.Size:
				return nil, invalid("digest.sha256", "%d bytes, a SHA-256 digest is 32", len(c.Digest))
			}
			atts[cur].SHA256 = c.Digest
			awaitDigest = false
			if err := finish(); err != nil {
				return nil, err
			}
			if err := start(); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case awaitDigest:
			return nil, invalid("digest", "attachment %d (%s) is complete and its header gave no sha256: its digest must come before any other chunk", cur, atts[cur].Name)
		case cur >= len(atts):
			return nil, invalid("chunk", "a chunk for attachment %d came after every attachment was complete", c.Index)
		case c.Index != cur:
			return nil, invalid("chunk.index", "chunks out of order: got attachment %d, expected attachment %d at offset %d", c.Index, cur, off)
		case c.Offset != off:
			return nil, invalid("chunk.offset", "attachment %d: chunk at offset %d, expected offset %d (chunks missing or out of order)", cur, c.Offset, off)
		case len(c.Data) == 0:
			return nil, invalid("chunk.data", "attachment %d: empty chunk", cur)
		case off+int64(len(c.Data)) > atts[cur].Size:
			return nil, invalid(fmt.Sprintf("attachments[%d].size", cur), "more bytes than the declared %d", atts[cur].Size)
		}
		if fw != nil {
			// Chunk data belongs to the receiver (ChunkSource): hand it over.
			if err := fw.Give(c.Data); err != nil {
				return nil, h.storeErr(err)
			}
		} else {
			buf.Write(c.Data)
			hasher.Write(c.Data)
		}
		off += int64(len(c.Data))
		if off == atts[cur].Size {
			if len(atts[cur].SHA256) == 0 {
				awaitDigest = true
				continue
			}
			if err := finish(); err != nil {
				return nil, err
			}
			if err := start(); err != nil {
				return nil, err
			}
		}
	}
	if awaitDigest {
		return nil, invalid("digest", "attachment %d (%s): the upload ended without its digest (its header gave no sha256)", cur, atts[cur].Name)
	}
	if cur < len(atts) {
		return nil, invalid("chunk", "attachment %d (%s) is incomplete: received %d of %d bytes", cur, atts[cur].Name, off, atts[cur].Size)
	}
	return out, nil
}

// inlineKey is where a small attachment body is kept: document id NUL
// index, so a document's bodies sit beside each other (documents sent
// before this layout keep theirs under the SHA-256; readers try both).
func inlineKey(docID string, index int) []byte {
	return fmt.Appendf(nil, "%s\x00%04d", docID, index)
}

// inlineBody returns a small body kept with its document, or found=false.
func inlineBody(tx store.Tx, docID string, index int) (body []byte, found bool, err error) {
	b, err := tx.Get(store.BucketBlobData, inlineKey(docID, index))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}

func putBlob(tx store.Tx, a AttachmentInfo, r received) error {
	key := []byte(r.sum)
	if _, err := tx.Get(store.BucketBlobs, key); err == nil {
		return nil // content-addressed: stored already
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if r.inline != nil || a.Size == 0 {
		if err := tx.Put(store.BucketBlobData, key, r.inline); err != nil {
			return err
		}
		return putJSON(tx, store.BucketBlobs, key, blobRecord{Size: a.Size, Inline: true})
	}
	return putJSON(tx, store.BucketBlobs, key, blobRecord{Size: a.Size})
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
			if err := getJSON(tx, store.BucketQueue, key, &ev); errors.Is(err, store.ErrNotFound) {
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
			docSender := ev.Sender
			if docSender == "" { // an event queued before events named their sender
				var doc Document
				if err := getJSON(tx, store.BucketDocuments, []byte(ev.DocID), &doc); err != nil {
					return err
				}
				docSender = doc.Sender
			}
			var d Delivery
			dkey := pairKey(ev.DocID, code)
			if err := getJSON(tx, store.BucketDeliveries, dkey, &d); err != nil {
				return err
			}
			if d.Status != "" {
				continue
			}
			d.Status, d.Delivered, d.QueueSeq = StatusArrived, &now, 0
			d.Steps = append(d.Steps, Step{Time: now, Code: StatusArrived, What: "delivered: arrival acknowledged by the recipient"})
			if err := putJSON(tx, store.BucketDeliveries, dkey, d); err != nil {
				return err
			}
			st := &StatusReport{DocID: ev.DocID, Recipient: code, Code: StatusArrived, Time: now}
			if _, err := enqueue(tx, docSender, Event{Kind: EventStatus, DocID: ev.DocID, Time: now, Status: st}); err != nil {
				return err
			}
			senders = append(senders, docSender)
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

// MaxAckBatch bounds one acknowledgement call.
const MaxAckBatch = 1024

// StatusRequest is a recipient's status report on a document.
type StatusRequest struct {
	DocID  string
	Code   Status
	Reason string // required with 02 and 16
	Staff  string // who handled it, optional
}

// ReportStatus records a recipient's status report and queues it for the
// sender. The workflow (DOMAIN.md, checkReport): statuses move forward and
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
		if err := getJSON(tx, store.BucketDeliveries, dkey, &d); err != nil {
			return err
		}
		if err := checkReport(d.Status, d.Recall, req.Code, req.Reason); err != nil {
			return err
		}
		now := h.now()
		rep = StatusReport{DocID: req.DocID, Recipient: p.Name, Code: req.Code, Reason: req.Reason, Staff: req.Staff, Time: now}
		switch req.Code {
		case StatusRecallAccepted, StatusRecallRefused:
			d.Recall = RecallState(req.Code)
		default:
			d.Status = req.Code
		}
		d.Steps = append(d.Steps, Step{Time: now, Code: req.Code, What: req.Code.Text(), Reason: req.Reason, Staff: req.Staff})
		if err := putJSON(tx, store.BucketDeliveries, dkey, d); err != nil {
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
		if err := putJSON(tx, store.BucketDocuments, []byte(docID), doc); err != nil {
			return err
		}
		for _, rc := range doc.Header.Recipients {
			dkey := pairKey(docID, rc)
			var d Delivery
			if err := getJSON(tx, store.BucketDeliveries, dkey, &d); err != nil {
				return err
			}
			if d.Status == "" {
				qkey := queueKey(rc, d.QueueSeq)
				if _, err := tx.Get(store.BucketQueue, qkey); err == nil {
					taken = append(taken, queued{code: rc, seq: d.QueueSeq})
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err := tx.Delete(store.BucketQueue, qkey); err != nil {
					return err
				}
				d.Recall, d.QueueSeq = RecallWithdrawn, 0
				d.Steps = append(d.Steps, Step{Time: now, Code: StatusRecall, What: "recalled before delivery: withdrawn from the queue", Reason: reason})
				withdrawn = append(withdrawn, rc)
			} else {
				d.Recall = RecallAsked
				d.Steps = append(d.Steps, Step{Time: now, Code: StatusRecall, What: StatusRecall.Text(), Reason: reason})
				if _, err := enqueue(tx, rc, Event{Kind: EventRecalled, DocID: docID, Time: now, Reason: reason}); err != nil {
					return err
				}
				asked = append(asked, rc)
			}
			if err := putJSON(tx, store.BucketDeliveries, dkey, d); err != nil {
				return err
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
		if err := getJSON(tx, store.BucketDeliveries, pairKey(doc.ID, rc), &d); err != nil {
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

// Attachment is an open attachment body.
type Attachment struct {
	Info AttachmentInfo
	Body io.ReadSeekCloser
}

// OpenAttachment opens attachment index of a document the caller may see.
func (h *Hub) OpenAttachment(ctx context.Context, p Principal, docID string, index int) (Attachment, error) {
	var info AttachmentInfo
	var rec blobRecord
	var inline []byte
	err := h.st.View(ctx, func(tx store.Tx) error {
		doc, _, err := visible(tx, p, docID)
		if err != nil {
			return err
		}
		if index < 0 || index >= len(doc.Header.Attachments) {
			return newErr(ErrNotFound, "index", "document %s has no attachment %d (it has %d)", docID, index, len(doc.Header.Attachments))
		}
		info = doc.Header.Attachments[index]
		if doc.Purged != nil { // retention: even a body still shared with a kept document
			return purgedErr(docID, index, doc.Purged)
		}
		if b, ok, err := inlineBody(tx, docID, index); err != nil {
			return err
		} else if ok {
			inline, rec.Inline = b, true
			return nil
		}
		key := []byte(hex.EncodeToString(info.SHA256))
		if err := getJSON(tx, store.BucketBlobs, key, &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return purgedErr(docID, index, nil)
			}
			return err
		}
		if rec.Inline {
			inline, err = tx.Get(store.BucketBlobData, key)
			return err
		}
		return nil
	})
	if err != nil {
		return Attachment{}, err
	}
	if rec.Inline {
		return Attachment{Info: info, Body: nopCloser{bytes.NewReader(inline)}}, nil
	}
	f, err := h.files.Open(hex.EncodeToString(info.SHA256))
	if errors.Is(err, store.ErrNotFound) && h.bodyGone(ctx, info.SHA256) { // retention: purged since the transaction above
		return Attachment{}, purgedErr(docID, index, nil)
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("open attachment body: %w", err)
	}
	return Attachment{Info: info, Body: f}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

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
	pageSize, err := pageSizeOf(pageSize, DefaultDocPage, MaxDocPage)
	if err != nil {
		return nil, "", err
	}
	if f.Counterpart != "" {
		if _, err := parseCode("counterpart", f.Counterpart); err != nil {
			return nil, "", err
		}
	}
	if f.Status != "" && f.Status != "00" && !Status(f.Status).Known() {
		return nil, "", invalid("status", "unknown status code %q", f.Status)
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
			if err := json.Unmarshal(raw, &doc); err != nil {
				return false, fmt.Errorf("decode document %s: %w", id, err)
			}
			if !f.Since.IsZero() && doc.Created.Before(f.Since) {
				return false, nil // newest first: everything after is older still
			}
			if !f.Until.IsZero() && !doc.Created.Before(f.Until) {
				return true, nil
			}
			r := roleSender
			if b == store.BucketInbox {
				r = roleRecipient
				if f.Counterpart != "" && doc.Sender != f.Counterpart {
					return true, nil
				}
			} else if f.Counterpart != "" && !contains(doc.Header.Recipients, f.Counterpart) {
				return true, nil
			}
			v, err := viewTx(tx, doc, r, p, true)
			if err != nil {
				return false, err
			}
			if r == roleRecipient && len(v.Deliveries) == 1 && v.Deliveries[0].recalledAway() {
				v.Doc = recalledCopy(v.Doc)
			}
			if f.Status != "" && !hasStatus(v.Deliveries, f.Status, f.Counterpart) {
				return true, nil
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
