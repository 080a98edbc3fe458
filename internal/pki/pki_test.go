package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testNow is truncated to seconds because certificates store second precision.
var testNow = time.Now().UTC().Truncate(time.Second)

const agencyCode = "000.00.00.G22"

func newTestCA(t *testing.T, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn, testNow)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", cn, err)
	}
	return ca
}

func parseCertPEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE block in %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	return cert
}

// selfSigned returns a self-signed certificate carrying the given URI SANs
// and common name, with its key as PEM, bypassing the CA's policy.
func selfSigned(t *testing.T, cn string, uris ...string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := marshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, encodeCertPEM(cert), keyPEM
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// checkNoTempFiles fails if WriteFileAtomic left temporary files in dir.
func checkNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind in %s", e.Name(), dir)
		}
	}
}

func uriStrings(us []*url.URL) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}

func TestIdentityRoundTrip(t *testing.T) {
	tests := []struct {
		id      Identity
		wantURI string
	}{
		{AgencyIdentity("000.00.00.G22"), "urn:ndxp:agency:000.00.00.G22"},
		{AgencyIdentity("000.00.00.H41"), "urn:ndxp:agency:000.00.00.H41"},
		{AdminIdentity("root"), "urn:ndxp:admin:root"},
		{AdminIdentity("ops_team-2.backup"), "urn:ndxp:admin:ops_team-2.backup"},
		{AdminIdentity(strings.Repeat("a", MaxNameLen)), "urn:ndxp:admin:" + strings.Repeat("a", MaxNameLen)},
	}
	for _, tt := range tests {
		t.Run(tt.wantURI, func(t *testing.T) {
			if got := tt.id.URI(); got != tt.wantURI {
				t.Errorf("URI() = %q, want %q", got, tt.wantURI)
			}
			if got := tt.id.String(); got != tt.wantURI {
				t.Errorf("String() = %q, want %q", got, tt.wantURI)
			}
			if err := tt.id.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			got, err := ParseIdentity(tt.wantURI)
			if err != nil {
				t.Fatalf("ParseIdentity(%q): %v", tt.wantURI, err)
			}
			if diff := cmp.Diff(tt.id, got); diff != "" {
				t.Errorf("ParseIdentity(%q) mismatch (-want +got):\n%s", tt.wantURI, diff)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{KindUnknown, "unknown"},
		{KindAgency, "agency"},
		{KindAdmin, "admin"},
		{Kind(42), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
	if got := (Identity{}).URI(); got != "" {
		t.Errorf("zero Identity URI() = %q, want empty", got)
	}
	if err := (Identity{Name: "x"}).Validate(); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("Validate() of unknown kind = %v, want %v", err, ErrInvalidIdentity)
	}
}

func TestParseIdentityRejects(t *testing.T) {
	tests := []struct {
		name string
		uri  string
	}{
		{"empty string", ""},
		{"wrong scheme", "urx:ndxp:agency:000.00.00.G22"},
		{"http scheme", "https://ndxp/agency/000.00.00.G22"},
		{"upper-case scheme", "URN:ndxp:agency:000.00.00.G22"},
		{"wrong namespace", "urn:other:agency:000.00.00.G22"},
		{"upper-case namespace", "urn:NDXP:agency:000.00.00.G22"},
		{"unknown kind", "urn:ndxp:robot:r2d2"},
		{"upper-case kind", "urn:ndxp:Agency:000.00.00.G22"},
		{"empty kind", "urn:ndxp::000.00.00.G22"},
		{"empty name", "urn:ndxp:agency:"},
		{"missing name", "urn:ndxp:agency"},
		{"extra colon", "urn:ndxp:agency:000:00"},
		{"space", "urn:ndxp:admin:john smith"},
		{"slash", "urn:ndxp:admin:a/b"},
		{"query", "urn:ndxp:admin:root?x=1"},
		{"percent escape", "urn:ndxp:admin:r%6Fot"},
		{"non-ASCII", "urn:ndxp:admin:nguyễn"},
		{"too long", "urn:ndxp:admin:" + strings.Repeat("a", MaxNameLen+1)},
		{"trailing newline", "urn:ndxp:admin:root\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIdentity(tt.uri)
			if !errors.Is(err, ErrInvalidIdentity) {
				t.Fatalf("ParseIdentity(%q) = %v, %v; want error %v", tt.uri, got, err, ErrInvalidIdentity)
			}
			if got != (Identity{}) {
				t.Errorf("ParseIdentity(%q) returned %+v with error, want zero Identity", tt.uri, got)
			}
		})
	}
}

func TestIdentityFromCert(t *testing.T) {
	tests := []struct {
		name        string
		cn          string
		uris        []string
		want        Identity
		wantErr     error
		wantInvalid bool // error must also wrap ErrInvalidIdentity
	}{
		{name: "agency", uris: []string{"urn:ndxp:agency:000.00.00.G22"}, want: AgencyIdentity(agencyCode)},
		{name: "admin among other URIs", uris: []string{"https://example.gov/x", "urn:ndxp:admin:root", "urn:isbn:0451450523"}, want: AdminIdentity("root")},
		{name: "CN is ignored", cn: "urn:ndxp:admin:root", uris: []string{"urn:ndxp:agency:000.00.00.G22"}, want: AgencyIdentity(agencyCode)},
		{name: "no URI SAN", wantErr: ErrNoIdentity},
		{name: "identity only in CN", cn: "urn:ndxp:agency:000.00.00.G22", wantErr: ErrNoIdentity},
		{name: "other URN only", uris: []string{"urn:other:agency:000.00.00.G22"}, wantErr: ErrNoIdentity},
		{name: "two URI SANs", uris: []string{"urn:ndxp:agency:000.00.00.G22", "urn:ndxp:agency:000.00.00.H41"}, wantErr: ErrNoIdentity},
		{name: "agency and admin", uris: []string{"urn:ndxp:agency:000.00.00.G22", "urn:ndxp:admin:root"}, wantErr: ErrNoIdentity},
		{name: "second identity differently cased", uris: []string{"urn:ndxp:agency:000.00.00.G22", "URN:NDXP:admin:root"}, wantErr: ErrNoIdentity},
		{name: "malformed kind", uris: []string{"urn:ndxp:robot:r2d2"}, wantErr: ErrNoIdentity, wantInvalid: true},
		{name: "malformed name", uris: []string{"urn:ndxp:agency:000.00.00.G22?admin=1"}, wantErr: ErrNoIdentity, wantInvalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, _, _ := selfSigned(t, tt.cn, tt.uris...)
			got, err := IdentityFromCert(cert)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("IdentityFromCert(URIs %q) = %v, %v; want error %v", tt.uris, got, err, tt.wantErr)
				}
				if tt.wantInvalid && !errors.Is(err, ErrInvalidIdentity) {
					t.Errorf("IdentityFromCert(URIs %q) error %v does not wrap %v", tt.uris, err, ErrInvalidIdentity)
				}
				return
			}
			if err != nil {
				t.Fatalf("IdentityFromCert(URIs %q): %v", tt.uris, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("IdentityFromCert mismatch (-want +got):\n%s", diff)
			}
		})
	}

	if _, err := IdentityFromCert(nil); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("IdentityFromCert(nil) = %v, want %v", err, ErrNoIdentity)
	}
}

