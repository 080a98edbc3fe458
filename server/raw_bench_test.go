package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// rawServer serves impl over loopback TCP with mutual TLS, as the hub
// does, and returns a credentials file for an agency client of it.
func rawServer(b *testing.B, register func(*grpc.Server)) (credsPath string) {
	now := time.Now()
	ca, err := pki.NewCA("raw", now)
	if err != nil {
		b.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1"}, now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	srvTLS, err := pki.ServerTLS(ca.Pool(), certPEM, keyPEM)
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(srvTLS)))
	register(srv)
	go srv.Serve(lis)
	b.Cleanup(srv.Stop)
	ccert, ckey, _, err := ca.IssueClient(pki.AgencyIdentity(codeG22), now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	credsPath = filepath.Join(b.TempDir(), "c.creds")
	if err := pki.WriteCreds(credsPath, lis.Addr().String(), ca.CertPEM(), ccert, ckey); err != nil {
		b.Fatal(err)
	}
	return credsPath
}

// discardExchange reads an upload and throws it away: the raw cost of
// gRPC streaming over TLS, against which the hub's send is compared.
type discardExchange struct {
	ndxpv1.UnimplementedExchangeServiceServer
}

func (discardExchange) SendDocument(s grpc.ClientStreamingServer[ndxpv1.SendDocumentRequest, ndxpv1.SendDocumentResponse]) error {
	for {
		if _, err := s.Recv(); err == io.EOF {
			return s.SendAndClose(&ndxpv1.SendDocumentResponse{})
		} else if err != nil {
			return err
		}
	}
}

// BenchmarkRawGRPCStream streams 256 KiB chunks over loopback TCP with
// mutual TLS to a server that discards them (b.SetBytes: MB/s is the rate).
func BenchmarkRawGRPCStream(b *testing.B) {
	creds, err := pki.ReadCreds(rawServer(b, func(s *grpc.Server) { ndxpv1.RegisterExchangeServiceServer(s, discardExchange{}) }))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpc.NewClient(creds.Address, grpc.WithTransportCredentials(credentials.NewTLS(func() *tls.Config { return creds.ClientTLS() }())))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	stream, err := ndxpv1.NewExchangeServiceClient(conn).SendDocument(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		if err := stream.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Chunk{Chunk: &ndxpv1.AttachmentChunk{Offset: off, Data: chunk}}}); err != nil {
			b.Fatal(err)
		}
		off += int64(len(chunk))
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		b.Fatal(err)
	}
}

// relayExchange is the exchange with nothing stored: each upload is
// pushed straight to a subscriber, with its small attachment inline as the
// hub pushes it, and acknowledgements are only counted. What it costs is
// the floor under any hub that speaks this API over gRPC and TLS.
type relayExchange struct {
	ndxpv1.UnimplementedExchangeServiceServer
	events chan *ndxpv1.Event
	seq    atomic.Uint64
	acked  atomic.Uint64
	// st, if set, makes the relay durable the cheapest way the hub's store
	// allows: one write per document (its event) before the receipt, one
	// write per acknowledgement call (the deletes) before its answer.
	st store.Store
}

func relayKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func (r *relayExchange) SendDocument(s grpc.ClientStreamingServer[ndxpv1.SendDocumentRequest, ndxpv1.SendDocumentResponse]) error {
	var hdr *ndxpv1.DocumentHeader
	var body []byte
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if h := m.GetHeader(); h != nil {
			hdr = h
		}
		if c := m.GetChunk(); c != nil {
			body = append(body, c.GetData()...)
		}
	}
	seq := r.seq.Add(1)
	id := fmt.Sprintf("01KB%022d", seq)
	now := timestamppb.Now()
	if len(hdr.GetAttachments()) > 0 {
		hdr.Attachments[0].Content = body
	}
	ev := &ndxpv1.Event{Sequence: seq, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, DocumentId: id, Time: now,
		Document: &ndxpv1.Document{Id: id, SenderCode: codeG22, SenderName: "Văn phòng Chính phủ", Header: hdr, CreateTime: now}}
	if r.st != nil {
		rec, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		if err := r.st.Update(s.Context(), func(tx store.Tx) error { return tx.Put(store.BucketQueue, relayKey(seq), rec) }); err != nil {
			return err
		}
	}
	r.events <- ev
	return s.SendAndClose(&ndxpv1.SendDocumentResponse{DocumentId: id, Reference: hdr.GetReference(), AcceptTime: now, Recipients: hdr.GetRecipients()})
}

