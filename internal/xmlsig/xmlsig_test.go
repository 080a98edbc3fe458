package xmlsig

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// now is the fixed "current time" of the tests; certificates are made
// valid around it.
var now = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

type signer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// pki is the tests' key material: a CA, a leaf it issued, a self-signed
// signer, an expired leaf of the CA and an unrelated CA.
type pki struct {
	ca, leaf, self, expired, otherCA signer
}

var (
	pkiOnce sync.Once
	testPKI pki
)

func keys(t testing.TB) pki {
	t.Helper()
	pkiOnce.Do(func() {
		serial := int64(1)
		mk := func(cn string, parent *signer, isCA bool, from, to time.Time) signer {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			serial++
			tmpl := &x509.Certificate{
				SerialNumber:          big.NewInt(serial),
				Subject:               pkix.Name{CommonName: cn, Organization: []string{"Văn phòng Chính phủ"}, Country: []string{"VN"}},
				NotBefore:             from,
				NotAfter:              to,
				KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
				BasicConstraintsValid: true,
				IsCA:                  isCA,
			}
			if isCA {
				tmpl.KeyUsage |= x509.KeyUsageCertSign
			}
			parentCert, parentKey := tmpl, key
			if parent != nil {
				parentCert, parentKey = parent.cert, parent.key
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
			if err != nil {
				panic(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				panic(err)
			}
			return signer{key, cert}
		}
		year := 365 * 24 * time.Hour
		p := pki{}
		p.ca = mk("Test Root CA", nil, true, now.Add(-5*year), now.Add(5*year))
		p.leaf = mk("Nguyễn Văn A", &p.ca, false, now.Add(-year), now.Add(year))
		p.self = mk("Self Signer", nil, false, now.Add(-year), now.Add(year))
		p.expired = mk("Expired Signer", &p.ca, false, now.Add(-3*year), now.Add(-year))
		p.otherCA = mk("Other Root CA", nil, true, now.Add(-5*year), now.Add(5*year))
		testPKI = p
	})
	return testPKI
}

// attachment is the payload of the test packet: enough bytes for a few
// wrapped base64 lines.
var attachment = bytes.Repeat([]byte("%PDF-1.4 fake document body\x00\x01\x02\xff"), 12)

const subject = "Về việc thử nghiệm chữ ký số"

// packet returns an unsigned edXML document packet in the shape of
// docs/edxml.md, with eol as line ending (the base64 attachment is wrapped at
// 76 columns with it too) and extraHeader inserted as the last child of
// edXMLHeader.
func packet(eol, extraHeader string) []byte {
	b64 := base64.StdEncoding.EncodeToString(attachment)
	var wrapped []string
	for len(b64) > 76 {
		wrapped = append(wrapped, b64[:76])
		b64 = b64[76:]
	}
	wrapped = append(wrapped, b64)
	lines := []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">`,
		`  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">`,
		`    <edXML:edXMLHeader>`,
		`      <edXML:MessageHeader>`,
		`        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName><edXML:Email/></edXML:From>`,
		`        <edXML:To><edXML:OrganId>000.00.01.H29</edXML:OrganId><edXML:OrganName>UBND tỉnh Hà Nam</edXML:OrganName></edXML:To>`,
		`        <edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT</edXML:DocumentId>`,
		`        <edXML:Code><edXML:CodeNumber>7816</edXML:CodeNumber><edXML:CodeNotation>VPCP-TTĐT</edXML:CodeNotation></edXML:Code>`,
		`        <edXML:PromulgationInfo><edXML:Place>Hà Nội</edXML:Place><edXML:PromulgationDate>2015/09/30</edXML:PromulgationDate></edXML:PromulgationInfo>`,
		`        <edXML:DocumentType><edXML:Type>1</edXML:Type><edXML:TypeDetail>0</edXML:TypeDetail><edXML:TypeName>Công văn</edXML:TypeName></edXML:DocumentType>`,
		`        <edXML:Subject>` + subject + `</edXML:Subject>`,
		`        <edXML:Content>Nội dung &amp; "trích yếu"</edXML:Content>`,
		`      </edXML:MessageHeader>`,
		`      <edXML:TraceHeaderList>`,
		`        <edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:Timestamp>2015/09/30 10:11:12</edXML:Timestamp></edXML:TraceHeader>`,
		`      </edXML:TraceHeaderList>` + extraHeader,
		`    </edXML:edXMLHeader>`,
		`    <edXML:edXMLBody>`,
		`      <edXML:edXMLManifest version="1.0">`,
		`        <edXML:Reference><edXML:ContentId>cid:a1</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType><edXML:AttachmentName>7816.pdf</edXML:AttachmentName></edXML:Reference>`,
		`      </edXML:edXMLManifest>`,
		`    </edXML:edXMLBody>`,
		`  </edXML:edXMLEnvelope>`,
		`  <AttachmentEncoded>`,
		`    <Attachment>`,
		`      <ContentId>a1</ContentId>`,
		`      <AttachmentName>7816.pdf</AttachmentName>`,
		`      <ContentType>application/pdf</ContentType>`,
		`      <edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">` + strings.Join(wrapped, eol) + `</edXML:ContentTransferEncoded>`,
		`    </Attachment>`,
		`  </AttachmentEncoded>`,
		`</edXML>`,
	}
	return []byte(strings.Join(lines, eol) + eol)
}

const endHeader = "</edXML:edXMLHeader>"

// sign signs raw the way an edXML sender does: parse, compute an enveloped
// signature over the whole document (Reference URI="", enveloped-signature
// + exc-c14n), then write the Signature as the last child of edXMLHeader.
// The signature is spliced into raw rather than the tree re-serialised, so
// the bytes of the packet stay those its builder wrote (CRLF included);
// any conforming verifier parses them back to the tree that was signed.
// certs go to KeyInfo, the signer's first.
func sign(t testing.TB, raw []byte, method string, s signer, certs ...*x509.Certificate) []byte {
	t.Helper()
	return splice(t, raw, signatureText(t, raw, method, s, certs...))
}

// signatureText is the serialised enveloped Signature over raw.
func signatureText(t testing.TB, raw []byte, method string, s signer, certs ...*x509.Certificate) string {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(signatureElement(t, raw, method, s, certs...))
	text, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func signatureElement(t testing.TB, raw []byte, method string, s signer, certs ...*x509.Certificate) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	if len(certs) == 0 {
		certs = []*x509.Certificate{s.cert}
	}
	var ders [][]byte
	for _, c := range certs {
		ders = append(ders, c.Raw)
	}
	ctx, err := dsig.NewSigningContext(s.key, ders)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	sig, err := ctx.ConstructSignature(doc.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// splice inserts text as the last child of edXMLHeader.
func splice(t testing.TB, raw []byte, text string) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte(endHeader))
	if i < 0 {
		t.Fatal("no edXMLHeader end tag")
	}
	out := append([]byte{}, raw[:i]...)
	out = append(out, text...)
	return append(out, raw[i:]...)
}

// replaceOnce replaces the only occurrence of old in b.
func replaceOnce(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(b, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times, want 1", old, n)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// flipAttachmentByte changes one base64 character of the attachment.
func flipAttachmentByte(t testing.TB, b []byte) []byte {
	t.Helper()
	open := []byte(`QCVN_102_2016">`)
	i := bytes.LastIndex(b, open)
	if i < 0 {
		t.Fatal("no attachment")
	}
	j := i + len(open) + 10
	out := append([]byte{}, b...)
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

// cutElement removes the element <ds:tag>…</ds:tag> from b.
func cutElement(t testing.TB, b []byte, tag string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("<ds:"+tag))
	end := "</ds:" + tag + ">"
	j := bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("no ds:%s", tag)
	}
	return append(append([]byte{}, b[:i]...), b[j+len(end):]...)
}

// between returns the text of the first <ds:tag>…</ds:tag> in b.
func between(t testing.TB, b []byte, tag string) string {
	t.Helper()
	s := string(b)
	i := strings.Index(s, "<ds:"+tag+">")
	j := strings.Index(s, "</ds:"+tag+">")
	if i < 0 || j < i {
		t.Fatalf("no ds:%s", tag)
	}
	return s[i+len("<ds:"+tag+">") : j]
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func verifyBytes(b []byte, opt Options) Result {
	return Verify(bytes.NewReader(b), int64(len(b)), opt)
}

func TestVerify(t *testing.T) {
	k := keys(t)
	fixed := func() time.Time { return now }
	lf := packet("\n", "")
	sha1 := sign(t, lf, dsig.RSASHA1SignatureMethod, k.leaf)
	sha256 := sign(t, lf, dsig.RSASHA256SignatureMethod, k.leaf)
	leafSubject := k.leaf.cert.Subject.String()

	// A CRLF packet, signed over its parsed form as every XML-DSig signer
	// does: the parser turns each CRLF into LF (XML 1.0 section 2.11)
	// before canonicalisation, so the line endings of the file are not
	// what is digested and a verifier parsing the file sees the same.
	crlf := sign(t, packet("\r\n", ""), dsig.RSASHA1SignatureMethod, k.leaf)
	if n := bytes.Count(crlf, []byte("\r\n")); n < 30 {
		t.Fatalf("CRLF packet has %d CRLFs", n)
	}
	// The attachment's second base64 line: removing the line break
	// before it changes the text that was signed.
	wrapLine2 := base64.StdEncoding.EncodeToString(attachment)[76:152]

	// The standard's namespace stripped from the signature: <Signature>
	// then inherits the packet's default namespace, as in real packets.
	noNS := bytes.ReplaceAll(replaceOnce(t, sha1, ` xmlns:ds="`+dsig.Namespace+`"`, ""), []byte("ds:"), nil)

	otherKeySig := func() []byte {
		// Signed by the self-signed key, but KeyInfo names the leaf.
		return sign(t, lf, dsig.RSASHA1SignatureMethod, k.self, k.leaf.cert)
	}()

	sigValue := between(t, sha1, "SignatureValue")
	badSigValue := "AAAA" + sigValue[4:]
	if badSigValue == sigValue {
		badSigValue = "BBBB" + sigValue[4:]
	}

	// A second, identical signature appended after the first.
	sigText := string(sha1[bytes.Index(sha1, []byte("<ds:Signature")):bytes.Index(sha1, []byte(endHeader))])

	tests := []struct {
		name string
		in   []byte
		opt  Options
		want Result
		// reason, when set, must be contained in the Reason (the whole
		// Reason is compared when it is empty).
		reason string
	}{
		{name: "valid rsa-sha1", in: sha1, want: Result{State: Valid, Subject: leafSubject}},
		{name: "valid rsa-sha256", in: sha256, want: Result{State: Valid, Subject: leafSubject}},
		{name: "self-signed valid", in: sign(t, lf, dsig.RSASHA1SignatureMethod, k.self),
			want: Result{State: Valid, Subject: k.self.cert.Subject.String()}},
		{name: "CRLF packet signed over its parsed form", in: crlf,
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "leading BOM", in: append([]byte("\ufeff"), sha1...),
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "signature inside edXML:DigitalSignature, wrapper signed",
			in: func() []byte {
				// The builder writes the wrapper, signs, and puts the
				// Signature in it: the enveloped transform leaves the
				// empty wrapper, as it was when signed.
				const empty = "<edXML:DigitalSignature></edXML:DigitalSignature>"
				raw := packet("\n", empty)
				text := signatureText(t, raw, dsig.RSASHA1SignatureMethod, k.leaf)
				return replaceOnce(t, raw, empty, "<edXML:DigitalSignature>"+text+"</edXML:DigitalSignature>")
			}(),
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "CRLF packet delivered with LF", in: bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n")),
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "LF packet delivered with CRLF", in: bytes.ReplaceAll(sha1, []byte("\n"), []byte("\r\n")),
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "CRLF packet with a line ending removed from the attachment",
			in:   replaceOnce(t, crlf, "\r\n"+wrapLine2, wrapLine2),
			want: Result{State: Invalid, Subject: leafSubject}, reason: "digest mismatch"},
		{name: "signature inside edXML:DigitalSignature, wrapper added later",
			in: func() []byte {
				b := sign(t, lf, dsig.RSASHA1SignatureMethod, k.leaf)
				b = replaceOnce(t, b, "<ds:Signature ", "<edXML:DigitalSignature><ds:Signature ")
				return replaceOnce(t, b, "</ds:Signature>", "</ds:Signature></edXML:DigitalSignature>")
			}(),
			// The wrapper was added after signing, so it is inside the
			// signed region and the digest no longer matches: this
			// proves the inner Signature is found and checked.
			want: Result{State: Invalid, Subject: leafSubject}, reason: "digest mismatch"},

		{name: "attachment byte changed", in: flipAttachmentByte(t, sha1),
			want: Result{State: Invalid, Subject: leafSubject}, reason: "digest mismatch"},
		{name: "subject changed", in: replaceOnce(t, sha256, subject, subject+" (sửa)"),
			want: Result{State: Invalid, Subject: leafSubject}, reason: "digest mismatch"},
		{name: "SignatureValue changed", in: replaceOnce(t, sha1, sigValue, badSigValue),
			want: Result{State: Invalid, Subject: leafSubject}, reason: "signature value does not match SignedInfo"},
		{name: "DigestValue changed",
			in:   replaceOnce(t, sha1, between(t, sha1, "DigestValue"), base64.StdEncoding.EncodeToString(make([]byte, 20))),
			want: Result{State: Invalid, Subject: leafSubject}, reason: "signature value does not match SignedInfo"},
		{name: "KeyInfo names another key", in: otherKeySig,
			want: Result{State: Invalid, Subject: leafSubject}, reason: "signature value does not match SignedInfo"},

		{name: "Signature without xmldsig namespace", in: noNS,
			want: Result{State: Unverifiable}, reason: "Signature is not in the xmldsig namespace (it is in http://www.mic.gov.vn/TBT/QCVN_102_2016)"},
		{name: "Signature in no namespace",
			in:   splice(t, lf, `<Signature xmlns=""><SignedInfo>copied</SignedInfo><SignatureValue>abc=</SignatureValue></Signature>`),
			want: Result{State: Unverifiable}, reason: "Signature is not in the xmldsig namespace (it has no namespace)"},
		{name: "empty edXML:DigitalSignature", in: splice(t, lf, `<edXML:DigitalSignature/>`),
			want: Result{State: Unverifiable}, reason: "DigitalSignature is empty"},
		{name: "empty xmldsig Signature", in: splice(t, lf, `<Signature xmlns="`+dsig.Namespace+`"></Signature>`),
			want: Result{State: Unverifiable}, reason: "Signature is empty"},
		{name: "no KeyInfo", in: cutElement(t, sha1, "KeyInfo"),
			want: Result{State: Unverifiable}, reason: "no X509Certificate in KeyInfo"},
		{name: "empty X509Certificate", in: replaceOnce(t, sha1, between(t, sha1, "X509Certificate"), " "),
			want: Result{State: Unverifiable}, reason: "no X509Certificate in KeyInfo"},
		{name: "malformed certificate", in: replaceOnce(t, sha1, between(t, sha1, "X509Certificate"), "MIIBAAAA"),
			want: Result{State: Unverifiable}, reason: "X509Certificate 1 is not a valid certificate"},
		{name: "certificate not base64", in: replaceOnce(t, sha1, between(t, sha1, "X509Certificate"), "***"),
			want: Result{State: Unverifiable}, reason: "X509Certificate 1 is not base64"},
		{name: "reference to an id, not the packet", in: replaceOnce(t, sha1, `URI=""`, `URI="#hdr"`),
			want: Result{State: Unverifiable, Subject: leafSubject}, reason: `expected Reference URI=""`},
		{name: "unknown signature method", in: replaceOnce(t, sha1, dsig.RSASHA1SignatureMethod, "urn:x-gost"),
			want: Result{State: Unverifiable, Subject: leafSubject}, reason: "Unknown signature method: urn:x-gost"},
		{name: "two signatures", in: splice(t, sha1, sigText),
			want: Result{State: Unverifiable}, reason: "packet has 2 xmldsig Signature elements"},

		{name: "no signature", in: lf, want: Result{State: Absent}},
		{name: "no signature over MaxBytes", in: lf, opt: Options{MaxBytes: int64(len(lf) - 1)}, want: Result{State: Absent}},
		{name: "empty DigitalSignature over MaxBytes", in: splice(t, lf, `<edXML:DigitalSignature/>`), opt: Options{MaxBytes: 100},
			want: Result{State: Unverifiable}, reason: "over the 100-byte limit"},
		{name: "signed over MaxBytes", in: sha1, opt: Options{MaxBytes: int64(len(sha1) - 1)},
			want: Result{State: Unverifiable, Reason: fmt.Sprintf(
				"packet is %d bytes, over the %d-byte limit for signature verification", len(sha1), len(sha1)-1)}},
		{name: "signed at exactly MaxBytes", in: sha1, opt: Options{MaxBytes: int64(len(sha1))},
			want: Result{State: Valid, Subject: leafSubject}},

		{name: "Roots holding the CA", in: sha1, opt: Options{Roots: pool(k.ca.cert), Now: fixed},
			want: Result{State: Valid, Subject: leafSubject, Trusted: true}},
		{name: "Roots without the CA", in: sha1, opt: Options{Roots: pool(k.otherCA.cert), Now: fixed},
			want: Result{State: Valid, Subject: leafSubject}},
		{name: "self-signed not in Roots", in: sign(t, lf, dsig.RSASHA1SignatureMethod, k.self),
			opt:  Options{Roots: pool(k.ca.cert), Now: fixed},
			want: Result{State: Valid, Subject: k.self.cert.Subject.String()}},
		{name: "tampered packet is never Trusted", in: flipAttachmentByte(t, sha1), opt: Options{Roots: pool(k.ca.cert), Now: fixed},
			want: Result{State: Invalid, Subject: leafSubject}, reason: "digest mismatch"},
		{name: "expired certificate: valid, not trusted now",
			in:   sign(t, lf, dsig.RSASHA1SignatureMethod, k.expired),
			opt:  Options{Roots: pool(k.ca.cert), Now: fixed},
			want: Result{State: Valid, Subject: k.expired.cert.Subject.String()}},
		{name: "expired certificate: trusted while it was valid",
			in:   sign(t, lf, dsig.RSASHA1SignatureMethod, k.expired),
			opt:  Options{Roots: pool(k.ca.cert), Now: func() time.Time { return now.AddDate(-2, 0, 0) }},
			want: Result{State: Valid, Subject: k.expired.cert.Subject.String(), Trusted: true}},
		{name: "intermediate from KeyInfo",
			in:   sign(t, lf, dsig.RSASHA256SignatureMethod, k.leaf, k.leaf.cert, k.ca.cert),
			opt:  Options{Roots: pool(k.ca.cert), Now: fixed},
			want: Result{State: Valid, Subject: leafSubject, Trusted: true}},

		{name: "garbage", in: []byte("\x00\x01not xml at all<<<"), want: Result{State: Unverifiable}, reason: "not well-formed XML"},
		{name: "empty input", in: nil, want: Result{State: Unverifiable}, reason: "no root element"},
		{name: "truncated signed packet", in: sha1[:len(sha1)/2], want: Result{State: Unverifiable}, reason: "not well-formed XML"},
		{name: "content before the XML declaration", in: append([]byte("garbage"), sha1...),
			want: Result{State: Unverifiable}, reason: "text outside the root element"},
		{name: "element after the root", in: append(append([]byte{}, sha1...), "<edXML/>"...),
			want: Result{State: Unverifiable}, reason: "a second top-level element <edXML>"},
		{name: "text after the root", in: append(append([]byte{}, sha1...), "trailing"...),
			want: Result{State: Unverifiable}, reason: "text outside the root element"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := verifyBytes(tc.in, tc.opt)
			want := tc.want
			if tc.reason != "" && strings.Contains(got.Reason, tc.reason) {
				want.Reason = got.Reason
			}
			if got != want {
				t.Errorf("got  %+v\nwant %+v (reason containing %q)", got, tc.want, tc.reason)
			}
		})
	}
}

// TestUndeclaredXlinkPrefix: some builders put xlink: attributes on the
// manifest's Reference without declaring the prefix. The hub accepts such
// a packet, but it is not namespace-well-formed: goxmldsig refuses to
// canonicalise it (and so to sign it), as would any conforming signer, so
// a signature on it cannot be checked.
func TestUndeclaredXlinkPrefix(t *testing.T) {
	k := keys(t)
	const plain = "<edXML:Reference>"
	const xlink = `<edXML:Reference xlink:type="simple" xlink:href="cid:a1">`
	raw := replaceOnce(t, packet("\n", ""), plain, xlink)

	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(k.leaf.key, [][]byte{k.leaf.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if _, err := ctx.ConstructSignature(doc.Root(), true); err == nil {
		t.Error("goxmldsig signed a packet with an undeclared prefix; the Verify case below may now be Valid")
	}

	// The signature a sender made before a builder added the attributes.
	signed := replaceOnce(t, sign(t, packet("\n", ""), dsig.RSASHA1SignatureMethod, k.leaf), plain, xlink)
	got := verifyBytes(signed, Options{})
	want := Result{State: Unverifiable, Subject: k.leaf.cert.Subject.String(),
		Reason: "cannot verify the signature: undeclared namespace prefix: 'xlink'"}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestStateString(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want string
	}{{Absent, "absent"}, {Valid, "valid"}, {Invalid, "invalid"}, {Unverifiable, "unverifiable"}, {State(9), "State(9)"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", int(tc.s), got, tc.want)
		}
	}
}

func TestDefaultMaxBytes(t *testing.T) {
	// A ReaderAt that claims a packet over the default limit: Verify must
	// not read past the envelope to answer.
	k := keys(t)
	signed := sign(t, packet("\n", ""), dsig.RSASHA1SignatureMethod, k.leaf)
	size := int64(DefaultMaxBytes + 1)
	got := Verify(bytes.NewReader(signed), size, Options{})
	want := Result{State: Unverifiable, Reason: fmt.Sprintf(
		"packet is %d bytes, over the %d-byte limit for signature verification", size, DefaultMaxBytes)}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

var update = flag.Bool("update", false, "rewrite the fixtures in testdata/")

const (
	fixturePacket = "testdata/signed-rsa-sha1-crlf.xml"
	fixtureCA     = "testdata/ca.pem"
)

// TestFixture verifies a packet signed once and kept in testdata/ (CRLF,
// rsa-sha1, signed by a leaf of the CA in ca.pem), so a change in
// goxmldsig that altered signing and verification alike would still be
// caught. go test -run TestFixture -update writes both files anew.
func TestFixture(t *testing.T) {
	if *update {
		k := keys(t)
		signed := sign(t, packet("\r\n", ""), dsig.RSASHA1SignatureMethod, k.leaf)
		if err := os.WriteFile(fixturePacket, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.ca.cert.Raw})
		if err := os.WriteFile(fixtureCA, ca, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(fixturePacket)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(fixtureCA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in " + fixtureCA)
	}
	fixed := func() time.Time { return now }
	tests := []struct {
		name string
		in   []byte
		opt  Options
		want State
		// trusted is the wanted Trusted.
		trusted bool
	}{
		{"as stored", raw, Options{}, Valid, false},
		{"trusted at now", raw, Options{Roots: roots, Now: fixed}, Valid, true},
		{"after the leaf expired", raw, Options{Roots: roots, Now: func() time.Time { return now.AddDate(3, 0, 0) }}, Valid, false},
		{"subject changed", replaceOnce(t, raw, subject, "Về việc khác"), Options{Roots: roots, Now: fixed}, Invalid, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := verifyBytes(tc.in, tc.opt)
			if got.State != tc.want || got.Trusted != tc.trusted {
				t.Errorf("got %+v, want state %v trusted %v", got, tc.want, tc.trusted)
			}
			if want := "CN=Nguyễn Văn A,O=Văn phòng Chính phủ,C=VN"; got.Subject != want {
				t.Errorf("subject %q, want %q", got.Subject, want)
			}
		})
	}
}

// FuzzVerify: whatever the bytes, Verify returns a known State, with a
// reason when it is not valid or absent, and never panics. Its seeds
// need no key generation, which is slow under the fuzzer's
// instrumentation.
func FuzzVerify(f *testing.F) {
	signed, err := os.ReadFile(fixturePacket)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(packet("\n", ""))
	f.Add(packet("\n", "<edXML:DigitalSignature/>"))
	f.Add([]byte("<a><Signature xmlns='http://www.w3.org/2000/09/xmldsig#'><SignedInfo/></Signature></a>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := verifyBytes(b, Options{MaxBytes: 1 << 20})
		if got.State < Absent || got.State > Unverifiable {
			t.Fatalf("state %d", got.State)
		}
		if (got.State == Invalid || got.State == Unverifiable) && got.Reason == "" {
			t.Fatalf("%v without a reason", got.State)
		}
	})
}
