package hub

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// TestBackupRestores: a backup is a tar of the store, the attachment files
// and the extra files, of exactly the size announced first; unpacked, it
// is a hub that serves every document and body the original had.
func TestBackupRestores(t *testing.T) {
	h, clock := retentionHub(t, nil) // inline limit 1 KiB
	small, large := body(300, 1), body(5000, 2)
	id := send(t, h, "Sao lưu", []string{codeH41}, small, large, []byte{})
	ack(t, h, id, codeH41)
	queuedID := send(t, h, "Chưa nhận", []string{codeH14})
	_, vxpSecret, err := h.AddVxpSystem(t.Context(), admin, "vxp.saas.03", []string{codeH41}, false)
	if err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(extra, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	var total int64
	var at time.Time
	err = h.Backup(t.Context(), []BackupFile{{Name: "pki/ca.crt", Path: extra}}, func(n int64, snap time.Time) error {
		total, at = n, snap
		return nil
	}, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if total != int64(buf.Len()) {
		t.Errorf("announced %d bytes, wrote %d", total, buf.Len())
	}
	if !at.Equal(clock.Now()) {
		t.Errorf("snapshot time %v, want the hub's clock %v", at, clock.Now())
	}

	dir := t.TempDir()
	var names []string
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		names = append(names, hdr.Name)
		path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	large256 := sumHex(large)
	want := []string{BackupStoreName, BackupBlobDir + "/" + large256[:2] + "/" + large256, "pki/ca.crt"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("archive entries (-want +got):\n%s", diff)
	}

	st := openStore(t, filepath.Join(dir, BackupStoreName))
	files, err := store.OpenFiles(filepath.Join(dir, BackupBlobDir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Now = clock.Now
	cfg.InlineLimit = 1 << 10
	restored, err := New(t.Context(), st, files, cfg)
	if err != nil {
		t.Fatalf("New on the restored store: %v", err)
	}
	defer restored.Drain()
	for i, b := range [][]byte{small, large, {}} {
		got, err := readAttachment(t, restored, agency(codeH41), id, i)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("restored attachment %d: %d bytes, %v; want the %d sent", i, len(got), err, len(b))
		}
	}
	if d := delivery(t, restored, id, codeH41); d.Status != "01" {
		t.Errorf("restored delivery: %+v, want 01", d)
	}
	if evs := queueOf(t, restored, codeH14); len(evs) != 1 || evs[0].DocID != queuedID {
		t.Errorf("restored queue of %s: %+v, want the arrival of %s", codeH14, evs, queuedID)
	}
	if _, key, ok := restored.LookupVxpSystem("vxp.saas.03"); !ok || string(key) != vxpSecret {
		t.Errorf("restored VXP system: found %v; want it with its secret", ok)
	}
	if rep, err := restored.Check(t.Context()); err != nil || len(rep.Problems) > 0 {
		t.Errorf("Check of the restored hub: %q, %v", rep.Problems, err)
	}
}

// TestBackupFailures: a failure before the archive starts (an extra file
// missing, the caller refusing the size) ends the backup without writing.
func TestBackupFailures(t *testing.T) {
	h, _ := retentionHub(t, nil)
	send(t, h, "Sao lưu", []string{codeH41}, body(3000, 1))
	errNoRoom := errors.New("no room for the archive")
	tests := []struct {
		name  string
		extra []BackupFile
		begin func(int64, time.Time) error
		want  error
	}{
		{"an extra file missing", []BackupFile{{Name: "pki/ca.key", Path: filepath.Join(t.TempDir(), "missing")}},
			func(int64, time.Time) error { return nil }, os.ErrNotExist},
		{"begin refuses", nil, func(int64, time.Time) error { return errNoRoom }, errNoRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := h.Backup(t.Context(), tt.extra, tt.begin, &buf)
			if !errors.Is(err, tt.want) {
				t.Errorf("Backup: %v, want %v", err, tt.want)
			}
			if buf.Len() > 0 {
				t.Errorf("%d bytes written before the failure", buf.Len())
			}
		})
	}
}

func TestTarSize(t *testing.T) {
	for _, tt := range []struct {
		sizes []int64
		want  int64
	}{
		{nil, 1024},
		{[]int64{0}, 1024 + 512},
		{[]int64{1}, 1024 + 512 + 512},
		{[]int64{512, 513}, 1024 + 512 + 512 + 512 + 1024},
	} {
		if got := tarSize(tt.sizes); got != tt.want {
			t.Errorf("tarSize(%v) = %d, want %d", tt.sizes, got, tt.want)
		}
	}
}
