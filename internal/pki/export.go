package pki

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The names WritePEM gives its files: those grpcurl's, Node.js's and
// Java's gRPC examples use.
const (
	CACertFile     = "ca.crt"
	ClientCertFile = "client.crt"
	ClientKeyFile  = "client.key"
)

// PEMFiles are the paths of the files WritePEM wrote.
type PEMFiles struct {
	CACert     string // the CA certificates that sign the hub's certificate
	ClientCert string // the client certificate
	ClientKey  string // its private key, PKCS #8, mode 0600
}

// WritePEM writes the credentials as three PEM files in dir (made, mode
// 0700, if missing), for tools that take a CA, a certificate and a key
// apart rather than one credentials file: ca.crt (every CA certificate),
// client.crt and client.key (PKCS #8, which grpcurl, Node.js and Java's
// Netty all read; mode 0600). The certificates get mode 0644.
//
// Unless overwrite, it refuses, writing nothing, when any of the three
// exists; the error wraps fs.ErrExist and names them. Each file is
// written atomically ([WriteFileAtomic]).
func (c *Creds) WritePEM(dir string, overwrite bool) (PEMFiles, error) {
	files := PEMFiles{
		CACert:     filepath.Join(dir, CACertFile),
		ClientCert: filepath.Join(dir, ClientCertFile),
		ClientKey:  filepath.Join(dir, ClientKeyFile),
	}
	key, ok := c.Cert.PrivateKey.(crypto.Signer)
	if !ok || c.Leaf == nil || len(c.CACerts) == 0 {
		return PEMFiles{}, errors.New("pki: write PEM files: incomplete credentials")
	}
	keyPEM, err := marshalPrivateKeyPEM(key)
	if err != nil {
		return PEMFiles{}, fmt.Errorf("pki: write PEM files: %w", err)
	}
	var caPEM []byte
	for _, ca := range c.CACerts {
		caPEM = append(caPEM, encodeCertPEM(ca)...)
	}
	if !overwrite {
		var taken []string
		for _, p := range []string{files.CACert, files.ClientCert, files.ClientKey} {
			if _, err := os.Lstat(p); err == nil {
				taken = append(taken, p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return PEMFiles{}, fmt.Errorf("pki: write PEM files: %w", err)
			}
		}
		if len(taken) > 0 {
			return PEMFiles{}, fmt.Errorf("%s: %w", strings.Join(taken, ", "), fs.ErrExist)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return PEMFiles{}, fmt.Errorf("pki: write PEM files: %w", err)
	}
	// The key first: a run cut short leaves no certificate without it.
	if err := WriteFileAtomic(files.ClientKey, keyPEM, 0o600); err != nil {
		return PEMFiles{}, err
	}
	if err := WriteFileAtomic(files.ClientCert, encodeCertPEM(c.Leaf), 0o644); err != nil {
		return PEMFiles{}, err
	}
	if err := WriteFileAtomic(files.CACert, caPEM, 0o644); err != nil {
		return PEMFiles{}, err
	}
	return files, nil
}
