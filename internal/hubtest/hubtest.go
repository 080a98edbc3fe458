// Package hubtest starts real hubs for tests: the daemon code of ndxpd,
// in process, with real mutual TLS on a loopback port and a real bbolt
// file in a temporary directory.
package hubtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// Hub is a running test hub.
type Hub struct {
	tb      testing.TB
	Daemon  *server.Daemon
	DataDir string
	Config  server.Config
}

// Start runs a dev-mode hub on 127.0.0.1 with random ports and a fresh
// data directory; it stops when the test ends.
func Start(tb testing.TB) *Hub {
	tb.Helper()
	return StartDir(tb, tb.TempDir())
}

// StartWith is Start with the hub's configuration changed by edit first.
func StartWith(tb testing.TB, edit func(*server.Config)) *Hub {
	tb.Helper()
	return start(tb, tb.TempDir(), edit)
}

// StartDir runs a dev-mode hub on an existing data directory, as a restart would.
func StartDir(tb testing.TB, dir string) *Hub {
	tb.Helper()
	return start(tb, dir, nil)
}

func start(tb testing.TB, dir string, edit func(*server.Config)) *Hub {
	tb.Helper()
	cfg := server.DefaultConfig()
	cfg.Dev = true
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.ShutdownTimeout = server.Duration(5 * time.Second)
	cfg.Logger = testLogger(tb)
	if edit != nil {
		edit(&cfg)
	}
	d, err := server.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start hub: %v", err)
	}
	h := &Hub{tb: tb, Daemon: d, DataDir: dir, Config: cfg}
	tb.Cleanup(func() { h.Stop() })
	return h
}

// Stop shuts the hub down gracefully; it is safe to call more than once.
func (h *Hub) Stop() {
	if err := h.Daemon.Close(); err != nil {
		h.tb.Errorf("stop hub: %v", err)
	}
}

// AdminCreds is the path of the admin credentials file.
func (h *Hub) AdminCreds() string { return h.Daemon.AdminCredsPath() }

// Admin dials the hub with admin credentials.
func (h *Hub) Admin() *client.Client {
	h.tb.Helper()
	return h.dial(h.AdminCreds())
}

func (h *Hub) dial(path string, opts ...client.Option) *client.Client {
	h.tb.Helper()
	c, err := client.Dial(context.Background(), path, append([]client.Option{client.WithAddress(h.Daemon.GRPCAddr())}, opts...)...)
	if err != nil {
		h.tb.Fatalf("dial %s: %v", path, err)
	}
	h.tb.Cleanup(func() { c.Close() })
	return c
}

// AddAgency registers an agency at the given stage ("" = pending) and fails the test on error.
func (h *Hub) AddAgency(code, name string, stage ndxpv1.Stage) {
	h.tb.Helper()
	_, err := h.Admin().Registry.CreateAgency(context.Background(), &ndxpv1.CreateAgencyRequest{
		Agency: &ndxpv1.Agency{Code: code, Name: name, Stage: stage},
	})
	if err != nil {
		h.tb.Fatalf("add agency %s: %v", code, err)
	}
}

// IssueCreds issues a credentials file for a registered agency, the way
// ndxpctl does (CSR made here), and returns its path.
func (h *Hub) IssueCreds(code string) string {
	h.tb.Helper()
	return IssueCreds(h.tb, h.Admin(), code, h.Daemon.GRPCAddr())
}

// IssueCreds has admin issue a credential for code, as ndxpctl does (the
// key is made here), and writes it for a hub at addr; it returns the path.
func IssueCreds(tb testing.TB, admin *client.Client, code, addr string) string {
	tb.Helper()
	csr, keyPEM, err := pki.NewCSR(pki.AgencyIdentity(code))
	if err != nil {
		tb.Fatalf("csr: %v", err)
	}
	resp, err := admin.Registry.IssueCredential(context.Background(), &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr})
	if err != nil {
		tb.Fatalf("issue credential %s: %v", code, err)
	}
	path := filepath.Join(tb.TempDir(), code+".creds")
	if err := pki.WriteCreds(path, addr, resp.GetCaPem(), resp.GetCertificatePem(), keyPEM); err != nil {
		tb.Fatalf("write creds: %v", err)
	}
	return path
}

// CredsFile writes a well-formed credentials file of an agency, from a
// CA of its own for a hub nobody runs, and gives it mode; it returns the
// path. It is for tests of how tools treat the file itself.
func CredsFile(tb testing.TB, mode os.FileMode) string {
	tb.Helper()
	now := time.Now()
	ca, err := pki.NewCA("ndxp test CA", now)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, _, err := ca.IssueClient(pki.AgencyIdentity("000.00.00.H41"), now, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "agency.creds")
	if err := pki.WriteCreds(path, "127.0.0.1:1", ca.CertPEM(), certPEM, keyPEM); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Agency registers an agency (pilot stage), issues its credentials and dials as it.
func (h *Hub) Agency(code, name string) *client.Client {
	h.tb.Helper()
	h.AddAgency(code, name, ndxpv1.Stage_STAGE_PILOT)
	return h.dial(h.IssueCreds(code))
}

// Dial connects with a credentials file.
func (h *Hub) Dial(credsPath string, opts ...client.Option) *client.Client {
	return h.dial(credsPath, opts...)
}

// testLogger sends hub logs to the test log when -v, else discards them.
func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("NDXP_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) { w.tb.Log(string(p)); return len(p), nil }
