package server_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// BenchmarkSend is the send RPC over bufconn with TLS: a 1 KiB document to
// one recipient, fsynced before the receipt. Parallel senders share fsyncs.
func BenchmarkSend(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			m := hubtest.StartMem(b)
			clients := make([]*client.Client, senders)
			for i := range clients {
				clients[i] = m.Agency(fmt.Sprintf("000.00.00.H%02d", i+1))
			}
			m.Agency(codeG22) // the recipient
			att := bytes.Repeat([]byte("x"), 1024)
			var conn, next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism((senders + 1) / 2)
			commits0, updates0 := m.Store.Stats()
			b.RunParallel(func(pb *testing.PB) {
				c := clients[int(conn.Add(1)-1)%senders]
				for pb.Next() {
					i := next.Add(1)
					_, err := c.Send(context.Background(), &ndxpv1.DocumentHeader{
						Recipients: []string{codeG22}, Subject: "Đo", Reference: fmt.Sprintf("%s,2026/11/27,%d/B", c.Code(), i),
					}, []client.Attachment{{Name: "a.txt", Body: bytes.NewReader(att)}}, client.WithAttempts(1))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			commits1, updates1 := m.Store.Stats()
			if d := updates1 - updates0; d > 0 {
				b.ReportMetric(float64(commits1-commits0)/float64(d), "fsyncs/write")
			}
		})
	}
}

// BenchmarkSubscribe is the subscribe path: b.N queued documents pushed,
// handled and acknowledged through the SDK over bufconn.
func BenchmarkSubscribe(b *testing.B) {
	m := hubtest.StartMem(b)
	sender := m.Agency(codeG22)
	rcpt := m.Agency(codeH41)
	// Queue the documents 16 at a time, so the sends share fsyncs: one at
	// a time, the setup took most of the benchmark's wall time.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if _, err := sender.Send(context.Background(), &ndxpv1.DocumentHeader{
					Recipients: []string{codeH41}, Subject: "Đo", Reference: fmt.Sprintf("%s,2026/11/27,%d/S", codeG22, i),
				}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	err := rcpt.Subscribe(context.Background(), func(context.Context, *ndxpv1.Event) error { n++; return nil }, client.UntilCaughtUp())
	if err != nil {
		b.Fatal(err)
	}
	if n != b.N {
		b.Fatalf("handled %d events, want %d", n, b.N)
	}
}
