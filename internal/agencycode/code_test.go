package agencycode_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/agencycode"
)

// validCodes are the real codes from docs/domain.md plus the edges of the form.
var validCodes = []struct {
	in    string
	level int
	root  string
	body  string
}{
	{"000.00.00.G22", 1, "000.00.00.G22", "G22"}, // Văn phòng Chính phủ
	{"000.00.00.H41", 1, "000.00.00.H41", "H41"}, // UBND tỉnh Nghệ An
	{"000.00.00.H14", 1, "000.00.00.H14", "H14"}, // UBND tỉnh Cao Bằng
	{"001.00.10.H47", 4, "000.00.00.H47", "H47"}, // UBND huyện Duy Xuyên
	{"001.00.00.H47", 2, "000.00.00.H47", "H47"},
	{"000.12.00.G22", 3, "000.00.00.G22", "G22"},
	{"000.00.34.H41", 4, "000.00.00.H41", "H41"},
	{"001.02.03.H41", 4, "000.00.00.H41", "H41"},
	{"001.02.00.H41", 3, "000.00.00.H41", "H41"},
	{"000.00.00.A00", 1, "000.00.00.A00", "A00"}, // all-zero body is accepted
	{"000.00.00.Z99", 1, "000.00.00.Z99", "Z99"},
	{"999.99.99.Z99", 4, "000.00.00.Z99", "Z99"},
	{"100.00.00.K01", 2, "000.00.00.K01", "K01"},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCodes {
		t.Run(tc.in, func(t *testing.T) {
			c, err := agencycode.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q) error = %v, want nil", tc.in, err)
			}
			if got := c.String(); got != tc.in {
				t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.in)
			}
			if c.IsZero() {
				t.Errorf("Parse(%q).IsZero() = true, want false", tc.in)
			}
			if got := c.Level(); got != tc.level {
				t.Errorf("Parse(%q).Level() = %d, want %d", tc.in, got, tc.level)
			}
			if got := c.Root().String(); got != tc.root {
				t.Errorf("Parse(%q).Root() = %q, want %q", tc.in, got, tc.root)
			}
			if got := c.Body(); got != tc.body {
				t.Errorf("Parse(%q).Body() = %q, want %q", tc.in, got, tc.body)
			}
			again, err := agencycode.Parse(c.String())
			if err != nil || again != c {
				t.Errorf("Parse(Parse(%q).String()) = %v, %v; want %v, nil", tc.in, again, err, c)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		rule string // substring the Rule must contain
	}{
		{"empty", "", "must not be empty"},
		{"real malformed: 3 groups", "28.22.H17", "must have 4 dot-separated groups in the form NNN.NN.NN.XNN, got 3"},
		{"real malformed: 3-digit group 2", "999.010.01.H22", "group 2 must be 2 digits"},
		{"lower-case letter", "000.00.00.g22", "group 4 must be an upper-case letter and two digits"},
		{"letter in group 1", "00A.00.00.G22", "group 1 must be 3 digits"},
		{"letter in group 2", "000.0B.00.G22", "group 2 must be 2 digits"},
		{"letter in group 3", "000.00.C0.G22", "group 3 must be 2 digits"},
		{"letters in group 4 digits", "000.00.00.GAB", "group 4 must be an upper-case letter and two digits"},
		{"digit instead of letter", "000.00.00.122", "group 4 must be an upper-case letter and two digits"},
		{"two letters in group 4", "000.00.00.GG2", "group 4 must be an upper-case letter and two digits"},
		{"extra group", "000.00.00.00.G22", "must have 4 dot-separated groups in the form NNN.NN.NN.XNN, got more than 4"},
		{"trailing dot", "000.00.00.G22.", "got more than 4"},
		{"leading dot", ".000.00.00.G22", "got more than 4"},
		{"double dot", "000..00.00.G22", "got more than 4"},
		{"no dots", "00000000G22", "got 1"},
		{"dashes", "000-00-00-G22", "got 1"},
		{"only dots", "...", "group 1 must be 3 digits"},
		{"empty group 4", "000.00.00.", "group 4 must be an upper-case letter and two digits"},
		{"leading space", " 000.00.00.G22", "group 1 must be 3 digits"},
		{"trailing space", "000.00.00.G22 ", "group 4 must be an upper-case letter and two digits"},
		{"trailing newline", "000.00.00.G22\n", "group 4"},
		{"inner space", "000. 00.00.G22", "group 2 must be 2 digits"},
		{"14 chars, group 1", "0000.00.00.G22", "group 1 must be 3 digits"},
		{"14 chars, group 2", "000.000.00.G22", "group 2 must be 2 digits"},
		{"14 chars, group 3", "000.00.000.G22", "group 3 must be 2 digits"},
		{"14 chars, group 4", "000.00.00.G222", "group 4 must be an upper-case letter and two digits"},
		{"12 chars, group 1", "00.00.00.G22", "group 1 must be 3 digits"},
		{"12 chars, group 4", "000.00.00.G2", "group 4"},
		{"sign in group 1", "+00.00.00.G22", "group 1 must be 3 digits"},
		{"negative group 1", "-01.00.00.G22", "group 1 must be 3 digits"},
		{"NUL byte", "000.00.00.G2\x00", "group 4"},
		{"invalid UTF-8", "000.00.00.G\xff2", "group 4"},
		{"Arabic-Indic digits", "٠٠١.٠٠.١٠.H٤٧", "group 1 must be 3 digits"},
		{"Arabic-Indic digits in group 4", "001.00.10.H٤٧", "group 4"},
		{"full-width digits", "００１.００.１０.H４７", "group 1 must be 3 digits"},
		{"full-width digits in group 3", "001.00.１０.H47", "group 3 must be 2 digits"},
		{"full-width letter", "001.00.10.Ｈ47", "group 4"},
		{"Vietnamese letter", "000.00.00.Đ22", "group 4 must be an upper-case letter and two digits"},
		{"Vietnamese text", "Văn phòng Chính phủ", "got 1"},
		{"Vietnamese text in groups", "mã.định.danh.H22", "group 1 must be 3 digits"},
		{"URN prefix", "urn:ndxp:agency:000.00.00.G22", "group 1 must be 3 digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := agencycode.Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want error containing %q", tc.in, c, tc.rule)
			}
			if !c.IsZero() {
				t.Errorf("Parse(%q) code = %v, want the zero Code on error", tc.in, c)
			}
			if !errors.Is(err, agencycode.ErrInvalid) {
				t.Errorf("errors.Is(Parse(%q) error, ErrInvalid) = false, want true", tc.in)
			}
			var perr *agencycode.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error type = %T, want *agencycode.Error", tc.in, err)
			}
			if perr.Input != tc.in {
				t.Errorf("Parse(%q) error Input = %q, want the input unchanged", tc.in, perr.Input)
			}
			if !strings.Contains(perr.Rule, tc.rule) {
				t.Errorf("Parse(%q) error Rule = %q, want it to contain %q", tc.in, perr.Rule, tc.rule)
			}
			if !strings.Contains(err.Error(), perr.Rule) {
				t.Errorf("Parse(%q) error text = %q, want it to contain the rule %q", tc.in, err.Error(), perr.Rule)
			}
			checkRuleNumbers(t, perr.Rule)
		})
	}
}

