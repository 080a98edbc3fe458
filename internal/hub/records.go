package hub

// The binary encoding of the hot records: documents (BucketDocuments),
// queue entries (BucketQueue) and deliveries (BucketDeliveries), written on
// every send and acknowledgement. A binary record is the byte recordBinary
// and then a protobuf message in the wire format (field numbers below),
// written and read straight from the hub's own types with protowire: no
// generated message to copy into and out of. Records written before (JSON,
// whose first byte is always '{') are read as they are, so a store needs
// no rewrite; decodeRecord tells the two apart by that first byte.
//
// The edXML packet details (PacketHeader, PacketInfo, PacketAttachment,
// PackedFile, StatusPacket), rare and many-fielded, are kept as JSON inside
// a bytes field.
//
// Document:       1 id, 2 sender, 3 header, 4 created, 5 recalled, 6 recall_reason, 7 purged, 8 packet (JSON)
// Header:         1 reference, 2 recipients (repeated), 3 number, 4 notation, 5 type, 6 subject, 7 content,
//                 8 place, 9 date, 10 signer, 11 priority, 12 due_date, 13 steering_type, 14 to_places (repeated),
//                 15 response_for, 16 business, 17 original, 18 attachments (repeated), 19 packet (JSON)
// Signer:         1 competence, 2 position, 3 full_name
// AttachmentInfo: 1 name, 2 media_type, 3 size, 4 sha256, 5 description, 6 packet (JSON), 7 packed (JSON)
// Event:          1 seq, 2 kind, 3 doc, 4 sender, 5 size, 6 time, 7 status, 8 reason, 9 failures, 10 last_failure
// StatusReport:   1 doc, 2 recipient, 3 code, 4 reason, 5 staff, 6 time, 7 packet (JSON);
//                 doc and time left out when they are the event's
// Delivery:       1 recipient, 2 status, 3 recall, 4 delivered, 5 queue_seq, 6 failures, 7 last_failure, 8 steps (repeated)
// Step:           1 time, 2 code, 3 what, 4 reason, 5 staff, 6 packet (JSON)
//
// Strings and bytes are length-delimited, integers varints (int64 as
// two's complement), times fixed64 nanoseconds since 1970 UTC (the hub's
// clock is UTC), nested messages length-delimited. Empty strings, zeros and
// zero times are left out; unknown fields are skipped.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ndxp/ndxp/internal/store"
)

// recordBinary starts a binary record; a JSON record starts with '{'.
const recordBinary byte = 0x01

// getRecord reads a record (binary or JSON), or store.ErrNotFound.
func getRecord(tx store.Tx, b store.Bucket, key []byte, v any) error {
	raw, err := tx.Get(b, key)
	if err != nil {
		return err
	}
	return decodeRecord(raw, v)
}

// putRecord writes a record: the hot ones binary, the others JSON.
func putRecord(tx store.Tx, b store.Bucket, key []byte, v any) error {
	raw, err := encodeRecord(v)
	if err != nil {
		return err
	}
	return tx.Put(b, key, raw)
}

// encodeRecord encodes a Document, Event or Delivery (or a pointer to one)
// in the binary encoding, anything else as JSON.
func encodeRecord(v any) ([]byte, error) {
	var w recordWriter
	w.b = make([]byte, 1, 256)
	w.b[0] = recordBinary
	switch r := v.(type) {
	case Document:
		w.document(&r)
	case *Document:
		w.document(r)
	case Event:
		w.event(&r)
	case *Event:
		w.event(r)
	case Delivery:
		w.delivery(&r)
	case *Delivery:
		w.delivery(r)
	default:
		return json.Marshal(v)
	}
	return w.b, w.err
}

// decodeRecord decodes raw into v: a binary record into a *Document,
// *Event or *Delivery, a JSON one into anything.
func decodeRecord(raw []byte, v any) error {
	if len(raw) == 0 || raw[0] != recordBinary {
		return json.Unmarshal(raw, v)
	}
	r := recordReader{b: raw[1:]}
	switch p := v.(type) {
	case *Document:
		*p = Document{}
		r.document(p)
	case *Event:
		*p = Event{}
		r.event(p)
	case *Delivery:
		*p = Delivery{}
		r.delivery(p)
	default:
		return fmt.Errorf("a binary record cannot be read into %T", v)
	}
	return r.err
}

// recordWriter appends fields to b.
type recordWriter struct {
	b   []byte
	err error // of a packet detail's JSON
}

