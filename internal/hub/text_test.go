package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"

	"github.com/ndxp/ndxp/internal/store"
)

// refused is one character the text rules refuse, with the words the
// error must use for it.
type refused struct {
	r    rune
	what string
}

// refusedRunes has a member of every class the text rules refuse.
var refusedRunes = []refused{
	{0x00, "control character"}, {0x07, "control character"}, {0x08, "control character"},
	{0x1b, "control character"}, {0x0b, "control character"}, {0x0c, "control character"},
	{0x7f, "control character"}, {0x85, "control character"}, {0x9b, "control character"},
	{'\r', "carriage return"},
	{0x2028, "line or paragraph separator"}, {0x2029, "line or paragraph separator"},
	{0x202a, "bidirectional control"}, {0x202b, "bidirectional control"}, {0x202c, "bidirectional control"},
	{0x202d, "bidirectional control"}, {0x202e, "bidirectional control"},
	{0x2066, "bidirectional control"}, {0x2067, "bidirectional control"}, {0x2068, "bidirectional control"},
	{0x2069, "bidirectional control"}, {0x200e, "bidirectional control"}, {0x200f, "bidirectional control"},
	{0x061c, "bidirectional control"},
	{0x200b, "zero-width character"}, {0x200c, "zero-width character"}, {0x200d, "zero-width character"},
	{0x2060, "zero-width character"}, {0xfeff, "zero-width character"},
	{0x00ad, "soft hyphen"},
	{0x2061, "invisible character"}, {0x2062, "invisible character"}, {0x2063, "invisible character"},
	{0x2064, "invisible character"}, {0x180e, "invisible character"}, {0xfff9, "invisible character"},
	{0xe0001, "invisible character"}, {0xe0041, "invisible character"}, {0x034f, "invisible character"},
	{0x115f, "invisible character"}, {0x3164, "invisible character"}, {0xffa0, "invisible character"},
}

func TestCheckTextRefuses(t *testing.T) {
	for _, multi := range []bool{false, true} {
		check, kind := checkText, "one-line"
		if multi {
			check, kind = checkLines, "multi-line"
		}
		for _, c := range refusedRunes {
			v := "Về" + string(c.r) + "việc"
			t.Run(fmt.Sprintf("%s/U+%04X", kind, c.r), func(t *testing.T) {
				err := check("signer.full_name", v, 100, false)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("check(%q) = %v; want ErrInvalid", v, err)
				}
				field, _ := fieldOf(t, err)
				if field != "signer.full_name" {
					t.Errorf("field = %q; want signer.full_name", field)
				}
				// The character is the third: V, ề, then it.
				for _, want := range []string{fmt.Sprintf("U+%04X", c.r), "character 3", c.what} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			})
		}
	}
}

func TestCheckTextAccepts(t *testing.T) {
	tests := []struct {
		name, v string
		multi   bool
	}{
		{"Vietnamese, precomposed", "Ủy ban nhân dân tỉnh Nghệ An", false},
		{"Vietnamese, decomposed", norm.NFD.String("Ủy ban nhân dân tỉnh Nghệ An"), false},
		{"punctuation and symbols", `Số 7816/VPCP-TTĐT — "trích yếu" (bản sao) 100% €`, false},
		{"no-break and ideographic spaces", "a\u00a0b\u3000c", false},
		{"replacement character as text", "a\ufffdb", false},
		{"other scripts", "日本語 العربية עברית Ελληνικά", false},
		{"lines and tabs in content", "Kính gửi:\n\tUBND tỉnh Nghệ An\n\nNội dung.", true},
		{"blank optional", "", false},
	}
	for _, tt := range tests {
		check := checkText
		if tt.multi {
			check = checkLines
		}
		if err := check("subject", tt.v, 1000, false); err != nil {
			t.Errorf("%s: check(%q) = %v; want nil", tt.name, tt.v, err)
		}
	}
}

func TestCheckTextLinesAndLimits(t *testing.T) {
	tests := []struct {
		name     string
		v        string
		multi    bool
		required bool
		want     string // in the error; "" for none
	}{
		{"line break in one-line field", "a\nb", false, false, "character 2 (U+000A) is a line break, which is not allowed in a one-line field"},
		{"tab in one-line field", "a\tb", false, false, "character 2 (U+0009) is a tab"},
		{"lone CR in content", "a\rb", true, false, "character 2 (U+000D) is a carriage return without a line feed"},
		{"invalid UTF-8", "ab\xffc", false, false, "must be valid UTF-8: byte 0xFF at byte offset 2"},
		{"invalid UTF-8 in content", "dòng\n\xc3", true, false, "must be valid UTF-8: byte 0xC3 at byte offset 6"},
		{"blank required", " \u3000 ", false, true, "must not be empty"},
		{"too long", strings.Repeat("ệ", 11), false, false, "is 11 characters long, the limit is 10"},
		{"control in an otherwise blank optional field", "\v", false, false, "U+000B"},
		{"position counts characters, not bytes", "Đồng\u202e", false, false, "character 5 (U+202E)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := checkText
			if tt.multi {
				check = checkLines
			}
			err := check("content", tt.v, 10, tt.required)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("check(%q) = %v; want nil", tt.v, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check(%q) = %v; want ErrInvalid saying %q", tt.v, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "content: ") {
				t.Errorf("error %q does not start with the field", err)
			}
		})
	}
}