func TestErrorText(t *testing.T) {
	_, err := agencycode.Parse("28.22.H17")
	want := `invalid identifier code "28.22.H17": must have 4 dot-separated groups in the form NNN.NN.NN.XNN, got 3`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(%q) error = %v, want %s", "28.22.H17", err, want)
	}
}

func TestErrorIsOnlyErrInvalid(t *testing.T) {
	_, err := agencycode.Parse("")
	if errors.Is(err, errors.New("invalid identifier code")) {
		t.Errorf("errors.Is matched a different error with the same text; want identity match on ErrInvalid only")
	}
}

var numberWord = regexp.MustCompile(`\d+`)

// checkRuleNumbers guards the promise in the Error doc: an acceptance test
// greps error lines for a CSV line number, so a rule must not introduce one.
func checkRuleNumbers(t *testing.T, rule string) {
	t.Helper()
	allowed := map[string]bool{"1": true, "2": true, "3": true, "4": true, "13": true}
	for _, n := range numberWord.FindAllString(rule, -1) {
		if !allowed[n] {
			t.Errorf("rule %q contains the number %s; only 1, 2, 3, 4 and 13 are allowed", rule, n)
		}
	}
}

func TestParentChains(t *testing.T) {
	tests := []struct {
		start string
		chain []string // successive parents, ending at the level-1 body
	}{
		{"001.00.10.H47", []string{"001.00.00.H47", "000.00.00.H47"}},
		{"000.12.00.G22", []string{"000.00.00.G22"}},
		{"000.00.34.H41", []string{"000.00.00.H41"}},
		{"001.02.03.H41", []string{"001.02.00.H41", "001.00.00.H41", "000.00.00.H41"}},
		{"000.00.00.G22", nil},
		{"000.00.00.H14", nil},
	}
	for _, tc := range tests {
		t.Run(tc.start, func(t *testing.T) {
			c := agencycode.MustParse(tc.start)
			for _, want := range tc.chain {
				p, ok := c.Parent()
				if !ok {
					t.Fatalf("%v.Parent() = _, false; want %s", c, want)
				}
				if p.String() != want {
					t.Fatalf("%v.Parent() = %v, want %s", c, p, want)
				}
				if p.Level() >= c.Level() {
					t.Errorf("%v.Level() = %d, not below child %v level %d", p, p.Level(), c, c.Level())
				}
				if p.Root() != c.Root() {
					t.Errorf("%v.Root() = %v, want the child's root %v", p, p.Root(), c.Root())
				}
				c = p
			}
			if p, ok := c.Parent(); ok {
				t.Errorf("%v.Parent() = %v, true; want no parent", c, p)
			}
			if c.Level() != 1 {
				t.Errorf("end of chain %v has Level() = %d, want 1", c, c.Level())
			}
			if c != c.Root() {
				t.Errorf("end of chain %v, want it to equal Root() %v", c, c.Root())
			}
		})
	}
}

