package hub

import (
	"fmt"
	"testing"
)

// BenchmarkSnapshot takes the monitoring picture of a hub whose queues
// hold 2,000 status reports the sender has not taken (an agency system
// that only sends) and 200 documents waiting at one recipient.
func BenchmarkSnapshot(b *testing.B) {
	for _, statuses := range []int{2000, 20000} {
		b.Run(fmt.Sprintf("statuses=%d", statuses), func(b *testing.B) {
			h, _ := retentionHub(b, nil)
			for i := range statuses {
				id := send(b, h, fmt.Sprint("delivered ", i), []string{codeH41}, body(10, byte(i)))
				ack(b, h, id, codeH41)
			}
			for i := range 200 {
				send(b, h, fmt.Sprint("waiting ", i), []string{codeH14}, body(10, byte(i)))
			}
			b.ReportAllocs()
			for b.Loop() {
				s, err := h.Snapshot(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if s.PendingDeliveries != 200 {
					b.Fatalf("PendingDeliveries %d, want 200", s.PendingDeliveries)
				}
			}
		})
	}
}

// BenchmarkSnapshotOverdue: a recipient down for long, with every document
// waiting for it past the alert threshold.
func BenchmarkSnapshotOverdue(b *testing.B) {
	const waiting = 20000
	h, clock := retentionHub(b, nil)
	for i := range waiting {
		send(b, h, fmt.Sprint("waiting ", i), []string{codeH14}, body(10, byte(i)))
	}
	clock.Advance(h.cfg.UnackedAfter)
	b.ReportAllocs()
	for b.Loop() {
		s, err := h.Snapshot(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if s.PendingDeliveries != waiting {
			b.Fatalf("PendingDeliveries %d, want %d", s.PendingDeliveries, waiting)
		}
		b.ReportMetric(float64(len(s.Alerts)), "alerts")
	}
}
