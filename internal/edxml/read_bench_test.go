package edxml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchSize is the attachment size of the large benchmarks:
// EDXML_BENCH_MIB mebibytes, 64 if unset.
func benchSize(tb testing.TB) int64 {
	mib := int64(64)
	if s := os.Getenv("EDXML_BENCH_MIB"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			tb.Fatalf("EDXML_BENCH_MIB=%q: not a positive number", s)
		}
		mib = v
	}
	return mib << 20
}

const (
	genHead = `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="` + Namespace + `">
  <edXML:edXMLEnvelope xmlns:edXML="` + Namespace + `">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <From><OrganId>000.00.00.G22</OrganId></From>
        <To><OrganId>000.00.00.G01</OrganId></To>
        <DocumentId>000.00.00.G22,2024/01/02,1/VPCP</DocumentId>
        <Subject>large</Subject>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference><ContentId>cid:big</ContentId><ContentType>application/pdf</ContentType><AttachmentName>big.pdf</AttachmentName></edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:big</ContentId>
      <AttachmentName>big.pdf</AttachmentName>
      <ContentType>application/pdf</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="` + Namespace + `">`
	genTail = `</edXML:ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
`
)

// genReader produces a packet with one attachment of size pseudo-random
// bytes, base64 in lines of 76, without ever holding it: the head, the
// base64 chunk by chunk, the tail. h hashes the attachment's bytes.
type genReader struct {
	size    int64 // attachment bytes yet to produce
	src     *rand.ChaCha8
	h       hash.Hash
	raw     []byte
	coded   []byte
	enc     []byte
	pending []byte
	phase   int
	lines   bool
}

func newGenReader(size int64) *genReader {
	return &genReader{
		size:    size,
		src:     rand.NewChaCha8([32]byte{1, 2, 3}),
		h:       sha256.New(),
		raw:     make([]byte, 57*1024),
		coded:   make([]byte, 76*1024),
		enc:     make([]byte, 0, 77*1024),
		pending: []byte(genHead),
	}
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		switch {
		case g.phase == 0 && g.size > 0:
			raw := g.raw[:min(int64(len(g.raw)), g.size)]
			g.src.Read(raw)
			g.h.Write(raw)
			g.size -= int64(len(raw))
			n := base64.StdEncoding.EncodedLen(len(raw))
			base64.StdEncoding.Encode(g.coded[:n], raw)
			g.enc = g.enc[:0]
			for s := g.coded[:n]; len(s) > 0; {
				l := min(76, len(s))
				if g.lines {
					g.enc = append(g.enc, '\n')
				}
				g.lines = true
				g.enc = append(g.enc, s[:l]...)
				s = s[l:]
			}
			g.pending = g.enc
		case g.phase == 0:
			g.phase = 1
			g.pending = []byte(genTail)
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// peakHeap samples the heap in use while f runs and returns its peak
// growth over the heap before, in MiB.
func peakHeap(f func()) float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	return float64(peak-base) / (1 << 20)
}

type discardSink struct{}

type discardCloser struct{}

func (discardCloser) Write(p []byte) (int, error) { return len(p), nil }
func (discardCloser) Close() error                { return nil }

func (discardSink) Attachment(int) (io.WriteCloser, error) { return discardCloser{}, nil }

func BenchmarkReadLargeAttachment(b *testing.B) {
	size := benchSize(b)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak float64
	for b.Loop() {
		g := newGenReader(size)
		peak = max(peak, peakHeap(func() {
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
	size := benchSize(b)
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
		peak = max(peak, peakHeap(func() {
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
	g := newGenReader(size)
	sink := hashSink{sha256.New()}
	p, err := Read(g, sink, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := g.h.Sum(nil)
	if got := sink.h.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("sink sha256 = %x, want %x", got, want)
	}
	if got := p.Attachments[0]; got.Size != size || !bytes.Equal(got.SHA256, want) {
		t.Errorf("Attachment Size %d SHA256 %x, want %d %x", got.Size, got.SHA256, size, want)
	}
}
