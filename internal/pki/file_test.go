package pki

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writeCredsFile writes a valid credentials file with the given mode.
func writeCredsFile(t *testing.T, path string, mode os.FileMode, prefix []byte) {
	t.Helper()
	tc := newTestCreds(t)
	data, err := EncodeCreds(tc.address, tc.caPEM, tc.certPEM, tc.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(prefix, data...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not filtered by the umask
		t.Fatal(err)
	}
}

func TestReadCredsRefusesOpenPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows files have no group and other permission bits; the check is off there")
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"owner only", 0o600, true},
		{"owner read-only", 0o400, true},
		{"owner with execute", 0o700, true},
		{"world-readable", 0o644, false},
		{"group-readable", 0o640, false},
		{"group-writable", 0o620, false},
		{"others-readable", 0o604, false},
		{"others-executable", 0o601, false},
		{"everyone", 0o666, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("agency %04o.creds", tt.mode)) // a space: the hint must quote it
			writeCredsFile(t, path, tt.mode, nil)
			_, err := ReadCreds(path)
			if tt.ok {
				if err != nil {
					t.Fatalf("ReadCreds of a %04o file: %v", tt.mode, err)
				}
				return
			}
			if !errors.Is(err, ErrTooOpen) {
				t.Fatalf("ReadCreds of a %04o file = %v, want ErrTooOpen", tt.mode, err)
			}
			msg := err.Error()
			for _, w := range []string{path, fmt.Sprintf("%04o", tt.mode), "chmod 600 '" + path + "'"} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			// What the message says to do works.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadCreds(path); err != nil {
				t.Errorf("ReadCreds after chmod 600: %v", err)
			}
		})
	}
}

func TestReadCredsBounded(t *testing.T) {
	dir := t.TempDir()
	padding := func(n int) []byte { // comment lines: text outside PEM blocks is ignored
		line := []byte(strings.Repeat("#", 99) + "\n")
		return bytes.Repeat(line, n/len(line))
	}

	at := filepath.Join(dir, "at-limit.creds")
	writeCredsFile(t, at, 0o600, padding(MaxCredsSize-8<<10))
	if fi, _ := os.Stat(at); fi.Size() > MaxCredsSize {
		t.Fatalf("the file is %d bytes, over the limit", fi.Size())
	}
	if _, err := ReadCreds(at); err != nil {
		t.Errorf("ReadCreds of a file within %d bytes: %v", MaxCredsSize, err)
	}

	over := filepath.Join(dir, "over.creds")
	writeCredsFile(t, over, 0o600, padding(MaxCredsSize+100))
	if _, err := ReadCreds(over); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), over) {
		t.Errorf("ReadCreds of a file over %d bytes = %v, want ErrTooLarge naming the file", MaxCredsSize, err)
	}

	if _, err := ReadCreds(dir); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("ReadCreds of a directory = %v, want ErrNotRegular", err)
	}
}

// TestReadCredsDevZero: `--creds /dev/zero` read until memory ran out.
func TestReadCredsDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	start := time.Now()
	_, err := ReadCreds("/dev/zero")
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero: not a regular file: it is a device") {
		t.Errorf("ReadCreds(/dev/zero) = %v, want ErrNotRegular naming it", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ReadCreds(/dev/zero) took %v", d)
	}
}

// TestReadCredsPipe: a pipe (a shell's <(vault read ...)) is read, and an
// endless one no further than the limit.
func TestReadCredsPipe(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs /dev/fd")
	}
	tc := newTestCreds(t)
	data, err := EncodeCreds(tc.address, tc.caPEM, tc.certPEM, tc.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	feed := func(write func(w *os.File)) string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); write(w); w.Close() }()
		t.Cleanup(func() { r.Close(); <-done })
		return fmt.Sprintf("/dev/fd/%d", r.Fd())
	}

	c, err := ReadCreds(feed(func(w *os.File) { w.Write(data) }))
	if err != nil || c.Identity != tc.id {
		t.Errorf("ReadCreds of a pipe = %v, %v; want %v", c, err, tc.id)
	}

	endless := feed(func(w *os.File) {
		line := []byte(strings.Repeat("#", 99) + "\n")
		for {
			if _, err := w.Write(line); err != nil {
				return // the reader closed the pipe
			}
		}
	})
	if _, err := ReadCreds(endless); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadCreds of an endless pipe = %v, want ErrTooLarge", err)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc/ndxp/agency.creds", "/etc/ndxp/agency.creds"},
		{"./ndxp-data/admin.creds", "./ndxp-data/admin.creds"},
		{"my creds", "'my creds'"},
		{"it's", `'it'\''s'`},
		{"$(rm -rf ~)", "'$(rm -rf ~)'"},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
