package hub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/store"
)

// jsonRecord is how every record was encoded before the binary one
// (layout 2 and earlier), kept to write such records in tests.
func jsonRecord(v any) ([]byte, error) { return json.Marshal(v) }

// fullRecords are a Document, an Event and a Delivery with every field set.
func fullRecords() (Document, Event, Delivery) {
	t0 := time.Date(2026, 11, 27, 8, 30, 0, 123456000, time.UTC)
	t1, t2 := t0.Add(time.Minute), t0.Add(time.Hour)
	sp := &StatusPacket{From: edxml.Organization{OrganID: "000.00.00.H41"}, Timestamp: "2026-11-27T08:31:00", Description: "đã nhận"}
	doc := Document{
		ID: "01JDZ0000000000000000000AA", Sender: codeG22, Created: t0, Recalled: &t1, RecallReason: "ban hành nhầm", Purged: &t2,
		Header: Header{
			Reference: codeG22 + ",2026/11/27,12/VPCP", Recipients: []string{codeH41, codeH14}, Number: "12", Notation: "VPCP",
			Type: "Công văn", Subject: "Về việc đo hiệu năng", Content: "dòng một\ndòng hai", Place: "Hà Nội", Date: "2026-11-27",
			Signer: Signer{Competence: "KT. Bộ trưởng", Position: "Thứ trưởng", FullName: "Nguyễn Văn A"}, Priority: 2, DueDate: "2026-12-01",
			SteeringType: 7, ToPlaces: []string{"Như trên", "Lưu: VT"}, ResponseFor: "x", Business: BusinessReplace, Original: "01JDZ0000000000000000000AB",
			Attachments: []AttachmentInfo{
				{Name: "a.pdf", MediaType: "application/pdf", Size: 1024, SHA256: bytes.Repeat([]byte{7}, 32), Description: "phụ lục",
					Packet: &PacketAttachment{ContentID: "cid1", Name: "a .pdf"}, Packed: &PackedFile{Name: "a.pdf", Size: 1400}},
				{Name: "b.txt", MediaType: "text/plain", SHA256: emptySHA256[:]},
			},
			Packet: &PacketHeader{From: edxml.Organization{OrganID: codeG22}, Type: "1", Texts: map[string]string{"k": "v"}},
		},
		Packet: &PacketInfo{Size: 5000, SHA256: bytes.Repeat([]byte{9}, 32), Signature: SignatureCheck{State: SignatureValid, Subject: "CN=x"}},
	}
	ev := Event{Seq: 1 << 40, Kind: EventStatus, DocID: doc.ID, Sender: codeG22, Size: 2500, Time: t1, Reason: "r", Failures: 3, LastFailure: t2,
		Status: &StatusReport{DocID: doc.ID, Recipient: codeH41, Code: StatusAccepted, Reason: "ok", Staff: "Chị B", Time: t1, Packet: sp}}
	d := Delivery{Recipient: codeH41, Status: StatusAccepted, Recall: RecallRefused, Delivered: &t1, QueueSeq: 99, Failures: 2, LastFailure: &t2,
		Steps: []Step{{Time: t0, What: "queued"}, {Time: t1, Code: StatusAccepted, What: "accepted", Reason: "ok", Staff: "Chị B", Packet: sp}}}
	return doc, ev, d
}

// TestRecordRoundTrip: the binary encoding gives back every field, the
// same as the JSON one did.
func TestRecordRoundTrip(t *testing.T) {
	doc, ev, d := fullRecords()
	for _, c := range []struct {
		v    any
		into func() any
	}{
		{doc, func() any { return new(Document) }},
		{ev, func() any { return new(Event) }},
		{d, func() any { return new(Delivery) }},
		{Event{Kind: EventArrived, DocID: doc.ID, Time: doc.Created}, func() any { return new(Event) }},
		{Event{Kind: EventStatus, DocID: doc.ID, Time: doc.Created, Status: &StatusReport{DocID: "other", Code: StatusArrived, Time: *doc.Recalled}},
			func() any { return new(Event) }},
	} {
		raw, err := encodeRecord(c.v)
		if err != nil || raw[0] != recordBinary {
			t.Fatalf("encode %T: %x, %v", c.v, raw, err)
		}
		got := c.into()
		if err := decodeRecord(raw, got); err != nil {
			t.Fatalf("decode %T: %v", c.v, err)
		}
		if g := reflect.ValueOf(got).Elem().Interface(); !reflect.DeepEqual(g, c.v) {
			t.Errorf("binary round trip of %T:\n got %+v\nwant %+v", c.v, g, c.v)
		}
		old, err := jsonRecord(c.v)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON := c.into()
		if err := decodeRecord(old, fromJSON); err != nil {
			t.Fatalf("decode JSON %T: %v", c.v, err)
		}
		if !reflect.DeepEqual(fromJSON, got) {
			t.Errorf("%T from JSON and from binary differ:\n json %+v\n binary %+v", c.v, fromJSON, got)
		}
		if len(raw) >= len(old) {
			t.Errorf("%T: binary %d bytes, JSON %d", c.v, len(raw), len(old))
		}
		for cut := 1; cut < len(raw); cut++ { // a damaged record is an error, never a panic
			_ = decodeRecord(raw[:cut], c.into())
		}
	}
}

