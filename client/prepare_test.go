package client

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seekOnly is a ReadSeeker with no WriteTo, like ndxp-bench's generated
// bodies and most readers an agency system wraps around its storage.
type seekOnly struct{ r *bytes.Reader }

func (s seekOnly) Read(p []byte) (int, error)                { return s.r.Read(p) }
func (s seekOnly) Seek(off int64, whence int) (int64, error) { return s.r.Seek(off, whence) }

func TestPrepareHashesSmallBodies(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 1000, 32<<10 - 1, 32 << 10, 100 << 10, ChunkSize} {
		data := bytes.Repeat([]byte("văn bản "), n/9+1)[:n]
		want := sha256.Sum256(data)
		path := filepath.Join(dir, "body")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		bodies := map[string]io.Reader{
			"bytes.Reader":   bytes.NewReader(data),
			"strings.Reader": strings.NewReader(string(data)),
			"seek only":      seekOnly{bytes.NewReader(data)},
			"os.File":        f,
			"not seekable":   io.MultiReader(bytes.NewReader(data)),
		}
		for name, r := range bodies {
			b, err := prepare(Attachment{Name: "a.pdf", Body: r})
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", name, n, err)
			}
			if b.size != int64(n) {
				t.Errorf("%s, %d bytes: size %d", name, n, b.size)
			}
			if !bytes.Equal(b.digest, want[:]) {
				t.Errorf("%s, %d bytes: digest %x, want %x", name, n, b.digest, want)
			}
			// The body must read from its start again for the upload.
			if err := b.r.rewind(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(b.r)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s, %d bytes: reread %d bytes (%v), not the body", name, n, len(got), err)
			}
			b.close()
		}
		f.Close()
	}
}

func BenchmarkPrepareSmall(b *testing.B) {
	data := bytes.Repeat([]byte{'x'}, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prepare(Attachment{Name: "a.bin", Body: seekOnly{bytes.NewReader(data)}}); err != nil {
			b.Fatal(err)
		}
	}
}
