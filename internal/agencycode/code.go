// Package agencycode parses and validates agency identifier codes (mã định
// danh) as defined by QCVN 102:2016/BTTTT, amended 2022, and answers where a
// code sits in the administrative hierarchy.
//
// A code has the form NNN.NN.NN.XNN: group 1 is three digits, groups 2 and 3
// are two digits each, and group 4 is one upper-case letter A-Z followed by two
// digits, 13 characters in all. Group 4 names the level-1 body: G for central
// government bodies, H for provinces, other letters for the Party, the National
// Assembly, the courts and so on.
//
// The hierarchy below is a working rule inferred from real codes, not a quote
// from the standard:
//
//   - group 4 is level 1, group 1 is level 2, group 2 is level 3 and group 3 is
//     level 4;
//   - 000.00.00 in front of group 4 means the level-1 body itself;
//   - a code's level is its deepest non-zero level;
//   - a code's parent is the code with its deepest non-zero level set to zeros,
//     so 001.00.10.H47 (level 4) -> 001.00.00.H47 (level 2) -> 000.00.00.H47
//     (level 1, no parent).
//
// This package is the one place that rule lives. If it turns out to be wrong,
// correct it here (Level and Parent, and their tests) and nowhere else; the rest
// of the hub must ask this package instead of slicing code strings itself.
package agencycode

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid lets callers test for any malformed code with errors.Is without
// depending on which rule was broken; every error from Parse matches it.
var ErrInvalid = errors.New("invalid identifier code")

// Error reports a malformed code. Rule is a human-readable sentence naming the
// group and the expected form, meant to be shown to the operator or agency that
// sent the code. Rule never contains numbers other than group numbers and
// counts, so a message that embeds it can still be searched for a line number.
type Error struct {
	Input string // the text exactly as given, including any stray spaces
	Rule  string // which rule the input breaks
}

// Error formats the input quoted, so invisible characters such as trailing
// spaces show up in logs.
func (e *Error) Error() string {
	return fmt.Sprintf("%s %q: %s", ErrInvalid.Error(), e.Input, e.Rule)
}

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Rule texts. They name the group by number and the expected form. Keep digits
// out of them except group numbers and counts (see Error).
const (
	form       = "NNN.NN.NN.XNN"
	ruleEmpty  = "must not be empty; expected 13 characters in the form " + form
	ruleGroups = "must have 4 dot-separated groups in the form " + form + ", got "
	ruleGroup1 = "group 1 must be 3 digits (NNN)"
	ruleGroup2 = "group 2 must be 2 digits (NN)"
	ruleGroup3 = "group 3 must be 2 digits (NN)"
	ruleGroup4 = "group 4 must be an upper-case letter and two digits (XNN)"
	groupsWant = 4
	codeLength = 13
)

// Code is a valid agency identifier code. It is a small comparable value, so
// it can be used with == and as a map key. The zero value means "no code": it
// is never returned by a successful Parse, because 000.00.00 still carries a
// group-4 letter.
type Code struct {
	g1     uint16 // group 1, level 2: 0..999
	g2, g3 uint8  // groups 2 and 3, levels 3 and 4: 0..99
	letter byte   // group 4 letter 'A'..'Z'; 0 only in the zero Code
	body   uint8  // group 4 digits: 0..99
}

