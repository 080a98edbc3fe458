package hub

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// BenchmarkHubExchange is one 1 KiB document through the hub without a
// transport: sent, pushed to its recipient (the queue entry read and
// decoded) and acknowledged (status 01 recorded, queued for the sender).
// Eight sender/recipient pairs run in parallel, so commits are shared as
// at the peak.
func BenchmarkHubExchange(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "ndxp.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	files, err := store.OpenFiles(filepath.Join(b.TempDir(), "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return time.Now() }
	cfg.Limits.SendRate = 0
	h, err := New(b.Context(), st, files, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Drain)
	const pairs = 8
	for i := range pairs {
		mustCreate(b, h, fmt.Sprintf("000.00.00.S%02d", i), fmt.Sprintf("Gửi %d", i), StagePilot)
		mustCreate(b, h, fmt.Sprintf("000.00.00.R%02d", i), fmt.Sprintf("Nhận %d", i), StagePilot)
	}
	att := bytes.Repeat([]byte("x"), 1024)
	sum := sha256.Sum256(att)
	var pair, next atomic.Int64
	b.SetParallelism(pairs / 2)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		p := pair.Add(1) - 1
		sender := Principal{Name: fmt.Sprintf("000.00.00.S%02d", p)}
		rcpt := Principal{Name: fmt.Sprintf("000.00.00.R%02d", p)}
		var cursor uint64
		for pb.Next() {
			i := next.Add(1)
			hdr := Header{Recipients: []string{rcpt.Name}, Subject: "Đo", Reference: fmt.Sprintf("%s,2026/11/27,%d/B", sender.Name, i),
				Attachments: []AttachmentInfo{{Name: "a.txt", MediaType: "text/plain", Size: 1024, SHA256: sum[:]}}}
			src := &chunkList{chunks: []Chunk{{Data: att}}}
			if _, err := h.Send(b.Context(), sender, hdr, src); err != nil {
				b.Error(err)
				return
			}
			pushes, err := h.nextEvents(b.Context(), rcpt.Name, cursor, 1)
			if err != nil || len(pushes) != 1 || pushes[0].Doc == nil {
				b.Errorf("push: %d, %v", len(pushes), err)
				return
			}
			cursor = pushes[0].Event.Seq
			if _, err := h.Acknowledge(b.Context(), rcpt, []uint64{cursor}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// CPU time, unlike ns/op, does not follow the disk's fsync latency.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
