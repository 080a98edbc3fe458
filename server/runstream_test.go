package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

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
	go func() {
		errc <- s.runStream(ctx, nil, quietStream{ctx: ctx}, info, func(_ any, ss grpc.ServerStream) error {
			<-ss.Context().Done()
			return nil
		})
	}()
	// Held once a second watch of the same caller is refused by the cap of one.
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		_, done, err := h.BeginStream(ctx, p, hub.StreamWatch)
		if err != nil {
			break
		}
		done()
		if time.Since(start) > time.Minute {
			t.Fatal("the stream was never held")
		}
	}
	if _, err := h.RevokeCredential(t.Context(), "", "abc123"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked stream ended with %v, want Unauthenticated", err)
	}
}
