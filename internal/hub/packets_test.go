package hub

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
)

// Tests of edXML packets through the hub (packets.go): a packet in is a
// send, a recall or a status report; out, its bytes as they came or a
// rendered packet.

// bytesSource is a ChunkSource over bytes in pieces of n.
type bytesSource struct {
	b []byte
	n int
}

func (s *bytesSource) Next() (Chunk, error) {
	if len(s.b) == 0 {
		return Chunk{}, io.EOF
	}
	n := min(s.n, len(s.b))
	c := Chunk{Data: bytes.Clone(s.b[:n])}
	s.b = s.b[n:]
	return c, nil
}

func sendPacket(t testing.TB, h *Hub, from string, packet string, recipients ...string) (PacketResult, error) {
	t.Helper()
	return h.SendPacket(t.Context(), agency(from), &bytesSource{b: []byte(packet), n: 777}, PacketOptions{Recipients: recipients})
}

func mustPacket(t testing.TB, h *Hub, from string, packet string) PacketResult {
	t.Helper()
	r, err := sendPacket(t, h, from, packet)
	if err != nil {
		t.Fatalf("SendPacket: %v", err)
	}
	return r
}

// readAll reads a packet body and closes it.
func readAll(t testing.TB, pb PacketBody) []byte {
	t.Helper()
	defer pb.Body.Close()
	b, err := io.ReadAll(pb.Body)
	if err != nil {
		t.Fatalf("read packet: %v", err)
	}
	return b
}

var pdf = edxmltest.PacketAttachment{Name: "cong-van.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF-1.4 công văn "), 300)}

// TestPacketInAndOut: a document packet is stored with its attachments
// decoded, served again byte for byte, checked clean, and a retry of it
// is the first receipt.
func TestPacketInAndOut(t *testing.T) {
	h, _ := retentionHub(t, nil)
	small := edxmltest.PacketAttachment{Name: "phu-luc.txt", ContentType: "text/plain", Data: []byte("phụ lục")}
	packet := edxmltest.Packet(codeG22, codeH41, "Về việc thử gói tin", "7816/VPCP-TTĐT", pdf, small)
	res := mustPacket(t, h, codeG22, packet)
	if res.Receipt == nil || res.Receipt.Duplicate || res.DocID == "" {
		t.Fatalf("result %+v, want a new receipt", res)
	}
	if res.Signature.State != SignatureAbsent {
		t.Errorf("signature %+v, want absent", res.Signature)
	}
	v, err := h.GetDocument(t.Context(), agency(codeH41), res.DocID)
	if err != nil {
		t.Fatal(err)
	}
	d := v.Doc
	if d.Header.Reference != codeG22+",2026/12/01,7816/VPCP-TTĐT" || d.Header.Subject != "Về việc thử gói tin" ||
		d.Header.Number != "7816" || d.Header.Date != "2026-12-01" || d.Header.Type != "Công văn" {
		t.Errorf("header %+v", d.Header)
	}
	if d.Packet == nil || d.Packet.Size != int64(len(packet)) || !bytes.Equal(d.Packet.SHA256, sumOf([]byte(packet))) {
		t.Errorf("packet info %+v, want %d bytes", d.Packet, len(packet))
	}
	for i, want := range [][]byte{pdf.Data, small.Data} {
		a, err := h.OpenAttachment(t.Context(), agency(codeH41), res.DocID, i)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(a.Body)
		a.Body.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("attachment %d: %d bytes, want the %d sent", i, len(got), len(want))
		}
	}
	pb, err := h.OpenPacket(t.Context(), agency(codeH41), res.DocID)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, pb); !pb.Original || string(got) != packet {
		t.Errorf("packet served: original %v, %d bytes; want the %d bytes sent", pb.Original, len(got), len(packet))
	}
	if rep, err := h.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
		t.Errorf("check after a packet: %+v, %v", rep, err)
	}
	again := mustPacket(t, h, codeG22, packet)
	if again.Receipt == nil || !again.Receipt.Duplicate || again.DocID != res.DocID {
		t.Errorf("retry: %+v, want the first receipt as a duplicate", again.Receipt)
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 1 {
		t.Errorf("queue after a retry: %d events, want 1", len(evs))
	}
}

