package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text from the hub or from another agency is printed through Safe (or
// SafeJSON): the hub refuses control, bidi and invisible characters in new
// input (internal/hub/text.go), but documents stored before that rule, or
// received from an older hub, may still hold them, and a terminal obeys
// ESC sequences (clear the screen, set the window title, rewrite the
// clipboard on some) and reorders text around bidi controls. The CLIs
// must be safe on their own.

// unsafe reports whether r must not reach a terminal as it is. It is the
// display side of the hub's text rules (internal/hub/text.go, refusal),
// with TAB and LF left to the caller (OneLine) and CR escaped: "\r" moves
// the cursor back and lets a text overwrite what was printed before it.
func unsafe(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f: // C0, DEL, C1 (0x9b is CSI)
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r == 0x034f || r == 0x115f || r == 0x1160 || r == 0x3164 || r == 0xffa0: // invisible letters and marks
		return true
	}
	// Format characters: bidi controls (U+202A–U+202E, U+2066–U+2069,
	// U+200E, U+200F, U+061C), zero-width characters, soft hyphen, BOM, tags.
	return unicode.Is(unicode.Cf, r)
}

// Safe returns s with every character that could change how a terminal
// shows it, or hide part of it, replaced by a visible escape in Go's
// notation: control characters and bytes that are not UTF-8 as "\x1b",
// "\xff"; bidi controls, invisible characters and line separators as
// "\u202e" or "\U000e0001". TAB and LF stay (OneLine removes them where a
// value must keep to one line); every other character is kept. A string
// with nothing to escape is returned as it is.
func Safe(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafe(r):
			b.WriteString(s[i : i+size])
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the byte offset of the first character Safe
// escapes, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unsafe(r) {
			return i
		}
		i += size
	}
	return -1
}

// SafeJSON escapes, inside encoded JSON, the characters Safe escapes that
// the JSON encoders leave raw: encoding/json escapes C0 controls and
// U+2028/U+2029 but not DEL, C1 controls (0x9b is a terminal's CSI),
// bidi controls or invisible characters; protojson escapes C0 only.
// Escaped as "\u202e" they decode to the same string, so programs reading
// the JSON see no difference, and the JSON stays safe to show on a
// terminal (`ndxp show -o json` is read by people too). Such characters
// can only occur inside JSON strings, where "\uXXXX" is valid. Bytes that
// are not UTF-8 become "\ufffd", as encoding/json makes them.
func SafeJSON(b []byte) []byte {
	i := firstUnsafeBytes(b)
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case !unsafe(r):
			out = append(out, b[i:i+size]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}

func firstUnsafeBytes(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || unsafe(r) {
			return i
		}
		i += size
	}
	return -1
}
