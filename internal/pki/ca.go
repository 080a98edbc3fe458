package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

const (
	// caValidity is the lifetime of a CA created by NewCA.
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate is subtracted from "now" for NotBefore to tolerate clock skew.
	backdate = 5 * time.Minute

	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemECKey       = "EC PRIVATE KEY"
	pemRSAKey      = "RSA PRIVATE KEY"
)

// CA is a certificate authority. Key is nil when the CA is only trusted, not
// used for signing (for example an external CA in production).
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer // nil when only trusting
}

// NewCA creates a self-signed CA with an ECDSA P-256 key, valid for ten years
// from now (backdated five minutes), restricted to signing end-entity
// certificates (MaxPathLen 0).
func NewCA(commonName string, now time.Time) (*CA, error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, errors.New("pki: new CA: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA certificate from certFile, which must hold exactly one
// PEM CERTIFICATE block with the CA flag set. If keyFile is empty the CA is
// trust-only (Key is nil); otherwise keyFile must hold the matching private
// key as PKCS #8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1
// ("RSA PRIVATE KEY").
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	certs, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA certificate %s: %w", certFile, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("pki: load CA certificate %s: %w: found %d certificates, want exactly one",
			certFile, ErrMalformedPEM, len(certs))
	}
	cert := certs[0]
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("pki: load CA certificate %s: certificate %q is not a CA", certFile, cert.Subject.CommonName)
	}
	ca := &CA{Cert: cert}
	if keyFile == "" {
		return ca, nil
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA key %s: %w", keyFile, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("pki: load CA key %s: %w %s", keyFile, ErrKeyMismatch, certFile)
	}
	ca.Key = key
	return ca, nil
}

// Save writes the CA certificate to certFile (mode 0644) and, if keyFile is
// not empty, the private key as PKCS #8 to keyFile (mode 0600). Both are
// written with [WriteFileAtomic]; the key is written first, so an existing
// certificate file always has its key on disk. Saving a trust-only CA with a
// non-empty keyFile fails with [ErrCannotSign].
func (ca *CA) Save(certFile, keyFile string) error {
	if ca == nil || ca.Cert == nil {
		return errors.New("pki: save CA: no certificate")
	}
	if keyFile != "" {
		if ca.Key == nil {
			return fmt.Errorf("pki: save CA key %s: %w", keyFile, ErrCannotSign)
		}
		keyPEM, err := marshalPrivateKeyPEM(ca.Key)
		if err != nil {
			return fmt.Errorf("pki: save CA key %s: %w", keyFile, err)
		}
		if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
			return fmt.Errorf("pki: save CA key: %w", err)
		}
	}
	if err := WriteFileAtomic(certFile, ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("pki: save CA certificate: %w", err)
	}
	return nil
}

// CertPEM returns the CA certificate as a PEM CERTIFICATE block.
func (ca *CA) CertPEM() []byte {
	return encodeCertPEM(ca.Cert)
}

// CanSign reports whether the CA has a private key and can issue
// certificates.
func (ca *CA) CanSign() bool {
	return ca != nil && ca.Cert != nil && ca.Key != nil
}

// Pool returns a certificate pool holding only the CA certificate, suitable
// for [ServerTLS].
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// IssueServer issues a server certificate with a fresh ECDSA P-256 key for
// hosts, each a DNS name or an IP address (an IPv6 address may be given in
// brackets). The first host becomes the subject common name. The certificate
// is valid from now minus five minutes for validity, but never beyond the CA
// certificate. It returns the certificate and the PKCS #8 key as PEM.
func (ca *CA) IssueServer(hosts []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if !ca.CanSign() {
		return nil, nil, fmt.Errorf("pki: issue server certificate: %w", ErrCannotSign)
	}
	if len(hosts) == 0 {
		return nil, nil, errors.New("pki: issue server certificate: no hosts")
	}
	tmpl := &x509.Certificate{
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if err := addHosts(tmpl, hosts); err != nil {
		return nil, nil, fmt.Errorf("pki: issue server certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue server certificate: generate key: %w", err)
	}
	cert, err := ca.sign(tmpl, key.Public(), now, validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue server certificate: %w", err)
	}
	keyPEM, err = marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue server certificate: %w", err)
	}
	return encodeCertPEM(cert), keyPEM, nil
}

