package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

const (
	pemHub        = "NDXP HUB"
	headerAddress = "Address"
	// headerOthers lists a cluster's other nodes, comma-separated. They
	// are not folded into Address, so that an SDK older than clusters
	// still reads the file, and dials the first node.
	headerOthers = "Other-Addresses"
)

// Creds are the contents of a credentials file: where the hub is, which CAs
// to trust when verifying it and the client certificate to present.
type Creds struct {
	Address string // hub gRPC address host:port: the first of Addresses
	// Addresses are every address of the hub, host:port, in the order to
	// try them: one for a single hub, one per node for a cluster.
	Addresses []string
	Identity  Identity // informational; derived from the client cert when read
	CACerts   []*x509.Certificate
	Cert      tls.Certificate // client cert + key
	Leaf      *x509.Certificate
}

// EncodeCreds returns the contents of a credentials file for the hub at
// address: host:port, or for a cluster several host:port separated by
// commas, tried in that order (see [ParseAddresses]). The file names the
// first in its Address header, the others in an Other-Addresses header,
// which readers from before clusters ignore. It trusts the CA certificates in caPEM and presenting
// the client certificate certPEM (exactly one certificate) with its key
// keyPEM. It checks that the key matches the certificate and that the
// certificate names an ndxp identity. The key is written as PKCS #8
// whatever its input format.
func EncodeCreds(address string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	addrs, err := ParseAddresses(address)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: %w", err)
	}
	cas, err := parseCertificates(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: CA certificates: %w", err)
	}
	leaves, err := parseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: client certificate: %w", err)
	}
	if len(leaves) != 1 {
		return nil, fmt.Errorf("pki: encode credentials: client certificate: %w: found %d certificates, want exactly one",
			ErrMalformedPEM, len(leaves))
	}
	leaf := leaves[0]
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: client key: %w", err)
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		return nil, fmt.Errorf("pki: encode credentials: %w", ErrKeyMismatch)
	}
	for _, ca := range cas {
		if bytes.Equal(ca.Raw, leaf.Raw) {
			return nil, fmt.Errorf("pki: encode credentials: %w: client certificate is also listed as a CA certificate", ErrMalformedPEM)
		}
	}
	id, err := IdentityFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: %w", err)
	}
	keyOut, err := marshalPrivateKeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode credentials: %w", err)
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# ndxp credentials for %s — keep secret\n", id)
	fmt.Fprintf(&buf, "# Anyone holding this file can act as %s at the hub.\n", id)
	fmt.Fprintf(&buf, "# hub %s, certificate serial %s, valid until %s\n",
		strings.Join(addrs, ", "), SerialString(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	buf.WriteString("# Blocks: hub address, CA certificate(s), client certificate, client key.\n")
	headers := map[string]string{headerAddress: addrs[0]}
	if len(addrs) > 1 {
		headers[headerOthers] = strings.Join(addrs[1:], ", ")
	}
	if err := pem.Encode(&buf, &pem.Block{Type: pemHub, Headers: headers}); err != nil {
		return nil, fmt.Errorf("pki: encode credentials: %w", err)
	}
	for _, ca := range cas {
		buf.Write(encodeCertPEM(ca))
	}
	buf.Write(encodeCertPEM(leaf))
	buf.Write(keyOut)
	return buf.Bytes(), nil
}

// WriteCreds encodes credentials as [EncodeCreds] does and writes them to
// path with [WriteFileAtomic] and mode 0600, replacing any existing file and
// its mode.
func WriteCreds(path, address string, caPEM, certPEM, keyPEM []byte) error {
	data, err := EncodeCreds(address, caPEM, certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("credentials file %s: %w", path, err)
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("pki: write credentials: %w", err)
	}
	return nil
}

// ParseCreds parses the contents of a credentials file. Text outside PEM
// blocks is ignored. It requires exactly one NDXP HUB block with a valid
// Address header, exactly one private key, a CERTIFICATE whose public key
// matches the key (the client certificate) and at least one other
// CERTIFICATE (the CA roots). The client certificate must name an ndxp
// identity. Errors wrap [ErrNoAddress], [ErrNoClientKey], [ErrNoClientCert],
// [ErrKeyMismatch], [ErrNoCACert], [ErrNoIdentity] or [ErrMalformedPEM].
func ParseCreds(data []byte) (*Creds, error) {
	b, err := credsBlocks(data)
	if err != nil {
		return nil, err
	}
	if b.hub == nil {
		return nil, fmt.Errorf("%w: no %s block", ErrNoAddress, pemHub)
	}
	address := b.hub.Headers[headerAddress]
	if err := checkAddress(address); err != nil {
		return nil, err
	}
	addrs := []string{address}
	if others, ok := b.hub.Headers[headerOthers]; ok {
		more, err := ParseAddresses(address + "," + others)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", headerOthers, err)
		}
		addrs = more
	}
	if b.key == nil {
		return nil, ErrNoClientKey
	}
	if len(b.certs) == 0 {
		return nil, ErrNoClientCert
	}
	leaf, cas, err := splitCerts(b.certs, b.key)
	if err != nil {
		return nil, err
	}
	id, err := IdentityFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &Creds{
		Address:   address,
		Addresses: addrs,
		Identity:  id,
		CACerts:   cas,
		Cert: tls.Certificate{
			Certificate: [][]byte{leaf.Raw},
			PrivateKey:  b.key,
			Leaf:        leaf,
		},
		Leaf: leaf,
	}, nil
}

