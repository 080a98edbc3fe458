package store

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// newFileWriter opens a blob directory and starts a body in it.
func newFileWriter(t *testing.T) (*Files, *FileWriter) {
	t.Helper()
	f, err := OpenFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Create()
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

// TestFileWriterHashesAndPlaces: a body handed over in pieces (some given,
// some copied) is written and hashed by the writer's goroutine, placed under
// its digest by Commit, and nothing is left in the temporary directory.
func TestFileWriterHashesAndPlaces(t *testing.T) {
	f, w := newFileWriter(t)
	body := make([]byte, 3*writebackEvery/2+12345) // crosses a write-back request
	rand.Read(body)
	for off := 0; off < len(body); off += 256 << 10 {
		piece := body[off:min(off+256<<10, len(body))]
		if off%(512<<10) == 0 {
			if err := w.Give(bytes.Clone(piece)); err != nil {
				t.Fatal(err)
			}
		} else if _, err := w.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if w.Size() != int64(len(body)) {
		t.Errorf("Size %d, want %d", w.Size(), len(body))
	}
	want := sha256.Sum256(body)
	got, err := w.Sum()
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("Sum %x, %v; want %x", got, err, want)
	}
	if err := w.Give([]byte("late")); err == nil {
		t.Error("Give after Sum was accepted")
	}
	sum, err := w.Commit()
	if err != nil || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("Commit %s, %v", sum, err)
	}
	r, err := f.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if stored, _ := io.ReadAll(r); !bytes.Equal(stored, body) {
		t.Error("the placed file differs from the body")
	}
	if ents, _ := os.ReadDir(filepath.Join(f.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("%d files left in tmp", len(ents))
	}
}

// TestFileWriterAbort: an aborted body, with writes still queued, leaves no
// file and stops its goroutine (goleak in TestMain checks the latter).
func TestFileWriterAbort(t *testing.T) {
	f, w := newFileWriter(t)
	for range 20 {
		if err := w.Give(make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	w.Abort() // twice is fine
	if ents, _ := os.ReadDir(filepath.Join(f.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("%d files left in tmp after Abort", len(ents))
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

// TestFileWriterReportsWriteErrors: a failing disk write reaches the
// uploader at its next Give or at Sum, not only at the end.
func TestFileWriterReportsWriteErrors(t *testing.T) {
	_, w := newFileWriter(t)
	w.tmp.Close() // every write now fails
	var giveErr error
	for range 100 {
		if giveErr = w.Give(make([]byte, 1024)); giveErr != nil {
			break
		}
	}
	_, sumErr := w.Sum()
	if sumErr == nil {
		t.Fatal("Sum after failed writes reported no error")
	}
	t.Logf("Give: %v; Sum: %v", giveErr, sumErr)
	w.Abort()
}