// Parse is strict on purpose: codes are identities in certificates and routing
// tables, so " 000.00.00.G22" or "000.00.00.g22" must fail loudly rather than
// silently name someone. Only ASCII digits count as digits. It does not trim
// and does not change case. Every error is an *Error.
func Parse(s string) (Code, error) {
	if s == "" {
		return Code{}, &Error{Input: s, Rule: ruleEmpty}
	}
	if n := strings.Count(s, ".") + 1; n != groupsWant {
		got := fmt.Sprint(n)
		if n > groupsWant {
			// "got 5" would put a stray number in the message; see Error.
			got = "more than 4"
		}
		return Code{}, &Error{Input: s, Rule: ruleGroups + got}
	}
	p1, rest, _ := strings.Cut(s, ".")
	p2, rest, _ := strings.Cut(rest, ".")
	p3, p4, _ := strings.Cut(rest, ".")

	g1, ok := digits(p1, 3)
	if !ok {
		return Code{}, &Error{Input: s, Rule: ruleGroup1}
	}
	g2, ok := digits(p2, 2)
	if !ok {
		return Code{}, &Error{Input: s, Rule: ruleGroup2}
	}
	g3, ok := digits(p3, 2)
	if !ok {
		return Code{}, &Error{Input: s, Rule: ruleGroup3}
	}
	if len(p4) != 3 || p4[0] < 'A' || p4[0] > 'Z' {
		return Code{}, &Error{Input: s, Rule: ruleGroup4}
	}
	body, ok := digits(p4[1:], 2)
	if !ok {
		return Code{}, &Error{Input: s, Rule: ruleGroup4}
	}
	return Code{g1: uint16(g1), g2: uint8(g2), g3: uint8(g3), letter: p4[0], body: uint8(body)}, nil
}

// digits reads exactly n ASCII digits. Working on bytes rather than runes is
// what rejects full-width and other non-ASCII digits: their UTF-8 bytes are
// never in '0'..'9'.
func digits(s string, n int) (int, bool) {
	if len(s) != n {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// MustParse is for tests and package-level constants, where a malformed code
// is a programming error rather than bad input.
func MustParse(s string) Code {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// String returns the canonical 13-character form, which Parse accepts back
// unchanged, or "" for the zero Code.
func (c Code) String() string {
	if c.IsZero() {
		return ""
	}
	b := [codeLength]byte{
		'0' + byte(c.g1/100), '0' + byte(c.g1/10%10), '0' + byte(c.g1%10), '.',
		'0' + c.g2/10, '0' + c.g2%10, '.',
		'0' + c.g3/10, '0' + c.g3%10, '.',
		c.letter, '0' + c.body/10, '0' + c.body%10,
	}
	return string(b[:])
}

// IsZero reports whether c is "no code". It also lets encoding/json's
// omitzero option leave an unset Code out.
func (c Code) IsZero() bool { return c == Code{} }

// Level is 1 for a level-1 body (000.00.00.XNN) and up to 4, following the
// working rule in the package documentation; 0 for the zero Code.
func (c Code) Level() int {
	switch {
	case c.IsZero():
		return 0
	case c.g3 != 0:
		return 4
	case c.g2 != 0:
		return 3
	case c.g1 != 0:
		return 2
	default:
		return 1
	}
}

// Parent walks one step up the hierarchy by zeroing the deepest non-zero
// level; intermediate levels may be skipped, so 000.00.34.H41 goes straight to
// 000.00.00.H41. It reports false for a level-1 body and for the zero Code.
func (c Code) Parent() (Code, bool) {
	p := c
	switch c.Level() {
	case 4:
		p.g3 = 0
	case 3:
		p.g2 = 0
	case 2:
		p.g1 = 0
	default:
		return Code{}, false
	}
	return p, true
}

// Root returns the level-1 body (000.00.00.XNN) that c belongs to, which is
// c itself for a level-1 body; the zero Code for the zero Code.
func (c Code) Root() Code {
	if c.IsZero() {
		return Code{}
	}
	return Code{letter: c.letter, body: c.body}
}

// Body returns group 4 (for example "G22"), which names the level-1 body
// without the 000.00.00 prefix; "" for the zero Code.
func (c Code) Body() string {
	if c.IsZero() {
		return ""
	}
	return c.String()[codeLength-3:]
}

// MarshalText makes Code a JSON string (and a map key). The zero Code
// marshals to empty text so that a struct with an unset Code still encodes.
func (c Code) MarshalText() ([]byte, error) {
	return []byte(c.String()), nil
}

// UnmarshalText accepts exactly what Parse accepts, plus empty text, which
// decodes to the zero Code so that MarshalText's output always round-trips.
// Callers that require a code must check IsZero.
func (c *Code) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*c = Code{}
		return nil
	}
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