// credsPEM is what a credentials file's PEM blocks hold.
type credsPEM struct {
	hub   *pem.Block
	certs []*x509.Certificate
	key   crypto.Signer
}

// credsBlocks reads every PEM block of a credentials file: one hub block
// at most, one private key at most, certificates, and nothing else.
func credsBlocks(data []byte) (credsPEM, error) {
	var b credsPEM
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == pemHub:
			if b.hub != nil {
				return b, fmt.Errorf("%w: more than one %s block", ErrMalformedPEM, pemHub)
			}
			b.hub = block
		case block.Type == pemCertificate:
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return b, fmt.Errorf("%w: certificate: %w", ErrMalformedPEM, err)
			}
			b.certs = append(b.certs, cert)
		case isPrivateKeyBlock(block.Type):
			if b.key != nil {
				return b, fmt.Errorf("%w: more than one private key", ErrMalformedPEM)
			}
			k, err := parsePrivateKeyBlock(block)
			if err != nil {
				return b, err
			}
			b.key = k
		default:
			return b, fmt.Errorf("%w: unexpected %q block", ErrMalformedPEM, block.Type)
		}
	}
	if err := checkRest(rest); err != nil {
		return b, err
	}
	if b.hub == nil && b.certs == nil && b.key == nil {
		return b, fmt.Errorf("%w: not a credentials file: no PEM blocks", ErrMalformedPEM)
	}
	return b, nil
}

// splitCerts finds the client certificate (the one whose public key is the
// key's) among certs; the others are the CA roots.
func splitCerts(certs []*x509.Certificate, key crypto.Signer) (leaf *x509.Certificate, cas []*x509.Certificate, err error) {
	for _, cert := range certs {
		if !publicKeysEqual(key.Public(), cert.PublicKey) {
			cas = append(cas, cert)
			continue
		}
		if leaf != nil {
			return nil, nil, fmt.Errorf("%w: more than one certificate matches the client key", ErrMalformedPEM)
		}
		leaf = cert
	}
	if leaf == nil {
		return nil, nil, fmt.Errorf("%w: no certificate matches the client key", ErrKeyMismatch)
	}
	if len(cas) == 0 {
		return nil, nil, ErrNoCACert
	}
	return leaf, cas, nil
}

// MaxCredsSize bounds a credentials file. One holds a few KiB of PEM (the
// hub address, CA certificates, a certificate and its key); the bound
// keeps a wrong path (a log file, /dev/zero) from being read into memory.
const MaxCredsSize = 1 << 20

// ReadCreds reads and parses the credentials file at path. Errors name the
// file and what is wrong with it, e.g.
// "credentials file /etc/ndxp/agency.pem: no client key".
//
// Like ssh with a private key, it refuses a file its group or others may
// access, with [ErrTooOpen] and the chmod to run (not on Windows). It
// refuses a file larger than [MaxCredsSize] ([ErrTooLarge]) and a path
// that is not a regular file or a pipe ([ErrNotRegular]).
func ReadCreds(path string) (*Creds, error) {
	data, err := readPrivateFile(path, MaxCredsSize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("credentials file %s does not exist: %w", path, err)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("credentials file: %w", err) // names the path already
		}
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	c, err := ParseCreds(data)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// ParseAddresses splits a list of hub addresses separated by commas (and
// optional spaces), "node1:7443, node2:7443", and checks each is host:port.
// A single address is a list of one. An empty entry or a repeated address is
// an error: a list is an operator's intent, and a typo in it should not
// quietly shorten the cluster. Errors wrap [ErrNoAddress].
func ParseAddresses(list string) ([]string, error) {
	var addrs []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if err := checkAddress(a); err != nil {
			if a == "" && strings.Contains(list, ",") {
				return nil, fmt.Errorf("%w: empty entry in %q", ErrNoAddress, list)
			}
			return nil, err
		}
		if slices.Contains(addrs, a) {
			return nil, fmt.Errorf("%w: %s is listed twice", ErrNoAddress, a)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// checkAddress validates a hub address: host:port with a non-empty host and
// port and only printable ASCII, so that it cannot break the PEM header.
func checkAddress(address string) error {
	if address == "" {
		return ErrNoAddress
	}
	for i := 0; i < len(address); i++ {
		if c := address[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: address %q contains invalid character %q", ErrNoAddress, address, c)
		}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoAddress, err)
	}
	if host == "" || port == "" {
		return fmt.Errorf("%w: address %q needs both host and port", ErrNoAddress, address)
	}
	return nil
}

// ClientTLS returns a TLS configuration for connecting to the hub: it trusts
// only CACerts, presents Cert and requires TLS 1.3. ServerName is left empty;
// gRPC and [tls.Dial] derive it from the address dialed.
func (c *Creds) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	for _, ca := range c.CACerts {
		pool.AddCert(ca)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{c.Cert},
		MinVersion:   tls.VersionTLS13,
	}
}

// ServerTLS returns the hub's TLS configuration: it presents the server
// certificate (certPEM may hold a chain) with keyPEM, requires and verifies a
// client certificate issued by a CA in ca, accepts TLS 1.2 and later (so
// that tools like grpcurl work) and offers ALPN "h2". The identity of a peer
// is then [IdentityFromCert] of the first certificate of its verified chain.
func ServerTLS(ca *x509.CertPool, certPEM, keyPEM []byte) (*tls.Config, error) {
	if ca == nil {
		return nil, errors.New("pki: server TLS: no client CA pool")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: server TLS: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}, nil
}
