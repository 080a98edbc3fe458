package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"
)

// credsErrors are the errors ParseCreds documents; each refusal wraps one.
var credsErrors = []error{ErrNoAddress, ErrNoClientKey, ErrNoClientCert, ErrKeyMismatch, ErrNoCACert, ErrNoIdentity, ErrMalformedPEM}

// FuzzParseCreds feeds the credentials-file parser any bytes. It must
// never panic; a refusal wraps one of the documented errors; and what it
// accepts is consistent (the key is the certificate's, the identity is the
// certificate's, the address is valid, the CAs are not the client
// certificate) and survives EncodeCreds and a second ParseCreds unchanged.
func FuzzParseCreds(f *testing.F) {
	now := time.Now()
	ca, err := NewCA("fuzz CA", now)
	if err != nil {
		f.Fatal(err)
	}
	other, err := NewCA("other CA", now)
	if err != nil {
		f.Fatal(err)
	}
	certPEM, keyPEM, _, err := ca.IssueClient(AgencyIdentity("000.00.00.H41"), now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	adminCert, adminKey, _, err := ca.IssueClient(AdminIdentity("root"), now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	good, err := EncodeCreds("hub.example.gov:7443", ca.CertPEM(), certPEM, keyPEM)
	if err != nil {
		f.Fatal(err)
	}
	admin, err := EncodeCreds("[::1]:7443", append(other.CertPEM(), ca.CertPEM()...), adminCert, adminKey)
	if err != nil {
		f.Fatal(err)
	}
	// The key as SEC 1 ("EC PRIVATE KEY"), as older tools write it.
	block, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		f.Fatal(err)
	}
	ecKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	hub := hubBlock("hub.example.gov:7443")
	for _, seed := range [][]byte{
		good,
		admin,
		bytes.Join([][]byte{hub, ca.CertPEM(), certPEM, ecKey}, nil),
		bytes.Join([][]byte{certPEM, keyPEM, []byte("comment\n"), hub, ca.CertPEM()}, nil),
		bytes.Join([][]byte{hub, certPEM, keyPEM}, nil),         // no CA
		bytes.Join([][]byte{hub, ca.CertPEM(), keyPEM}, nil),    // no client certificate
		bytes.Join([][]byte{hub, hub, ca.CertPEM(), good}, nil), // two hub blocks
		hubBlock("hub\x00:1"),
		good[:len(good)/2], // truncated
		[]byte("-----BEGIN NDXP HUB-----\nAddress: a:1\n\n-----END NDXP HUB-----\n"),
		[]byte("not a credentials file"),
		nil,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCreds(data)
		if err != nil {
			known := false
			for _, e := range credsErrors {
				known = known || errors.Is(err, e)
			}
			if !known {
				t.Fatalf("ParseCreds error %v wraps none of the documented errors", err)
			}
			if c != nil {
				t.Fatalf("ParseCreds returned credentials and error %v", err)
			}
			return
		}
		if err := checkAddress(c.Address); err != nil {
			t.Fatalf("accepted address %q: %v", c.Address, err)
		}
		if c.Leaf == nil || c.Cert.Leaf != c.Leaf || len(c.Cert.Certificate) != 1 || !bytes.Equal(c.Cert.Certificate[0], c.Leaf.Raw) {
			t.Fatal("the TLS certificate is not the client certificate")
		}
		key, ok := c.Cert.PrivateKey.(crypto.Signer)
		if !ok || !publicKeysEqual(key.Public(), c.Leaf.PublicKey) {
			t.Fatal("the key does not match the client certificate")
		}
		if id, err := IdentityFromCert(c.Leaf); err != nil || id != c.Identity {
			t.Fatalf("identity %v, the certificate's is %v (%v)", c.Identity, id, err)
		}
		if len(c.CACerts) == 0 {
			t.Fatal("no CA certificate")
		}
		var caPEM []byte
		for _, ca := range c.CACerts {
			if bytes.Equal(ca.Raw, c.Leaf.Raw) {
				t.Fatal("the client certificate is also a CA")
			}
			caPEM = append(caPEM, encodeCertPEM(ca)...)
		}

		keyPEM, err := marshalPrivateKeyPEM(key)
		if err != nil {
			t.Fatalf("the accepted key cannot be written back: %v", err)
		}
		again, err := EncodeCreds(c.Address, caPEM, encodeCertPEM(c.Leaf), keyPEM)
		if err != nil {
			t.Fatalf("accepted credentials cannot be encoded: %v", err)
		}
		c2, err := ParseCreds(again)
		if err != nil {
			t.Fatalf("re-encoded credentials do not parse: %v", err)
		}
		if c2.Address != c.Address || c2.Identity != c.Identity || !bytes.Equal(c2.Leaf.Raw, c.Leaf.Raw) || len(c2.CACerts) != len(c.CACerts) {
			t.Fatalf("re-encoded credentials differ: %+v, was %+v", c2, c)
		}
		for i := range c.CACerts {
			if !bytes.Equal(c2.CACerts[i].Raw, c.CACerts[i].Raw) {
				t.Fatalf("CA %d differs after re-encoding", i)
			}
		}
	})
}
