package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/server"
)

func TestTokenFromEnv(t *testing.T) {
	tests := []struct {
		name           string
		token, file    string // configured
		env            string
		want, wantFile string
	}{
		{"env alone", "", "", " from-env\n", "from-env", ""},
		{"no env", "", "", "", "", ""},
		{"a configured token wins", "configured", "", "from-env", "configured", ""},
		{"a configured file wins", "", "/etc/ndxp/token", "from-env", "", "/etc/ndxp/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := server.Config{DashboardToken: tt.token, DashboardTokenFile: tt.file}
			tokenFromEnv(&cfg, tt.env)
			if cfg.DashboardToken != tt.want || cfg.DashboardTokenFile != tt.wantFile {
				t.Errorf("token %q, file %q; want %q, %q", cfg.DashboardToken, cfg.DashboardTokenFile, tt.want, tt.wantFile)
			}
		})
	}
}

// TestCheckHTTPSettings runs ndxpd -t with the HTTP listener's settings.
func TestCheckHTTPSettings(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	// A config file that names a token: a token file given as a flag
	// replaces it rather than clashing with it.
	configFile := filepath.Join(dir, "hub.json")
	if err := os.WriteFile(configFile, []byte(`{"dev": true, "data": "`+dir+`", "dashboard_token": "from-config"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantErr    string // "" for "configuration OK"
		wantStderr string // in the log, "" for none
	}{
		{name: "the HTTP flags", args: []string{"--dev", "--http-allowed-hosts", "hub.example.gov.vn,10.0.0.5", "--http-tls", "--http-timeout", "2m", "--http-idle-timeout", "30s"}},
		{name: "a token file", args: []string{"--dev", "--dashboard-token-file", tokenFile}},
		{name: "a token file readable by others", args: []string{"--dev", "--dashboard-token-file", loose}, wantErr: "chmod 600 " + loose},
		{name: "a token and a token file", args: []string{"--dev", "--dashboard-token", "x", "--dashboard-token-file", tokenFile}, wantErr: "not both",
			wantStderr: "process list"},
		{name: "a token flag warns", args: []string{"--dev", "--dashboard-token", "x"}, wantStderr: "--dashboard-token is visible to every user of this machine in the process list"},
		{name: "a token file over a config's token", args: []string{"--config", configFile, "--dashboard-token-file", tokenFile}},
		{name: "a URL as an allowed host", args: []string{"--dev", "--http-allowed-hosts", "https://hub.example.gov.vn/"}, wantErr: "not a URL"},
		{name: "TLS without an HTTP listener", args: []string{"--dev", "--http", "", "--http-tls"}, wantErr: "http_tls"},
		{name: "a VXP online window", args: []string{"--dev", "--vxp-online-window", "5m"}},
		{name: "a negative VXP online window", args: []string{"--dev", "--vxp-online-window", "-1s"}, wantErr: "vxp_online_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append(tt.args, "--data", dir, "-t"), &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ndxpd -t: %v", err)
			case tt.wantErr == "" && !strings.Contains(stdout.String(), "configuration OK"):
				t.Errorf("stdout %q, want configuration OK", stdout.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ndxpd -t: %v, want an error with %q", err, tt.wantErr)
			}
			if tt.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			if tt.wantStderr != "" && !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestDemoBanner runs ndxpd --dev --demo and checks that its banner says
// what the demo changed: the agencies it registered, the agencies it
// plays and where their credentials are; and, on a second start over the
// same data, that it registered nothing.
func TestDemoBanner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub with demo traffic")
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "demo") + string(filepath.Separator)
	start := func(want ...string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout hubtest.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--dev", "--demo", "--data", dir, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
				"--log-level", "error"}, &stdout, io.Discard)
		}()
		deadline := time.After(2 * time.Minute)
		for !strings.Contains(stdout.String(), "their credentials") {
			select {
			case err := <-done:
				t.Fatalf("ndxpd --dev --demo ended: %v\nstdout:\n%s", err, stdout.String())
			case <-deadline:
				t.Fatalf("no demo banner after 2 minutes; stdout:\n%s", stdout.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("ndxpd after the interrupt: %v", err)
		}
		out := stdout.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("banner lacks %q:\n%s", w, out)
			}
		}
		return out
	}
	// 71 pilot agencies: 80% (57) online, 5% (3) never acknowledging.
	start("registered the 2018 pilot registry: 95 agencies (71 pilot, 24 pending)",
		"traffic runs among 57 of the 71 pilot agencies (3 more receive but never acknowledge), 1 document a second in all",
		"their credentials: "+creds,
		"alerts on documents unacknowledged for 2m0s (--unacked-after)",
		"demo: dashboard: http://127.0.0.1:")
	if out := start("the hub already has 95 agencies (71 pilot); the 2018 registry was not loaded",
		"traffic runs among 57 of the 71 pilot agencies"); strings.Contains(out, "registered the 2018") {
		t.Errorf("the second start registered the registry again:\n%s", out)
	}
}
