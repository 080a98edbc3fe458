// Package xmlsig verifies the enveloped XML-DSig an edXML packet
// (QCVN 102:2016) may carry as the last child of edXMLHeader.
//
// The signature (Reference URI="", enveloped-signature and exc-c14n
// transforms, rsa-sha1 or rsa-sha256, the signer's certificate in
// KeyInfo/X509Data) covers the whole file, attachments included, so the
// packet is parsed into a DOM: only packets up to Options.MaxBytes are
// verified. Real packets are often unverifiable (a Signature without the
// xmldsig namespace, values copied from a sample, an empty
// <edXML:DigitalSignature/>); Verify reports that as a State with a
// reason, and never rejects, panics or decides what the hub does with it.
//
// Two questions are answered separately, as edXML needs: does the
// signature verify with the certificate the packet carries (State), and
// does that certificate chain to the operator's trust store (Trusted).
package xmlsig

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// State of a packet's signature.
type State int

const (
	// Absent: the packet carries no Signature or DigitalSignature element.
	Absent State = iota
	// Valid: the signature verifies with the certificate in KeyInfo.
	Valid
	// Invalid: the signature is well formed but does not verify; the
	// packet (or its SignedInfo) changed after signing.
	Invalid
	// Unverifiable: something that claims to be a signature is there but
	// cannot be checked (wrong namespace, empty, no certificate, an
	// unsupported algorithm, a packet over the size limit, a broken file).
	Unverifiable
)