func TestNewCA(t *testing.T) {
	ca := newTestCA(t, "ndxp dev CA")
	c := ca.Cert

	type summary struct {
		CN             string
		IsCA           bool
		BasicValid     bool
		MaxPathLen     int
		MaxPathLenZero bool
		KeyUsage       x509.KeyUsage
		SigAlg         x509.SignatureAlgorithm
		Curve          string
		NotBefore      time.Time
		NotAfter       time.Time
		SelfSigned     bool
		CanSign        bool
	}
	pub, _ := c.PublicKey.(*ecdsa.PublicKey)
	curve := ""
	if pub != nil {
		curve = pub.Curve.Params().Name
	}
	got := summary{
		CN: c.Subject.CommonName, IsCA: c.IsCA, BasicValid: c.BasicConstraintsValid,
		MaxPathLen: c.MaxPathLen, MaxPathLenZero: c.MaxPathLenZero, KeyUsage: c.KeyUsage,
		SigAlg: c.SignatureAlgorithm, Curve: curve,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		SelfSigned: c.CheckSignatureFrom(c) == nil, CanSign: ca.CanSign(),
	}
	want := summary{
		CN: "ndxp dev CA", IsCA: true, BasicValid: true,
		MaxPathLen: 0, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SigAlg: x509.ECDSAWithSHA256, Curve: "P-256",
		NotBefore: testNow.Add(-5 * time.Minute), NotAfter: testNow.Add(10 * 365 * 24 * time.Hour),
		SelfSigned: true, CanSign: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewCA certificate mismatch (-want +got):\n%s", diff)
	}
	if n := c.SerialNumber; n.Sign() <= 0 || n.BitLen() > 128 {
		t.Errorf("serial %s: want positive and at most 128 bits, got %d bits", n, n.BitLen())
	}
	if _, err := NewCA(" ", testNow); err == nil {
		t.Errorf("NewCA with blank common name: got nil error, want error")
	}
	other := newTestCA(t, "ndxp dev CA")
	if SerialString(ca.Cert) == SerialString(other.Cert) {
		t.Errorf("two CAs got the same serial %s", SerialString(ca.Cert))
	}
}

func TestCASaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "ca.pem")
	keyFile := filepath.Join(dir, "ca.key")
	// A pre-existing world-readable key file must end up 0600.
	if err := os.WriteFile(keyFile, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}

	ca := newTestCA(t, "ndxp test CA")
	if err := ca.Save(certFile, keyFile); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if got, want := fileMode(t, keyFile), os.FileMode(0o600); got != want {
		t.Errorf("key file mode = %v, want %v", got, want)
	}
	if got, want := fileMode(t, certFile), os.FileMode(0o644); got != want {
		t.Errorf("cert file mode = %v, want %v", got, want)
	}
	checkNoTempFiles(t, dir)

	loaded, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !bytes.Equal(loaded.Cert.Raw, ca.Cert.Raw) {
		t.Errorf("loaded certificate differs from saved one")
	}
	if !loaded.CanSign() {
		t.Fatalf("loaded CA CanSign() = false, want true")
	}
	if !publicKeysEqual(loaded.Key.Public(), ca.Key.Public()) {
		t.Errorf("loaded key differs from saved one")
	}
	if diff := cmp.Diff(ca.CertPEM(), loaded.CertPEM()); diff != "" {
		t.Errorf("CertPEM mismatch (-saved +loaded):\n%s", diff)
	}
	// The loaded CA signs certificates that verify against the original.
	certPEM, _, _, err := loaded.IssueClient(AgencyIdentity(agencyCode), testNow, time.Hour)
	if err != nil {
		t.Fatalf("IssueClient with loaded CA: %v", err)
	}
	leaf := parseCertPEM(t, certPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate from loaded CA does not verify: %v", err)
	}

	// Trust-only.
	trust, err := LoadCA(certFile, "")
	if err != nil {
		t.Fatalf("LoadCA without key: %v", err)
	}
	if trust.CanSign() || trust.Key != nil {
		t.Errorf("trust-only CA: CanSign() = %v, Key = %v; want false, nil", trust.CanSign(), trust.Key)
	}
	if err := trust.Save(filepath.Join(dir, "x.pem"), filepath.Join(dir, "x.key")); !errors.Is(err, ErrCannotSign) {
		t.Errorf("Save of trust-only CA with key file = %v, want %v", err, ErrCannotSign)
	}
	if err := trust.Save(filepath.Join(dir, "trust.pem"), ""); err != nil {
		t.Errorf("Save of trust-only CA without key file: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caCert := write("ca.pem", ca.CertPEM())
	otherKeyPEM, err := marshalPrivateKeyPEM(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := write("other.key", otherKeyPEM)
	_, leafPEM, leafKeyPEM := selfSigned(t, "leaf", "urn:ndxp:admin:root")
	leafCert := write("leaf.pem", leafPEM)
	bundle := write("bundle.pem", append(ca.CertPEM(), other.CertPEM()...))
	garbage := write("garbage.pem", []byte("not PEM at all"))
	keyAsCert := write("keyascert.pem", leafKeyPEM)

	tests := []struct {
		name             string
		certFile, keyFil string
		wantErr          error // nil: any error
	}{
		{"missing cert file", filepath.Join(dir, "nope.pem"), "", os.ErrNotExist},
		{"missing key file", caCert, filepath.Join(dir, "nope.key"), os.ErrNotExist},
		{"key of another CA", caCert, otherKey, ErrKeyMismatch},
		{"not a CA certificate", leafCert, "", nil},
		{"two certificates", bundle, "", ErrMalformedPEM},
		{"garbage", garbage, "", ErrMalformedPEM},
		{"key in cert file", keyAsCert, "", ErrMalformedPEM},
		{"cert in key file", caCert, caCert, ErrMalformedPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadCA(tt.certFile, tt.keyFil)
			if err == nil {
				t.Fatalf("LoadCA(%s, %s) = %v, nil; want error", tt.certFile, tt.keyFil, got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("LoadCA(%s, %s) error = %v, want %v", tt.certFile, tt.keyFil, err, tt.wantErr)
			}
		})
	}

	// A SEC 1 "EC PRIVATE KEY" (as written by openssl) is accepted.
	der, err := x509.MarshalECPrivateKey(ca.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := write("sec1.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if loaded, err := LoadCA(caCert, sec1); err != nil || !loaded.CanSign() {
		t.Errorf("LoadCA with SEC 1 key = %v, %v; want a signing CA", loaded, err)
	}
}

func TestIssueServer(t *testing.T) {
	ca := newTestCA(t, "ca")
	certPEM, keyPEM, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1", "[::1]", "LOCALHOST", "hub.example.gov"}, testNow, 24*time.Hour)
	if err != nil {
		t.Fatalf("IssueServer: %v", err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("server key does not match certificate: %v", err)
	}
	c := parseCertPEM(t, certPEM)
	type summary struct {
		CN        string
		DNSNames  []string
		IPs       []string
		URIs      []string
		ExtKey    []x509.ExtKeyUsage
		IsCA      bool
		SigAlg    x509.SignatureAlgorithm
		NotBefore time.Time
		NotAfter  time.Time
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	got := summary{c.Subject.CommonName, c.DNSNames, ips, uriStrings(c.URIs), c.ExtKeyUsage, c.IsCA, c.SignatureAlgorithm, c.NotBefore, c.NotAfter}
	want := summary{
		CN: "localhost", DNSNames: []string{"localhost", "hub.example.gov"}, IPs: []string{"127.0.0.1", "::1"},
		ExtKey: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, SigAlg: x509.ECDSAWithSHA256,
		NotBefore: testNow.Add(-5 * time.Minute), NotAfter: testNow.Add(24 * time.Hour),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("server certificate mismatch (-want +got):\n%s", diff)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool(), CurrentTime: testNow}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", host, err)
		}
	}

	// Validity never extends beyond the CA certificate.
	longPEM, _, err := ca.IssueServer([]string{"localhost"}, testNow, 100*365*24*time.Hour)
	if err != nil {
		t.Fatalf("IssueServer with long validity: %v", err)
	}
	if got, want := parseCertPEM(t, longPEM).NotAfter, ca.Cert.NotAfter; !got.Equal(want) {
		t.Errorf("NotAfter = %v, want capped at CA NotAfter %v", got, want)
	}

	for _, hosts := range [][]string{nil, {""}, {"bad host"}, {"a/b"}} {
		if _, _, err := ca.IssueServer(hosts, testNow, time.Hour); err == nil {
			t.Errorf("IssueServer(%q): got nil error, want error", hosts)
		}
	}
	if _, _, err := ca.IssueServer([]string{"localhost"}, testNow, 0); err == nil {
		t.Errorf("IssueServer with zero validity: got nil error, want error")
	}
}

// basicConstraintsCA is a requested extension asking for a CA certificate.
func basicConstraintsCA(t *testing.T) pkix.Extension {
	t.Helper()
	val, err := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: val}
}

func TestSignCSRIgnoresRequestedSANs(t *testing.T) {
	ca := newTestCA(t, "ca")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evil1, _ := url.Parse("urn:ndxp:admin:root")
	evil2, _ := url.Parse("urn:ndxp:agency:000.00.00.H41")
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "root", Organization: []string{"Evil"}},
		DNSNames:        []string{"hub.example.gov", "localhost"},
		IPAddresses:     []net.IP{net.ParseIP("127.0.0.1")},
		EmailAddresses:  []string{"root@example.gov"},
		URIs:            []*url.URL{evil1, evil2},
		ExtraExtensions: []pkix.Extension{basicConstraintsCA(t)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}

	id := AgencyIdentity(agencyCode)
	certPEM, serial, err := ca.SignCSR(csrDER, id, testNow, 30*24*time.Hour)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	c := parseCertPEM(t, certPEM)

	type summary struct {
		Subject    string
		URIs       []string
		DNSNames   []string
		IPs        []net.IP
		Emails     []string
		IsCA       bool
		ExtKey     []x509.ExtKeyUsage
		KeyUsage   x509.KeyUsage
		SigAlg     x509.SignatureAlgorithm
		NotBefore  time.Time
		NotAfter   time.Time
		Serial     string
		KeyMatches bool
	}
	got := summary{
		Subject: c.Subject.String(), URIs: uriStrings(c.URIs), DNSNames: c.DNSNames, IPs: c.IPAddresses,
		Emails: c.EmailAddresses, IsCA: c.IsCA, ExtKey: c.ExtKeyUsage, KeyUsage: c.KeyUsage,
		SigAlg: c.SignatureAlgorithm, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Serial: serial,
		KeyMatches: publicKeysEqual(key.Public(), c.PublicKey),
	}
	want := summary{
		Subject: "CN=" + agencyCode, URIs: []string{"urn:ndxp:agency:" + agencyCode},
		ExtKey: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		SigAlg: x509.ECDSAWithSHA256, NotBefore: testNow.Add(-5 * time.Minute), NotAfter: testNow.Add(30 * 24 * time.Hour),
		Serial: SerialString(c), KeyMatches: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("signed certificate mismatch (-want +got):\n%s", diff)
	}
	gotID, err := IdentityFromCert(c)
	if err != nil {
		t.Fatalf("IdentityFromCert: %v", err)
	}
	if gotID != id {
		t.Errorf("IdentityFromCert = %v, want %v", gotID, id)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: testNow, DNSName: "hub.example.gov"}); err == nil {
		t.Errorf("client certificate verifies as server hub.example.gov, want failure")
	}
}

