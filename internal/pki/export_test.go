package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWritePEM(t *testing.T) {
	tc := newTestCreds(t)
	creds, err := ParseCreds(mustEncode(t, tc.address, tc.caPEM, tc.certPEM, tc.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "h41") // made by WritePEM
	files, err := creds.WritePEM(dir, false)
	if err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	want := PEMFiles{CACert: filepath.Join(dir, "ca.crt"), ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key")}
	if files != want {
		t.Errorf("WritePEM wrote %+v; want %+v", files, want)
	}

	// The pair loads as other TLS stacks load it: the key matches the certificate.
	pair, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatalf("client.crt and client.key do not load as a pair: %v", err)
	}
	if !bytes.Equal(pair.Certificate[0], creds.Leaf.Raw) {
		t.Error("client.crt is not the credentials' client certificate")
	}
	keyPEM, err := os.ReadFile(files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(keyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("client.key is not PKCS #8 (Java's Netty reads only that):\n%s", keyPEM)
	}
	// ca.crt verifies the client certificate, as the hub does.
	caPEM, err := os.ReadFile(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt holds no certificate:\n%s", caPEM)
	}
	if _, err := creds.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: testNow.Add(time.Minute),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("ca.crt does not verify client.crt: %v", err)
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700, files.ClientKey: 0o600, files.ClientCert: 0o644, files.CACert: 0o644} {
		if got := fileMode(t, path); got != mode {
			t.Errorf("%s: mode %v; want %v", path, got, mode)
		}
	}
	checkNoTempFiles(t, dir)

	// A second export refuses and leaves the files alone; overwrite replaces them.
	if err := os.WriteFile(files.ClientKey, []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := creds.WritePEM(dir, false); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), files.ClientKey) {
		t.Errorf("WritePEM over existing files: %v; want fs.ErrExist naming %s", err, files.ClientKey)
	}
	if got, _ := os.ReadFile(files.ClientKey); string(got) != "kept" {
		t.Errorf("a refused export changed client.key to %q", got)
	}
	if _, err := creds.WritePEM(dir, true); err != nil {
		t.Fatalf("WritePEM with overwrite: %v", err)
	}
	if _, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey); err != nil {
		t.Errorf("after overwrite: %v", err)
	}
}

// TestWritePEMRefusesEachFile checks that any one existing file stops the
// export before anything is written.
func TestWritePEMRefusesEachFile(t *testing.T) {
	tc := newTestCreds(t)
	creds, err := ParseCreds(mustEncode(t, tc.address, tc.caPEM, tc.certPEM, tc.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CACertFile, ClientCertFile, ClientKeyFile} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := creds.WritePEM(dir, false); !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s exists: WritePEM = %v; want fs.ErrExist", name, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s exists: the refused export left %d files; want only it", name, len(entries))
		}
	}
}