// validHeader is a header normalizeHeader accepts from codeG22.
func validHeader() Header {
	return Header{
		Recipients: []string{codeH41}, Number: "7816", Notation: "VPCP-TTĐT", Subject: "Về việc triển khai",
		Attachments: []AttachmentInfo{{Name: "quyết định.pdf", MediaType: "application/pdf"}},
	}
}

var testNow = time.Date(2025, 10, 1, 8, 0, 0, 0, time.UTC)

// TestNormalizeHeaderTextFields checks that every text field of a header
// goes through the text rules, naming the field.
func TestNormalizeHeaderTextFields(t *testing.T) {
	const bad = "a\u202egnp.exe"
	tests := []struct {
		field string
		set   func(h *Header, v string)
	}{
		{"subject", func(h *Header, v string) { h.Subject = v }},
		{"content", func(h *Header, v string) { h.Content = v }},
		{"number", func(h *Header, v string) { h.Number = v }},
		{"notation", func(h *Header, v string) { h.Notation = v }},
		{"document_type", func(h *Header, v string) { h.Type = v }},
		{"promulgation_place", func(h *Header, v string) { h.Place = v }},
		{"signer.competence", func(h *Header, v string) { h.Signer.Competence = v }},
		{"signer.position", func(h *Header, v string) { h.Signer.Position = v }},
		{"signer.full_name", func(h *Header, v string) { h.Signer.FullName = v }},
		{"response_for", func(h *Header, v string) { h.ResponseFor = v }},
		{"original_document_id", func(h *Header, v string) { h.Business = BusinessUpdate; h.Original = v }},
		{"to_places[1]", func(h *Header, v string) { h.ToPlaces = []string{"Như trên", v} }},
		{"attachments[0].name", func(h *Header, v string) { h.Attachments[0].Name = v }},
		{"attachments[0].media_type", func(h *Header, v string) { h.Attachments[0].MediaType = v }},
		{"attachments[0].description", func(h *Header, v string) { h.Attachments[0].Description = v }},
		{"reference", func(h *Header, v string) { h.Reference = codeG22 + "," + v }},
	}
	for _, tt := range tests {
		for _, v := range []string{bad, "x\x1b]0;owned\x07", "x\x00y", "a\u200bb", "a\u2028b"} {
			t.Run(tt.field, func(t *testing.T) {
				h := validHeader()
				tt.set(&h, v)
				err := normalizeHeader(codeG22, &h, testNow)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s = %q: normalizeHeader = %v; want ErrInvalid", tt.field, v, err)
				}
				if field, _ := fieldOf(t, err); field != tt.field {
					t.Errorf("%s = %q: field = %q (%v)", tt.field, v, field, err)
				}
			})
		}
	}
}

func TestNormalizeHeaderContent(t *testing.T) {
	h := validHeader()
	h.Content = "Kính gửi:\r\n\tUBND tỉnh Nghệ An\r\n\r\nNội dung.\n"
	if err := normalizeHeader(codeG22, &h, testNow); err != nil {
		t.Fatalf("normalizeHeader = %v", err)
	}
	if want := "Kính gửi:\n\tUBND tỉnh Nghệ An\n\nNội dung.\n"; h.Content != want {
		t.Errorf("content = %q; want %q (CR LF made LF)", h.Content, want)
	}
	h = validHeader()
	h.Content = "dòng 1\rdòng 2"
	if err := normalizeHeader(codeG22, &h, testNow); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "U+000D") {
		t.Errorf("normalizeHeader(lone CR) = %v; want ErrInvalid naming U+000D", err)
	}
}

// TestNormalizeHeaderTrims: the one-line texts are trimmed like the
// subject, so a blank number is no number (found by FuzzNormalizeHeader:
// the reference derived from " " ended in a space that a second
// normalization trimmed).
func TestNormalizeHeaderTrims(t *testing.T) {
	h := validHeader()
	h.Number, h.Notation, h.Type, h.Signer.FullName = " 7816 ", "\tVPCP-TTĐT ", " Công văn ", " Nguyễn Văn A\n"
	if err := normalizeHeader(codeG22, &h, testNow); err != nil {
		t.Fatalf("normalizeHeader = %v", err)
	}
	got := []string{h.Number, h.Notation, h.Type, h.Signer.FullName, h.Reference}
	want := []string{"7816", "VPCP-TTĐT", "Công văn", "Nguyễn Văn A", codeG22 + ",2025/10/01,7816/VPCP-TTĐT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("number, notation, type, signer, reference (-want +got):\n%s", diff)
	}
	h = validHeader()
	h.Number, h.Notation = " ", ""
	err := normalizeHeader(codeG22, &h, testNow)
	if field, _ := fieldOf(t, err); field != "reference" {
		t.Errorf("blank number without a reference: field = %q (%v); want reference", field, err)
	}
}