func TestSignCSRRejects(t *testing.T) {
	ca := newTestCA(t, "ca")
	good, _, err := NewCSR(AgencyIdentity(agencyCode))
	if err != nil {
		t.Fatalf("NewCSR: %v", err)
	}
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 0xff
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	trust := &CA{Cert: ca.Cert}

	tests := []struct {
		name     string
		ca       *CA
		csr      []byte
		id       Identity
		validity time.Duration
		wantErr  error // nil: any error
	}{
		{"tampered signature", ca, tampered, AgencyIdentity(agencyCode), time.Hour, ErrBadCSR},
		{"garbage", ca, []byte("garbage"), AgencyIdentity(agencyCode), time.Hour, ErrBadCSR},
		{"PEM instead of DER", ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}), AgencyIdentity(agencyCode), time.Hour, ErrBadCSR},
		{"weak RSA key", ca, weak, AgencyIdentity(agencyCode), time.Hour, ErrBadCSR},
		{"invalid identity", ca, good, AgencyIdentity("bad code"), time.Hour, ErrInvalidIdentity},
		{"unknown kind", ca, good, Identity{Name: "x"}, time.Hour, ErrInvalidIdentity},
		{"trust-only CA", trust, good, AgencyIdentity(agencyCode), time.Hour, ErrCannotSign},
		{"zero validity", ca, good, AgencyIdentity(agencyCode), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := tt.ca.SignCSR(tt.csr, tt.id, testNow, tt.validity)
			if err == nil {
				t.Fatalf("SignCSR = %q, nil; want error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("SignCSR error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, _, _, err := trust.IssueClient(AgencyIdentity(agencyCode), testNow, time.Hour); !errors.Is(err, ErrCannotSign) {
		t.Errorf("IssueClient with trust-only CA = %v, want %v", err, ErrCannotSign)
	}
	if _, _, err := trust.IssueServer([]string{"localhost"}, testNow, time.Hour); !errors.Is(err, ErrCannotSign) {
		t.Errorf("IssueServer with trust-only CA = %v, want %v", err, ErrCannotSign)
	}
	if _, _, err := NewCSR(AdminIdentity("")); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("NewCSR with empty name = %v, want %v", err, ErrInvalidIdentity)
	}
}

func TestNewCSRSignAndEncode(t *testing.T) {
	ca := newTestCA(t, "ca")
	id := AdminIdentity("root")
	csrDER, keyPEM, err := NewCSR(id)
	if err != nil {
		t.Fatalf("NewCSR: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatalf("ParseCertificateRequest: %v", err)
	}
	if diff := cmp.Diff([]string{id.URI()}, uriStrings(csr.URIs)); diff != "" {
		t.Errorf("CSR URIs mismatch (-want +got):\n%s", diff)
	}
	certPEM, serial, err := ca.SignCSR(csrDER, id, testNow, time.Hour)
	if err != nil {
		t.Fatalf("SignCSR: %v", err)
	}
	data, err := EncodeCreds("hub.example.gov:7443", ca.CertPEM(), certPEM, keyPEM)
	if err != nil {
		t.Fatalf("EncodeCreds with key from NewCSR: %v", err)
	}
	creds, err := ParseCreds(data)
	if err != nil {
		t.Fatalf("ParseCreds: %v", err)
	}
	if creds.Identity != id || SerialString(creds.Leaf) != serial {
		t.Errorf("ParseCreds: identity %v serial %s, want %v %s", creds.Identity, SerialString(creds.Leaf), id, serial)
	}
}

func TestSerialString(t *testing.T) {
	tests := []struct {
		cert *x509.Certificate
		want string
	}{
		{&x509.Certificate{SerialNumber: big.NewInt(0xABCDEF)}, "abcdef"},
		{&x509.Certificate{SerialNumber: big.NewInt(1)}, "1"},
		{&x509.Certificate{}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := SerialString(tt.cert); got != tt.want {
			t.Errorf("SerialString(%v) = %q, want %q", tt.cert, got, tt.want)
		}
	}
	ca := newTestCA(t, "ca")
	_, _, serial, err := ca.IssueClient(AgencyIdentity(agencyCode), testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if serial != strings.ToLower(serial) || len(serial) == 0 || len(serial) > 32 {
		t.Errorf("serial %q: want 1-32 lower-case hex digits", serial)
	}
}

// testCreds holds PEM material for credentials tests.
type testCreds struct {
	ca                 *CA
	caPEM              []byte
	certPEM, keyPEM    []byte
	otherKeyPEM        []byte
	serial             string
	noIDCert, noIDKey  []byte
	id                 Identity
	address, hubHeader string
}

func newTestCreds(t *testing.T) *testCreds {
	t.Helper()
	ca := newTestCA(t, "ca")
	id := AgencyIdentity("000.00.00.H41")
	certPEM, keyPEM, serial, err := ca.IssueClient(id, testNow, 24*time.Hour)
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	_, otherKeyPEM, _, err := ca.IssueClient(id, testNow, 24*time.Hour)
	if err != nil {
		t.Fatalf("IssueClient: %v", err)
	}
	_, noIDCert, noIDKey := selfSigned(t, "no identity")
	return &testCreds{
		ca: ca, caPEM: ca.CertPEM(), certPEM: certPEM, keyPEM: keyPEM, otherKeyPEM: otherKeyPEM,
		serial: serial, noIDCert: noIDCert, noIDKey: noIDKey, id: id,
		address: "hub.example.gov:7443", hubHeader: string(hubBlock("hub.example.gov:7443")),
	}
}

func hubBlock(address string) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "NDXP HUB", Headers: map[string]string{"Address": address}})
}

func TestCredsRoundTrip(t *testing.T) {
	tc := newTestCreds(t)
	dir := t.TempDir()
	tests := []struct {
		name     string
		address  string
		existing os.FileMode // 0: no pre-existing file
	}{
		{"new file", "hub.example.gov:7443", 0},
		{"overwrite 0644 file", "hub.example.gov:7443", 0o644},
		{"overwrite 0666 file", "10.0.0.1:7443", 0o666},
		{"IPv6 address", "[::1]:7443", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "creds"+string(rune('a'+i))+".pem")
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old contents"), tt.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteCreds(path, tt.address, tc.caPEM, tc.certPEM, tc.keyPEM); err != nil {
				t.Fatalf("WriteCreds: %v", err)
			}
			if got, want := fileMode(t, path), os.FileMode(0o600); got != want {
				t.Errorf("credentials file mode = %v, want %v", got, want)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantFirst := "# ndxp credentials for urn:ndxp:agency:000.00.00.H41 — keep secret"
			if first, _, _ := strings.Cut(string(raw), "\n"); first != wantFirst {
				t.Errorf("first line = %q, want %q", first, wantFirst)
			}

			creds, err := ReadCreds(path)
			if err != nil {
				t.Fatalf("ReadCreds: %v", err)
			}
			type summary struct {
				Address    string
				Identity   Identity
				CACerts    [][]byte
				Leaf       []byte
				Chain      [][]byte
				TLSLeaf    []byte
				KeyMatches bool
				Serial     string
			}
			var cas [][]byte
			for _, c := range creds.CACerts {
				cas = append(cas, c.Raw)
			}
			leaf := parseCertPEM(t, tc.certPEM)
			got := summary{
				Address: creds.Address, Identity: creds.Identity, CACerts: cas, Leaf: creds.Leaf.Raw,
				Chain: creds.Cert.Certificate, TLSLeaf: creds.Cert.Leaf.Raw,
				KeyMatches: publicKeysEqual(creds.Cert.PrivateKey.(crypto.Signer).Public(), leaf.PublicKey),
				Serial:     SerialString(creds.Leaf),
			}
			want := summary{
				Address: tt.address, Identity: tc.id, CACerts: [][]byte{tc.ca.Cert.Raw}, Leaf: leaf.Raw,
				Chain: [][]byte{leaf.Raw}, TLSLeaf: leaf.Raw, KeyMatches: true, Serial: tc.serial,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReadCreds mismatch (-want +got):\n%s", diff)
			}
		})
	}
	checkNoTempFiles(t, dir)
}

