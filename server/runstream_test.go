package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/store"
)

// quietStream is a server stream with nothing but a context.
type quietStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (q quietStream) Context() context.Context { return q.ctx }

// TestRevokedStreamEndsWithTheReason: a stream handler that returns nil
// when its context ends (as a watch loop may) still ends with the
// revocation as its status, not OK.
func TestRevokedStreamEndsWithTheReason(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(dir, StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files, err := store.OpenFiles(filepath.Join(dir, BlobDir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := hub.DefaultConfig()
	cfg.Limits.Watches = 1
	h, err := hub.New(t.Context(), st, files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Drain()
	s := &Server{hub: h, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p := hub.Principal{Admin: true, Name: "ops", Serial: "abc123"}
	ctx := context.WithValue(context.Background(), principalKey{}, p)
	info := &grpc.StreamServerInfo{FullMethod: "/ndxp.v1.MonitorService/WatchSnapshot"}
	errc := make(chan error, 1)
	held := make(chan struct{})
	go func() {
		errc <- s.runStream(ctx, nil, quietStream{ctx: ctx}, info, func(_ any, ss grpc.ServerStream) error {
			close(held)
			<-ss.Context().Done()
			return nil
		})
	}()
	// The handler runs only once the stream is registered; a probe with
	// BeginStream could take the one slot first and make the stream fail.
	select {
	case <-held:
	case err := <-errc:
		t.Fatalf("the stream ended before its handler ran: %v", err)
	}
	if _, err := h.RevokeCredential(t.Context(), "", "abc123"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked stream ended with %v, want Unauthenticated", err)
	}
}