// TestPacketKeepsTheDocumentId: a DocumentId that breaks the convention
// (a UUID, another agency's code in front) is kept as given, and is the
// key of retries.
func TestPacketKeepsTheDocumentId(t *testing.T) {
	h, _ := retentionHub(t, nil)
	for _, id := range []string{"4f0c7a52-3f1e-4c8e-9a77-1b8f3d6e2a10", codeH14 + ",2015/09/30,12/UBND"} {
		p := strings.Replace(edxmltest.Packet(codeG22, codeH41, "Mã khác", "12/UBND"),
			codeG22+",2026/12/01,12/UBND", id, 1)
		r := mustPacket(t, h, codeG22, p)
		v, err := h.GetDocument(t.Context(), agency(codeG22), r.DocID)
		if err != nil || v.Doc.Header.Reference != id {
			t.Errorf("reference %q, %v; want %q", v.Doc.Header.Reference, err, id)
		}
	}
}

// TestPacketRefusals: what the hub depends on is checked strictly, with
// the element and the value; nothing of a refused packet is stored.
func TestPacketRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	good := edxmltest.Packet(codeG22, codeH41, "Hợp lệ", "1/KT", pdf)
	for _, tt := range []struct {
		name, from, packet string
		kind               error
		msg                string
	}{
		{"unknown recipient", codeG22, strings.Replace(good, "<edXML:OrganId>"+codeH41, "<edXML:OrganId>28.22.H17", 1),
			ErrInvalid, `To/OrganId "28.22.H17" is not a registered agency or alias`},
		{"another sender", codeH14, good, ErrPermission, `From/OrganId "` + codeG22 + `" is not the caller's agency ` + codeH14},
		{"bytes before the declaration", codeG22, " " + good, ErrInvalid, "line 1"},
		{"no envelope", codeG22, `<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="` + edxml.Namespace + `"></edXML>`, ErrInvalid, "edXMLEnvelope"},
		{"broken base64", codeG22, strings.Replace(good, "</edXML:ContentTransferEncoded>", "*</edXML:ContentTransferEncoded>", 1), ErrInvalid, "ContentTransferEncoded"},
		{"business type", codeG22, strings.Replace(good, "<edXML:BussinessDocType>0<", "<edXML:BussinessDocType>7<", 1), ErrInvalid, `BussinessDocType`},
		{"revoke of nothing", codeG22, strings.Replace(good, "<edXML:BussinessDocType>0<", "<edXML:BussinessDocType>1<", 1), ErrInvalid, "ResponseFor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sendPacket(t, h, tt.from, tt.packet)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 0 {
		t.Errorf("%d events queued by refused packets", len(evs))
	}
	if files := tmpFiles(t, h); len(files) != 0 {
		t.Errorf("temporary files left: %v", files)
	}
}

// TestPacketBusinessTypes: an update or replace packet links the
// original it names; a revoke packet recalls it.
func TestPacketBusinessTypes(t *testing.T) {
	h, _ := retentionHub(t, nil)
	orig := mustPacket(t, h, codeG22, edxmltest.Packet(codeG22, codeH41, "Gốc", "5/KT"))
	ref := codeG22 + ",2026/12/01,5/KT"
	responseFor := "<edXML:ResponseFor><edXML:OrganId>" + codeG22 + "</edXML:OrganId><edXML:Code>5/KT</edXML:Code><edXML:PromulgationDate>2026/12/01</edXML:PromulgationDate><edXML:DocumentId>" + ref + "</edXML:DocumentId></edXML:ResponseFor>\n<edXML:SteeringType>"
	withType := func(number, business string, extra string) string {
		p := edxmltest.Packet(codeG22, codeH41, "Lần "+number, number+"/KT")
		p = strings.Replace(p, "<edXML:BussinessDocType>0<", "<edXML:BussinessDocType>"+business+"<", 1)
		p = strings.Replace(p, "<edXML:SteeringType>", responseFor, 1)
		return strings.Replace(p, "</edXML:Bussiness>", extra+"</edXML:Bussiness>", 1)
	}
	for _, tt := range []struct {
		business string
		extra    string
		want     BusinessType
	}{
		{edxml.BusinessUpdate, "<edXML:BussinessDocumentInfo><edXML:DocumentInfo>1</edXML:DocumentInfo><edXML:DocumentReceiver>0</edXML:DocumentReceiver></edXML:BussinessDocumentInfo>", BusinessUpdate},
		{edxml.BusinessReplace, "<edXML:ReplacementInfoList><edXML:ReplacementInfo><edXML:DocumentId>" + ref + "</edXML:DocumentId><edXML:OrganIdList><edXML:OrganId>" + codeH41 + "</edXML:OrganId></edXML:OrganIdList></edXML:ReplacementInfo></edXML:ReplacementInfoList>", BusinessReplace},
	} {
		r := mustPacket(t, h, codeG22, withType("6"+tt.business, tt.business, tt.extra))
		v, err := h.GetDocument(t.Context(), agency(codeH41), r.DocID)
		if err != nil || v.Doc.Header.Business != tt.want || v.Doc.Header.Original != orig.DocID {
			t.Errorf("business %s: %v/%q, %v; want %v of %s", tt.business, v.Doc.Header.Business, v.Doc.Header.Original, err, tt.want, orig.DocID)
		}
	}
	rev := mustPacket(t, h, codeG22, withType("9", edxml.BusinessRevoke, ""))
	if rev.Recall == nil || rev.DocID != orig.DocID {
		t.Fatalf("revoke: %+v, want a recall of %s", rev, orig.DocID)
	}
	v, err := h.GetDocument(t.Context(), agency(codeG22), orig.DocID)
	if err != nil || v.Doc.Recalled == nil {
		t.Errorf("after the revoke packet: recalled %v, %v", v.Doc.Recalled, err)
	}
	if again := mustPacket(t, h, codeG22, withType("9", edxml.BusinessRevoke, "")); again.Recall == nil || again.DocID != orig.DocID {
		t.Errorf("the revoke packet again: %+v, want its first answer", again)
	}
}