func TestAttachmentNamesNFC(t *testing.T) {
	nfc := "hồ sơ.pdf"
	nfd := norm.NFD.String(nfc)
	if nfc == nfd {
		t.Fatal("test data: NFC and NFD forms are equal")
	}

	h := validHeader()
	h.Attachments = []AttachmentInfo{{Name: nfd}}
	if err := normalizeHeader(codeG22, &h, testNow); err != nil {
		t.Fatalf("normalizeHeader = %v", err)
	}
	if h.Attachments[0].Name != nfc {
		t.Errorf("name = %q; want it stored NFC as %q", h.Attachments[0].Name, nfc)
	}

	for _, pair := range [][2]string{{nfc, nfd}, {nfd, nfc}, {nfd, nfd}, {nfc, nfc}} {
		h := validHeader()
		h.Attachments = []AttachmentInfo{{Name: "khác.pdf"}, {Name: pair[0]}, {Name: pair[1]}}
		err := normalizeHeader(codeG22, &h, testNow)
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("names %+q: normalizeHeader = %v; want ErrInvalid", pair, err)
		}
		if field, _ := fieldOf(t, err); field != "attachments[2].name" {
			t.Errorf("names %+q: field = %q; want attachments[2].name", pair, field)
		}
		if !strings.Contains(err.Error(), "attachments[1]") {
			t.Errorf("names %+q: error %q does not name the first one", pair, err)
		}
		if differ := pair[0] != pair[1]; differ != strings.Contains(err.Error(), "normalization form") {
			t.Errorf("names %+q: error %q; want the normalization form mentioned only when the spellings differ", pair, err)
		}
	}
}

func TestAgencyTextRules(t *testing.T) {
	name := "Ủy ban nhân dân tỉnh Nghệ An"
	a := Agency{Code: codeH41, Name: " " + norm.NFD.String(name) + " "}
	if err := a.normalize(); err != nil {
		t.Fatal(err)
	}
	if a.Name != name {
		t.Errorf("name = %q; want NFC %q", a.Name, name)
	}
	for _, tt := range []struct {
		field string
		set   func(a *Agency)
	}{
		{"name", func(a *Agency) { a.Name = "UBND\u202e tỉnh" }},
		{"name", func(a *Agency) { a.Name = "UBND\u200d tỉnh" }},
		{"name", func(a *Agency) { a.Name = "UBND\u00adtỉnh" }},
		{"contact.person", func(a *Agency) { a.Contact.Person = "Hồ\u2066 Văn Thư" }},
		{"contact.address", func(a *Agency) { a.Contact.Address = "Vinh\u2029Nghệ An" }},
		{"contact.phone", func(a *Agency) { a.Contact.Phone = "0238\x1b[2J" }},
	} {
		a := Agency{Code: codeH41, Name: name}
		tt.set(&a)
		err := a.normalize()
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("normalize(%+v) = %v; want ErrInvalid", a, err)
		}
		if field, _ := fieldOf(t, err); field != tt.field {
			t.Errorf("field = %q; want %q (%v)", field, tt.field, err)
		}
	}
}

