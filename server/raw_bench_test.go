package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

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
	ccert, ckey, _, err := ca.IssueClient(pki.AgencyIdentity(codeG22), now, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "c.creds")
	if err := pki.WriteCreds(path, "127.0.0.1:1", ca.CertPEM(), ccert, ckey); err != nil {
		b.Fatal(err)
	}
	creds, err := pki.ReadCreds(path)
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(srvTLS)))
	ndxpv1.RegisterExchangeServiceServer(srv, discardExchange{})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(func() *tls.Config { return creds.ClientTLS() }())))
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