// TestJSONRecordsStillRead: a store whose documents, queue entries and
// deliveries are JSON, as every hub before the binary records wrote them
// (layout 2), reads as before after a restart: documents, traces, queues,
// acknowledgements, the invariant check and a backup.
func TestJSONRecordsStillRead(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	h, st := exchangeHubAt(t, dir, clock.Now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, codeH14, "UBND tỉnh Cao Bằng", StagePilot)
	waiting := send(t, h, "Đang chờ", []string{codeH41, codeH14}, body(300, 1), body(5000, 2))
	handled := send(t, h, "Đã xử lý", []string{codeH41}, body(200, 3))
	clock.Advance(time.Minute)
	ack(t, h, handled, codeH41)
	report(t, h, handled, codeH41, "03")
	if err := h.ReportDeliveryFailure(t.Context(), Principal{Name: codeH14}, waiting); err != nil {
		t.Fatal(err)
	}

	type seen struct {
		views  []DocumentView
		queues [][]Event
	}
	look := func(h *Hub) seen {
		var s seen
		for _, id := range []string{waiting, handled} {
			v, err := h.Trace(t.Context(), admin, id)
			if err != nil {
				t.Fatalf("trace %s: %v", id, err)
			}
			s.views = append(s.views, v)
		}
		for _, c := range []string{codeG22, codeH41, codeH14} {
			s.queues = append(s.queues, queueOf(t, h, c))
		}
		return s
	}
	before := look(h)

	// Write every hot record as the earlier hubs did, and mark the store
	// of their layout.
	n := 0
	err := st.Update(t.Context(), func(tx store.Tx) error {
		n = 0
		for _, b := range []struct {
			bucket store.Bucket
			into   func() any
		}{
			{store.BucketDocuments, func() any { return new(Document) }},
			{store.BucketQueue, func() any { return new(Event) }},
			{store.BucketDeliveries, func() any { return new(Delivery) }},
		} {
			type kv struct{ k, v []byte }
			var all []kv
			if err := tx.Scan(b.bucket, nil, nil, func(k, v []byte) (bool, error) {
				all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
				return true, nil
			}); err != nil {
				return err
			}
			for _, r := range all {
				v := b.into()
				if err := decodeRecord(r.v, v); err != nil {
					return err
				}
				old, err := jsonRecord(v)
				if err != nil {
					return err
				}
				if err := tx.Put(b.bucket, r.k, old); err != nil {
					return err
				}
				n++
			}
		}
		return tx.Put(store.BucketMeta, layoutKey, []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+4+3 { // documents; 2 arrivals at H14 and H41, 1 status 01 and 1 status 03 for G22; deliveries
		t.Fatalf("rewrote %d records as JSON, want 9", n)
	}

	h = restart(t, h, st, dir, clock.Now)
	after := look(h)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("read back from JSON records:\n got %+v\nwant %+v", after, before)
	}
	if r, err := h.Check(t.Context()); err != nil || len(r.Problems) != 0 || r.Documents != 2 || r.Events != 4 {
		t.Errorf("check of the JSON records: %+v, %v; want 2 documents, 4 events, no problems", r, err)
	}
	var backup bytes.Buffer
	if err := h.Backup(t.Context(), nil, func(int64, time.Time) error { return nil }, &backup); err != nil || backup.Len() == 0 {
		t.Errorf("backup of the JSON records: %d bytes, %v", backup.Len(), err)
	}
	// An acknowledgement reads the JSON arrival and delivery and writes
	// binary ones beside the JSON records left.
	ack(t, h, waiting, codeH41, codeH14)
	v, err := h.Trace(t.Context(), admin, waiting)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Deliveries {
		if d.Status != StatusArrived || len(d.Steps) < 2 {
			t.Errorf("after acknowledging at %s: status %q, %d steps; want 01 and the steps before", d.Recipient, d.Status, len(d.Steps))
		}
	}
	if got := len(queueOf(t, h, codeG22)); got != 4 {
		t.Errorf("%d events for the sender, want 4 (two JSON, two binary)", got)
	}
	if r, err := h.Check(t.Context()); err != nil || len(r.Problems) != 0 {
		t.Errorf("check of JSON and binary records together: %+v, %v", r, err)
	}
	err = h.st.View(t.Context(), func(tx store.Tx) error {
		v, err := tx.Get(store.BucketMeta, layoutKey)
		if err == nil && string(v) != "3" {
			t.Errorf("layout %q after the start, want 3", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
