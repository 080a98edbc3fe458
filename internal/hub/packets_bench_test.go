package hub

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
)

// BenchmarkSendPacketLarge sends a packet with one large attachment
// (NDXP_BENCH_PACKET_MB mebibytes, 64 if unset) through the hub: read,
// decoded into the attachment store, the packet kept, committed. It
// reports the peak growth of the process's resident set: it must not grow
// with the packet (docs/edxml.md).
func BenchmarkSendPacketLarge(b *testing.B) {
	size := edxmltest.BenchSize(b, "NDXP_BENCH_PACKET_MB", 64)
	if edxmltest.RSS() == 0 {
		b.Skip("no resident set size to read here (/proc/self/statm)")
	}
	h, _ := retentionHub(b, func(c *Config) { c.MaxAttachmentSize = size + 1; c.Limits.SendRate = 0 })
	b.SetBytes(size)
	b.ReportAllocs()
	var peak float64
	n := 0
	for b.Loop() {
		n++
		g := edxmltest.NewLarge(codeG22, codeH41, fmt.Sprintf("%d/BENCH", n), size)
		var r PacketResult
		var err error
		peak = max(peak, edxmltest.PeakMiB(edxmltest.RSS, func() {
			r, err = h.SendPacket(b.Context(), agency(codeG22), ReaderSource(g), PacketOptions{})
		}))
		if err != nil {
			b.Fatal(err)
		}
		v, err := h.GetDocument(b.Context(), agency(codeG22), r.DocID)
		if err != nil || !bytes.Equal(v.Doc.Header.Attachments[0].SHA256, g.Sum()) {
			b.Fatalf("stored attachment %x, %v; want %x", v.Doc.Header.Attachments[0].SHA256, err, g.Sum())
		}
	}
	b.ReportMetric(peak, "peak-rss-MiB")
}