// addHosts adds hosts, each a DNS name or an IP address (an IPv6 address
// may be given in brackets), to tmpl's SANs once each; the first becomes the
// subject common name unless tmpl has one.
func addHosts(tmpl *x509.Certificate, hosts []string) error {
	seen := make(map[string]bool)
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if ip := net.ParseIP(h); ip != nil {
			if seen[ip.String()] {
				continue
			}
			seen[ip.String()] = true
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			if err := validateDNSName(h); err != nil {
				return err
			}
			h = strings.ToLower(h)
			if seen[h] {
				continue
			}
			seen[h] = true
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
		if tmpl.Subject.CommonName == "" {
			tmpl.Subject.CommonName = h
		}
	}
	return nil
}

// SignCSR issues a client certificate for id to the public key of the PKCS
// #10 request csrDER after checking the request's signature. Everything else
// in the request (subject, SANs, requested extensions) is ignored: the
// certificate has subject CN=id.Name, exactly one URI SAN id.URI() and
// ExtKeyUsageClientAuth. It is valid from now minus five minutes for
// validity, but never beyond the CA certificate. It returns the certificate
// as PEM and its serial as formatted by [SerialString].
//
// Accepted public keys are ECDSA (P-256, P-384, P-521), Ed25519 and RSA of at
// least 2048 bits.
func (ca *CA) SignCSR(csrDER []byte, id Identity, now time.Time, validity time.Duration) (certPEM []byte, serial string, err error) {
	if !ca.CanSign() {
		return nil, "", fmt.Errorf("pki: sign CSR: %w", ErrCannotSign)
	}
	if err := id.Validate(); err != nil {
		return nil, "", fmt.Errorf("pki: sign CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, "", fmt.Errorf("pki: sign CSR: %w: %w", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("pki: sign CSR: %w: %w", ErrBadCSR, err)
	}
	if err := checkClientKey(csr.PublicKey); err != nil {
		return nil, "", fmt.Errorf("pki: sign CSR: %w: %w", ErrBadCSR, err)
	}
	cert, err := ca.signClient(csr.PublicKey, id, now, validity)
	if err != nil {
		return nil, "", fmt.Errorf("pki: sign CSR: %w", err)
	}
	return encodeCertPEM(cert), SerialString(cert), nil
}

// IssueClient generates an ECDSA P-256 key and issues a client certificate
// for id to it, exactly as [CA.SignCSR] would. It returns the certificate and
// the PKCS #8 key as PEM, and the serial as formatted by [SerialString].
// Prefer [NewCSR] plus [CA.SignCSR] when the key can be generated where it
// is used.
func (ca *CA) IssueClient(id Identity, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, serial string, err error) {
	if !ca.CanSign() {
		return nil, nil, "", fmt.Errorf("pki: issue client certificate: %w", ErrCannotSign)
	}
	if err := id.Validate(); err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue client certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue client certificate: generate key: %w", err)
	}
	cert, err := ca.signClient(key.Public(), id, now, validity)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue client certificate: %w", err)
	}
	keyPEM, err = marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue client certificate: %w", err)
	}
	return encodeCertPEM(cert), keyPEM, SerialString(cert), nil
}

// IssueNode generates an ECDSA P-256 key and issues the certificate of the
// cluster node id: subject CN=id, exactly one URI SAN urn:ndxp:node:<id>,
// and both server and client authentication, for nodes dial each other with
// mutual TLS (see [NodeTLS]). hosts, DNS names or IP addresses as for
// [CA.IssueServer], are added as SANs when given, so that tools checking
// host names (openssl s_client, curl) accept the certificate; [NodeTLS]
// itself identifies a peer by its node URI, not by host name. It returns
// the certificate and the PKCS #8 key as PEM, and the serial as formatted
// by [SerialString].
func (ca *CA) IssueNode(id string, hosts []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, serial string, err error) {
	if !ca.CanSign() {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: %w", ErrCannotSign)
	}
	ident := NodeIdentity(id)
	if err := ident.Validate(); err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: id},
		URIs:                  []*url.URL{ident.url()},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if err := addHosts(tmpl, hosts); err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: generate key: %w", err)
	}
	cert, err := ca.sign(tmpl, key.Public(), now, validity)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: %w", err)
	}
	keyPEM, err = marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("pki: issue node certificate: %w", err)
	}
	return encodeCertPEM(cert), keyPEM, SerialString(cert), nil
}