func TestZeroCode(t *testing.T) {
	var c agencycode.Code
	if !c.IsZero() {
		t.Errorf("Code{}.IsZero() = false, want true")
	}
	if got := c.String(); got != "" {
		t.Errorf("Code{}.String() = %q, want empty", got)
	}
	if got := c.Level(); got != 0 {
		t.Errorf("Code{}.Level() = %d, want 0", got)
	}
	if p, ok := c.Parent(); ok || !p.IsZero() {
		t.Errorf("Code{}.Parent() = %v, %v; want zero, false", p, ok)
	}
	if got := c.Root(); !got.IsZero() {
		t.Errorf("Code{}.Root() = %v, want zero", got)
	}
	if got := c.Body(); got != "" {
		t.Errorf("Code{}.Body() = %q, want empty", got)
	}
	if agencycode.MustParse("000.00.00.A00").IsZero() {
		t.Errorf("MustParse(%q).IsZero() = true, want false", "000.00.00.A00")
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, agencycode.ErrInvalid) {
			t.Errorf("MustParse(%q) panicked with %v, want an error matching ErrInvalid", "28.22.H17", r)
		}
	}()
	agencycode.MustParse("28.22.H17")
}

func TestCodeComparable(t *testing.T) {
	a := agencycode.MustParse("001.00.10.H47")
	b := agencycode.MustParse("001.00.10.H47")
	m := map[agencycode.Code]string{a: "UBND huyện Duy Xuyên"}
	if a != b || m[b] != "UBND huyện Duy Xuyên" {
		t.Errorf("equal codes compare unequal: %v vs %v", a, b)
	}
	if a == agencycode.MustParse("001.00.10.H41") {
		t.Errorf("codes differing only in group 4 compare equal")
	}
}

type packet struct {
	From  agencycode.Code            `json:"from"`
	To    []agencycode.Code          `json:"to"`
	Reply agencycode.Code            `json:"reply,omitzero"`
	Names map[agencycode.Code]string `json:"names"`
}

func TestJSONRoundTrip(t *testing.T) {
	in := packet{
		From:  agencycode.MustParse("000.00.00.G22"),
		To:    []agencycode.Code{agencycode.MustParse("000.00.00.H41"), agencycode.MustParse("001.00.10.H47")},
		Names: map[agencycode.Code]string{agencycode.MustParse("000.00.00.H14"): "UBND tỉnh Cao Bằng"},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("json.Marshal error = %v", err)
	}
	want := `{"from":"000.00.00.G22","to":["000.00.00.H41","001.00.10.H47"],"names":{"000.00.00.H14":"UBND tỉnh Cao Bằng"}}`
	if string(data) != want {
		t.Errorf("json.Marshal = %s, want %s", data, want)
	}
	var out packet
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", data, err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("json round trip = %+v, want %+v", out, in)
	}
}

func TestJSONZeroCode(t *testing.T) {
	var in struct {
		C agencycode.Code `json:"c"`
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("json.Marshal(zero) error = %v", err)
	}
	if string(data) != `{"c":""}` {
		t.Errorf("json.Marshal(zero) = %s, want %s", data, `{"c":""}`)
	}
	in.C = agencycode.MustParse("000.00.00.G22")
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", data, err)
	}
	if !in.C.IsZero() {
		t.Errorf("json.Unmarshal(%s) code = %v, want zero", data, in.C)
	}
}

