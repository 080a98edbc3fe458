package server_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// TestDevAdminCredsPrivate: the dev hub writes its admin credentials with
// mode 0600, and will not start on a file others may read: it neither uses
// it nor replaces it (that would leave the exposed key valid and the
// operator unaware) until the operator runs the chmod it names.
func TestDevAdminCredsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	dir := t.TempDir()
	h := hubtest.StartDir(t, dir)
	path := h.AdminCreds()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, fi.Mode().Perm())
	}
	before, err := pki.ReadCreds(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.Config
	h.Stop()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := server.Start(context.Background(), cfg)
	if err == nil {
		d.Close()
		t.Fatal("the hub started with an admin credentials file others may read")
	}
	if !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("start error %q does not give the chmod", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("the refused file's mode became %04o", fi.Mode().Perm())
	}

	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	h2 := hubtest.StartDir(t, dir)
	after, err := pki.ReadCreds(h2.AdminCreds())
	if err != nil {
		t.Fatal(err)
	}
	if pki.SerialString(after.Leaf) != pki.SerialString(before.Leaf) {
		t.Errorf("after chmod 600 the admin credential changed from %s to %s", pki.SerialString(before.Leaf), pki.SerialString(after.Leaf))
	}
	if _, err := h2.Admin().Registry.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Errorf("admin call after chmod 600: %v", err)
	}
}
