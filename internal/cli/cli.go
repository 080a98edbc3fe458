// Package cli holds what the ndxp command-line tools share: output as a
// table or JSON, one-line error messages, and credential flag defaults.
package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Format is how a command prints its result.
type Format string

// Output formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
)

// ParseFormat checks an -o value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatTable, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("-o %q: want table or json", s)
}

// JSON writes v as indented JSON with a final newline, bidi and other
// invisible characters escaped (SafeJSON). It (or JSONLine, for streams)
// writes every -o json of ndxp and ndxpctl, in one style:
//
//   - field names in lower_snake_case: the proto field names for API
//     messages (ProtoJSON), the same kind of names for a command's views;
//   - numbers as JSON numbers, 64-bit ones too (never strings);
//   - SHA-256 digests as lower-case hex;
//   - times as RFC 3339 strings (time.Time's encoding; the hub's are UTC);
//   - lists as [], never null or missing, when empty;
//   - enum values as lower-case words: "pilot", "new".
//
// ProtoJSON brings API messages to it; a command's own views follow it
// by their types (int64, time.Time, a non-nil slice), and each CLI's
// table test of its JSON outputs checks them.
func JSON(w io.Writer, v any) error {
	return writeJSON(w, v, "  ")
}

// JSONLine writes v as JSON on one line, in the style of JSON: for
// commands that print a stream of objects, one per line
// (receive -o json, overview --watch -o json).
func JSONLine(w io.Writer, v any) error {
	return writeJSON(w, v, "")
}

func writeJSON(w io.Writer, v any, indent string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", indent)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(SafeJSON(b.Bytes()))
	return err
}

// Table writes rows under a header, columns aligned. Each cell is made
// one line (OneLine) and safe to show (Safe) before the columns are
// measured, so a value from the hub can neither break the table nor
// drive the terminal.
func Table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, cells(header))
	for _, r := range rows {
		fmt.Fprintln(tw, cells(r))
	}
	return tw.Flush()
}

// Fields writes "key: value" lines, aligned; values are made one line and
// safe to show, as table cells.
func Fields(w io.Writer, kv [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, p := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", Cell(p[0]), Cell(p[1]))
	}
	return tw.Flush()
}

// Cell is a value made fit for one line of output: tabs and line breaks
// become spaces (OneLine), what a terminal would act on is escaped (Safe).
func Cell(s string) string { return Safe(OneLine(s)) }

func cells(row []string) string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = Cell(c)
	}
	return strings.Join(out, "\t")
}

// Time formats a time for people; the zero time is "-".
func Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// ErrorLine renders err as one line: the hub's message and its gRPC code,
// or the plain error text.
func ErrorLine(err error) string {
	var msg string
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		switch st.Code() {
		case codes.Unavailable:
			msg = "hub unavailable: " + st.Message()
		case codes.DeadlineExceeded:
			msg = "the hub did not answer in time: " + st.Message()
		default:
			msg = st.Message() + " (" + st.Code().String() + ")"
		}
	} else {
		msg = err.Error()
	}
	// The message may quote what a request or the hub held: one line, safe.
	return Safe(strings.Join(strings.Fields(msg), " "))
}

// Main runs a command's run function and exits like a CLI should: the
// error as one line on stderr and status 1; 2 for usage errors.
func Main(name string, run func() error) {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, ErrorLine(err))
		var u *UsageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// UsageError marks a mistake in the command line itself.
type UsageError struct{ Err error }

func (u *UsageError) Error() string { return u.Err.Error() }
func (u *UsageError) Unwrap() error { return u.Err }

// CredsPath picks the credentials file: the flag, else $NDXP_CREDS, else fallback.
func CredsPath(flag, fallback string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("NDXP_CREDS"); env != "" {
		return env
	}
	return fallback
}
