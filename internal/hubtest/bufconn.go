package hubtest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/test/bufconn"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
	"github.com/ndxp/ndxp/server"
)

// Mem is a hub served over an in-memory listener (bufconn) with real TLS
// and a real bbolt file: the network stack drops out of benchmarks, the
// rest of the path stays.
type Mem struct {
	tb    testing.TB
	Hub   *hub.Hub
	Store *store.Bolt
	ca    *pki.CA
	lis   *bufconn.Listener
}

// StartMem starts a hub on a bufconn listener; it stops when the test ends.
func StartMem(tb testing.TB) *Mem {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now()
	ca, err := pki.NewCA("ndxp test CA", now)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"localhost", "127.0.0.1"}, now, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	tlsConf, err := pki.ServerTLS(ca.Pool(), certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(dir, server.StoreFile), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	files, err := store.OpenFiles(filepath.Join(dir, server.BlobDir))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := hub.DefaultConfig()
	cfg.CA = ca
	// Benchmarks measure the hub's own pace: one agency's send rate limit
	// (50/s) would stop them after the first burst.
	cfg.Limits.SendRate = 0
	h, err := hub.New(context.Background(), st, files, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.New(h, tlsConf, testLogger(tb))
	lis := bufconn.Listen(1 << 20)
	go srv.GRPC().Serve(lis)
	tb.Cleanup(func() {
		h.Drain()
		srv.GRPC().Stop()
		st.Close()
	})
	return &Mem{tb: tb, Hub: h, Store: st, ca: ca, lis: lis}
}

// Agency registers code (pilot) and returns a client connected as it.
func (m *Mem) Agency(code string) *client.Client {
	m.tb.Helper()
	if _, err := m.Hub.CreateAgency(context.Background(), hub.Agency{Code: code, Name: "Cơ quan " + code, Stage: hub.StagePilot}); err != nil {
		m.tb.Fatal(err)
	}
	certPEM, keyPEM, _, err := m.ca.IssueClient(pki.AgencyIdentity(code), time.Now(), time.Hour)
	if err != nil {
		m.tb.Fatal(err)
	}
	path := filepath.Join(m.tb.TempDir(), code+".creds")
	if err := pki.WriteCreds(path, "localhost:7443", m.ca.CertPEM(), certPEM, keyPEM); err != nil {
		m.tb.Fatal(err)
	}
	c, err := client.Dial(context.Background(), path, client.WithDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return m.lis.DialContext(ctx)
	}))
	if err != nil {
		m.tb.Fatal(err)
	}
	m.tb.Cleanup(func() { c.Close() })
	return c
}
