package client_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/leader"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// deadAddress is a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// follower is a node that serves nothing itself: every call, unary or
// stream, is refused with UNAVAILABLE naming the leader, as a follower of
// a cluster answers (server's leaderUnavailable). It counts the calls.
type follower struct {
	addr  string
	calls atomic.Int64
}

func startFollower(t *testing.T, h *hubtest.Hub, leaderAddr string) *follower {
	t.Helper()
	var v atomic.Value
	v.Store(leaderAddr)
	return startDynamicFollower(t, h, &v)
}

// startDynamicFollower is startFollower naming the leader in leaderAddr
// (a string) at the time of each call.
func startDynamicFollower(t *testing.T, h *hubtest.Hub, leaderAddr *atomic.Value) *follower {
	t.Helper()
	dir := filepath.Join(h.DataDir, "pki")
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1", "localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ServerTLS(ca.Pool(), certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	refuse := func() error {
		st, err := status.New(codes.Unavailable, "this hub node is not the leader").WithDetails(leader.Detail(leaderAddr.Load().(string)))
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		return st.Err()
	}
	f := &follower{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)),
		grpc.UnaryInterceptor(func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
			f.calls.Add(1)
			return nil, refuse()
		}),
		grpc.StreamInterceptor(func(any, grpc.ServerStream, *grpc.StreamServerInfo, grpc.StreamHandler) error {
			f.calls.Add(1)
			return refuse()
		}))
	ndxpv1.RegisterDirectoryServiceServer(srv, ndxpv1.UnimplementedDirectoryServiceServer{})
	ndxpv1.RegisterExchangeServiceServer(srv, ndxpv1.UnimplementedExchangeServiceServer{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return f
}

// TestDialSkipsDeadNode: with a dead node first in the credentials file,
// calls and sends go to the live one.
func TestDialSkipsDeadNode(t *testing.T) {
	h := hubtest.Start(t)
	h.Agency(codeNgheAn, "UBND tỉnh Nghệ An").Close()
	h.AddAgency(codeVPCP, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	addrs := deadAddress(t) + "," + h.Daemon.GRPCAddr()
	path := hubtest.IssueCreds(t, h.Admin(), codeVPCP, addrs)
	creds, err := pki.ReadCreds(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.Addresses) != 2 {
		t.Fatalf("credentials list %q, want 2 addresses", creds.Addresses)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Address(); got != addrs {
		t.Errorf("Address() = %q, want %q", got, addrs)
	}
	if _, err := c.Directory.LookupAgency(ctx, &ndxpv1.LookupAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatalf("LookupAgency past a dead node: %v", err)
	}
	r, err := c.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeNgheAn}, Subject: "Qua nút còn sống", Number: "1/FO"}, nil)
	if err != nil {
		t.Fatalf("Send past a dead node: %v", err)
	}
	if r.GetDocumentId() == "" {
		t.Error("Send returned no document id")
	}
}

// TestFollowsLeaderHint: a node that names the leader gets one call; the
// client repeats it at the leader at once and stays there.
func TestFollowsLeaderHint(t *testing.T) {
	h := hubtest.Start(t)
	h.Agency(codeNgheAn, "UBND tỉnh Nghệ An").Close()
	h.AddAgency(codeVPCP, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	hubAddr := h.Daemon.GRPCAddr()

	tests := []struct {
		name  string
		first func(context.Context, *client.Client) error
	}{
		{"unary call", func(ctx context.Context, c *client.Client) error {
			_, err := c.Directory.LookupAgency(ctx, &ndxpv1.LookupAgencyRequest{Code: codeNgheAn})
			return err
		}},
		{"send stream", func(ctx context.Context, c *client.Client) error {
			_, err := c.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeNgheAn}, Subject: "Theo nút dẫn đầu", Number: "2/FO"}, nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFollower(t, h, hubAddr)
			path := hubtest.IssueCreds(t, h.Admin(), codeVPCP, f.addr+","+hubAddr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			start := time.Now()
			if err := tt.first(ctx, c); err != nil {
				t.Fatalf("first call: %v", err)
			}
			// At once: well under the SDK's shortest backoff (100ms) plus a
			// TLS handshake, on loopback; a generous bound keeps -race calm.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("first call took %v", d)
			}
			if got := f.calls.Load(); got != 1 {
				t.Errorf("follower got %d calls, want 1", got)
			}
			if got := c.Address(); got != hubAddr {
				t.Errorf("Address() = %q, want the leader %q", got, hubAddr)
			}
			if got := c.Conn().Target(); got != hubAddr {
				t.Errorf("Conn().Target() = %q, want the leader %q", got, hubAddr)
			}
			for range 3 {
				if _, err := c.Directory.LookupAgency(ctx, &ndxpv1.LookupAgencyRequest{Code: codeNgheAn}); err != nil {
					t.Fatalf("LookupAgency at the leader: %v", err)
				}
			}
			if got := f.calls.Load(); got != 1 {
				t.Errorf("follower got %d calls after the client followed the leader, want 1", got)
			}
		})
	}
}

// TestLeaderGoneBackToPool: when the leader it followed stops answering,
// the client goes back to every address, where a node names the new
// leader.
func TestLeaderGoneBackToPool(t *testing.T) {
	old := hubtest.Start(t)
	// The new leader shares the old one's CA, as a cluster's nodes do.
	nextDir := t.TempDir()
	copyPKI(t, old.DataDir, nextDir)
	next := hubtest.StartDir(t, nextDir)
	for _, h := range []*hubtest.Hub{old, next} {
		h.AddAgency(codeVPCP, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	}
	// A follower first in the list names the old leader, then the new.
	var target atomic.Value
	target.Store(old.Daemon.GRPCAddr())
	f := startDynamicFollower(t, old, &target)
	path := hubtest.IssueCreds(t, old.Admin(), codeVPCP, f.addr+","+deadAddress(t))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lookup := func() error {
		_, err := c.Directory.LookupAgency(ctx, &ndxpv1.LookupAgencyRequest{Code: codeVPCP})
		return err
	}
	if err := lookup(); err != nil {
		t.Fatalf("lookup at the old leader: %v", err)
	}
	if got := c.Address(); got != old.Daemon.GRPCAddr() {
		t.Fatalf("Address() = %q, want the old leader %q", got, old.Daemon.GRPCAddr())
	}
	old.Stop()
	target.Store(next.Daemon.GRPCAddr())
	if err := lookup(); status.Code(err) != codes.Unavailable {
		t.Fatalf("lookup at the stopped leader: %v, want Unavailable", err)
	}
	if err := lookup(); err != nil {
		t.Fatalf("lookup after the leader stopped: %v", err)
	}
	if got := c.Address(); got != next.Daemon.GRPCAddr() {
		t.Errorf("Address() = %q, want the new leader %q", got, next.Daemon.GRPCAddr())
	}
}

// copyPKI gives the hub in dst the dev CA of the hub in src.
func copyPKI(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dst, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(src, "pki", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "pki", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
