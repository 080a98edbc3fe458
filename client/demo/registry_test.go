package demo

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ndxp/ndxp/internal/agencycode"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestRegistry(t *testing.T) {
	list, err := Registry()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(list), 95; got != want {
		t.Errorf("agencies: got %d, want %d (1 Party office + 31 central bodies + 63 provinces)", got, want)
	}
	seen := map[string]bool{}
	byLetter := map[byte]int{}
	byStage := map[ndxpv1.Stage]int{}
	for i, a := range list {
		if _, err := agencycode.Parse(a.Code); err != nil {
			t.Errorf("row %d: %v", i+1, err)
			continue
		}
		if seen[a.Code] {
			t.Errorf("row %d: code %s appears twice", i+1, a.Code)
		}
		seen[a.Code] = true
		if !strings.HasPrefix(a.Code, "000.00.00.") {
			t.Errorf("row %d: %s is not a level-1 code", i+1, a.Code)
		}
		byLetter[a.Code[10]]++
		byStage[a.Stage]++
		if strings.TrimSpace(a.Name) == "" || a.Name != strings.TrimSpace(a.Name) {
			t.Errorf("row %d (%s): name %q is empty or has stray spaces", i+1, a.Code, a.Name)
		}
		if !utf8.ValidString(a.Name) {
			t.Errorf("row %d (%s): name is not valid UTF-8", i+1, a.Code)
		}
		// Combining marks mean decomposed (NFD) text, which would not
		// match a query typed the usual way (NFC).
		for _, r := range a.Name {
			if unicode.Is(unicode.Mn, r) {
				t.Errorf("row %d (%s): name %q has a combining mark %U; write it precomposed (NFC)", i+1, a.Code, a.Name, r)
				break
			}
		}
		if a.Parent != "" {
			t.Errorf("row %d (%s): parent %q, want none for a level-1 body", i+1, a.Code, a.Parent)
		}
		if prov := a.Code[10] == 'H'; prov != (strings.HasPrefix(a.Name, "UBND tỉnh ") || strings.HasPrefix(a.Name, "UBND thành phố ")) {
			t.Errorf("row %d (%s): %q: provinces (H) and only they are named UBND tỉnh/thành phố …", i+1, a.Code, a.Name)
		}
	}
	for letter, want := range map[byte]int{'A': 1, 'G': 31, 'H': 63} {
		if got := byLetter[letter]; got != want {
			t.Errorf("%c codes: got %d, want %d", letter, got, want)
		}
	}
	if got, want := byStage[ndxpv1.Stage_STAGE_PILOT], 71; got != want {
		t.Errorf("pilot: got %d, want %d", got, want)
	}
	if got, want := byStage[ndxpv1.Stage_STAGE_PENDING], 24; got != want {
		t.Errorf("pending: got %d, want %d", got, want)
	}

	byCode := map[string]Agency{}
	for _, a := range list {
		byCode[a.Code] = a
	}
	// The codes docs/domain.md knows to be real, and a few landmarks.
	for _, want := range []Agency{
		{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Stage: ndxpv1.Stage_STAGE_PILOT},
		{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", Stage: ndxpv1.Stage_STAGE_PILOT},
		{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Stage: ndxpv1.Stage_STAGE_PILOT},
		{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam", Stage: ndxpv1.Stage_STAGE_PILOT},
		{Code: "000.00.00.A01", Name: "Văn phòng Trung ương Đảng", Stage: ndxpv1.Stage_STAGE_PENDING},
		{Code: "000.00.00.H29", Name: "UBND thành phố Hồ Chí Minh", Stage: ndxpv1.Stage_STAGE_PILOT},
	} {
		if got := byCode[want.Code]; got != want {
			t.Errorf("%s: got %+v, want %+v", want.Code, got, want)
		}
	}
	names := map[string]bool{}
	for _, a := range list {
		if names[a.Name] {
			t.Errorf("name %q appears twice", a.Name)
		}
		names[a.Name] = true
	}
	for _, name := range []string{
		"Bộ Công an", "Bộ Tài chính", "Ngân hàng Nhà nước Việt Nam", "Thanh tra Chính phủ", "Ủy ban Dân tộc",
		"Đài Truyền hình Việt Nam", "Đài Tiếng nói Việt Nam", "Thông tấn xã Việt Nam", "Bảo hiểm xã hội Việt Nam",
		"Học viện Chính trị quốc gia Hồ Chí Minh", "Viện Hàn lâm Khoa học và Công nghệ Việt Nam",
		"Viện Hàn lâm Khoa học xã hội Việt Nam", "Ban Quản lý Lăng Chủ tịch Hồ Chí Minh", "Bộ Văn hóa, Thể thao và Du lịch",
	} {
		if !names[name] {
			t.Errorf("%q is missing", name)
		}
	}
}

func TestParseRegistryErrors(t *testing.T) {
	tests := []struct {
		name, csv, want string
	}{
		{"wrong header", "code,name\n000.00.00.G22,VPCP\n", "header"},
		{"unknown stage", "code,name,parent,stage\n000.00.00.G22,VPCP,,live\n", `line 2: unknown stage "live"`},
		{"short row", "code,name,parent,stage\n000.00.00.G22,VPCP\n", "wrong number of fields"},
	}
	for _, tt := range tests {
		_, err := parseRegistry([]byte(tt.csv))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