func (w *recordWriter) str(n protowire.Number, s string) {
	if s != "" {
		w.b = protowire.AppendTag(w.b, n, protowire.BytesType)
		w.b = protowire.AppendString(w.b, s)
	}
}

func (w *recordWriter) bytes(n protowire.Number, v []byte) {
	if len(v) > 0 {
		w.b = protowire.AppendTag(w.b, n, protowire.BytesType)
		w.b = protowire.AppendBytes(w.b, v)
	}
}

func (w *recordWriter) int(n protowire.Number, v int64) {
	if v != 0 {
		w.b = protowire.AppendTag(w.b, n, protowire.VarintType)
		w.b = protowire.AppendVarint(w.b, uint64(v))
	}
}

func (w *recordWriter) time(n protowire.Number, t time.Time) {
	if !t.IsZero() {
		w.b = protowire.AppendTag(w.b, n, protowire.Fixed64Type)
		w.b = protowire.AppendFixed64(w.b, uint64(t.UnixNano()))
	}
}

// json writes a packet detail; isNil says the pointer in v is nil.
func (w *recordWriter) json(n protowire.Number, v any, isNil bool) {
	if isNil {
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		w.err = err
		return
	}
	w.bytes(n, raw)
}

// message writes field n holding what fn appends, its length in front.
func (w *recordWriter) message(n protowire.Number, fn func()) {
	w.b = protowire.AppendTag(w.b, n, protowire.BytesType)
	start := len(w.b)
	fn()
	size := len(w.b) - start
	k := protowire.SizeVarint(uint64(size))
	w.b = append(w.b, make([]byte, k)...)
	copy(w.b[start+k:], w.b[start:start+size])
	protowire.AppendVarint(w.b[start:start], uint64(size))
}

func (w *recordWriter) document(d *Document) {
	w.str(1, d.ID)
	w.str(2, d.Sender)
	w.message(3, func() { w.header(&d.Header) })
	w.time(4, d.Created)
	if d.Recalled != nil {
		w.time(5, *d.Recalled)
	}
	w.str(6, d.RecallReason)
	if d.Purged != nil {
		w.time(7, *d.Purged)
	}
	w.json(8, d.Packet, d.Packet == nil)
}

func (w *recordWriter) header(h *Header) {
	w.str(1, h.Reference)
	for _, r := range h.Recipients {
		w.b = protowire.AppendTag(w.b, 2, protowire.BytesType)
		w.b = protowire.AppendString(w.b, r)
	}
	w.str(3, h.Number)
	w.str(4, h.Notation)
	w.str(5, h.Type)
	w.str(6, h.Subject)
	w.str(7, h.Content)
	w.str(8, h.Place)
	w.str(9, h.Date)
	if h.Signer != (Signer{}) {
		w.message(10, func() {
			w.str(1, h.Signer.Competence)
			w.str(2, h.Signer.Position)
			w.str(3, h.Signer.FullName)
		})
	}
	w.int(11, int64(h.Priority))
	w.str(12, h.DueDate)
	w.int(13, int64(h.SteeringType))
	for _, p := range h.ToPlaces {
		w.b = protowire.AppendTag(w.b, 14, protowire.BytesType)
		w.b = protowire.AppendString(w.b, p)
	}
	w.str(15, h.ResponseFor)
	w.int(16, int64(h.Business))
	w.str(17, h.Original)
	for i := range h.Attachments {
		a := &h.Attachments[i]
		w.message(18, func() {
			w.str(1, a.Name)
			w.str(2, a.MediaType)
			w.int(3, a.Size)
			w.bytes(4, a.SHA256)
			w.str(5, a.Description)
			w.json(6, a.Packet, a.Packet == nil)
			w.json(7, a.Packed, a.Packed == nil)
		})
	}
	w.json(19, h.Packet, h.Packet == nil)
}

func (w *recordWriter) event(ev *Event) {
	w.int(1, int64(ev.Seq))
	w.int(2, int64(ev.Kind))
	w.str(3, ev.DocID)
	w.str(4, ev.Sender)
	w.int(5, ev.Size)
	w.time(6, ev.Time)
	if s := ev.Status; s != nil {
		w.message(7, func() {
			// A report's document and time are its event's: left out then.
			if s.DocID != ev.DocID {
				w.str(1, s.DocID)
			}
			w.str(2, s.Recipient)
			w.str(3, string(s.Code))
			w.str(4, s.Reason)
			w.str(5, s.Staff)
			if !s.Time.Equal(ev.Time) {
				w.time(6, s.Time)
			}
			w.json(7, s.Packet, s.Packet == nil)
		})
	}
	w.str(8, ev.Reason)
	w.int(9, int64(ev.Failures))
	w.time(10, ev.LastFailure)
}

