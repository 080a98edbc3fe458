package hubtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/pki"
)

// Run is a CLI's entry point, as its main calls it.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// CheckCredsRefused runs a CLI command with credentials files it must
// refuse before dialing: one others may read (the error gives the chmod
// that fixes it) and /dev/zero (no file: refused at once, not read until
// memory runs out). Once the file's mode is fixed, the command gets past
// the file and fails only for want of a hub.
func CheckCredsRefused(t *testing.T, run Run, command string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits to check on Windows")
	}
	open := CredsFile(t, 0o644)
	tests := []struct {
		name  string
		creds string
		want  []string
	}{
		{"readable by others", open, []string{open, "0644", "chmod 600 " + open}},
		{"/dev/zero", "/dev/zero", []string{"/dev/zero", "not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.creds); err != nil {
				t.Skip(err)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"--creds", tt.creds, command}, &stdout, &stderr)
			if err == nil {
				t.Fatalf("%s succeeded", command)
			}
			msg := cli.ErrorLine(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
	if err := os.Chmod(open, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--creds", open, command}, &stdout, &stderr)
	if err == nil || strings.Contains(err.Error(), "chmod") {
		t.Errorf("%s with a 0600 file: %v; want only the hub unreachable", command, err)
	}
}

// ForeignCert is an admin client certificate from a CA the hub does not
// trust: one the hub must refuse at the handshake.
func ForeignCert(tb testing.TB) tls.Certificate {
	tb.Helper()
	other, err := pki.NewCA("impostor CA", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, _, err := other.IssueClient(pki.AdminIdentity("admin"), time.Now(), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}