// TestStatusPackets: every status code in; each recorded report out as a
// status packet that reads back with its code.
func TestStatusPackets(t *testing.T) {
	h, _ := retentionHub(t, nil)
	doc := mustPacket(t, h, codeG22, edxmltest.Packet(codeG22, codeH41, "Báo cáo trạng thái", "8/KT"))
	ref := codeG22 + ",2026/12/01,8/KT"
	status := func(from, code, desc string) (PacketResult, error) {
		return sendPacket(t, h, from, edxmltest.StatusPacket(from, codeG22, ref, code, desc))
	}
	// 01 before acknowledgement acknowledges; again, it is a no-op.
	for range 2 {
		r, err := status(codeH41, "01", "")
		if err != nil || r.Status == nil || r.Status.Code != StatusArrived {
			t.Fatalf("01: %+v, %v", r, err)
		}
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 0 {
		t.Errorf("01 left %d events queued", len(evs))
	}
	for _, code := range []Status{StatusAccepted, StatusAssigned, StatusProcessing, StatusCompleted} {
		r, err := status(codeH41, string(code), "Đang làm "+string(code))
		if err != nil || r.Status == nil || r.Status.Code != code || r.DocID != doc.DocID {
			t.Fatalf("%s: %+v, %v", code, r, err)
		}
		// The same packet again (the SDK retries) gets the same report.
		again, err := status(codeH41, string(code), "Đang làm "+string(code))
		if err != nil || again.Status == nil || !again.Status.Time.Equal(r.Status.Time) {
			t.Fatalf("%s again: %+v, %v; want the first report", code, again.Status, err)
		}
		b, err := h.StatusPacket(t.Context(), agency(codeG22), doc.DocID, codeH41, code)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := edxml.Read(bytes.NewReader(b), nil, edxml.ReadOptions{})
		if err != nil || !pk.IsStatus() || pk.Status.Code != string(code) || pk.Status.Description != "Đang làm "+string(code) ||
			pk.Header.ResponseFor[0].DocumentID != ref || pk.Status.Staff.Staff != "Trần Thị B" {
			t.Errorf("status packet %s: %+v, %v", code, pk, err)
		}
	}
	for _, tt := range []struct{ code, msg string }{
		{"07", "not a status code in use"}, {"14", "not a status code in use"}, {"03", "FAILED"},
	} {
		if _, err := status(codeH41, tt.code, "x"); err == nil {
			t.Errorf("%s: accepted after 06", tt.code)
		}
	}
	// The recall flow: 13 from the sender, 16 and 15 from the recipient.
	r, err := status(codeG22, "13", "Thu hồi để sửa")
	if err != nil || r.Recall == nil {
		t.Fatalf("13: %+v, %v", r, err)
	}
	if again, err := status(codeG22, "13", "Thu hồi để sửa"); err != nil || again.Recall == nil || again.DocID != r.DocID {
		t.Errorf("13 again: %+v, %v; want the recall's answer", again, err)
	}
	if r, err := status(codeH41, "16", "Đã ban hành"); err != nil || r.Status.Code != StatusRecallRefused {
		t.Errorf("16: %+v, %v", r, err)
	}
}

// TestStatusPacketRefusals names what is wrong.
func TestStatusPacketRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	mustPacket(t, h, codeG22, edxmltest.Packet(codeG22, codeH41, "Gốc", "3/KT"))
	ref := codeG22 + ",2026/12/01,3/KT"
	for _, tt := range []struct {
		name, from, sender, ref, code, msg string
	}{
		{"unused code", codeH41, codeG22, ref, "09", `StatusCode "09": status code not in use`},
		{"unknown sender", codeH41, "28.22.H17", ref, "03", `ResponseFor/OrganId "28.22.H17" is not a registered agency or alias`},
		{"unknown document", codeH41, codeG22, "nope", "03", `ResponseFor/DocumentId: "nope" is not a document sent by ` + codeG22},
		{"not a recipient", codeH14, codeG22, ref, "03", "not found"},
		{"02 without a reason", codeH41, codeG22, ref, "02", "reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sendPacket(t, h, tt.from, edxmltest.StatusPacket(tt.from, tt.sender, tt.ref, tt.code, ""))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want one containing %q", err, tt.msg)
			}
		})
	}
}

