package hub

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text rules. Every text field of a request goes through checkText (one
// line) or checkLines (several lines); they refuse what can make a text
// show other than it reads or hide part of it:
//
//   - C0 and C1 control characters and DEL: ESC starts terminal escape
//     sequences (clear the screen, set the window title), NUL and CR
//     truncate or overwrite what is shown. checkLines alone lets through
//     LF and TAB, the only two that a multi-line text needs; CR LF is
//     turned into LF before (normalizeLines), a lone CR is refused.
//   - bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E,
//     U+200F, U+061C): "a\u202Efdp.exe" shows as "aexe.pdf".
//   - invisible characters: every format character (general category Cf:
//     zero-width space and joiners U+200B–U+200D, word joiner and invisible
//     operators U+2060–U+2064, BOM U+FEFF, soft hyphen U+00AD, tags…) and
//     the few others that show as nothing (combining grapheme joiner
//     U+034F, Hangul fillers). Two names that differ only by one of them
//     look the same. Vietnamese needs none of them: its letters are
//     precomposed (NFC) or base letters with combining marks (category
//     Mn, allowed), and it has no joiners.
//   - line and paragraph separators U+2028, U+2029: line breaks that
//     checkText's one-line fields must not have, and that no client
//     expects in checkLines' fields (LF is the line break).
//   - invalid UTF-8.
//
// Which fields take several lines: a document's content alone. Every
// other text is one line: names (agency, attachment, signer, places),
// subject, number, references and the reasons of a status, a recall or a
// suspension, which are shown in one-line rows (trace, receive's event
// lines) and logged as one value.
//
// The rules apply to new input only: records stored before they existed
// are read and shown as they are (the CLIs escape what they print).

// refusal says why r may not appear in a text field ("" if it may), as
// the end of "character 3 (U+202E) is …". multiLine allows LF and TAB.
func refusal(r rune, multiLine bool) string {
	const no = ", which is not allowed"
	switch {
	case r == '\n' || r == '\t':
		if multiLine {
			return ""
		}
		if r == '\n' {
			return "a line break, which is not allowed in a one-line field"
		}
		return "a tab, which is not allowed in a one-line field"
	case r == '\r':
		if multiLine {
			return "a carriage return without a line feed" + no
		}
		return "a carriage return, which is not allowed in a one-line field"
	case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
		return "a control character" + no
	case r == 0x2028 || r == 0x2029:
		return "a line or paragraph separator" + no
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return "a bidirectional control" + no
	case r == 0x00ad:
		return "a soft hyphen (invisible)" + no
	case r >= 0x200b && r <= 0x200d, r == 0x2060, r == 0xfeff:
		return "a zero-width character" + no
	case unicode.Is(unicode.Cf, r), r == 0x034f, r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0:
		return "an invisible character" + no
	}
	return ""
}

// checkChars refuses invalid UTF-8 and the characters refusal names; the
// error names the field, the character and its position (1-based, in
// characters) so that the sender can find it.
func checkChars(field, v string, multiLine bool) error {
	pos := 0
	for i, r := range v {
		pos++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(v[i:]); size == 1 {
				return invalid(field, "must be valid UTF-8: byte 0x%02X at byte offset %d is not", v[i], i)
			}
		}
		if why := refusal(r, multiLine); why != "" {
			return invalid(field, "character %d (U+%04X) is %s", pos, r, why)
		}
	}
	return nil
}

// checkText validates a one-line, human-entered text field: at most max
// characters, not blank when required, and none of the characters the
// text rules above refuse (TAB and LF included).
func checkText(field, v string, max int, required bool) error {
	return checkTextMode(field, v, max, required, false)
}

// checkLines is checkText for a field of several lines (a document's
// content): LF and TAB are allowed. Callers run normalizeLines first.
func checkLines(field, v string, max int, required bool) error {
	return checkTextMode(field, v, max, required, true)
}

func checkTextMode(field, v string, max int, required, multiLine bool) error {
	if !utf8.ValidString(v) {
		// Report where, with the same message as a refused character.
		return checkChars(field, v, multiLine)
	}
	if strings.TrimSpace(v) == "" {
		if required {
			return invalid(field, "must not be empty")
		}
		if v == "" {
			return nil
		}
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalid(field, "is %d characters long, the limit is %d", n, max)
	}
	return checkChars(field, v, multiLine)
}

// normalizeLines turns CR LF line ends (Windows clients) into LF, so that
// a multi-line text has one kind of line break; a lone CR stays, for
// checkLines to refuse.
func normalizeLines(s string) string {
	if !strings.Contains(s, "\r\n") {
		return s
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}