func TestParseCredsMultipleCAsAnyOrder(t *testing.T) {
	tc := newTestCreds(t)
	other := newTestCA(t, "other root")
	// Client certificate first, key in the middle, CAs last, with comments:
	// the client certificate is found by its key, not by position.
	data := strings.Join([]string{
		"some comment\n", string(tc.certPEM), string(tc.keyPEM), "more text\n",
		string(other.CertPEM()), tc.hubHeader, string(tc.caPEM),
	}, "")
	creds, err := ParseCreds([]byte(data))
	if err != nil {
		t.Fatalf("ParseCreds: %v", err)
	}
	var got [][]byte
	for _, c := range creds.CACerts {
		got = append(got, c.Raw)
	}
	if diff := cmp.Diff([][]byte{other.Cert.Raw, tc.ca.Cert.Raw}, got); diff != "" {
		t.Errorf("CACerts mismatch (-want +got):\n%s", diff)
	}
	if creds.Identity != tc.id {
		t.Errorf("Identity = %v, want %v", creds.Identity, tc.id)
	}
}

func TestParseCredsFailures(t *testing.T) {
	tc := newTestCreds(t)
	full, err := EncodeCreds(tc.address, tc.caPEM, tc.certPEM, tc.keyPEM)
	if err != nil {
		t.Fatalf("EncodeCreds: %v", err)
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hub := []byte(tc.hubHeader)

	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"no key", join(hub, tc.caPEM, tc.certPEM), ErrNoClientKey},
		{"key not matching cert", join(hub, tc.caPEM, tc.certPEM, tc.otherKeyPEM), ErrKeyMismatch},
		{"no address block", join(tc.caPEM, tc.certPEM, tc.keyPEM), ErrNoAddress},
		{"empty address", join(hubBlock(""), tc.caPEM, tc.certPEM, tc.keyPEM), ErrNoAddress},
		{"address without port", join(hubBlock("hub.example.gov"), tc.caPEM, tc.certPEM, tc.keyPEM), ErrNoAddress},
		{"address without host", join(hubBlock(":7443"), tc.caPEM, tc.certPEM, tc.keyPEM), ErrNoAddress},
		{"no CA", join(hub, tc.certPEM, tc.keyPEM), ErrNoCACert},
		{"no certificates", join(hub, tc.keyPEM), ErrNoClientCert},
		{"client cert without identity", join(hub, tc.caPEM, tc.noIDCert, tc.noIDKey), ErrNoIdentity},
		{"two keys", join(hub, tc.caPEM, tc.certPEM, tc.keyPEM, tc.otherKeyPEM), ErrMalformedPEM},
		{"two hub blocks", join(hub, hub, tc.caPEM, tc.certPEM, tc.keyPEM), ErrMalformedPEM},
		{"unknown block", join(full, pem.EncodeToMemory(&pem.Block{Type: "SECRET", Bytes: []byte("x")})), ErrMalformedPEM},
		{"truncated", full[:len(full)-40], ErrMalformedPEM},
		{"corrupt certificate", join(hub, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), tc.certPEM, tc.keyPEM), ErrMalformedPEM},
		{"corrupt key", join(hub, tc.caPEM, tc.certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})), ErrMalformedPEM},
		{"garbage", []byte("this is not a credentials file\n"), ErrMalformedPEM},
		{"empty", nil, ErrMalformedPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCreds(tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseCreds = %+v, %v; want error %v", got, err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("ParseCreds returned %+v with error, want nil", got)
			}
		})
	}
}