// TestReasonTextRules: the reasons of a status, a recall and a suspension
// are one-line texts too.
func TestReasonTextRules(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Về việc kiểm thử", []string{codeH41})
	ack(t, h, id, codeH41)
	if _, err := h.ReportStatus(t.Context(), Principal{Name: codeH41}, StatusRequest{DocID: id, Code: StatusRefused, Reason: "sai\x1b]0;x\x07"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReportStatus(reason with ESC) = %v; want ErrInvalid", err)
	}
	if _, err := h.ReportStatus(t.Context(), Principal{Name: codeH41}, StatusRequest{DocID: id, Code: StatusAccepted, Staff: "Trần\u202eThị B"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReportStatus(staff with bidi) = %v; want ErrInvalid", err)
	}
	if _, _, err := h.Recall(t.Context(), Principal{Name: codeG22}, id, "ban hành\u200b nhầm"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Recall(reason with zero-width space) = %v; want ErrInvalid", err)
	}
	if _, err := h.SetSuspended(t.Context(), codeH14, true, "a\u2028b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetSuspended(reason with U+2028) = %v; want ErrInvalid", err)
	}
}

// TestStoredTextStillLoads: records written before the text rules (or by
// an older hub) keep loading and showing as they are.
func TestStoredTextStillLoads(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Về việc kiểm thử", []string{codeH41}, []byte("x"))
	const old = "cũ\x1b[2J\u202egnp.exe\u200b\u2028"
	err := h.st.Update(t.Context(), func(tx store.Tx) error {
		var d Document
		if err := getRecord(tx, store.BucketDocuments, []byte(id), &d); err != nil {
			return err
		}
		d.Header.Subject, d.Header.Content, d.Header.ResponseFor = old, old, old
		d.Header.Attachments[0].Name = old
		if err := putRecord(tx, store.BucketDocuments, []byte(id), d); err != nil {
			return err
		}
		a, err := getAgency(tx, codeH41)
		if err != nil {
			return err
		}
		a.Name = old
		return putAgency(tx, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.GetDocument(t.Context(), Principal{Name: codeH41}, id)
	if err != nil {
		t.Fatalf("GetDocument = %v", err)
	}
	if v.Doc.Header.Subject != old || v.Doc.Header.Content != old || v.Doc.Header.Attachments[0].Name != old {
		t.Errorf("stored header changed on reading: %+v", v.Doc.Header)
	}
	docs, _, err := h.ListReceived(t.Context(), Principal{Name: codeH41}, ListFilter{}, 10, "")
	if err != nil || len(docs) != 1 {
		t.Fatalf("ListReceived = %d documents, %v; want 1", len(docs), err)
	}
	a, err := h.GetAgency(t.Context(), codeH41)
	if err != nil || a.Name != old {
		t.Fatalf("GetAgency = %q, %v; want the stored name", a.Name, err)
	}
	// Changes that do not touch the name keep working.
	if _, err := h.SetStage(t.Context(), codeH41, StageProduction); err != nil {
		t.Errorf("SetStage on an agency with an old name = %v", err)
	}
	if got, err := h.SetSuspended(t.Context(), codeH41, true, "kiểm thử"); err != nil || got.Name != old {
		t.Errorf("SetSuspended = %q, %v; want the stored name kept", got.Name, err)
	}
}

// FuzzNormalizeHeader: normalizeHeader never panics, what it accepts
// holds none of the refused characters, and it accepts its own output
// again unchanged (normalizing is idempotent), so a stored header always
// passes the rules it was stored under.
func FuzzNormalizeHeader(f *testing.F) {
	f.Add("Về việc triển khai", "Kính gửi:\r\n\tUBND", "Nguyễn Văn A", "quyết định.pdf", "phụ lục.xlsx", "7816/VPCP", "", codeH41)
	f.Add(" a\u202egnp.exe ", "x\x1b[2J\x00", "\u200b", norm.NFD.String("hồ sơ.pdf"), "hồ sơ.pdf", "", codeG22+",2025/01/01,1", codeH41)
	f.Add("\u0958", "\r", "\u00ad", "\u0958.pdf", "..", "1", "", " "+codeH41+" ")
	f.Add("s", "", "", "a", "A", "", "ref", codeG22)
	f.Add("\xff", "\xc3", "\t", "a/b", `a\b`, "\n", "\u3000", "")
	f.Fuzz(func(t *testing.T, subject, content, signer, name1, name2, number, reference, recipient string) {
		h := Header{
			Recipients: []string{recipient, codeH14}, Subject: subject, Content: content, Number: number,
			Reference: reference, Signer: Signer{FullName: signer}, ToPlaces: []string{signer},
			Attachments: []AttachmentInfo{{Name: name1}, {Name: name2, Description: content}},
		}
		if err := normalizeHeader(codeG22, &h, testNow); err != nil {
			var he *Error
			if !errors.As(err, &he) || !errors.Is(err, ErrInvalid) || he.Field == "" {
				t.Fatalf("error %v (%T) is not an ErrInvalid *Error naming a field", err, err)
			}
			return
		}
		first, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{h.Subject, h.Number, h.Reference, h.Signer.FullName, h.Attachments[0].Name, h.Attachments[1].Name} {
			if err := checkChars("accepted", s, false); err != nil {
				t.Errorf("accepted header holds %q: %v", s, err)
			}
		}
		if err := checkChars("content", h.Content, true); err != nil {
			t.Errorf("accepted content: %v", err)
		}
		var again Header
		if err := json.Unmarshal(first, &again); err != nil {
			t.Fatal(err)
		}
		if err := normalizeHeader(codeG22, &again, testNow.Add(48*time.Hour)); err != nil {
			t.Fatalf("normalizeHeader refused its own output %s: %v", first, err)
		}
		if diff := cmp.Diff(h, again); diff != "" {
			t.Errorf("normalizing twice changed the header (-once +twice):\n%s", diff)
		}
	})
}