func TestJSONInvalid(t *testing.T) {
	for _, in := range []string{`{"c":"28.22.H17"}`, `{"c":"000.00.00.g22"}`, `{"c":" 000.00.00.G22"}`} {
		var out struct {
			C agencycode.Code `json:"c"`
		}
		err := json.Unmarshal([]byte(in), &out)
		if !errors.Is(err, agencycode.ErrInvalid) {
			t.Errorf("json.Unmarshal(%s) error = %v, want one matching ErrInvalid", in, err)
		}
	}
}

func TestUnmarshalTextKeepsValueOnError(t *testing.T) {
	c := agencycode.MustParse("000.00.00.G22")
	if err := c.UnmarshalText([]byte("28.22.H17")); err == nil {
		t.Fatalf("UnmarshalText(%q) error = nil, want error", "28.22.H17")
	}
	if c.String() != "000.00.00.G22" {
		t.Errorf("after a failed UnmarshalText the code = %v, want it unchanged", c)
	}
}

// FuzzParse checks what the package documents, for any input: Parse never
// panics; every error is an *Error matching ErrInvalid that keeps the input
// and has no stray numbers in its Rule, and UnmarshalText refuses the same
// text; a code that parses is its own 13-character canonical String, parses
// back equal, has a level from 1 to 4, round-trips as text and climbs by
// Parent, a level at a time, to its Root.
func FuzzParse(f *testing.F) {
	for _, tc := range validCodes {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"", "28.22.H17", "999.010.01.H22", "000.00.00.g22", "000.00.00.G22.", " 000.00.00.G22",
		"000.00.00.00.G22", "٠٠١.٠٠.١٠.H٤٧", "００１.００.１０.H４７", "Văn phòng Chính phủ", "...",
		"000.00.00.G22\n", "000.00.00.G\xff2", "000.00.00.Đ22", "+00.00.00.G22", "000.00.00.", "000.00.00.G2\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := agencycode.Parse(s)
		if err != nil {
			var perr *agencycode.Error
			if !errors.As(err, &perr) || perr.Input != s || !errors.Is(err, agencycode.ErrInvalid) {
				t.Fatalf("Parse(%q) error = %#v, want *Error with the input and matching ErrInvalid", s, err)
			}
			if !c.IsZero() {
				t.Fatalf("Parse(%q) = %v with error, want the zero Code", s, c)
			}
			checkRuleNumbers(t, perr.Rule)
			var u agencycode.Code
			if s != "" && u.UnmarshalText([]byte(s)) == nil {
				t.Fatalf("UnmarshalText(%q) accepted what Parse refused", s)
			}
			return
		}
		if c.IsZero() {
			t.Fatalf("Parse(%q) returned the zero Code with no error", s)
		}
		// Parsing is strict, so anything accepted is already canonical.
		if got := c.String(); got != s || len(got) != 13 {
			t.Fatalf("Parse(%q).String() = %q, want the input back (13 characters)", s, got)
		}
		if l := c.Level(); l < 1 || l > 4 {
			t.Fatalf("Parse(%q).Level() = %d, want 1 to 4", s, l)
		}
		again, err := agencycode.Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("Parse(%q) = %v, %v; want %v, nil", c.String(), again, err, c)
		}
		var viaText agencycode.Code
		text, err := c.MarshalText()
		if err != nil || string(text) != s {
			t.Fatalf("MarshalText of %v = %q, %v; want the input", c, text, err)
		}
		if err := viaText.UnmarshalText(text); err != nil || viaText != c {
			t.Fatalf("text round trip of %v = %v, %v", c, viaText, err)
		}
		if c.Body() != s[len(s)-3:] {
			t.Fatalf("Parse(%q).Body() = %q", s, c.Body())
		}
		root := c.Root()
		if root.Level() != 1 || root.Body() != c.Body() {
			t.Fatalf("Parse(%q).Root() = %v, level %d", s, root, root.Level())
		}
		// The parent chain must strictly climb and end at Root within 3 steps.
		for range 4 {
			p, ok := c.Parent()
			if !ok {
				break
			}
			if p.Level() >= c.Level() || p.Root() != root {
				t.Fatalf("%v.Parent() = %v (level %d), from level %d", c, p, p.Level(), c.Level())
			}
			c = p
		}
		if c != root {
			t.Fatalf("parent chain of %q ends at %v, want %v", s, c, root)
		}
	})
}
