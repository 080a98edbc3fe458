package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
)

// tlsMaterial is what the daemon needs from its PKI.
type tlsMaterial struct {
	ca       *pki.CA
	certPEM  []byte
	keyPEM   []byte
	devFiles bool
}

// Dev-mode file names inside the data directory.
const (
	devPKIDir       = "pki"
	devCACert       = "ca.crt"
	devCAKey        = "ca.key"
	devServerCert   = "server.crt"
	devServerKey    = "server.key"
	AdminCredsFile  = "admin.creds"
	defaultAdmin    = "admin"
	serverValidity  = 2 * 365 * 24 * time.Hour
	adminValidity   = 365 * 24 * time.Hour
	serverRenewLead = 30 * 24 * time.Hour
)

// loadPKI reads the external CA and server certificate, or in dev mode
// makes them in the data directory on first start and reuses them after.
func loadPKI(cfg Config, hosts []string, now time.Time) (*tlsMaterial, error) {
	if !cfg.Dev {
		ca, err := pki.LoadCA(cfg.CACert, cfg.CAKey)
		if err != nil {
			return nil, fmt.Errorf("ca_cert: %w", err)
		}
		certPEM, err := os.ReadFile(cfg.TLSCert)
		if err != nil {
			return nil, fmt.Errorf("tls_cert: %w", err)
		}
		keyPEM, err := os.ReadFile(cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls_key: %w", err)
		}
		return &tlsMaterial{ca: ca, certPEM: certPEM, keyPEM: keyPEM}, nil
	}
	dir := filepath.Join(cfg.DataDir, devPKIDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev pki: %w", err)
	}
	caCert, caKey := filepath.Join(dir, devCACert), filepath.Join(dir, devCAKey)
	ca, err := pki.LoadCA(caCert, caKey)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, err = pki.NewCA("ndxp development CA", now); err != nil {
			return nil, fmt.Errorf("dev pki: %w", err)
		}
		if err := ca.Save(caCert, caKey); err != nil {
			return nil, fmt.Errorf("dev pki: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("dev pki: %w", err)
	}
	srvCert, srvKey := filepath.Join(dir, devServerCert), filepath.Join(dir, devServerKey)
	certPEM, err1 := os.ReadFile(srvCert)
	keyPEM, err2 := os.ReadFile(srvKey)
	if err1 != nil || err2 != nil || !serverCertCovers(certPEM, ca, hosts, now) {
		if certPEM, keyPEM, err = ca.IssueServer(hosts, now, serverValidity); err != nil {
			return nil, fmt.Errorf("dev pki: server certificate: %w", err)
		}
		if err := pki.WriteFileAtomic(srvCert, certPEM, 0o644); err != nil {
			return nil, err
		}
		if err := pki.WriteFileAtomic(srvKey, keyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	return &tlsMaterial{ca: ca, certPEM: certPEM, keyPEM: keyPEM, devFiles: true}, nil
}

// serverCertCovers reports whether a stored dev server certificate still
// fits: signed by ca, valid for a while yet, and naming every host.
func serverCertCovers(certPEM []byte, ca *pki.CA, hosts []string, now time.Time) bool {
	cert, err := firstCert(certPEM)
	if err != nil {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	if now.Add(serverRenewLead).After(cert.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func firstCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// encodeCertAndKey turns a loaded client certificate back into PEM.
func encodeCertAndKey(c tls.Certificate) (certPEM, keyPEM []byte, err error) {
	if len(c.Certificate) == 0 {
		return nil, nil, errors.New("no certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return certPEM, keyPEM, nil
}

// serverHosts lists the names the dev server certificate must carry.
func serverHosts(addrs ...string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil || h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// ensureAdminCreds writes DATA/admin.creds when the hub can sign and the
// file is missing or no longer usable, and keeps its address current. A
// file others may read is not replaced: its key may be known, and a new
// one beside it would leave the old one valid and the operator unaware;
// the hub does not start until the operator fixes the mode or removes it.
func ensureAdminCreds(path, address string, ca *pki.CA, now time.Time) (bool, error) {
	if !ca.CanSign() {
		return false, nil
	}
	c, err := pki.ReadCreds(path)
	if errors.Is(err, pki.ErrTooOpen) {
		return false, fmt.Errorf("admin credentials: %w (or remove it to have new ones issued)", err)
	}
	if err == nil {
		_, verr := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if verr == nil && c.Identity.Kind == pki.KindAdmin && now.Add(serverRenewLead).Before(c.Leaf.NotAfter) {
			if c.Address == address {
				return false, nil
			}
			certPEM, keyPEM, err := encodeCertAndKey(c.Cert)
			if err != nil {
				return false, err
			}
			return true, pki.WriteCreds(path, address, ca.CertPEM(), certPEM, keyPEM)
		}
	}
	certPEM, keyPEM, _, err := ca.IssueClient(pki.AdminIdentity(defaultAdmin), now, adminValidity)
	if err != nil {
		return false, fmt.Errorf("admin credentials: %w", err)
	}
	return true, pki.WriteCreds(path, address, ca.CertPEM(), certPEM, keyPEM)
}
