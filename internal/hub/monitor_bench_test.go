package hub

import (
	"fmt"
	"io"
	"testing"

	"github.com/ndxp/ndxp/internal/store"
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

// BenchmarkSnapshotAgencies: the picture of a large registry, one line per
// agency (what the dashboard shows).
func BenchmarkSnapshotAgencies(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("agencies=%d", n), func(b *testing.B) {
			h := registryHub(b, n)
			b.ReportAllocs()
			for b.Loop() {
				s, err := h.Snapshot(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Agencies) < n {
					b.Fatalf("%d agencies, want at least %d", len(s.Agencies), n)
				}
			}
		})
	}
}

// BenchmarkSummaryAgencies: the picture without agency lines (a metrics
// scrape, the gRPC picture without lines) of a large registry.
func BenchmarkSummaryAgencies(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("agencies=%d", n), func(b *testing.B) {
			h := registryHub(b, n)
			b.ReportAllocs()
			for b.Loop() {
				s, err := h.Summary(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if s.Overview.Total < n {
					b.Fatalf("%d agencies, want at least %d", s.Overview.Total, n)
				}
			}
		})
	}
}

// registryHub is a hub with n agencies imported, the import in the file.
func registryHub(b *testing.B, n int) *Hub {
	h, _ := retentionHub(b, nil)
	list := make([]Agency, n)
	for i := range list {
		list[i] = Agency{Code: fmt.Sprintf("%03d.%02d.00.H47", i%1000, i/1000), Name: fmt.Sprintf("UBND xã số %d", i), Stage: StagePilot}
	}
	if _, err := h.ImportAgencies(b.Context(), list); err != nil {
		b.Fatal(err)
	}
	// Wait until the import is in the file: the applier would
	// otherwise run during the timed loop.
	if err := h.st.Snapshot(b.Context(), func(store.Tx, int64, func(io.Writer) (int64, error)) error { return nil }); err != nil {
		b.Fatal(err)
	}
	return h
}
