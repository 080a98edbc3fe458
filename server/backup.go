package server

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// backupChunk is the size of the pieces a backup streams in.
const backupChunk = 256 << 10

// chunkWriter turns the archive into BackupResponse messages.
type chunkWriter struct {
	send  func(*ndxpv1.BackupResponse) error
	first *ndxpv1.BackupResponse // carries the total and the snapshot time
	buf   []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == backupChunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	msg := &ndxpv1.BackupResponse{Data: c.buf}
	if c.first != nil {
		msg.TotalBytes, msg.SnapshotTime = c.first.TotalBytes, c.first.SnapshotTime
		c.first = nil
	}
	err := c.send(msg)
	c.buf = c.buf[:0]
	return err
}

// pkiFiles are the dev PKI files a backup carries, so that a restored dev
// hub keeps its CA and every credential it issued stays valid.
func (d *Daemon) pkiFiles() []hub.BackupFile {
	if d == nil || !d.cfg.Dev {
		return nil
	}
	var out []hub.BackupFile
	for _, name := range []string{devCACert, devCAKey, devServerCert, devServerKey} {
		p := filepath.Join(d.cfg.DataDir, devPKIDir, name)
		if _, err := os.Stat(p); err == nil {
			out = append(out, hub.BackupFile{Name: devPKIDir + "/" + name, Path: p})
		}
	}
	if p := filepath.Join(d.cfg.DataDir, AdminCredsFile); fileExists(p) {
		out = append(out, hub.BackupFile{Name: AdminCredsFile, Path: p})
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (m *maintenanceService) Backup(_ *ndxpv1.BackupRequest, stream grpc.ServerStreamingServer[ndxpv1.BackupResponse]) error {
	ctx := stream.Context()
	cw := &chunkWriter{send: stream.Send, buf: make([]byte, 0, backupChunk)}
	err := m.hub.Backup(ctx, m.d.pkiFiles(), func(total int64, at time.Time) error {
		cw.first = &ndxpv1.BackupResponse{TotalBytes: total, SnapshotTime: timestamppb.New(at)}
		return nil
	}, cw)
	if err != nil {
		return err
	}
	if len(cw.buf) > 0 || cw.first != nil {
		return cw.flush()
	}
	return nil
}

func (m *maintenanceService) CheckStore(ctx context.Context, _ *ndxpv1.CheckStoreRequest) (*ndxpv1.CheckStoreResponse, error) {
	r, err := m.hub.Check(ctx)
	if err != nil {
		return nil, err
	}
	return &ndxpv1.CheckStoreResponse{Problems: r.Problems, Documents: r.Documents, Events: r.Events,
		AttachmentBodies: r.Bodies, StoreBytes: r.StoreBytes}, nil
}

// RestoreReport says what Restore put in place.
type RestoreReport struct {
	StoreBytes int64
	Bodies     int
	PKIFiles   int
	Documents  int64
	Problems   []string
}

var (
	blobName = regexp.MustCompile(`^blobs/([0-9a-f]{2})/([0-9a-f]{64})$`)
	pkiName  = regexp.MustCompile(`^pki/(ca\.crt|ca\.key|server\.crt|server\.key)$`)
)

// Restore unpacks a backup archive (from `ndxpctl backup`) into dataDir,
// which must hold no store unless force is set (the old store is then
// kept beside as ndxp.db.replaced-TIME). Every attachment body is checked
// against its SHA-256 name, and the restored store must pass the full
// consistency check before Restore reports success. The hub must not be
// running on dataDir.
func Restore(ctx context.Context, archive io.Reader, dataDir string, force bool) (RestoreReport, error) {
	var rep RestoreReport
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return rep, err
	}
	dbPath := filepath.Join(dataDir, StoreFile)
	logDir := store.LogDir(dbPath)
	if fileExists(dbPath) || fileExists(logDir) {
		if !force {
			return rep, fmt.Errorf("%s already holds a store; restore into an empty directory or pass --force", dataDir)
		}
		// The old store goes aside with its write-ahead log, which must
		// not be replayed onto the restored file.
		aside := dbPath + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		for from, to := range map[string]string{dbPath: aside, logDir: store.LogDir(aside)} {
			if fileExists(from) {
				if err := os.Rename(from, to); err != nil {
					return rep, err
				}
			}
		}
	}
	tmpDB := dbPath + ".restoring"
	defer os.Remove(tmpDB)
	blobs := filepath.Join(dataDir, BlobDir)
	tr := tar.NewReader(archive)
	sawStore := false
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("read backup: %w", err)
		}
		name := hdr.Name
		switch {
		case name == hub.BackupStoreName:
			n, err := writeFile(tmpDB, tr, 0o600, nil)
			if err != nil {
				return rep, err
			}
			rep.StoreBytes, sawStore = n, true
		case blobName.MatchString(name):
			m := blobName.FindStringSubmatch(name)
			h := sha256.New()
			dst := filepath.Join(blobs, m[1], m[2])
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return rep, err
			}
			if _, err := writeFile(dst, tr, 0o600, h); err != nil {
				return rep, err
			}
			if hex.EncodeToString(h.Sum(nil)) != m[2] {
				os.Remove(dst)
				return rep, fmt.Errorf("backup entry %s: content does not match its SHA-256 name (damaged archive)", name)
			}
			rep.Bodies++
		case pkiName.MatchString(name) || name == AdminCredsFile:
			dst := filepath.Join(dataDir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return rep, err
			}
			if _, err := writeFile(dst, tr, 0o600, nil); err != nil {
				return rep, err
			}
			rep.PKIFiles++
		default:
			return rep, fmt.Errorf("backup entry %q is not part of an ndxp backup", name)
		}
	}
	if !sawStore {
		return rep, errors.New("the archive holds no store (ndxp.db): not an ndxp backup")
	}
	if err := os.Rename(tmpDB, dbPath); err != nil {
		return rep, err
	}
	// Open it as the hub would, and run the full check.
	st, err := store.OpenBolt(dbPath, store.Options{CheckLimit: -1})
	if err != nil {
		return rep, fmt.Errorf("restored store: %w", err)
	}
	defer st.Close()
	files, err := store.OpenFiles(blobs)
	if err != nil {
		return rep, err
	}
	cfg := hub.DefaultConfig()
	h, err := hub.New(ctx, st, files, cfg)
	if err != nil {
		return rep, fmt.Errorf("restored store: %w", err)
	}
	cr, err := h.Check(ctx)
	if err != nil {
		return rep, err
	}
	rep.Documents, rep.Problems = cr.Documents, cr.Problems
	if len(cr.Problems) > 0 {
		return rep, fmt.Errorf("the restored store fails its check: %s (%d problems)", cr.Problems[0], len(cr.Problems))
	}
	return rep, nil
}

// writeFile copies r into path durably (fsync), hashing into h if given.
func writeFile(path string, r io.Reader, perm fs.FileMode, h io.Writer) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return 0, err
	}
	w := io.Writer(f)
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	n, err := io.Copy(w, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
