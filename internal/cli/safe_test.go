package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// hostile holds a member of every class Safe escapes.
const hostile = "a\x1b]0;owned\x07b\x1b[2J\x00c\rd\x7fe\u0085\u009bf\u202egnp.exe\u2066g\u200bh\ufeffi\u00adj\U000e0001k\u2028l\u034fm"

// checkShowable fails the test if s holds a byte or character a terminal
// would act on or hide (anything Safe escapes).
func checkShowable(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
	for i, r := range s {
		if unsafe(r) {
			t.Errorf("%s holds U+%04X at byte %d: %q", what, r, i, s)
		}
	}
}

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Văn phòng Chính phủ", "Văn phòng Chính phủ"},
		{norm.NFD.String("Nghệ An"), norm.NFD.String("Nghệ An")}, // combining marks are letters' parts
		{"dòng 1\n\tdòng 2", "dòng 1\n\tdòng 2"},
		{`C:\thư mục\x1b`, `C:\thư mục\x1b`}, // backslashes are text
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"a\x00b", `a\x00b`},
		{"xấu\rtốt", `xấu\x0dtốt`},
		{"\x7f", `\x7f`},
		{"\u0085\u009b", `\u0085\u009b`},
		{"a\u202efdp.exe", `a\u202efdp.exe`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"a\u200bb\u200cc\u200dd\u2060e\ufeff", `a\u200bb\u200cc\u200dd\u2060e\ufeff`},
		{"soft\u00adhyphen", `soft\u00adhyphen`},
		{"tag\U000e0041", `tag\U000e0041`},
		{"a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"\u3164\u115f\u034f", `\u3164\u115f\u034f`},
		{"ab\xffc\xc3", `ab\xffc\xc3`},
	}
	for _, tt := range tests {
		if got := Safe(tt.in); got != tt.want {
			t.Errorf("Safe(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	checkShowable(t, "Safe(hostile)", Safe(hostile))
	plain := "Về việc triển khai Trục liên thông văn bản quốc gia"
	if n := testing.AllocsPerRun(10, func() { _ = Safe(plain) }); n != 0 {
		t.Errorf("Safe of plain text allocates %v times; want 0", n)
	}
}

func FuzzSafe(f *testing.F) {
	f.Add(hostile)
	f.Add("Văn phòng Chính phủ\n\t")
	f.Add("\xff\xfe\xc3")
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		checkShowable(t, "Safe(s)", strings.NewReplacer("\n", "", "\t", "").Replace(got))
		if firstUnsafe(s) < 0 && got != s {
			t.Errorf("Safe(%q) = %q; want it unchanged", s, got)
		}
		if Safe(got) != got {
			t.Errorf("Safe is not idempotent on %q", s)
		}
	})
}

func TestSafeJSON(t *testing.T) {
	type doc struct {
		Subject string   `json:"subject"`
		Names   []string `json:"names"`
	}
	in := doc{Subject: hostile, Names: []string{"a\u202efdp.exe", "Nghệ An"}}
	var b strings.Builder
	if err := JSON(&b, in); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "JSON output", strings.NewReplacer("\n", "").Replace(b.String()))
	if !strings.Contains(b.String(), `\u202e`) || !strings.Contains(b.String(), `\u001b`) || !strings.Contains(b.String(), `\udb40\udc01`) {
		t.Errorf("JSON output does not escape ESC, U+202E and U+E0001: %s", b.String())
	}
	var back doc
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil {
		t.Fatalf("JSON output does not decode: %v\n%s", err, b.String())
	}
	if back.Subject != in.Subject || back.Names[0] != in.Names[0] || back.Names[1] != in.Names[1] {
		t.Errorf("JSON decodes to %+q; want %+q", back, in)
	}

	// protojson (ndxp show -o json, header.json) escapes C0 only.
	m := &ndxpv1.StatusReport{Reason: hostile}
	raw, err := protojson.MarshalOptions{Multiline: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	safe := SafeJSON(raw)
	checkShowable(t, "protojson output", strings.NewReplacer("\n", "").Replace(string(safe)))
	var got ndxpv1.StatusReport
	if err := protojson.Unmarshal(safe, &got); err != nil {
		t.Fatalf("escaped protojson does not decode: %v\n%s", err, safe)
	}
	if got.GetReason() != hostile {
		t.Errorf("escaped protojson decodes to %q; want %q", got.GetReason(), hostile)
	}
	if plain := []byte(`{"a": "Nghệ An"}`); &SafeJSON(plain)[0] != &plain[0] {
		t.Error("SafeJSON copied JSON with nothing to escape")
	}
}

func TestTableAndFieldsAreSafe(t *testing.T) {
	var b strings.Builder
	if err := Table(&b, []string{"ID", "NAME", "STAGE"}, [][]string{
		{"1", "a\x1b[2Jb\tc\nd", "pilot"},
		{"2", "\u202eexe.pdf", "production"},
	}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkShowable(t, "table", strings.ReplaceAll(out, "\n", ""))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines; want 3 (a line break in a cell must not add one):\n%s", len(lines), out)
	}
	// The columns are measured on the escaped text: STAGE starts at one offset.
	col := strings.Index(lines[0], "STAGE")
	for _, l := range lines[1:] {
		if got := strings.LastIndexByte(l, ' ') + 1; got != col {
			t.Errorf("third column of %q starts at %d; want %d:\n%s", l, got, col, out)
		}
	}

	b.Reset()
	if err := Fields(&b, [][2]string{{"Subject", "x\u2066y\u0085z"}, {"From", "G22\r\x1b[1A"}}); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "fields", strings.ReplaceAll(b.String(), "\n", ""))
	if strings.Count(b.String(), "\n") != 2 {
		t.Errorf("fields wrote %q; want two lines", b.String())
	}
}

func TestErrorLineIsSafe(t *testing.T) {
	err := status.Error(codes.InvalidArgument, "attachments[0].name: \"a\u202efdp.exe\" is also the name of attachments[1]\x1b[2J\n")
	got := ErrorLine(err)
	checkShowable(t, "ErrorLine", got)
	if strings.ContainsAny(got, "\n\t") {
		t.Errorf("ErrorLine = %q; want one line", got)
	}
	if !strings.Contains(got, `\u202e`) {
		t.Errorf("ErrorLine = %q; want the bidi control shown as \\u202e", got)
	}
}
