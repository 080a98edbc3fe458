package edxml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// memSink keeps every attachment's bytes, by index.
type memSink map[int]*bytes.Buffer

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func (s memSink) Attachment(i int) (io.WriteCloser, error) {
	b := &bytes.Buffer{}
	s[i] = b
	return nopCloser{b}, nil
}

func (s memSink) open(i int) (io.ReadCloser, error) {
	b, ok := s[i]
	if !ok {
		return nil, errors.New("no such attachment")
	}
	return io.NopCloser(bytes.NewReader(b.Bytes())), nil
}

func readBytes(tb testing.TB, data []byte) (*Packet, memSink, error) {
	tb.Helper()
	sink := memSink{}
	p, err := Read(bytes.NewReader(data), sink, ReadOptions{})
	return p, sink, err
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func fixtures(tb testing.TB) []string {
	tb.Helper()
	names, err := filepath.Glob("testdata/*.edxml")
	if err != nil || len(names) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return names
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// warning is a Warning without its line, as tables state them.
type warning struct{ Element, Value, Reason string }

func warnings(p *Packet) []warning {
	var out []warning
	for _, w := range p.Warnings {
		out = append(out, warning{w.Element, w.Value, w.Reason})
	}
	return out
}

func TestReadDocument(t *testing.T) {
	data := fixture(t, "new.edxml")
	p, sink, err := readBytes(t, data)
	if err != nil {
		t.Fatal(err)
	}
	zipped := fixture(t, "packed.zip")
	txt := []byte("Kính gửi các cơ quan.\nVăn bản thử nghiệm.\n")
	want := &Packet{
		Header: Header{
			From: Organization{OrganID: "000.00.00.G22", OrganizationInCharge: "Văn phòng Chính phủ", OrganName: "Văn phòng Chính phủ",
				OrganAdd: "16 Lê Hồng Phong, Hà Nội", Email: "vpcp@chinhphu.vn", Telephone: "080.43162", Website: "chinhphu.vn"},
			To: []Organization{
				{OrganID: "000.00.00.G01", OrganizationInCharge: "Văn phòng Chính phủ", OrganName: "Bộ", OrganAdd: "16 Lê Hồng Phong, Hà Nội",
					Email: "vpcp@chinhphu.vn", Telephone: "080.43162", Website: "chinhphu.vn"},
				{OrganID: "000.00.00.G06", OrganizationInCharge: "Văn phòng Chính phủ", OrganName: "Bộ", OrganAdd: "16 Lê Hồng Phong, Hà Nội",
					Email: "vpcp@chinhphu.vn", Telephone: "080.43162", Website: "chinhphu.vn"},
			},
			DocumentID:   "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
			CodeNumber:   "7816",
			CodeNotation: "VPCP-TTĐT",
			Place:        "Hà Nội", PromulgationDate: "2015/09/30",
			Type: "1", TypeDetail: "0", TypeName: "Công văn",
			Subject:    "V/v thử nghiệm & kiểm tra <edXML>",
			Content:    "Nội dung công văn",
			Competence: "KT. BỘ TRƯỞNG", Position: "Thứ trưởng", FullName: "Nguyễn Văn A",
			DueDate: "2015/10/15",
			OtherInfo: OtherInfo{Priority: "0", SphereOfPromulgation: "Lưu hành nội bộ", TyperNotation: "TVC",
				PromulgationAmount: "1", PageAmount: "2", Direction: "false", Appendixes: []string{"Phụ lục I", "Phụ lục II"}},
			SteeringType: "1",
			ToPlaces:     []string{"Các Bộ, cơ quan ngang Bộ", "UBND các tỉnh"},
		},
		Trace: &Trace{
			Headers: []TraceHeader{{OrganID: "000.00.00.G22", Timestamp: "2015/09/30 10:15:00"}, {OrganID: "vxp.saas.03", Timestamp: "2015/09/30 10:15:07"}},
			Business: &Business{DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", DocType: BusinessNew, Reason: "Gửi mới", Paper: "0",
				Staff: &StaffInfo{Department: "Văn thư", Staff: "Trần Thị B", Email: "vanthu@chinhphu.vn", Mobile: "0912345678"}},
		},
		Manifest: Manifest{Version: "1.0", References: []Reference{
			{ContentID: "cid:att-1", ContentType: "text/plain", Description: "Thông báo", AttachmentName: "thongbao.txt"},
			{ContentID: "cid:att-2", ContentType: "application/zip", Description: "Quyết định", AttachmentName: "quyetdinh.pdf"},
		}},
		Attachments: []Attachment{
			{ContentID: "cid:att-1", AttachmentName: "thongbao.txt", Description: "Thông báo", ContentType: "text/plain", Size: int64(len(txt)), SHA256: sum(txt)},
			{ContentID: "cid:att-2", AttachmentName: "quyetdinh.pdf", Description: "Quyết định", ContentType: "application/zip", Size: int64(len(zipped)), SHA256: sum(zipped)},
		},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Read(new.edxml) mismatch (-want +got):\n%s", diff)
	}
	if got := sink[0].Bytes(); !bytes.Equal(got, txt) {
		t.Errorf("attachment 0 = %q, want %q", got, txt)
	}
	if got := sink[1].Bytes(); !bytes.Equal(got, zipped) {
		t.Errorf("attachment 1: got %d bytes, want the %d of packed.zip", len(got), len(zipped))
	}
	inner, size, ok := Packed(bytes.NewReader(zipped), int64(len(zipped)), p.Attachments[1].AttachmentName)
	if !ok || !strings.HasSuffix(inner, ".pdf") || size == 0 {
		t.Errorf("Packed(attachment 1) = %q, %d, %v; want a .pdf inside", inner, size, ok)
	}
}

func TestReadFixtures(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, p *Packet)
		want  []warning
	}{
		{file: "revoke.edxml", check: func(t *testing.T, p *Packet) {
			want := []ResponseFor{{OrganID: "000.00.00.G01", Code: "123/BTC-VP", PromulgationDate: "2015/09/01", DocumentID: "000.00.00.G01,2015/09/01,123/BTC-VP"}}
			if diff := cmp.Diff(want, p.Header.ResponseFor); diff != "" {
				t.Errorf("ResponseFor (-want +got):\n%s", diff)
			}
			if got := p.Trace.Business.DocType; got != BusinessRevoke {
				t.Errorf("DocType = %q, want %q", got, BusinessRevoke)
			}
			if len(p.Attachments) != 0 || len(p.Manifest.References) != 0 {
				t.Errorf("got %d attachments, %d references; want none", len(p.Attachments), len(p.Manifest.References))
			}
		}},
		{file: "update.edxml", check: func(t *testing.T, p *Packet) {
			want := &DocumentInfo{DocumentInfo: "1", DocumentReceiver: "1", Receivers: []Receiver{{"000.00.00.G01", "1"}, {"000.00.00.G09", "0"}}}
			if diff := cmp.Diff(want, p.Trace.Business.DocumentInfo); diff != "" {
				t.Errorf("DocumentInfo (-want +got):\n%s", diff)
			}
		}},
		{file: "replace.edxml", check: func(t *testing.T, p *Packet) {
			want := []ReplacementInfo{{DocumentID: "000.00.00.G22,2015/09/20,7700/VPCP-TTĐT", OrganIDs: []string{"000.00.00.G01", "000.00.00.G06"}}}
			if diff := cmp.Diff(want, p.Trace.Business.Replacements); diff != "" {
				t.Errorf("Replacements (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-bom.edxml", check: sameAsNew},
		{file: "quirk-crlf-tabs.edxml", check: sameAsNew},
		{file: "quirk-business-spelling.edxml", check: func(t *testing.T, p *Packet) {
			if p.Trace.Business == nil || p.Trace.Business.Staff.Staff != "Trần Thị B" {
				t.Errorf("Business = %+v, want the Business element read", p.Trace.Business)
			}
		}},
		{file: "quirk-xlink.edxml", check: func(t *testing.T, p *Packet) {
			want := []Attr{{Space: "xlink", Local: "type", Value: "simple"}, {Space: "xlink", Local: "href", Value: "cid:att-1"}}
			if diff := cmp.Diff(want, p.Manifest.References[0].Attrs); diff != "" {
				t.Errorf("Reference attrs (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-order.edxml", check: func(t *testing.T, p *Packet) {
			if p.Header.SteeringType != "1" || p.Attachments[0].ContentID != "cid:att-1" {
				t.Errorf("SteeringType %q, ContentId %q: elements out of order not read", p.Header.SteeringType, p.Attachments[0].ContentID)
			}
			want := []Attr{{Space: "urn:x", Local: "relay", Value: "2"}}
			if diff := cmp.Diff(want, p.Trace.Attrs); diff != "" {
				t.Errorf("TraceHeaderList attrs (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-no-description.edxml", check: func(t *testing.T, p *Packet) {
			if p.Attachments[0].Description != "" || p.Manifest.References[0].Description != "" {
				t.Errorf("Description of a missing element not empty")
			}
		}},
		{file: "quirk-contenttype.edxml", want: []warning{
			{"AttachmentEncoded/Attachment[2]/ContentType", "application/zip", `differs from the manifest's "application/pdf"`},
		}},
		{file: "quirk-date.edxml", want: []warning{
			{"MessageHeader/PromulgationInfo/PromulgationDate", "2014/02/30", "not a date yyyy/MM/dd"},
			{"MessageHeader/OtherInfo/PageAmount", "hai", "not an integer"},
			{"MessageHeader/OtherInfo/Direction", "có", "not a boolean"},
			{"TraceHeaderList/TraceHeader[2]/Timestamp", "2015-09-30T10:15:07", "not a timestamp yyyy/MM/dd HH:mm:ss"},
		}, check: func(t *testing.T, p *Packet) {
			if p.Header.PromulgationDate != "2014/02/30" {
				t.Errorf("PromulgationDate = %q, want the text kept", p.Header.PromulgationDate)
			}
		}},
		{file: "quirk-uuid.edxml", check: func(t *testing.T, p *Packet) {
			if got := p.Header.DocumentID; got != "3f2b8c1e-9a7d-4e55-b0c2-6d1f9e8a7b34" {
				t.Errorf("DocumentId = %q", got)
			}
		}},
		{file: "quirk-organid.edxml", check: func(t *testing.T, p *Packet) {
			got := []string{p.Header.From.OrganID}
			for _, o := range p.Header.To {
				got = append(got, o.OrganID)
			}
			if diff := cmp.Diff([]string{"28.22.H17", "null", "", "001.00.20.TT2"}, got); diff != "" {
				t.Errorf("OrganIds (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-signature-nons.edxml", check: func(t *testing.T, p *Packet) {
			s := p.Signature
			if s == nil || s.Namespace != Namespace || s.Local != "Signature" || !strings.HasPrefix(s.XML, "<Signature>\n        <SignedInfo>") ||
				!strings.Contains(s.XML, `<Reference URI="">`) {
				t.Errorf("Signature = %+v", s)
			}
		}},
		{file: "quirk-signature-xmldsig.edxml", check: func(t *testing.T, p *Packet) {
			s := p.Signature
			if s == nil || s.Namespace != "http://www.w3.org/2000/09/xmldsig#" ||
				!strings.HasPrefix(s.XML, `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`) ||
				!strings.Contains(s.XML, `<CanonicalizationMethod xmlns="`+Namespace+`" Algorithm=`) {
				t.Errorf("Signature = %+v", s)
			}
		}},
		{file: "quirk-digitalsignature.edxml", check: func(t *testing.T, p *Packet) {
			want := &Signature{Namespace: Namespace, Local: "DigitalSignature", XML: "<DigitalSignature/>"}
			if diff := cmp.Diff(want, p.Signature); diff != "" {
				t.Errorf("Signature (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-unknown.edxml", check: func(t *testing.T, p *Packet) {
			want := []Element{
				{Parent: "edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo", XML: "<Secret>Mật</Secret>"},
				{Parent: "edXMLEnvelope/edXMLHeader/MessageHeader", XML: `<Urgency level="2">Khẩn</Urgency>`},
				{Parent: "edXMLEnvelope/edXMLHeader/MessageHeader", XML: `<Meta xmlns="urn:example:meta"><Tag>a &amp; b</Tag></Meta>`},
			}
			if diff := cmp.Diff(want, p.Extra); diff != "" {
				t.Errorf("Extra (-want +got):\n%s", diff)
			}
		}},
		{file: "quirk-status-short.edxml", want: []warning{{"MessageHeader/StatusCode", "3", "status code not in the two-digit form"}},
			check: func(t *testing.T, p *Packet) {
				if p.Status.Description != "" {
					t.Errorf("Description = %q, want empty", p.Status.Description)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, _, err := readBytes(t, fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, warnings(p)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func sameAsNew(t *testing.T, p *Packet) {
	want, _, err := readBytes(t, fixture(t, "new.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("packet differs from new.edxml's (-want +got):\n%s", diff)
	}
}

func TestReadStatus(t *testing.T) {
	for _, code := range []string{"01", "02", "03", "04", "05", "06", "13", "15", "16"} {
		t.Run(code, func(t *testing.T) {
			p, _, err := readBytes(t, fixture(t, "status-"+code+".edxml"))
			if err != nil {
				t.Fatal(err)
			}
			sender, recipient := "000.00.00.G01", "000.00.00.G22"
			if code == "13" {
				// The document's sender asks the recipient.
				sender, recipient = recipient, sender
			}
			want := &Packet{
				Header: Header{
					From:        Organization{OrganID: sender, OrganName: "Bộ Tài chính"},
					ResponseFor: []ResponseFor{{OrganID: recipient, Code: "7816/VPCP-TTĐT", PromulgationDate: "2015/09/30", DocumentID: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"}},
				},
				Status: &Status{
					Staff:       &StaffInfo{Department: "Văn thư", Staff: "Lê Văn C", Mobile: "0987654321", Email: "vanthu@mof.gov.vn"},
					Code:        code,
					Description: "Đã nhận",
					Timestamp:   "2015/09/30 10:20:00",
				},
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("Read mismatch (-want +got):\n%s", diff)
			}
			if !p.IsStatus() {
				t.Error("IsStatus() = false")
			}
		})
	}
}

// lineOf is the line of the first occurrence of s in data.
func lineOf(tb testing.TB, data []byte, s string) int {
	tb.Helper()
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		tb.Fatalf("%q not in the fixture", s)
	}
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

func TestReadRefusals(t *testing.T) {
	newDoc := fixture(t, "new.edxml")
	// An error after a large payload: its line must count the payload's.
	big := bytes.Replace(newDoc, []byte("    </Attachment>\n  </AttachmentEncoded>"), []byte("    </Attachmnt>\n  </AttachmentEncoded>"), 1)
	tests := []struct {
		name    string
		data    []byte
		line    int
		at      string // the line is the one of this text, if line is 0
		element string
	}{
		{name: "bad-before-decl.edxml", line: 1, element: ""},
		{name: "bad-no-envelope.edxml", line: 2, element: "edXML"},
		{name: "bad-no-header.edxml", line: 3, element: "edXMLEnvelope"},
		{name: "bad-base64.edxml", at: "RE*G", element: "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"},
		{name: "bad-not-wellformed.edxml", at: "</Subjekt>", element: "MessageHeader/Subject"},
		{name: "bad-encoding.edxml", line: 1, element: "xml declaration"},
		{name: "bad-root.edxml", line: 2, element: "edXML"},
		{name: "bad-status-07.edxml", at: "<StatusCode>", element: "MessageHeader/StatusCode"},
		{name: "bad-missing-payload.edxml", at: "<edXML:Reference>\n          <ContentId>cid:att-9", element: "edXMLManifest/Reference[2]/ContentId"},
		{name: "bad-no-data.edxml", at: "<Attachment>", element: "AttachmentEncoded/Attachment[1]"},
		{name: "bad-text-after-root.edxml", at: "</edXML>", element: "edXML"},
		{name: "error after payload", data: big, at: "</Attachmnt>", element: "AttachmentEncoded/Attachment[2]"},
		{name: "empty", data: []byte{}, line: 1},
		{name: "utf-16", data: []byte("\xff\xfe<\x00?\x00"), line: 1},
		{name: "second root", data: append(bytes.Clone(newDoc), "<edXML/>"...), at: "<edXML/>", element: "edXML"},
		{name: "doctype", data: []byte("<?xml version=\"1.0\"?>\n<!DOCTYPE edXML>\n<edXML/>"), line: 2},
		{name: "declaration later", data: []byte("<!-- c -->\n<?xml version=\"1.0\"?><edXML/>"), line: 2},
		{name: "huge subject", data: bytes.Replace(newDoc, []byte("<Subject>"), []byte("<Subject>"+strings.Repeat("x", 2<<20)), 1), at: "<Subject>", element: "MessageHeader/Subject"},
		{name: "entity in base64", data: bytes.Replace(newDoc, []byte(">S8OtbmggZ"), []byte(">S8Ot&amp;bmggZ"), 1), at: ">S8Ot", element: "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"},
		{name: "element in base64", data: bytes.Replace(newDoc, []byte(">S8OtbmggZ"), []byte(">S8Ot<b/>bmggZ"), 1), at: ">S8Ot", element: "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"},
		{name: "repeated subject", data: bytes.Replace(newDoc, []byte("<Content>"), []byte("<Subject/><Content>"), 1), at: "<Subject/>", element: "MessageHeader/Subject"},
		{name: "status with attachment", data: bytes.Replace(fixture(t, "status-01.edxml"), []byte("</edXML>"), []byte("<AttachmentEncoded><Attachment/></AttachmentEncoded></edXML>"), 1), at: "<AttachmentEncoded>", element: "AttachmentEncoded/Attachment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if data == nil {
				data = fixture(t, tt.name)
			}
			line := tt.line
			if line == 0 {
				line = lineOf(t, data, tt.at)
			}
			p, _, err := readBytes(t, data)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Read = %v, %v; want an *Error", p, err)
			}
			if e.Line != line || e.Element != tt.element {
				t.Errorf("Read error %q: got line %d element %q, want line %d element %q", e, e.Line, e.Element, line, tt.element)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Line: 12, Element: "MessageHeader/From/OrganId", Value: "x", Reason: "unknown agency"}
	if got, want := e.Error(), `line 12: MessageHeader/From/OrganId "x": unknown agency`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// roundTrip writes p with the bytes in sink and reads the result.
func roundTrip(tb testing.TB, p *Packet, sink memSink) ([]byte, *Packet, memSink) {
	tb.Helper()
	var out bytes.Buffer
	if err := Write(&out, p, sink.open); err != nil {
		tb.Fatalf("Write: %v", err)
	}
	q, sink2, err := readBytes(tb, out.Bytes())
	if err != nil {
		tb.Fatalf("Read(Write(p)): %v\n%s", err, out.Bytes())
	}
	return out.Bytes(), q, sink2
}

// samePacket compares packets but the lines of their warnings; Write
// renders some quirks away, so the second packet may have fewer warnings.
func samePacket(tb testing.TB, want, got *Packet) {
	tb.Helper()
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Packet{}, "Warnings")); diff != "" {
		tb.Errorf("Read(Write(p)) differs from p (-p +got):\n%s", diff)
	}
	have := map[warning]bool{}
	for _, w := range warnings(want) {
		have[w] = true
	}
	for _, w := range warnings(got) {
		if !have[w] {
			tb.Errorf("Read(Write(p)) warns %+v, p did not", w)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range fixtures(t) {
		if strings.HasPrefix(name, "bad-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			p, sink, err := readBytes(t, fixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			out, q, sink2 := roundTrip(t, p, sink)
			samePacket(t, p, q)
			if diff := cmp.Diff(warnings(p), warnings(q)); diff != "" && !p.IsStatus() {
				t.Errorf("warnings changed (-p +got):\n%s", diff)
			}
			for i, b := range sink {
				if !bytes.Equal(b.Bytes(), sink2[i].Bytes()) {
					t.Errorf("attachment %d changed", i)
				}
			}
			again, _, _ := roundTrip(t, q, sink2)
			if !bytes.Equal(out, again) {
				t.Errorf("Write(Read(Write(p))) differs from Write(p)")
			}
			var twice bytes.Buffer
			if err := Write(&twice, p, sink.open); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, twice.Bytes()) {
				t.Errorf("two writes of p differ")
			}
		})
	}
}

func TestWriteShape(t *testing.T) {
	p, sink, err := readBytes(t, fixture(t, "new.edxml"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, p, sink.open); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		Declaration + "\n<edXML xmlns=\"" + Namespace + "\">\n  <edXML:edXMLEnvelope xmlns:edXML=\"" + Namespace + "\">\n    <edXML:edXMLHeader>\n      <edXML:MessageHeader>\n        <edXML:From>",
		"<edXML:edXMLManifest version=\"1.0\">\n        <edXML:Reference>\n          <edXML:ContentId>cid:att-1</edXML:ContentId>",
		"<edXML:Subject>V/v thử nghiệm &amp; kiểm tra &lt;edXML&gt;</edXML:Subject>",
		"<edXML:Bussiness>",
		"  </edXML:edXMLEnvelope>\n  <AttachmentEncoded>\n    <Attachment>\n      <ContentId>cid:att-1</ContentId>",
		"<edXML:ContentTransferEncoded xmlns:edXML=\"" + Namespace + "\">",
		"</AttachmentEncoded>\n</edXML>\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Write output lacks %q", want)
		}
	}
	if strings.Contains(s, "\r") {
		t.Error("Write output has CR")
	}
	// Base64 lines are 76 characters but the last.
	i := strings.Index(s, "cid:att-2")
	i += strings.Index(s[i:], `QCVN_102_2016">`) + len(`QCVN_102_2016">`)
	j := i + strings.Index(s[i:], "</edXML:ContentTransferEncoded>")
	lines := strings.Split(s[i:j], "\n")
	for k, l := range lines[:len(lines)-1] {
		if len(l) != 76 {
			t.Errorf("base64 line %d is %d long", k, len(l))
		}
	}
}

func nativePacket() (*Packet, memSink) {
	a := bytes.Repeat([]byte("native attachment "), 1000)
	b := []byte{}
	sink := memSink{0: bytes.NewBuffer(a), 1: bytes.NewBuffer(b)}
	return &Packet{
		Header: Header{
			From:         Organization{OrganID: "000.00.00.G22", OrganName: "VPCP"},
			To:           []Organization{{OrganID: "000.00.00.G01"}},
			DocumentID:   "000.00.00.G22,2024/01/02,1/VPCP",
			CodeNumber:   "1",
			CodeNotation: "VPCP",
			Subject:      "a <b> & \"c\"\nsecond line\ttab",
			OtherInfo:    OtherInfo{Appendixes: []string{""}},
			ResponseFor:  []ResponseFor{{}},
			ToPlaces:     []string{"x"},
		},
		Trace: &Trace{
			Attrs:   []Attr{{Local: "a", Value: "1"}, {Space: "urn:y", Local: "b", Value: "2"}},
			Headers: []TraceHeader{{OrganID: "000.00.00.G22", Timestamp: "2024/01/02 03:04:05"}},
			Business: &Business{DocType: BusinessReplace, Replacements: []ReplacementInfo{{DocumentID: "d", OrganIDs: []string{"o1", "o2"}}},
				DocumentInfo: &DocumentInfo{Receivers: []Receiver{{OrganID: "r"}}}},
		},
		Signature: &Signature{Namespace: "http://www.w3.org/2000/09/xmldsig#", Local: "Signature", XML: `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignatureValue>eA==</SignatureValue></Signature>`},
		Manifest: Manifest{Version: "1.0", References: []Reference{
			{ContentID: "cid:a", ContentType: "text/plain", AttachmentName: "a.txt", Attrs: []Attr{{Space: "xlink", Local: "href", Value: "cid:a"}}},
			{ContentID: "b", ContentType: "application/octet-stream", AttachmentName: "b"},
		}},
		Attachments: []Attachment{
			{ContentID: "cid:a", ContentType: "text/plain", AttachmentName: "a.txt", Size: int64(len(a)), SHA256: sum(a)},
			{ContentID: "cid:b", ContentType: "application/octet-stream", AttachmentName: "b", Size: 0, SHA256: sum(b)},
		},
		Extra: []Element{
			{Parent: "edXMLEnvelope/edXMLHeader/MessageHeader/DueDate", XML: "<X/>"},
			{Parent: "edXMLEnvelope/edXMLHeader/MessageHeader/" + indexed("To", 1), XML: `<Y xmlns="urn:y">y</Y>`},
			{Parent: "", XML: "<Z/>"},
		},
	}, sink
}

func TestWriteNative(t *testing.T) {
	tests := []struct {
		name string
		p    func() (*Packet, memSink)
	}{
		{name: "document", p: nativePacket},
		{name: "status", p: func() (*Packet, memSink) {
			return &Packet{
				Header: Header{From: Organization{OrganID: "000.00.00.G01"}, ResponseFor: []ResponseFor{{OrganID: "000.00.00.G22", DocumentID: "x"}}},
				Status: &Status{Code: "03", Timestamp: "2024/01/02 03:04:05"},
			}, memSink{}
		}},
		{name: "empty document", p: func() (*Packet, memSink) {
			return &Packet{Manifest: Manifest{Version: "1.0"}}, memSink{}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, sink := tt.p()
			// Extra comes back grouped in the order Write visits parents.
			_, q, _ := roundTrip(t, p, sink)
			opts := []cmp.Option{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Packet{}, "Warnings"),
				cmpopts.SortSlices(func(a, b Element) bool { return a.Parent+a.XML < b.Parent+b.XML })}
			if diff := cmp.Diff(p, q, opts...); diff != "" {
				t.Errorf("Read(Write(p)) differs (-p +got):\n%s", diff)
			}
		})
	}
}

func TestWriteRefusals(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Packet)
	}{
		{"extra without parent", func(p *Packet) { p.Extra = append(p.Extra, Element{Parent: "nowhere", XML: "<a/>"}) }},
		{"extra not an element", func(p *Packet) { p.Extra = append(p.Extra, Element{Parent: "", XML: "text"}) }},
		{"manifest entry without attachment", func(p *Packet) {
			p.Manifest.References = append(p.Manifest.References, Reference{ContentID: "cid:zz"})
		}},
		{"status code not in use", func(p *Packet) {
			p.Status = &Status{Code: "07"}
			p.Trace = nil
			p.Attachments = nil
			p.Manifest = Manifest{}
		}},
		{"bytes differ", func(p *Packet) { p.Attachments[0].SHA256 = sum([]byte("other")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, sink := nativePacket()
			tt.change(p)
			if err := Write(io.Discard, p, sink.open); err == nil {
				t.Error("Write = nil, want an error")
			}
		})
	}
}

func TestPacked(t *testing.T) {
	zipped := fixture(t, "packed.zip")
	tests := []struct {
		name   string
		data   []byte
		att    string
		wantOK bool
	}{
		{"zip named pdf", zipped, "quyetdinh.pdf", true},
		{"zip named zip", zipped, "archive.ZIP", false},
		{"not a zip", []byte("%PDF-1.4"), "a.pdf", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, _, ok := Packed(bytes.NewReader(tt.data), int64(len(tt.data)), tt.att)
			if ok != tt.wantOK {
				t.Errorf("Packed = %q, %v; want ok %v", inner, ok, tt.wantOK)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range fixtures(f) {
		f.Add(fixture(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, sink, err := readBytes(t, data)
		if err != nil {
			return
		}
		_, q, _ := roundTrip(t, p, sink)
		samePacket(t, p, q)
	})
}

func TestReadPayloadForms(t *testing.T) {
	newDoc := fixture(t, "new.edxml")
	txt := []byte("Kính gửi các cơ quan.\nVăn bản thử nghiệm.\n")
	enc := base64.StdEncoding.EncodeToString(txt)
	start := []byte(`<edXML:ContentTransferEncoded xmlns:edXML="` + Namespace + `">`)
	i := bytes.Index(newDoc, start) + len(start)
	j := i + bytes.Index(newDoc[i:], []byte("</edXML:ContentTransferEncoded>"))
	tests := []struct {
		name    string
		payload string
		want    []byte
	}{
		{"one line", enc, txt},
		{"CRLF and tabs", "\r\n\t" + enc[:40] + "\r\n\t" + enc[40:] + "\r\n", txt},
		{"character references", enc[:8] + "&#13;&#10;" + enc[8:16] + "&#xD;&#xA;&#x9;" + enc[16:], txt},
		{"CDATA", "<![CDATA[" + enc[:20] + "]]>" + enc[20:], txt},
		{"unpadded", strings.TrimRight(base64.StdEncoding.EncodeToString(txt[:10]), "="), txt[:10]},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := slices.Concat(newDoc[:i], []byte(tt.payload), newDoc[j:])
			p, sink, err := readBytes(t, data)
			if err != nil {
				t.Fatal(err)
			}
			if got := sink[0].Bytes(); !bytes.Equal(got, tt.want) || p.Attachments[0].Size != int64(len(tt.want)) {
				t.Errorf("attachment 0 = %q (Size %d), want %q", got, p.Attachments[0].Size, tt.want)
			}
			// What follows the payload is still read, on the right line.
			if got := p.Attachments[1].ContentID; got != "cid:att-2" {
				t.Errorf("attachment 1 ContentId = %q", got)
			}
		})
	}
	t.Run("self-closing", func(t *testing.T) {
		data := slices.Concat(newDoc[:i-1], []byte("/>"), newDoc[j+len("</edXML:ContentTransferEncoded>"):])
		p, sink, err := readBytes(t, data)
		if err != nil {
			t.Fatal(err)
		}
		if sink[0].Len() != 0 || p.Attachments[0].Size != 0 || p.Attachments[1].Size == 0 {
			t.Errorf("sizes %d, %d; want 0 and the second's", p.Attachments[0].Size, p.Attachments[1].Size)
		}
	})
}
