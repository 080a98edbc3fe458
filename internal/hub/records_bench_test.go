package hub

import (
	"testing"
	"time"
)

// BenchmarkRecords encodes and decodes the records a 1 KiB document to one
// recipient writes: its Document, its arrival Event, its Delivery once
// acknowledged, and the status 01 Event for the sender; as JSON (the
// encoding before layout 3) and binary.
func BenchmarkRecords(b *testing.B) {
	t0 := time.Date(2026, 11, 27, 8, 30, 0, 123456000, time.UTC)
	t1 := t0.Add(time.Millisecond)
	doc := Document{ID: "01JDZ0000000000000000000AA", Sender: "000.00.00.S01", Created: t0, Header: Header{
		Reference: "000.00.00.S01,2026/11/27,1234/B", Recipients: []string{"000.00.00.R01"}, Subject: "Đo", Date: "2026-11-27",
		Attachments: []AttachmentInfo{{Name: "a.txt", MediaType: "text/plain", Size: 1024, SHA256: make([]byte, 32)}}}}
	records := []struct {
		name string
		v    any
		into func() any
	}{
		{"Document", doc, func() any { return new(Document) }},
		{"Arrival", Event{Seq: 123456, Kind: EventArrived, DocID: doc.ID, Sender: doc.Sender, Size: 1300, Time: t0}, func() any { return new(Event) }},
		{"Delivery", Delivery{Recipient: "000.00.00.R01", Status: StatusArrived, Delivered: &t1, Steps: []Step{
			{Time: t0, What: "queued"}, {Time: t1, Code: StatusArrived, What: "delivered: arrival acknowledged by the recipient"}}}, func() any { return new(Delivery) }},
		{"Status01", Event{Seq: 123457, Kind: EventStatus, DocID: doc.ID, Time: t1,
			Status: &StatusReport{DocID: doc.ID, Recipient: "000.00.00.R01", Code: StatusArrived, Time: t1}}, func() any { return new(Event) }},
	}
	for _, codec := range []struct {
		name   string
		encode func(any) ([]byte, error)
	}{{"json", jsonRecord}, {"binary", encodeRecord}} {
		for _, r := range records {
			raw, _ := codec.encode(r.v)
			b.Run(codec.name+"/"+r.name+"/encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := codec.encode(r.v); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(raw)), "bytes")
			})
			b.Run(codec.name+"/"+r.name+"/decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := decodeRecord(raw, r.into()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