// TestNativeDocumentRendersAPacket: a document sent natively renders a
// packet, always the same bytes, that reads back to its header.
func TestNativeDocumentRendersAPacket(t *testing.T) {
	h, _ := retentionHub(t, nil)
	atts, src := uploadOf(body(3000, 1), body(10, 2))
	hdr := Header{Recipients: []string{codeH41, codeH14}, Number: "42", Notation: "VPCP-KTTH", Subject: "Gửi tự nhiên",
		Content: "Dòng một\nDòng hai", Place: "Hà Nội", Date: "2024-02-29", Type: "Quyết định", Priority: 2, DueDate: "2024-03-15",
		SteeringType: 1, ToPlaces: []string{"Như trên", "Lưu: VT"}, Signer: Signer{Competence: "TM. Chính phủ", Position: "Thủ tướng", FullName: "Nguyễn Văn A"},
		Attachments: atts}
	r, err := h.Send(t.Context(), agency(codeG22), hdr, src)
	if err != nil {
		t.Fatal(err)
	}
	render := func() []byte {
		pb, err := h.OpenPacket(t.Context(), agency(codeH41), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if pb.Original {
			t.Error("a native document's packet says it is original")
		}
		return readAll(t, pb)
	}
	first := render()
	if second := render(); !bytes.Equal(first, second) {
		t.Fatal("two renderings of one document differ")
	}
	pk, err := edxml.Read(bytes.NewReader(first), nil, edxml.ReadOptions{})
	if err != nil {
		t.Fatalf("read the rendered packet: %v\n%s", err, first)
	}
	got := headerFromPacket(pk)
	v, _ := h.GetDocument(t.Context(), agency(codeG22), r.ID)
	want := v.Doc.Header
	got.Recipients = []string{pk.Header.To[0].OrganID, pk.Header.To[1].OrganID}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Header{}, "Packet"), cmpopts.IgnoreFields(AttachmentInfo{}, "Packet"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("native -> packet -> native (-want +got):\n%s", diff)
	}
}

// memSink keeps a packet's attachments in memory.
type memSink struct{ bodies [][]byte }

type memBody struct {
	s *memSink
	i int
	bytes.Buffer
}

func (s *memSink) Attachment(i int) (io.WriteCloser, error) { return &memBody{s: s, i: i}, nil }

func (b *memBody) Close() error {
	for len(b.s.bodies) <= b.i {
		b.s.bodies = append(b.s.bodies, nil)
	}
	b.s.bodies[b.i] = b.Bytes()
	return nil
}