func (w *recordWriter) delivery(d *Delivery) {
	w.str(1, d.Recipient)
	w.str(2, string(d.Status))
	w.str(3, string(d.Recall))
	if d.Delivered != nil {
		w.time(4, *d.Delivered)
	}
	w.int(5, int64(d.QueueSeq))
	w.int(6, int64(d.Failures))
	if d.LastFailure != nil {
		w.time(7, *d.LastFailure)
	}
	for i := range d.Steps {
		s := &d.Steps[i]
		w.message(8, func() {
			w.time(1, s.Time)
			w.str(2, string(s.Code))
			w.str(3, s.What)
			w.str(4, s.Reason)
			w.str(5, s.Staff)
			w.json(6, s.Packet, s.Packet == nil)
		})
	}
}

// recordReader reads the fields of one message; the first error stops it.
type recordReader struct {
	b   []byte
	num protowire.Number
	typ protowire.Type
	err error
}

var errRecordTruncated = errors.New("binary record: truncated or malformed")

// next moves to the next field and returns its number, or 0 at the end.
func (r *recordReader) next() protowire.Number {
	if r.err != nil || len(r.b) == 0 {
		return 0
	}
	num, typ, n := protowire.ConsumeTag(r.b)
	if n < 0 {
		r.fail()
		return 0
	}
	r.b, r.num, r.typ = r.b[n:], num, typ
	return num
}

func (r *recordReader) fail() {
	if r.err == nil {
		r.err = errRecordTruncated
	}
	r.b = nil
}

func (r *recordReader) want(t protowire.Type) bool {
	if r.typ != t {
		if r.err == nil {
			r.err = fmt.Errorf("binary record: field %d has wire type %d, want %d", r.num, r.typ, t)
		}
		r.b = nil
		return false
	}
	return true
}

// skip passes over a field this version does not know.
func (r *recordReader) skip() {
	n := protowire.ConsumeFieldValue(r.num, r.typ, r.b)
	if n < 0 {
		r.fail()
		return
	}
	r.b = r.b[n:]
}

// raw is a length-delimited field's bytes, aliasing the record.
func (r *recordReader) raw() []byte {
	if !r.want(protowire.BytesType) {
		return nil
	}
	v, n := protowire.ConsumeBytes(r.b)
	if n < 0 {
		r.fail()
		return nil
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) str() string { return string(r.raw()) }

// bytes copies: a transaction's values may be its own (store.Tx).
func (r *recordReader) bytes() []byte { return bytes.Clone(r.raw()) }

func (r *recordReader) int() int64 {
	if !r.want(protowire.VarintType) {
		return 0
	}
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return int64(v)
}

func (r *recordReader) time() time.Time {
	if !r.want(protowire.Fixed64Type) {
		return time.Time{}
	}
	v, n := protowire.ConsumeFixed64(r.b)
	if n < 0 {
		r.fail()
		return time.Time{}
	}
	r.b = r.b[n:]
	return time.Unix(0, int64(v)).UTC()
}

func (r *recordReader) timePtr() *time.Time { t := r.time(); return &t }

// json reads a packet detail into v.
func (r *recordReader) json(v any) {
	raw := r.raw()
	if r.err == nil {
		if err := json.Unmarshal(raw, v); err != nil {
			r.err = err
		}
	}
}

// message reads a nested message with fn, on a reader of its own.
func (r *recordReader) message(fn func(*recordReader)) {
	raw := r.raw()
	if r.err != nil {
		return
	}
	sub := recordReader{b: raw}
	fn(&sub)
	if sub.err != nil {
		r.err = sub.err
	}
}

func (r *recordReader) document(d *Document) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			d.ID = r.str()
		case 2:
			d.Sender = r.str()
		case 3:
			r.message(func(s *recordReader) { s.header(&d.Header) })
		case 4:
			d.Created = r.time()
		case 5:
			d.Recalled = r.timePtr()
		case 6:
			d.RecallReason = r.str()
		case 7:
			d.Purged = r.timePtr()
		case 8:
			d.Packet = new(PacketInfo)
			r.json(d.Packet)
		default:
			r.skip()
		}
	}
}

