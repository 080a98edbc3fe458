package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
)

// TestCredentialExport checks that the three files grpcurl, Node.js and
// Java take come out of a credentials file whole: they parse, the key
// matches the certificate, ca.crt verifies it, and the key is private.
func TestCredentialExport(t *testing.T) {
	credsFile := hubtest.CredsFile(t, 0o600)
	creds, err := pki.ReadCreds(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pem")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-o", "json", "credential", "export", credsFile, "--pem", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("credential export: %v\nstderr: %s", err, stderr.String())
	}
	var v exportView
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	want := exportView{File: credsFile, Identity: "urn:ndxp:agency:000.00.00.H41", HubAddress: "127.0.0.1:1",
		CACert: filepath.Join(dir, "ca.crt"), ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
		Expires: creds.Leaf.NotAfter.UTC()}
	if !v.Expires.Equal(want.Expires) {
		t.Errorf("expires %v; want %v", v.Expires, want.Expires)
	}
	v.Expires = want.Expires
	if v != want {
		t.Errorf("export printed %+v; want %+v", v, want)
	}

	pair, err := tls.LoadX509KeyPair(v.ClientCert, v.ClientKey)
	if err != nil {
		t.Fatalf("client.crt and client.key: %v", err)
	}
	if !bytes.Equal(pair.Certificate[0], creds.Leaf.Raw) {
		t.Error("client.crt is not the credentials' certificate")
	}
	caPEM, err := os.ReadFile(v.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt: no certificate in %q", caPEM)
	}
	if _, err := creds.Leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("ca.crt does not verify client.crt: %v", err)
	}
	if fi, err := os.Stat(v.ClientKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client.key: %v, %v; want mode 0600", fi.Mode(), err)
	}

	// Again: refused, naming the files and --force, and nothing changes.
	before, _ := os.ReadFile(v.ClientKey)
	stdout.Reset()
	err = run(context.Background(), []string{"credential", "export", credsFile, "--pem", dir}, &stdout, &stderr)
	var u *cli.UsageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), v.ClientKey) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over an export: %v; want a usage error naming %s and --force", err, v.ClientKey)
	}
	if after, _ := os.ReadFile(v.ClientKey); !bytes.Equal(before, after) {
		t.Error("a refused export changed client.key")
	}
	if stdout.Len() > 0 {
		t.Errorf("a refused export printed %q", stdout.String())
	}
	// FILE wins over --creds, which names ndxpctl's own credential.
	other := filepath.Join(t.TempDir(), "other")
	if err := run(context.Background(), []string{"--creds", hubtest.CredsFile(t, 0o644), "credential", "export", credsFile, "--pem", other},
		&stdout, &stderr); err != nil {
		t.Errorf("export FILE with another --creds: %v", err)
	} else if pair, err := tls.LoadX509KeyPair(filepath.Join(other, "client.crt"), filepath.Join(other, "client.key")); err != nil ||
		!bytes.Equal(pair.Certificate[0], creds.Leaf.Raw) {
		t.Errorf("export FILE with another --creds did not export FILE: %v", err)
	}
	// With --force, and the file from --creds: replaced.
	stdout.Reset()
	if err := run(context.Background(), []string{"--creds", credsFile, "credential", "export", "--pem", dir, "--force"}, &stdout, &stderr); err != nil {
		t.Fatalf("export --force: %v", err)
	}
	if !strings.Contains(stdout.String(), "grpcurl -cacert "+v.CACert+" -cert "+v.ClientCert+" -key "+v.ClientKey+" 127.0.0.1:1 list") {
		t.Errorf("export does not show how to use the files with grpcurl:\n%s", stdout.String())
	}
}

func TestCredentialExportErrors(t *testing.T) {
	credsFile := hubtest.CredsFile(t, 0o600)
	loose := hubtest.CredsFile(t, 0o644)
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no --pem", []string{"credential", "export", credsFile}, true, "--pem DIR is required"},
		{"readable by others", []string{"credential", "export", loose, "--pem", t.TempDir()}, false, "chmod 600"},
		{"missing", []string{"credential", "export", filepath.Join(t.TempDir(), "none.creds"), "--pem", t.TempDir()}, false, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			var u *cli.UsageError
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.As(err, &u) != tt.usage {
				t.Errorf("error %v (usage error: %v); want one with %q (usage error: %v)", err, errors.As(err, &u), tt.want, tt.usage)
			}
		})
	}
}
