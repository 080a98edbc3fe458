package hub

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// Names inside a backup archive.
const (
	BackupStoreName = "ndxp.db"
	BackupBlobDir   = "blobs"
)

// BackupFile is an extra file the daemon adds to a backup (its dev PKI).
type BackupFile struct {
	Name string // name in the archive, e.g. "pki/ca.key"
	Path string // file to copy
}

type backupEntry struct {
	name string
	size int64
	open func() (io.ReadCloser, error) // nil for the store itself
}

// tarSize is the size of a USTAR archive of entries of these sizes.
func tarSize(sizes []int64) int64 {
	total := int64(1024) // two zero blocks end the archive
	for _, s := range sizes {
		total += 512 + (s+511)/512*512
	}
	return total
}

// Backup writes a consistent backup of the hub to w while it keeps
// serving: a tar archive of the store as of one read transaction, then
// every attachment body file that transaction references, then extra.
// Bodies are immutable and the retention purge waits for the backup, so
// the archive restores to exactly the state at the snapshot: every
// document receipted before it began. begin is called first with the
// archive's exact size and the snapshot time.
func (h *Hub) Backup(ctx context.Context, extra []BackupFile, begin func(total int64, at time.Time) error, w io.Writer) error {
	release := h.bodies.hold()
	defer release()
	return h.st.Snapshot(ctx, func(tx store.Tx, dbSize int64, writeDB func(io.Writer) (int64, error)) error {
		at := h.cfg.Now()
		entries, err := h.backupEntries(ctx, tx, dbSize, extra)
		if err != nil {
			return err
		}
		sizes := make([]int64, len(entries))
		for i, e := range entries {
			sizes[i] = e.size
		}
		if err := begin(tarSize(sizes), at); err != nil {
			return err
		}
		tw := tar.NewWriter(w)
		for _, e := range entries {
			if err := e.write(tw, at, writeDB); err != nil {
				return err
			}
		}
		h.log.Info("backup written", "entries", len(entries), "snapshot", at)
		return tw.Close()
	})
}

// backupEntries lists what a backup holds: the store copy, every body
// file the snapshot's records name, and the extra files.
func (h *Hub) backupEntries(ctx context.Context, tx store.Tx, dbSize int64, extra []BackupFile) ([]backupEntry, error) {
	entries := []backupEntry{{name: BackupStoreName, size: dbSize}}
	err := tx.Scan(store.BucketBlobs, nil, nil, func(k, v []byte) (bool, error) {
		var rec blobRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, err
		}
		sum := string(k)
		entries = append(entries, backupEntry{
			name: path.Join(BackupBlobDir, sum[:2], sum), size: rec.Size,
			open: func() (io.ReadCloser, error) { return h.bodies.open(sum) },
		})
		return true, ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, f := range extra {
		fi, err := os.Stat(f.Path)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", f.Name, err)
		}
		p := f.Path
		entries = append(entries, backupEntry{name: f.Name, size: fi.Size(), open: func() (io.ReadCloser, error) { return os.Open(p) }})
	}
	return entries, nil
}

// write writes the entry to the archive: the store copy (no open), or a
// file, which must have the size it had in the snapshot.
func (e backupEntry) write(tw *tar.Writer, at time.Time, writeDB func(io.Writer) (int64, error)) error {
	hdr := &tar.Header{Name: e.name, Size: e.size, Mode: 0o600, ModTime: at.Truncate(time.Second), Format: tar.FormatUSTAR, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if e.open == nil {
		if n, err := writeDB(tw); err != nil {
			return err
		} else if n != e.size {
			return fmt.Errorf("backup: store copy of %d bytes, expected %d", n, e.size)
		}
		return nil
	}
	r, err := e.open()
	if err != nil {
		return fmt.Errorf("backup %s: %w", e.name, err)
	}
	defer r.Close()
	n, err := io.Copy(tw, io.LimitReader(r, e.size))
	if err != nil {
		return err
	}
	if n != e.size {
		return fmt.Errorf("backup %s: %d bytes, expected %d", e.name, n, e.size)
	}
	return nil
}