func TestReadCredsErrorNamesFile(t *testing.T) {
	tc := newTestCreds(t)
	dir := t.TempDir()
	tests := []struct {
		name     string
		data     []byte // nil: file does not exist
		wantErr  error
		wantText string
	}{
		{"no client key", bytes.Join([][]byte{[]byte(tc.hubHeader), tc.caPEM, tc.certPEM}, nil), ErrNoClientKey, "no client key"},
		{"no hub address", bytes.Join([][]byte{tc.caPEM, tc.certPEM, tc.keyPEM}, nil), ErrNoAddress, "no hub address"},
		{"missing file", nil, os.ErrNotExist, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".pem")
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadCreds(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadCreds error = %v, want %v", err, tt.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("ReadCreds error = %q, want it to contain %q and %q", msg, path, tt.wantText)
			}
		})
	}
}

func TestEncodeCredsFailures(t *testing.T) {
	tc := newTestCreds(t)
	tests := []struct {
		name                string
		address             string
		caPEM, cert, keyPEM []byte
		wantErr             error
	}{
		{"key not matching cert", tc.address, tc.caPEM, tc.certPEM, tc.otherKeyPEM, ErrKeyMismatch},
		{"no address", "", tc.caPEM, tc.certPEM, tc.keyPEM, ErrNoAddress},
		{"address without port", "hub.example.gov", tc.caPEM, tc.certPEM, tc.keyPEM, ErrNoAddress},
		{"address with newline", "hub:1\n-----BEGIN X-----", tc.caPEM, tc.certPEM, tc.keyPEM, ErrNoAddress},
		{"no CA", tc.address, nil, tc.certPEM, tc.keyPEM, ErrMalformedPEM},
		{"key in CA PEM", tc.address, append(bytes.Clone(tc.caPEM), tc.keyPEM...), tc.certPEM, tc.keyPEM, ErrMalformedPEM},
		{"no key", tc.address, tc.caPEM, tc.certPEM, nil, ErrMalformedPEM},
		{"two client certs", tc.address, tc.caPEM, append(bytes.Clone(tc.certPEM), tc.caPEM...), tc.keyPEM, ErrMalformedPEM},
		{"client cert as CA", tc.address, append(bytes.Clone(tc.caPEM), tc.certPEM...), tc.certPEM, tc.keyPEM, ErrMalformedPEM},
		{"cert without identity", tc.address, tc.caPEM, tc.noIDCert, tc.noIDKey, ErrNoIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeCreds(tt.address, tt.caPEM, tt.cert, tt.keyPEM)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("EncodeCreds = %q, %v; want error %v", got, err, tt.wantErr)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "creds.pem")
	if err := WriteCreds(path, tc.address, tc.caPEM, tc.certPEM, tc.otherKeyPEM); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("WriteCreds with mismatched key = %v, want %v", err, ErrKeyMismatch)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteCreds failure left a file behind: stat error %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		existing os.FileMode // 0: no pre-existing file
		perm     os.FileMode
		data     string
	}{
		{"new secret", 0, 0o600, "secret"},
		{"replace world-readable with secret", 0o644, 0o600, "secret 2"},
		{"replace secret with public", 0o600, 0o644, "public"},
		{"empty data", 0, 0o600, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "file"+string(rune('a'+i)))
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old contents that are longer"), tt.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(path, []byte(tt.data), tt.perm); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.data {
				t.Errorf("contents = %q, want %q", got, tt.data)
			}
			if got, want := fileMode(t, path), tt.perm; got != want {
				t.Errorf("mode = %v, want %v", got, want)
			}
		})
	}
	checkNoTempFiles(t, dir)
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Errorf("WriteFileAtomic into a missing directory: got nil error, want error")
	}
}