func (r *recordReader) header(h *Header) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			h.Reference = r.str()
		case 2:
			h.Recipients = append(h.Recipients, r.str())
		case 3:
			h.Number = r.str()
		case 4:
			h.Notation = r.str()
		case 5:
			h.Type = r.str()
		case 6:
			h.Subject = r.str()
		case 7:
			h.Content = r.str()
		case 8:
			h.Place = r.str()
		case 9:
			h.Date = r.str()
		case 10:
			r.message(func(s *recordReader) {
				for {
					switch s.next() {
					case 0:
						return
					case 1:
						h.Signer.Competence = s.str()
					case 2:
						h.Signer.Position = s.str()
					case 3:
						h.Signer.FullName = s.str()
					default:
						s.skip()
					}
				}
			})
		case 11:
			h.Priority = int(r.int())
		case 12:
			h.DueDate = r.str()
		case 13:
			h.SteeringType = int(r.int())
		case 14:
			h.ToPlaces = append(h.ToPlaces, r.str())
		case 15:
			h.ResponseFor = r.str()
		case 16:
			h.Business = BusinessType(r.int())
		case 17:
			h.Original = r.str()
		case 18:
			h.Attachments = append(h.Attachments, AttachmentInfo{})
			a := &h.Attachments[len(h.Attachments)-1]
			r.message(func(s *recordReader) { s.attachment(a) })
		case 19:
			h.Packet = new(PacketHeader)
			r.json(h.Packet)
		default:
			r.skip()
		}
	}
}

func (r *recordReader) attachment(a *AttachmentInfo) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			a.Name = r.str()
		case 2:
			a.MediaType = r.str()
		case 3:
			a.Size = r.int()
		case 4:
			a.SHA256 = r.bytes()
		case 5:
			a.Description = r.str()
		case 6:
			a.Packet = new(PacketAttachment)
			r.json(a.Packet)
		case 7:
			a.Packed = new(PackedFile)
			r.json(a.Packed)
		default:
			r.skip()
		}
	}
}

func (r *recordReader) event(ev *Event) {
	for {
		switch r.next() {
		case 0:
			if s := ev.Status; s != nil { // what the writer left out
				if s.DocID == "" {
					s.DocID = ev.DocID
				}
				if s.Time.IsZero() {
					s.Time = ev.Time
				}
			}
			return
		case 1:
			ev.Seq = uint64(r.int())
		case 2:
			ev.Kind = EventKind(r.int())
		case 3:
			ev.DocID = r.str()
		case 4:
			ev.Sender = r.str()
		case 5:
			ev.Size = r.int()
		case 6:
			ev.Time = r.time()
		case 7:
			ev.Status = new(StatusReport)
			r.message(func(s *recordReader) { s.statusReport(ev.Status) })
		case 8:
			ev.Reason = r.str()
		case 9:
			ev.Failures = int(r.int())
		case 10:
			ev.LastFailure = r.time()
		default:
			r.skip()
		}
	}
}

func (r *recordReader) statusReport(s *StatusReport) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			s.DocID = r.str()
		case 2:
			s.Recipient = r.str()
		case 3:
			s.Code = Status(r.str())
		case 4:
			s.Reason = r.str()
		case 5:
			s.Staff = r.str()
		case 6:
			s.Time = r.time()
		case 7:
			s.Packet = new(StatusPacket)
			r.json(s.Packet)
		default:
			r.skip()
		}
	}
}

func (r *recordReader) delivery(d *Delivery) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			d.Recipient = r.str()
		case 2:
			d.Status = Status(r.str())
		case 3:
			d.Recall = RecallState(r.str())
		case 4:
			d.Delivered = r.timePtr()
		case 5:
			d.QueueSeq = uint64(r.int())
		case 6:
			d.Failures = int(r.int())
		case 7:
			d.LastFailure = r.timePtr()
		case 8:
			d.Steps = append(d.Steps, Step{})
			s := &d.Steps[len(d.Steps)-1]
			r.message(func(m *recordReader) { m.step(s) })
		default:
			r.skip()
		}
	}
}

func (r *recordReader) step(s *Step) {
	for {
		switch r.next() {
		case 0:
			return
		case 1:
			s.Time = r.time()
		case 2:
			s.Code = Status(r.str())
		case 3:
			s.What = r.str()
		case 4:
			s.Reason = r.str()
		case 5:
			s.Staff = r.str()
		case 6:
			s.Packet = new(StatusPacket)
			r.json(s.Packet)
		default:
			r.skip()
		}
	}
}

// DecodeDocument reads a document record (BucketDocuments) of any layout,
// for tools that scan a store themselves.
func DecodeDocument(raw []byte) (Document, error) {
	var d Document
	err := decodeRecord(raw, &d)
	return d, err
}