// roundTrip reads a packet, maps it to the native model as SendPacket
// does, renders that as FetchPacket does, and reads the result.
func roundTrip(t *testing.T, packet []byte) (in, out *edxml.Packet) {
	t.Helper()
	sink := &memSink{}
	in, err := edxml.Read(bytes.NewReader(packet), sink, edxml.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rendered *edxml.Packet
	if in.IsStatus() {
		code, _, staff, sp := statusOf(in)
		d := Document{Sender: codeG22, Header: Header{Reference: "x"}}
		rendered = statusPacketOf(d, StatusReport{Recipient: codeH41, Code: code, Reason: strings.TrimSpace(in.Status.Description), Staff: staff, Packet: sp})
	} else {
		hdr := headerFromPacket(in)
		rendered = packetOf(Document{ID: "01J00000000000000000000000", Sender: codeG22, Header: hdr}, linked{})
	}
	var buf bytes.Buffer
	open := func(i int) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sink.bodies[i])), nil }
	if err := edxml.Write(&buf, rendered, open); err != nil {
		t.Fatal(err)
	}
	out, err = edxml.Read(&buf, nil, edxml.ReadOptions{})
	if err != nil {
		t.Fatalf("read the rendered packet: %v\n%s", err, buf.Bytes())
	}
	return in, out
}

// TestPacketRoundTripFieldByField: every packet of internal/edxml's
// fixtures, quirks included, read into the native model renders a packet
// equal to it element by element (status packets too).
func TestPacketRoundTripFieldByField(t *testing.T) {
	files, err := filepath.Glob("../edxml/testdata/*.edxml")
	if err != nil || len(files) < 20 {
		t.Fatalf("fixtures: %d, %v", len(files), err)
	}
	extra := edxmltest.Packet(codeG22, codeH41, "  Trích yếu có khoảng trắng ", "7/KT", pdf)
	extra = strings.Replace(extra, "<edXML:PromulgationDate>2026/12/01<", "<edXML:PromulgationDate>2014/02/30<", 1)
	extra = strings.Replace(extra, "<edXML:Priority>0<", "<edXML:Priority> 1<", 1)
	extra = strings.Replace(extra, "<edXML:SteeringType>0<", "<edXML:SteeringType><", 1)
	extra = strings.Replace(extra, "</edXML:OtherInfo>", "<edXML:Unknown a=\"1\">giữ lại</edXML:Unknown></edXML:OtherInfo>", 1)
	cases := map[string][]byte{"quirks of the test packet": []byte(extra)}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "bad-") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = b
	}
	for name, packet := range cases {
		t.Run(name, func(t *testing.T) {
			in, out := roundTrip(t, packet)
			if diff := cmp.Diff(in, out, cmpopts.IgnoreFields(edxml.Packet{}, "Warnings"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("packet -> native -> packet (-read +rendered):\n%s", diff)
			}
		})
	}
	in, _ := roundTrip(t, []byte(extra))
	hdr := headerFromPacket(in)
	if hdr.Subject != "Trích yếu có khoảng trắng" || hdr.Date != "" || hdr.Priority != 1 {
		t.Errorf("native fields: subject %q date %q priority %d", hdr.Subject, hdr.Date, hdr.Priority)
	}
}

// TestPacketPurgedAndBackedUp: the packet is a body like an attachment:
// the retention purge removes it, and until then the store check sees it.
func TestPacketPurged(t *testing.T) {
	h, clock := retentionHub(t, func(c *Config) { c.RetentionDays = 1 })
	r := mustPacket(t, h, codeG22, edxmltest.Packet(codeG22, codeH41, "Sẽ bị xoá", "2/KT", pdf))
	ack(t, h, r.DocID, codeH41)
	if _, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: r.DocID, Code: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(72 * time.Hour)
	if _, err := h.Purge(context.Background(), 24*time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.OpenPacket(t.Context(), agency(codeH41), r.DocID); !errors.Is(err, ErrNotFound) {
		t.Errorf("packet after the purge: %v, want not found", err)
	}
	if rep, err := h.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
		t.Errorf("check after the purge: %+v, %v", rep, err)
	}
}