// NewCSR generates an ECDSA P-256 key and a certificate signing request for
// id signed with it. It returns the request as DER and the PKCS #8 key as
// PEM. The private key never leaves the caller: only the request is sent to
// the hub, which signs it with [CA.SignCSR].
func NewCSR(id Identity) (csrDER, keyPEM []byte, err error) {
	if err := id.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pki: new CSR: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: new CSR: generate key: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: id.Name},
		URIs:               []*url.URL{id.url()},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}
	csrDER, err = x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: new CSR: %w", err)
	}
	keyPEM, err = marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: new CSR: %w", err)
	}
	return csrDER, keyPEM, nil
}

// SerialString returns the serial number of cert in lower-case hexadecimal
// without leading zeros. It is the credential id used for revocation. It
// returns "" for a nil certificate or serial.
func SerialString(cert *x509.Certificate) string {
	if cert == nil || cert.SerialNumber == nil {
		return ""
	}
	return cert.SerialNumber.Text(16)
}

// signClient issues a client certificate for id to pub.
func (ca *CA) signClient(pub crypto.PublicKey, id Identity, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if id.Kind == KindNode {
		// A client-only node certificate could not serve the node port.
		return nil, fmt.Errorf("%w: %s: a node certificate is issued with IssueNode", ErrInvalidIdentity, id)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: id.Name},
		URIs:                  []*url.URL{id.url()},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	return ca.sign(tmpl, pub, now, validity)
}

// sign fills in serial, validity and signature algorithm of tmpl and signs it.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("validity %v is not positive", validity)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	if !tmpl.NotAfter.After(now) {
		return nil, fmt.Errorf("CA certificate %q expired at %s", ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	alg, err := signatureAlgorithm(ca.Key.Public())
	if err != nil {
		return nil, err
	}
	tmpl.SignatureAlgorithm = alg
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// newSerial returns a random, positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// signatureAlgorithm picks a SHA-256 based algorithm for the signing key.
func signatureAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return x509.ECDSAWithSHA256, nil
	case *rsa.PublicKey:
		return x509.SHA256WithRSA, nil
	case ed25519.PublicKey:
		return x509.PureEd25519, nil
	default:
		return x509.UnknownSignatureAlgorithm, fmt.Errorf("unsupported CA key type %T", pub)
	}
}

// checkClientKey rejects public keys that are weak or of an unknown type.
func checkClientKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small, want at least 2048", k.N.BitLen())
		}
		return nil
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

func validateDNSName(h string) error {
	if h == "" {
		return errors.New("empty host name")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name %.20q... is too long", h)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.':
		case c == '*' && i == 0 && strings.HasPrefix(h, "*."):
		default:
			return fmt.Errorf("invalid host name %q", h)
		}
	}
	return nil
}

func encodeCertPEM(cert *x509.Certificate) []byte {
	if cert == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: cert.Raw})
}

// parseCertificates parses every block of data, all of which must be
// CERTIFICATE blocks.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("%w: unexpected %q block", ErrMalformedPEM, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedPEM, err)
		}
		certs = append(certs, cert)
	}
	if err := checkRest(rest); err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrMalformedPEM)
	}
	return certs, nil
}

// checkRest reports a truncated or malformed PEM block left after decoding.
func checkRest(rest []byte) error {
	if strings.Contains(string(rest), "-----BEGIN") {
		return fmt.Errorf("%w: truncated or malformed PEM block", ErrMalformedPEM)
	}
	return nil
}

// parsePrivateKeyPEM parses data holding exactly one private key block.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	var key crypto.Signer
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if key != nil {
			return nil, fmt.Errorf("%w: more than one PEM block in key data", ErrMalformedPEM)
		}
		var err error
		if key, err = parsePrivateKeyBlock(block); err != nil {
			return nil, err
		}
	}
	if err := checkRest(rest); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no private key block", ErrMalformedPEM)
	}
	return key, nil
}

// isPrivateKeyBlock reports whether typ is a private key PEM type this
// package reads.
func isPrivateKeyBlock(typ string) bool {
	return typ == pemPrivateKey || typ == pemECKey || typ == pemRSAKey
}

func parsePrivateKeyBlock(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case pemPrivateKey:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemECKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case pemRSAKey:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: unexpected %q block, want a private key", ErrMalformedPEM, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedPEM, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrMalformedPEM, key)
	}
	return signer, nil
}

func marshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
