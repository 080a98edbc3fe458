package edxml

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
)

type discardSink struct{}

type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }

func (discardSink) Attachment(int) (io.WriteCloser, error) { return discardCloser{}, nil }

func BenchmarkReadLargeAttachment(b *testing.B) {
	size := edxmltest.BenchSize(b, "EDXML_BENCH_MIB", 64)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak float64
	for b.Loop() {
		g := edxmltest.NewLarge("000.00.00.G22", "000.00.00.G01", "1/VPCP", size)
		peak = max(peak, edxmltest.PeakMiB(edxmltest.HeapInUse, func() {
			p, err := Read(g, discardSink{}, ReadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if p.Attachments[0].Size != size {
				b.Fatalf("read %d bytes, want %d", p.Attachments[0].Size, size)
			}
		}))
	}
	b.ReportMetric(peak, "peak-heap-MiB")
}

// countWriter counts what Write emits.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func BenchmarkWriteLargeAttachment(b *testing.B) {
	size := edxmltest.BenchSize(b, "EDXML_BENCH_MIB", 64)
	b.SetBytes(size)
	b.ReportAllocs()
	p := &Packet{
		Header:      Header{From: Organization{OrganID: "000.00.00.G22"}, To: []Organization{{OrganID: "000.00.00.G01"}}},
		Manifest:    Manifest{Version: "1.0", References: []Reference{{ContentID: "cid:big", AttachmentName: "big.pdf"}}},
		Attachments: []Attachment{{ContentID: "cid:big", AttachmentName: "big.pdf"}},
	}
	var peak float64
	for b.Loop() {
		open := func(int) (io.ReadCloser, error) {
			return io.NopCloser(io.LimitReader(rand.NewChaCha8([32]byte{1}), size)), nil
		}
		w := &countWriter{}
		peak = max(peak, edxmltest.PeakMiB(edxmltest.HeapInUse, func() {
			if err := Write(w, p, open); err != nil {
				b.Fatal(err)
			}
		}))
		if w.n < size*4/3 {
			b.Fatalf("wrote %d bytes for %d of attachment", w.n, size)
		}
	}
	b.ReportMetric(peak, "peak-heap-MiB")
}

// hashSink hashes the bytes of attachment 0.
type hashSink struct{ h hash.Hash }

type hashWriter struct{ hash.Hash }

func (hashWriter) Close() error { return nil }

func (s hashSink) Attachment(int) (io.WriteCloser, error) { return hashWriter{s.h}, nil }

func TestReadLargeAttachment(t *testing.T) {
	if testing.Short() {
		t.Skip("32 MiB attachment")
	}
	const size = 32 << 20
	g := edxmltest.NewLarge("000.00.00.G22", "000.00.00.G01", "1/VPCP", size)
	sink := hashSink{sha256.New()}
	p, err := Read(g, sink, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := g.Sum()
	if got := sink.h.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("sink sha256 = %x, want %x", got, want)
	}
	if got := p.Attachments[0]; got.Size != size || !bytes.Equal(got.SHA256, want) {
		t.Errorf("Attachment Size %d SHA256 %x, want %d %x", got.Size, got.SHA256, size, want)
	}
}