func TestTLSConfigs(t *testing.T) {
	tc := newTestCreds(t)
	creds, err := ParseCreds(mustEncode(t, tc.address, tc.caPEM, tc.certPEM, tc.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cc := creds.ClientTLS()
	if cc.MinVersion != tls.VersionTLS13 || len(cc.Certificates) != 1 || cc.RootCAs == nil {
		t.Errorf("ClientTLS: MinVersion %#x, %d certificates, RootCAs %v; want TLS 1.3, 1, non-nil",
			cc.MinVersion, len(cc.Certificates), cc.RootCAs)
	}
	certPEM, keyPEM, err := tc.ca.IssueServer([]string{"localhost"}, testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerTLS(tc.ca.Pool(), certPEM, keyPEM)
	if err != nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	if sc.ClientAuth != tls.RequireAndVerifyClientCert || sc.MinVersion != tls.VersionTLS12 || !cmp.Equal(sc.NextProtos, []string{"h2"}) {
		t.Errorf("ServerTLS: ClientAuth %v, MinVersion %#x, NextProtos %q; want RequireAndVerifyClientCert, TLS 1.2, [h2]",
			sc.ClientAuth, sc.MinVersion, sc.NextProtos)
	}
	if _, err := ServerTLS(nil, certPEM, keyPEM); err == nil {
		t.Errorf("ServerTLS with nil pool: got nil error, want error")
	}
	if _, err := ServerTLS(tc.ca.Pool(), certPEM, tc.keyPEM); err == nil {
		t.Errorf("ServerTLS with mismatched key: got nil error, want error")
	}
}

func mustEncode(t *testing.T, address string, caPEM, certPEM, keyPEM []byte) []byte {
	t.Helper()
	data, err := EncodeCreds(address, caPEM, certPEM, keyPEM)
	if err != nil {
		t.Fatalf("EncodeCreds: %v", err)
	}
	return data
}

type serverResult struct {
	id      Identity
	version uint16
	err     error
}

// serveOnce accepts one connection on ln, performs the TLS handshake, takes
// the peer identity from the verified chain and answers "ok\n".
func serveOnce(ln net.Listener, cfg *tls.Config, out chan<- serverResult) {
	conn, err := ln.Accept()
	if err != nil {
		out <- serverResult{err: err}
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Server(conn, cfg)
	if err := tc.HandshakeContext(context.Background()); err != nil {
		out <- serverResult{err: err}
		return
	}
	state := tc.ConnectionState()
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		out <- serverResult{err: errors.New("no verified chain")}
		return
	}
	id, err := IdentityFromCert(state.VerifiedChains[0][0])
	if err != nil {
		out <- serverResult{err: err}
		return
	}
	if _, err := io.WriteString(tc, "ok\n"); err != nil {
		out <- serverResult{err: err}
		return
	}
	out <- serverResult{id: id, version: state.Version}
}

func TestMutualTLSHandshake(t *testing.T) {
	now := time.Now()
	hubCA, err := NewCA("ndxp hub CA", now)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := NewCA("some other CA", now)
	if err != nil {
		t.Fatal(err)
	}
	type material struct{ certPEM, keyPEM []byte }
	issueServer := func(ca *CA) material {
		c, k, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"}, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return material{c, k}
	}
	issueClient := func(ca *CA, id Identity) material {
		c, k, _, err := ca.IssueClient(id, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return material{c, k}
	}
	agency := AgencyIdentity(agencyCode)

	tests := []struct {
		name         string
		server       material
		client       material
		clientTrusts *CA
		// forceCert makes the client present its certificate even when it
		// was not issued by a CA the server asks for. Go clients otherwise
		// withhold such a certificate; a hostile client would not.
		forceCert bool
		wantID    Identity
		wantErr   bool
		// wantServerErr, if set, must appear in the server's handshake error.
		wantServerErr string
	}{
		{"agency", issueServer(hubCA), issueClient(hubCA, agency), hubCA, false, agency, false, ""},
		{"agency, certificate forced", issueServer(hubCA), issueClient(hubCA, agency), hubCA, true, agency, false, ""},
		{"admin", issueServer(hubCA), issueClient(hubCA, AdminIdentity("root")), hubCA, false, AdminIdentity("root"), false, ""},
		{"client cert from a different CA", issueServer(hubCA), issueClient(otherCA, agency), hubCA, false, Identity{}, true, "didn't provide a certificate"},
		{"client cert from a different CA, presented anyway", issueServer(hubCA), issueClient(otherCA, agency), hubCA, true, Identity{}, true, "unknown authority"},
		{"server cert from an untrusted CA", issueServer(otherCA), issueClient(hubCA, agency), hubCA, false, Identity{}, true, "bad certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()

			serverCfg, err := ServerTLS(hubCA.Pool(), tt.server.certPEM, tt.server.keyPEM)
			if err != nil {
				t.Fatalf("ServerTLS: %v", err)
			}
			creds, err := ParseCreds(mustEncode(t, ln.Addr().String(), tt.clientTrusts.CertPEM(), tt.client.certPEM, tt.client.keyPEM))
			if err != nil {
				t.Fatalf("ParseCreds: %v", err)
			}
			results := make(chan serverResult, 1)
			go serveOnce(ln, serverCfg, results)

			clientCfg := creds.ClientTLS()
			if tt.forceCert {
				clientCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &creds.Cert, nil
				}
			}
			var clientErr error
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", creds.Address, clientCfg)
			if err != nil {
				clientErr = err
			} else {
				// With TLS 1.3 the client finishes its handshake before the
				// server has checked the client certificate; a rejection
				// surfaces on the first read.
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 3)
				if _, err := io.ReadFull(conn, buf); err != nil {
					clientErr = err
				} else if string(buf) != "ok\n" {
					clientErr = errors.New("unexpected reply " + string(buf))
				}
				conn.Close()
			}
			var res serverResult
			select {
			case res = <-results:
			case <-time.After(15 * time.Second):
				t.Fatal("server did not finish")
			}

			if tt.wantErr {
				if res.err == nil || clientErr == nil {
					t.Fatalf("server error %v, client error %v; want both to fail", res.err, clientErr)
				}
				if !strings.Contains(res.err.Error(), tt.wantServerErr) {
					t.Errorf("server error %q, want it to contain %q", res.err, tt.wantServerErr)
				}
				t.Logf("server error: %v; client error: %v", res.err, clientErr)
				return
			}
			if res.err != nil || clientErr != nil {
				t.Fatalf("server error %v, client error %v; want success", res.err, clientErr)
			}
			if res.id != tt.wantID {
				t.Errorf("server saw identity %v, want %v", res.id, tt.wantID)
			}
			if res.version != tls.VersionTLS13 {
				t.Errorf("negotiated TLS version %#x, want TLS 1.3 (%#x)", res.version, tls.VersionTLS13)
			}
		})
	}
}
