package hubtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/store"
	"github.com/ndxp/ndxp/server"
)

// StoredDocument is one document found in a stopped hub's store.
type StoredDocument struct {
	ID         string
	Sender     string
	Reference  string
	Recipients []string
}

// StoreContents is what VerifyStore read from a stopped hub's data directory.
type StoreContents struct {
	// Documents maps document id -> document.
	Documents map[string]StoredDocument
	// Queued counts the events still queued.
	Queued int
	// Problems lists every broken invariant; empty when the store is whole.
	Problems []string
}

// storeBuckets are the buckets VerifyStore counts: every one declared in
// internal/store/buckets.go (the list there is not exported).
var storeBuckets = []store.Bucket{
	store.BucketMeta, store.BucketAgencies, store.BucketCredentials, store.BucketDocuments,
	store.BucketRefs, store.BucketDeliveries, store.BucketQueue, store.BucketSent,
	store.BucketInbox, store.BucketBlobs, store.BucketBlobData, store.BucketBlobRefs,
	store.BucketAliases, store.BucketVxpSystems,
}

// VerifyStore opens the store of a stopped hub in dataDir and checks it
// with the hub's own invariant checker (hub.CheckStore, every body
// hashed), that every bucket's count matches a scan of it, and that a
// clean stop left no temporary upload and no body file without its
// record. It fails the test only if the store cannot be opened or read;
// the broken invariants are returned in Problems for the caller to judge.
func VerifyStore(tb testing.TB, dataDir string) StoreContents {
	tb.Helper()
	st, err := store.OpenBolt(filepath.Join(dataDir, server.StoreFile), store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("open the store after the hub stopped: %v", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	}()
	files, err := store.OpenFiles(filepath.Join(dataDir, server.BlobDir))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	rep, err := hub.CheckStore(ctx, st, files, true)
	if err != nil {
		tb.Fatalf("check the store after the hub stopped: %v", err)
	}
	c := StoreContents{Documents: map[string]StoredDocument{}, Queued: int(rep.Events), Problems: rep.Problems}
	if rep.Uploads > 0 {
		c.Problems = append(c.Problems, fmt.Sprintf("blob directory: %d temporary uploads left behind", rep.Uploads))
	}
	if rep.Unreferenced > 0 {
		c.Problems = append(c.Problems, fmt.Sprintf("blob directory: %d body files have no record", rep.Unreferenced))
	}
	err = st.View(ctx, func(tx store.Tx) error {
		for _, b := range storeBuckets {
			scanned := 0
			if err := tx.Scan(b, nil, nil, func(k, v []byte) (bool, error) {
				scanned++
				if b != store.BucketDocuments {
					return true, nil
				}
				if d, err := hub.DecodeDocument(v); err == nil { // an unreadable one is in Problems
					c.Documents[string(k)] = StoredDocument{ID: d.ID, Sender: d.Sender, Reference: d.Header.Reference, Recipients: d.Header.Recipients}
				}
				return true, nil
			}); err != nil {
				return fmt.Errorf("scan %s: %w", b, err)
			}
			if n, err := tx.Count(b); err != nil {
				return fmt.Errorf("count %s: %w", b, err)
			} else if n != scanned {
				c.Problems = append(c.Problems, fmt.Sprintf("bucket %s: Count says %d keys, a scan found %d", b, n, scanned))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("read the store after the hub stopped: %v", err)
	}
	return c
}

// LogLines returns the lines of the hub logs in dataDir (one file per
// process start) that contain any of words, at most max of them, each
// prefixed with its file name: what a failed crash test shows.
func LogLines(dataDir string, max int, words ...string) []string {
	files, _ := filepath.Glob(filepath.Join(dataDir, "ndxpd-*.log"))
	var out []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		raw, _ := io.ReadAll(fh)
		fh.Close()
		for _, line := range strings.Split(string(raw), "\n") {
			for _, w := range words {
				if strings.Contains(line, w) {
					if len(out) < max {
						out = append(out, filepath.Base(f)+": "+line)
					}
					break
				}
			}
		}
	}
	return out
}