// TestPacketAliases: an alias resolves where the hub must identify an
// agency: From, To, and the sender a status packet answers.
func TestPacketAliases(t *testing.T) {
	h, _ := retentionHub(t, nil)
	for alias, code := range map[string]string{"28.22.H17": codeH41, "vxp.saas.03": codeG22} {
		if _, err := h.AddAlias(t.Context(), admin, alias, code); err != nil {
			t.Fatal(err)
		}
	}
	r := mustPacket(t, h, codeG22, edxmltest.Packet("vxp.saas.03", "28.22.H17", "Gửi theo bí danh", "4/BD"))
	v, err := h.GetDocument(t.Context(), agency(codeH41), r.DocID)
	if err != nil || v.Doc.Header.Recipients[0] != codeH41 || v.Doc.Header.Packet.To[0].OrganID != "28.22.H17" {
		t.Fatalf("document sent to an alias: %+v, %v", v.Doc.Header, err)
	}
	st, err := sendPacket(t, h, codeH41, edxmltest.StatusPacket("28.22.H17", "vxp.saas.03", "vxp.saas.03,2026/12/01,4/BD", "03", ""))
	if err == nil {
		// The DocumentId is the packet's own, which named its sender by the alias.
		t.Logf("status on the alias's DocumentId: %+v", st)
	}
	st, err = sendPacket(t, h, codeH41, edxmltest.StatusPacket("28.22.H17", "vxp.saas.03", v.Doc.Header.Reference, "01", ""))
	if err != nil || st.DocID != r.DocID {
		t.Errorf("status through aliases: %+v, %v", st, err)
	}
	if _, err := sendPacket(t, h, codeH14, edxmltest.Packet("vxp.saas.03", codeH41, "Mạo danh", "5/BD")); !errors.Is(err, ErrPermission) {
		t.Errorf("a packet from another agency's alias: %v, want permission denied", err)
	}
}

// TestPacketSignatures: a packet's XML-DSig is checked on arrival and
// recorded with the document; it refuses the packet only when the hub
// requires valid signatures. The fixture is signed by internal/xmlsig's
// test CA.
func TestPacketSignatures(t *testing.T) {
	signed, err := os.ReadFile("../xmlsig/testdata/signed-rsa-sha1-crlf.xml")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile("../xmlsig/testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ca.pem")
	}
	const codeH29 = "000.00.01.H29"
	tampered := bytes.Replace(signed, []byte("thử nghiệm chữ ký số"), []byte("thử nghiệm chữ ký giả"), 1)
	for _, tt := range []struct {
		name    string
		require bool
		packet  []byte
		state   SignatureState
		trusted bool
		refused bool
	}{
		{"valid", false, signed, SignatureValid, true, false},
		{"tampered, recorded", false, tampered, SignatureInvalid, false, false},
		{"unsigned, recorded", false, []byte(edxmltest.Packet(codeG22, codeH29, "Không ký", "1/KK")), SignatureAbsent, false, false},
		{"valid, required", true, signed, SignatureValid, true, false},
		{"tampered, required", true, tampered, SignatureInvalid, false, true},
		{"unsigned, required", true, []byte(edxmltest.Packet(codeG22, codeH29, "Không ký", "1/KK")), SignatureAbsent, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := retentionHub(t, func(c *Config) {
				c.Now, c.PacketTrust, c.PacketRequireValidSignature = time.Now, roots, tt.require
			})
			mustCreate(t, h, codeH29, "UBND tỉnh Hà Nam", StagePilot)
			r, err := sendPacket(t, h, codeG22, string(tt.packet))
			if tt.refused {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), string(tt.state)) {
					t.Fatalf("error %v, want a refusal naming the signature %s", err, tt.state)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := h.GetDocument(t.Context(), agency(codeH29), r.DocID)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Doc.Packet.Signature
			if got.State != tt.state || got.Trusted != tt.trusted || (tt.state == SignatureValid && got.Subject == "") {
				t.Errorf("signature %+v, want %s (trusted %v)", got, tt.state, tt.trusted)
			}
			if got.State == SignatureInvalid && got.Reason == "" {
				t.Error("an invalid signature without its reason")
			}
			pb, err := h.OpenPacket(t.Context(), agency(codeH29), r.DocID)
			if err != nil {
				t.Fatal(err)
			}
			if b := readAll(t, pb); !bytes.Equal(b, tt.packet) {
				t.Error("the packet served is not the packet signed")
			}
		})
	}
}

// TestListWaitingOfKeepsTheOldest: a system's list across its agencies is
// the oldest waiting events of all of them, at most the limit.
func TestListWaitingOfKeepsTheOldest(t *testing.T) {
	h, clock := retentionHub(t, nil)
	var want []string
	for i, to := range []string{codeH41, codeH14, codeH41, codeH14} {
		id := send(t, h, fmt.Sprint("Văn bản ", i), []string{to})
		if i < 3 {
			want = append(want, id+"."+to)
		}
		clock.Advance(time.Minute)
	}
	got, err := h.ListWaitingOf(t.Context(), []Principal{agency(codeH14), agency(codeH41)}, false, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range got {
		ids = append(ids, w.ID)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("the oldest three across both agencies (-want +got):\n%s", diff)
	}
}
