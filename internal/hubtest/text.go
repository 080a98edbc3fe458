package hubtest

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// Hostile is what text stored before the hub's text rules, or served by
// an older hub, may still hold: terminal escapes (clear screen, window
// title), NUL, CR, C1 CSI, bidi overrides and isolates, zero-width and
// other invisible characters, a line separator, a tag character.
const Hostile = "\x1b[2J\x1b]0;owned\x07\x00\r\u009b31m\u202egnp.exe\u2066\u200b\ufeff\u00ad\u2028\U000e0001"

// CheckShowable fails the test if out holds anything a terminal would act
// on or hide: controls other than LF and TAB, DEL, C1, format characters
// (bidi, zero-width), line separators, or bytes that are not UTF-8.
func CheckShowable(tb testing.TB, what string, out []byte) {
	tb.Helper()
	if !utf8.Valid(out) {
		tb.Errorf("%s is not valid UTF-8:\n%q", what, out)
	}
	for i, r := range string(out) {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r) {
			tb.Errorf("%s holds U+%04X at byte %d:\n%q", what, r, i, out)
			return
		}
	}
}
