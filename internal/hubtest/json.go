package hubtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// JSONStyle names what one command's -o json must hold beyond the rules
// every output follows. Paths are dot-separated keys and array indexes,
// "" for the whole value: "header.attachments.0.size". For a command that
// prints a stream of values, one per line, each path must hold in at
// least one of them.
type JSONStyle struct {
	Numbers []string // JSON numbers, not strings
	Lists   []string // arrays, [] when empty, never null or missing
	Digests []string // SHA-256 digests in lower-case hex
	Times   []string // RFC 3339 times
}

var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
	looksTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T`)
)

// CheckJSONStyle checks out, the stdout of a command run with -o json,
// against the style of the CLIs' JSON (cli.JSON): one JSON value, or one
// per line; keys in lower_snake_case; no null anywhere; every string
// that looks like a time, or sits under a key named time or ending in
// _time, an RFC 3339 time; every value under a key sha256 or ending in
// _sha256 a digest in lower-case hex; and what want names. It returns the
// values, decoded with json.Number for numbers.
func CheckJSONStyle(tb testing.TB, what string, out []byte, want JSONStyle) []any {
	tb.Helper()
	var values []any
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Errorf("%s: not JSON: %v\n%s", what, err, out)
			return nil
		}
		values = append(values, v)
	}
	if len(values) == 0 {
		tb.Errorf("%s printed no JSON", what)
		return nil
	}
	if len(values) > 1 && bytes.Count(bytes.TrimSpace(out), []byte("\n")) != len(values)-1 {
		tb.Errorf("%s printed %d values, not one per line:\n%s", what, len(values), out)
	}
	for _, v := range values {
		walkJSON(tb, what, "", "", v)
	}
	check := func(kind string, paths []string, ok func(any) bool) {
		tb.Helper()
		for _, p := range paths {
			found := false
			for _, v := range values {
				if got, present := jsonPath(v, p); present {
					found = true
					if !ok(got) {
						tb.Errorf("%s: %q is %#v; want %s", what, p, got, kind)
					}
				}
			}
			if !found {
				tb.Errorf("%s: no %q (want %s) in\n%s", what, p, kind, out)
			}
		}
	}
	check("a JSON number", want.Numbers, func(v any) bool { _, ok := v.(json.Number); return ok })
	check("a list", want.Lists, func(v any) bool { _, ok := v.([]any); return ok })
	check("a SHA-256 digest in lower-case hex", want.Digests, func(v any) bool {
		s, ok := v.(string)
		return ok && hexDigest.MatchString(s)
	})
	check("an RFC 3339 time", want.Times, func(v any) bool {
		s, ok := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return ok && err == nil
	})
	return values
}

func walkJSON(tb testing.TB, what, path, key string, v any) {
	tb.Helper()
	switch v := v.(type) {
	case nil:
		tb.Errorf("%s: %q is null; want the value, or [] for a list", what, path)
	case map[string]any:
		for k, e := range v {
			if !snakeCase.MatchString(k) {
				tb.Errorf("%s: key %q at %q is not lower_snake_case", what, k, path)
			}
			walkJSON(tb, what, join(path, k), k, e)
		}
	case []any:
		for i, e := range v {
			walkJSON(tb, what, join(path, strconv.Itoa(i)), key, e)
		}
	case string:
		if looksTime.MatchString(v) || key == "time" || strings.HasSuffix(key, "_time") {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				tb.Errorf("%s: %q is %q; want an RFC 3339 time", what, path, v)
			}
		}
		if (key == "sha256" || strings.HasSuffix(key, "_sha256")) && !hexDigest.MatchString(v) {
			tb.Errorf("%s: %q is %q; want a SHA-256 digest in lower-case hex", what, path, v)
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonPath returns the value at path in v, and whether there is one.
func jsonPath(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			e, ok := c[k]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}
