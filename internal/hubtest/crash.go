package hubtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	// Keys counts the keys of each bucket.
	Keys map[store.Bucket]int
	// Documents maps document id -> document.
	Documents map[string]StoredDocument
	// Queued counts the events still queued.
	Queued int
	// Problems lists every broken invariant; empty when the store is whole.
	Problems []string
}

// storeBuckets are the buckets VerifyStore reads: every one declared in
// internal/store/buckets.go (the list there is not exported).
var storeBuckets = []store.Bucket{
	store.BucketMeta, store.BucketAgencies, store.BucketCredentials, store.BucketDocuments,
	store.BucketRefs, store.BucketDeliveries, store.BucketQueue, store.BucketSent,
	store.BucketInbox, store.BucketBlobs, store.BucketBlobData, store.BucketBlobRefs,
}

// VerifyStore opens the store of a stopped hub in dataDir, reads every key
// of every bucket, and checks that each document is whole: its reference,
// sent and inbox entries, one delivery per recipient, its attachment
// bodies (inline or as files, with the declared size and digest), and that
// no index, queued event or body reference names a document that is not
// there. It fails the test only if the store cannot be opened or read; the
// broken invariants are returned in Problems for the caller to judge.
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
	c := StoreContents{Keys: map[store.Bucket]int{}, Documents: map[string]StoredDocument{}}
	problem := func(format string, args ...any) {
		if len(c.Problems) < 100 {
			c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
		}
	}
	blobDir := filepath.Join(dataDir, server.BlobDir)
	err = st.View(context.Background(), func(tx store.Tx) error {
		keys := map[store.Bucket]map[string][]byte{}
		for _, b := range storeBuckets {
			keys[b] = map[string][]byte{}
			if err := tx.Scan(b, nil, nil, func(k, v []byte) (bool, error) {
				keys[b][string(k)] = v
				return true, nil
			}); err != nil {
				return fmt.Errorf("scan %s: %w", b, err)
			}
			n, err := tx.Count(b)
			if err != nil {
				return fmt.Errorf("count %s: %w", b, err)
			}
			if n != len(keys[b]) {
				problem("bucket %s: Count says %d keys, a scan found %d", b, n, len(keys[b]))
			}
			c.Keys[b] = len(keys[b])
		}
		has := func(b store.Bucket, parts ...string) bool {
			_, ok := keys[b][strings.Join(parts, "\x00")]
			return ok
		}
		for id, raw := range keys[store.BucketDocuments] {
			var d hub.Document
			if err := json.Unmarshal(raw, &d); err != nil {
				problem("document %s: unreadable: %v", id, err)
				continue
			}
			if d.ID != id {
				problem("document under key %s has id %s", id, d.ID)
			}
			c.Documents[id] = StoredDocument{ID: id, Sender: d.Sender, Reference: d.Header.Reference, Recipients: d.Header.Recipients}
			if got := string(keys[store.BucketRefs][d.Sender+"\x00"+d.Header.Reference]); got != id {
				problem("document %s: reference %q indexed to %q", id, d.Header.Reference, got)
			}
			if !has(store.BucketSent, d.Sender, id) {
				problem("document %s: not in the sent index of %s", id, d.Sender)
			}
			for _, r := range d.Header.Recipients {
				if !has(store.BucketDeliveries, id, r) {
					problem("document %s: no delivery record for %s", id, r)
				}
				if !has(store.BucketInbox, r, id) {
					problem("document %s: not in the inbox of %s", id, r)
				}
			}
			for i, a := range d.Header.Attachments {
				// A small body is kept with its document (document id NUL index).
				if body, ok := keys[store.BucketBlobData][fmt.Sprintf("%s\x00%04d", id, i)]; ok {
					if got := sha256.Sum256(body); int64(len(body)) != a.Size || !bytes.Equal(got[:], a.SHA256) {
						problem("document %s attachment %d: inline body of %d bytes does not match the header", id, i, len(body))
					}
					continue
				}
				sum := hex.EncodeToString(a.SHA256)
				if !has(store.BucketBlobRefs, sum, id) {
					problem("document %s attachment %d: no body reference", id, i)
				}
				var rec struct {
					Size   int64 `json:"size"`
					Inline bool  `json:"inline"`
				}
				raw, ok := keys[store.BucketBlobs][sum]
				if !ok {
					problem("document %s attachment %d: no body record %s", id, i, sum)
					continue
				}
				if err := json.Unmarshal(raw, &rec); err != nil {
					problem("body record %s: unreadable: %v", sum, err)
					continue
				}
				var body []byte
				if rec.Inline {
					body, ok = keys[store.BucketBlobData][sum]
					if !ok {
						problem("document %s attachment %d: inline body %s missing", id, i, sum)
						continue
					}
				} else {
					body, err = os.ReadFile(filepath.Join(blobDir, sum[:2], sum))
					if err != nil {
						problem("document %s attachment %d: body file: %v", id, i, err)
						continue
					}
				}
				if got := sha256.Sum256(body); int64(len(body)) != a.Size || !bytes.Equal(got[:], a.SHA256) {
					problem("document %s attachment %d: body of %d bytes with SHA-256 %x, the header says %d bytes, %x",
						id, i, len(body), got, a.Size, a.SHA256)
				}
			}
		}
		// Every index entry must name a stored document.
		docOf := func(b store.Bucket, k string, docFirst bool) {
			i := strings.IndexByte(k, 0)
			if i < 0 {
				problem("%s: malformed key %q", b, k)
				return
			}
			id := k[i+1:]
			if docFirst {
				id = k[:i]
			}
			if _, ok := keys[store.BucketDocuments][id]; !ok {
				problem("%s: key %q names no stored document (half-stored send?)", b, k)
			}
		}
		for k, v := range keys[store.BucketRefs] {
			if _, ok := keys[store.BucketDocuments][string(v)]; !ok {
				problem("refs: %q points to missing document %s (half-stored send?)", k, v)
			}
		}
		for k := range keys[store.BucketSent] {
			docOf(store.BucketSent, k, false)
		}
		for k := range keys[store.BucketInbox] {
			docOf(store.BucketInbox, k, false)
		}
		for k := range keys[store.BucketDeliveries] {
			docOf(store.BucketDeliveries, k, true)
		}
		for k := range keys[store.BucketBlobRefs] {
			docOf(store.BucketBlobRefs, k, false)
		}
		for k, v := range keys[store.BucketQueue] {
			var ev hub.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				problem("queue %q: unreadable event: %v", k, err)
				continue
			}
			c.Queued++
			if _, ok := keys[store.BucketDocuments][ev.DocID]; ev.DocID != "" && !ok {
				problem("queue %q: event for missing document %s", k, ev.DocID)
			}
		}
		// A body file that no record names is left over from a send that
		// never committed; the hub sweeps those at start, so none should
		// remain after a clean stop.
		return filepath.WalkDir(blobDir, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == blobDir {
				return fs.SkipAll
			}
			if err != nil || d.IsDir() {
				return err
			}
			if filepath.Base(filepath.Dir(path)) == "tmp" {
				problem("blob directory: temporary upload %s left behind", d.Name())
				return nil
			}
			if _, ok := keys[store.BucketBlobs][d.Name()]; !ok {
				problem("blob directory: file %s has no body record", d.Name())
			}
			return nil
		})
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