func (s State) String() string {
	switch s {
	case Absent:
		return "absent"
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	case Unverifiable:
		return "unverifiable"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Result is what Verify found.
type Result struct {
	State State
	// Subject is the signer certificate's subject (RFC 2253 string) when a
	// certificate was found, whatever the State.
	Subject string
	// Reason says why the signature is invalid or unverifiable; "" when
	// valid or absent.
	Reason string
	// Trusted: the signer's certificate chains to Options.Roots at
	// Options.Now. Only decided for a Valid signature; false when Roots is
	// nil.
	Trusted bool
}

// DefaultMaxBytes is the size over which a packet is not verified when
// Options.MaxBytes is zero. goxmldsig works on an etree DOM and copies it
// (Validate, the enveloped transform, canonical bytes parsed again): a
// verification holds about five times the packet (measured: a 60 MiB
// packet, ~300 MiB of heap at the peak, ~2 s on one core). 64 MiB covers
// packets with a few scanned documents and keeps one verification under
// about a third of a GiB.
const DefaultMaxBytes = 64 << 20

// Options tune Verify. The zero value is usable.
type Options struct {
	// MaxBytes: packets larger than this are not verified (Unverifiable,
	// the reason names the size and the limit). 0 means DefaultMaxBytes.
	MaxBytes int64
	// Roots is the optional trust store. nil: trust is not decided
	// (Trusted false), the State still comes from the crypto.
	Roots *x509.CertPool
	// Now is the time at which the chain to Roots is validated; nil means
	// time.Now.
	Now func() time.Time
}

// Namespaces.
const (
	nsEdXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
	nsDSig  = dsig.Namespace // http://www.w3.org/2000/09/xmldsig#
)

// Verify checks the XML-DSig of the edXML packet in ra[0:size].
//
// Decisions:
//   - Expiry: the signer's certificate's validity period does not change
//     State. A packet carries no trustworthy signing time and is verified
//     again long after it was sent (archives, a recipient's check), so a
//     signature made while the certificate was valid must keep verifying.
//     The validity period counts for trust instead: the chain to Roots is
//     validated at Options.Now, so an expired certificate is not Trusted.
//   - SHA-1: rsa-sha1 with sha1 digests is what every known sender uses
//     and is accepted (see verifySignature). Chains are validated with
//     crypto/x509, which refuses certificates signed with SHA-1 by their
//     CA: such a signer is never Trusted.
//   - Over MaxBytes, only the envelope (up to AttachmentEncoded) is read,
//     as a stream of tokens: a packet whose envelope has no Signature or
//     DigitalSignature is Absent, one with either is Unverifiable. A
//     signature placed after the attachments is missed there (the
//     standard puts it in edXMLHeader); in memory the whole tree is
//     searched.
func Verify(ra io.ReaderAt, size int64, opt Options) (res Result) {
	defer func() {
		// goxmldsig and etree are not known to panic on any input, but a
		// hub that receives files from anyone must not go down on one.
		if p := recover(); p != nil {
			res = Result{State: Unverifiable, Reason: fmt.Sprintf("internal error while verifying: %v", p)}
		}
	}()
	limit := opt.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if size < 0 {
		return unverifiable("negative packet size %d", size)
	}
	if size > limit {
		return tooLarge(io.NewSectionReader(ra, 0, size), size, limit)
	}
	// The DOM's size follows its nodes, not only its bytes: a payload cut
	// into CDATA sections of a few characters each is a node per 16 bytes,
	// and held 17 times the packet. The nodes (one per '<', and the texts
	// between them) are charged nodeCost each against the limit too.
	if nodes, err := countNodes(io.NewSectionReader(ra, 0, size)); err != nil {
		return unverifiable("packet could not be read: %v", err)
	} else if most := max(limit/nodeCost, minNodes); nodes > most {
		return unverifiable("packet has %d XML nodes, over the %d that the %d-byte limit for signature verification allows", nodes, most, limit)
	}
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(io.NewSectionReader(ra, 0, size)); err != nil {
		return unverifiable("packet is not well-formed XML: %v", err)
	}
	root := doc.Root()
	if root == nil {
		return unverifiable("packet has no root element")
	}
	if why := outsideRoot(doc); why != "" {
		return unverifiable("packet is not well-formed XML: %s", why)
	}
	return verifyDoc(root, opt)
}

// outsideRoot reports text or a second element at the top level of doc.
// encoding/xml accepts both, a conforming XML parser does not, and neither
// is covered by a signature over the root: such a file is refused by the
// hub as broken, and not called valid here.
func outsideRoot(doc *etree.Document) string {
	elements := 0
	for _, c := range doc.Child {
		switch c := c.(type) {
		case *etree.Element:
			elements++
			if elements > 1 {
				return "a second top-level element <" + c.FullTag() + ">"
			}
		case *etree.CharData:
			if strings.TrimSpace(strings.TrimPrefix(c.Data, "\ufeff")) != "" {
				return "text outside the root element"
			}
		}
	}
	return ""
}

func unverifiable(format string, args ...any) Result {
	return Result{State: Unverifiable, Reason: fmt.Sprintf(format, args...)}
}

func verifyDoc(root *etree.Element, opt Options) Result {
	sigEl, why := findSignature(root)
	if sigEl == nil {
		if why == "" {
			return Result{State: Absent}
		}
		return unverifiable("%s", why)
	}
	if why != "" {
		return unverifiable("%s", why)
	}

	certs, why := keyInfoCertificates(sigEl)
	if why != "" {
		return unverifiable("%s", why)
	}
	signer := certs[0]
	res := verifySignature(root, signer)
	res.Subject = signer.Subject.String()
	if res.State == Valid {
		res.Trusted = trusted(signer, certs[1:], opt)
	}
	return res
}

// findSignature returns the packet's xmldsig Signature element, or nil.
// why is "" with a nil element when the packet has no signature at all,
// and otherwise says why the element found cannot be verified.
//
// The signature belongs as the last child of edXMLHeader, but the whole
// document is searched: builders put it elsewhere too (as the last child
// of the root, inside an edXML:DigitalSignature), and what a Reference
// URI="" signature covers does not depend on where it sits.
func findSignature(root *etree.Element) (*etree.Element, string) {
	var dsigs, others []*etree.Element
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		switch el.Tag {
		case "Signature":
			if el.NamespaceURI() == nsDSig {
				dsigs = append(dsigs, el)
				return // its descendants are the signature's own
			}
			others = append(others, el)
		case "DigitalSignature":
			others = append(others, el)
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(root)

	switch {
	case len(dsigs) > 1:
		return nil, fmt.Sprintf("packet has %d xmldsig Signature elements; an edXML packet carries one", len(dsigs))
	case len(dsigs) == 1:
		sig := dsigs[0]
		if len(sig.ChildElements()) == 0 {
			return sig, "Signature is empty"
		}
		return sig, ""
	case len(others) == 0:
		return nil, ""
	}
	// Only look-alikes: report on the one in edXMLHeader if any.
	el := others[0]
	for _, o := range others {
		if p := o.Parent(); p != nil && p.Tag == "edXMLHeader" && p.NamespaceURI() == nsEdXML {
			el = o
			break
		}
	}
	name := el.Tag
	if len(el.ChildElements()) == 0 && strings.TrimSpace(el.Text()) == "" {
		return nil, name + " is empty"
	}
	if name == "DigitalSignature" {
		return nil, "DigitalSignature holds no xmldsig Signature"
	}
	ns := el.NamespaceURI()
	if ns == "" {
		return nil, "Signature is not in the xmldsig namespace (it has no namespace)"
	}
	return nil, fmt.Sprintf("Signature is not in the xmldsig namespace (it is in %s)", ns)
}

// keyInfoCertificates parses KeyInfo/X509Data/X509Certificate of sig: the
// signer's first (as goxmldsig uses it), then any others, taken as
// intermediates for the chain to Roots.
func keyInfoCertificates(sig *etree.Element) ([]*x509.Certificate, string) {
	var texts []string
	for _, ki := range dsChildren(sig, "KeyInfo") {
		for _, xd := range dsChildren(ki, "X509Data") {
			for _, xc := range dsChildren(xd, "X509Certificate") {
				texts = append(texts, xc.Text())
			}
		}
	}
	if len(texts) == 0 || strings.TrimSpace(texts[0]) == "" {
		return nil, "no X509Certificate in KeyInfo"
	}
	var certs []*x509.Certificate
	for i, t := range texts {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(t), ""))
		if err != nil {
			return nil, fmt.Sprintf("X509Certificate %d is not base64: %v", i+1, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Sprintf("X509Certificate %d is not a valid certificate: %v", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, ""
}

func dsChildren(el *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == nsDSig {
			out = append(out, c)
		}
	}
	return out
}

// verifySignature checks the digest and the signature with goxmldsig,
// trusting signer for the crypto only.
//
// goxmldsig's ValidationContext accepts only a certificate that is in its
// CertificateStore and valid at its Clock: the store holds the KeyInfo
// certificate itself and the clock is set inside its validity period, so
// the library checks the crypto and nothing else; trust and expiry are
// decided apart (see Verify).
//
// SHA-1: goxmldsig v1.6 has no switch for it; it maps rsa-sha1 to
// x509.SHA1WithRSA and checks with x509.Certificate.CheckSignature, which
// accepts SHA-1 (only chain building refuses it). Every known edXML sender
// signs rsa-sha1/sha1, so it must verify; a test pins that, so an upgrade
// that drops SHA-1 fails loudly instead of turning every packet invalid.
func verifySignature(root *etree.Element, signer *x509.Certificate) Result {
	at := signer.NotBefore
	if signer.NotAfter.Before(at) {
		return unverifiable("signer certificate's validity period is empty (NotAfter %s before NotBefore %s)",
			signer.NotAfter.UTC().Format(time.RFC3339), signer.NotBefore.UTC().Format(time.RFC3339))
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{signer}})
	ctx.Clock = dsig.NewFakeClockAt(at)
	if _, err := ctx.Validate(root); err != nil {
		return classify(err)
	}
	return Result{State: Valid}
}

// classify turns a goxmldsig error into a Result: a digest or signature
// value that does not match is Invalid, everything else (what the library
// cannot process) Unverifiable.
func classify(err error) Result {
	msg := err.Error()
	var sigErr x509.InsecureAlgorithmError
	switch {
	case msg == "Signature could not be verified":
		// validateSignature's digest comparison.
		return Result{State: Invalid, Reason: "digest mismatch: the packet was changed after it was signed"}
	case strings.Contains(msg, "verification error"), strings.Contains(msg, "verification failure"):
		// crypto/rsa "verification error", x509 "ECDSA verification failure".
		return Result{State: Invalid, Reason: "signature value does not match SignedInfo: SignedInfo was changed or signed with another key (" + msg + ")"}
	case msg == "Could not decode signature":
		return Result{State: Invalid, Reason: "SignatureValue is not base64"}
	case errors.As(err, &sigErr):
		return unverifiable("signature algorithm refused: %v", err)
	case errors.Is(err, dsig.ErrMissingSignature):
		return unverifiable(`Signature does not reference the whole packet (expected Reference URI="")`)
	case errors.Is(err, dsig.ErrInvalidSignature):
		return unverifiable("Signature is malformed (needs exactly one SignedInfo and one SignatureValue, at most one KeyInfo)")
	}
	return unverifiable("cannot verify the signature: %s", msg)
}

// trusted reports whether signer chains to opt.Roots at opt.Now.
func trusted(signer *x509.Certificate, others []*x509.Certificate, opt Options) bool {
	if opt.Roots == nil {
		return false
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	inter := x509.NewCertPool()
	for _, c := range others {
		inter.AddCert(c)
	}
	_, err := signer.Verify(x509.VerifyOptions{
		Roots:         opt.Roots,
		Intermediates: inter,
		CurrentTime:   now(),
		// Signing certificates of Vietnamese CAs carry various EKUs
		// (emailProtection, clientAuth, codeSigning) or none: the default,
		// serverAuth, would refuse most of them.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err == nil
}

// nodeCost is what a packet's node costs against Options.MaxBytes: an
// etree node, its place among its parent's children, and goxmldsig's
// copy of both (measured: about 180 bytes in all).
const nodeCost = 128

// minNodes are allowed whatever the limit: a small packet's nodes cost
// more than its bytes, and 65,536 nodes are a dozen MiB at most.
const minNodes = 1 << 16

// countNodes counts the '<' of a packet: every node of its tree but the
// texts between them.
func countNodes(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'<'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// tooLarge answers for a packet over the limit without holding it: a
// stream of tokens is read up to the attachments (AttachmentEncoded) or
// the end of the envelope, looking for a signature element.
func tooLarge(r io.Reader, size, limit int64) Result {
	over := unverifiable("packet is %d bytes, over the %d-byte limit for signature verification", size, limit)
	dec := xml.NewDecoder(io.LimitReader(r, limit))
	dec.Strict = false
	for {
		tok, err := dec.RawToken()
		if err != nil {
			// A broken or unexpectedly long envelope: do not guess.
			return over
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "Signature", "DigitalSignature":
				return over
			case "AttachmentEncoded":
				return Result{State: Absent}
			}
		case xml.EndElement:
			if t.Name.Local == "edXMLEnvelope" {
				return Result{State: Absent}
			}
		}
	}
}
