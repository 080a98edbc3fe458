package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
)

// TestCredsFileRefused: a credentials file others may read is refused
// before anything is dialed, with the chmod that fixes it, and a path that
// is no file (/dev/zero) fails at once instead of being read until memory
// runs out.
func TestCredsFileRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits to check on Windows")
	}
	open := hubtest.CredsFile(t, 0o644)
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
			start := time.Now()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"--creds", tt.creds, "overview"}, &stdout, &stderr)
			if err == nil {
				t.Fatal("overview succeeded")
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
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refused after %v", d)
			}
		})
	}
	if err := os.Chmod(open, 0o600); err != nil {
		t.Fatal(err)
	}
	// Now the file is read; the call fails only for want of a hub.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--creds", open, "overview"}, &stdout, &stderr)
	if err == nil || strings.Contains(err.Error(), "chmod") {
		t.Errorf("overview with a 0600 file: %v; want only the hub unreachable", err)
	}
}