func (r *relayExchange) Subscribe(_ *ndxpv1.SubscribeRequest, s grpc.ServerStreamingServer[ndxpv1.SubscribeResponse]) error {
	for {
		select {
		case ev := <-r.events:
			if err := s.Send(&ndxpv1.SubscribeResponse{Message: &ndxpv1.SubscribeResponse_Event{Event: ev}}); err != nil {
				return err
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

func (r *relayExchange) AcknowledgeEvents(ctx context.Context, req *ndxpv1.AcknowledgeEventsRequest) (*ndxpv1.AcknowledgeEventsResponse, error) {
	if r.st != nil {
		err := r.st.Update(ctx, func(tx store.Tx) error {
			for _, seq := range req.GetSequences() {
				if err := tx.Delete(store.BucketQueue, relayKey(seq)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	r.acked.Add(uint64(len(req.GetSequences())))
	return &ndxpv1.AcknowledgeEventsResponse{}, nil
}

// BenchmarkRawExchange runs the bench tool's workload (32 senders, 8
// subscribers, 1 KiB documents, the real SDK over loopback TLS) against
// relayExchange: the documents per second that gRPC and TLS alone allow
// on this machine. cpu-µs/doc is the CPU of both sides (one process), and
// docs/s-2cores what two fully busy cores could do at that cost.
func BenchmarkRawExchange(b *testing.B) {
	runRelay(b, &relayExchange{events: make(chan *ndxpv1.Event, 64)})
}

// BenchmarkDurableExchange is BenchmarkRawExchange with the relay made
// durable through the hub's store (bbolt behind its write-ahead log and
// group commit), one record a document and one a batch of
// acknowledgements: the floor under any hub built on this store that
// fsyncs before every receipt, whatever else it keeps.
func BenchmarkDurableExchange(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "relay.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	n := runRelay(b, &relayExchange{events: make(chan *ndxpv1.Event, 64), st: st})
	commits, _ := st.Stats()
	b.ReportMetric(float64(commits)/n, "log-fsyncs/doc")
}

// runRelay runs the workload against relay and returns the documents sent.
func runRelay(b *testing.B, relay *relayExchange) (docs float64) {
	path := rawServer(b, func(s *grpc.Server) { ndxpv1.RegisterExchangeServiceServer(s, relay) })
	dial := func() *client.Client {
		c, err := client.Dial(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	var subs sync.WaitGroup
	for range 8 {
		c := dial()
		subs.Go(func() { c.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { return nil }) })
	}
	const senders = 32
	clients := make([]*client.Client, senders)
	for i := range clients {
		clients[i] = dial()
	}
	att := bytes.Repeat([]byte("x"), 1024)
	var conn, next atomic.Int64
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.SetParallelism(senders / 2)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(conn.Add(1)-1)%senders]
		for pb.Next() {
			i := next.Add(1)
			_, err := c.Send(context.Background(), &ndxpv1.DocumentHeader{
				Recipients: []string{codeH41}, Subject: "Đo", Reference: fmt.Sprintf("%s,2026/11/27,%d/R", codeG22, i),
			}, []client.Attachment{{Name: "a.txt", Body: bytes.NewReader(att)}}, client.WithAttempts(1))
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	for deadline := time.Now().Add(time.Minute); relay.acked.Load() < relay.seq.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d documents acknowledged after a minute", relay.acked.Load(), relay.seq.Load())
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	cancel()
	subs.Wait()
	n := float64(relay.seq.Load())
	b.ReportMetric(n/elapsed.Seconds(), "docs/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/doc")
	b.ReportMetric(2e6/(float64(cpu.Microseconds())/n), "docs/s-2cores")
	return n
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
