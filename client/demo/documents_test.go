package demo

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDocument(t *testing.T) {
	g := newRNG(1)
	vpcp := &agent{code: "000.00.00.G22", name: "Văn phòng Chính phủ"}
	to := []*agent{{code: "000.00.00.H41", name: "UBND tỉnh Nghệ An"}, {code: "000.00.00.H29", name: "UBND thành phố Hồ Chí Minh"}}
	now := time.Date(2018, 11, 20, 9, 0, 0, 0, time.UTC)
	types := map[string]bool{}
	for i := range 200 {
		h, att := g.document(vpcp, 100+i, to, now)
		types[h.GetDocumentType()] = true
		if h.GetNumber() != strings.TrimSpace(h.GetNumber()) || h.GetNumber() == "" {
			t.Fatalf("number %q", h.GetNumber())
		}
		if !strings.Contains(h.GetNotation(), "VPCP") {
			t.Errorf("notation %q lacks the sender's abbreviation VPCP", h.GetNotation())
		}
		if strings.Contains(h.GetSubject(), "%") || !strings.HasPrefix(h.GetSubject(), "Về việc ") {
			t.Errorf("subject %q", h.GetSubject())
		}
		if p := h.GetPriority(); p < 0 || p > 3 {
			t.Errorf("priority %d", p)
		}
		if got := strings.Join(h.GetRecipients(), ","); got != "000.00.00.H41,000.00.00.H29" {
			t.Errorf("recipients %s", got)
		}
		if h.GetPromulgationPlace() != "Hà Nội" || h.GetPromulgationDate() != "2018-11-20" {
			t.Errorf("place %q, date %q", h.GetPromulgationPlace(), h.GetPromulgationDate())
		}
		body, _ := io.ReadAll(att.Body)
		if n := len(body); n < 1<<10 || n > 201<<10 {
			t.Errorf("attachment %s: %d bytes, want 1-200 KiB", att.Name, n)
		}
		switch {
		case strings.HasSuffix(att.Name, ".pdf"):
			if !bytes.HasPrefix(body, []byte("%PDF-")) || !bytes.HasSuffix(body, []byte("%%EOF\n")) {
				t.Errorf("%s does not look like a PDF", att.Name)
			}
		case strings.HasSuffix(att.Name, ".txt"):
			if !utf8.Valid(body) {
				t.Errorf("%s is not UTF-8", att.Name)
			}
		default:
			t.Errorf("attachment name %q", att.Name)
		}
	}
	for _, typ := range []string{"Công văn", "Quyết định", "Báo cáo", "Thông báo"} {
		if !types[typ] {
			t.Errorf("no %s in 200 documents", typ)
		}
	}
}

func TestProfileAndPlace(t *testing.T) {
	tests := []struct {
		code, name, abbr, place string
	}{
		{"000.00.00.G12", "Bộ Tài chính", "BTC", "Hà Nội"},
		{"000.00.00.H41", "UBND tỉnh Nghệ An", "UBND", "Nghệ An"},
		{"000.00.00.H29", "UBND thành phố Hồ Chí Minh", "UBND", "Thành phố Hồ Chí Minh"},
		{"001.00.00.G12", "Tổng cục Thuế", "TCT", "Hà Nội"}, // not in the table: initials
	}
	for _, tt := range tests {
		if got := profileOf(tt.code, tt.name).abbr; got != tt.abbr {
			t.Errorf("profileOf(%s).abbr = %q, want %q", tt.name, got, tt.abbr)
		}
		if got := placeOf(tt.name); got != tt.place {
			t.Errorf("placeOf(%s) = %q, want %q", tt.name, got, tt.place)
		}
	}
}

func TestNextNumber(t *testing.T) {
	a := &agent{}
	t0 := time.Date(2018, 11, 20, 9, 0, 0, 0, time.UTC) // 32400 s after midnight
	if got := a.nextNumber(t0); got != 3241 {
		t.Errorf("first number: %d, want 3241", got)
	}
	if got := a.nextNumber(t0); got != 3242 {
		t.Errorf("second number in the same 10 s: %d, want 3242", got)
	}
	// A restarted driver starts from the clock, past the numbers used before.
	b := &agent{}
	if got := b.nextNumber(t0.Add(time.Minute)); got <= 3242 {
		t.Errorf("number after a restart a minute later: %d, want more than 3242", got)
	}
}
