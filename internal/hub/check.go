package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ndxp/ndxp/internal/store"
)

// CheckReport is the result of Check and CheckStore.
type CheckReport struct {
	// Problems lists every broken invariant (at most 200); empty when the
	// store is whole.
	Problems   []string
	Documents  int64
	Events     int64
	Bodies     int64
	StoreBytes int64
	// Unreferenced counts body files no record names: an upload between
	// its file and its commit on a live hub, a send a crash cut short
	// (swept at the next start) on a stopped one.
	Unreferenced int
	// Uploads counts temporary upload files: uploads in progress on a
	// live hub, left by a crash on a stopped one (removed at start).
	Uploads     int
	maxProblems int
}

func (r *CheckReport) add(format string, args ...any) {
	if len(r.Problems) < r.maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	} else if len(r.Problems) == r.maxProblems {
		r.Problems = append(r.Problems, "(more problems not listed)")
	}
}

// Check runs the store's page check and then CheckStore on the live hub,
// body files checked by size (hashing every body is a restore's job).
func (h *Hub) Check(ctx context.Context) (CheckReport, error) {
	problems, err := h.st.Check(ctx)
	if err != nil {
		return CheckReport{}, h.storeErr(err)
	}
	r, err := CheckStore(ctx, h.st, h.bodies.files, false)
	r.Problems = append(prefixed("store: ", problems), r.Problems...)
	return r, h.storeErr(err)
}

func prefixed(prefix string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}

// CheckStore checks the hub's invariants in st and files, in one read
// transaction, for a live hub (Check), after a restore, or on a stopped
// hub's data directory (the crash tests). Every document has its
// reference, sent and inbox entries and a delivery record per recipient,
// and its attachment bodies (unless purged) with the declared size, and
// with the declared SHA-256 when hashBodies; every index entry, queued
// event and body reference names a stored document; every alias names a
// registered agency and is not itself a registered code; every VXP system
// is well formed and serves registered agencies only.
func CheckStore(ctx context.Context, st store.Store, files *store.Files, hashBodies bool) (CheckReport, error) {
	r := CheckReport{maxProblems: 200, StoreBytes: st.Size()}
	var records map[string]bool // body records, by SHA-256
	err := st.View(ctx, func(tx store.Tx) error {
		c := checker{tx: tx, files: files, r: &r, hash: hashBodies, docs: map[string]bool{}}
		if err := c.documents(ctx); err != nil {
			return err
		}
		if err := c.indexes(ctx); err != nil {
			return err
		}
		records = c.records
		if err := c.aliases(ctx); err != nil {
			return err
		}
		if err := c.vxpSystems(ctx); err != nil {
			return err
		}
		return c.queue(ctx)
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil // as Check always did: missing files are problems listed, not a failure
	}
	if err != nil {
		return r, err
	}
	r.Uploads, err = files.Walk(func(sum string) error {
		if !records[sum] {
			r.Unreferenced++
		}
		return ctx.Err()
	})
	return r, err
}

// checker is one CheckStore pass over a read transaction.
type checker struct {
	tx      store.Tx
	files   *store.Files
	r       *CheckReport
	hash    bool
	docs    map[string]bool // stored documents, by id
	records map[string]bool // body records, by SHA-256
}

func (c *checker) documents(ctx context.Context) error {
	return c.tx.Scan(store.BucketDocuments, nil, nil, func(k, v []byte) (bool, error) {
		c.r.Documents++
		// Known before it decodes: its index lines and events name a
		// document that is there, damaged, which is one problem, not seven.
		c.docs[string(k)] = true
		var d Document
		if err := decodeRecord(v, &d); err != nil {
			c.r.add("document %s: unreadable: %v", k, err)
			return true, nil
		}
		if d.ID != string(k) {
			c.r.add("document under key %s has id %s", k, d.ID)
		}
		c.docs[d.ID] = true
		if id, err := c.tx.Get(store.BucketRefs, pairKey(d.Sender, d.Header.Reference)); err != nil || string(id) != d.ID {
			c.r.add("document %s: its reference %q is not indexed to it", d.ID, d.Header.Reference)
		}
		c.want(store.BucketSent, pairKey(d.Sender, d.ID), "document %s: not in the sent index of %s", d.ID, d.Sender)
		for _, rc := range d.Header.Recipients {
			c.want(store.BucketDeliveries, pairKey(d.ID, rc), "document %s: no delivery record for recipient %s", d.ID, rc)
			c.want(store.BucketInbox, pairKey(rc, d.ID), "document %s: not in the inbox of %s", d.ID, rc)
		}
		if d.Purged == nil {
			for i, a := range d.bodies() {
				if err := c.body(d.ID, i, a); err != nil {
					return false, err
				}
			}
		}
		return true, ctx.Err()
	})
}

// want records a problem when key is missing from b.
func (c *checker) want(b store.Bucket, key []byte, format string, args ...any) {
	if _, err := c.tx.Get(b, key); err != nil {
		c.r.add(format, args...)
	}
}

// body checks one attachment's body: kept with its document, inline under
// its digest, or in a file.
func (c *checker) body(docID string, i int, a AttachmentInfo) error {
	at := fmt.Sprintf("document %s attachment %d", docID, i)
	if b, ok, err := inlineBody(c.tx, docID, i); err != nil {
		return err
	} else if ok {
		c.r.Bodies++
		c.match(at+": inline body", int64(len(b)), sha256.Sum256(b), a)
		return nil
	}
	sum := hex.EncodeToString(a.SHA256)
	var rec blobRecord
	if err := getRecord(c.tx, store.BucketBlobs, []byte(sum), &rec); err != nil {
		c.r.add("%s: no body record (%v)", at, err)
		return nil
	}
	c.r.Bodies++
	if c.records == nil {
		c.records = map[string]bool{}
	}
	c.records[sum] = true
	if rec.Size != a.Size {
		c.r.add("%s: body record of %d bytes, header says %d", at, rec.Size, a.Size)
	}
	if rec.Inline {
		c.r.add("%s: body record %s of the first layout, not migrated", at, sum)
		return nil
	}
	c.want(store.BucketBlobRefs, pairKey(sum, docID), "%s: no body reference", at)
	f, err := c.files.Open(sum)
	if err != nil {
		c.r.add("%s: body file missing (%v)", at, err)
		return nil
	}
	defer f.Close()
	if !c.hash {
		if fi, err := f.Stat(); err != nil || fi.Size() != a.Size {
			c.r.add("%s: body file of the wrong size", at)
		}
		return nil
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		c.r.add("%s: body file unreadable: %v", at, err)
		return nil
	}
	c.match(at+": body file", n, [32]byte(h.Sum(nil)), a)
	return nil
}

// match records a problem when a body's size or digest is not the header's.
func (c *checker) match(what string, size int64, sum [32]byte, a AttachmentInfo) {
	if size != a.Size || !bytes.Equal(sum[:], a.SHA256) {
		c.r.add("%s of %d bytes with SHA-256 %x, the header says %d bytes, %x", what, size, sum, a.Size, a.SHA256)
	}
}

// indexes checks that every index entry names a stored document.
func (c *checker) indexes(ctx context.Context) error {
	if err := c.tx.Scan(store.BucketRefs, nil, nil, func(k, v []byte) (bool, error) {
		if !c.docs[string(v)] {
			c.r.add("refs: %q points to missing document %s (half-stored send?)", k, v)
		}
		return true, ctx.Err()
	}); err != nil {
		return err
	}
	for _, ix := range []struct {
		b        store.Bucket
		docFirst bool
	}{{store.BucketSent, false}, {store.BucketInbox, false}, {store.BucketDeliveries, true}, {store.BucketBlobRefs, false}} {
		if err := c.tx.Scan(ix.b, nil, nil, func(k, _ []byte) (bool, error) {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				c.r.add("%s: malformed key %q", ix.b, k)
				return true, nil
			}
			id := string(k[i+1:])
			if ix.docFirst {
				id = string(k[:i])
			}
			if !c.docs[id] {
				c.r.add("%s: key %q names no stored document (half-stored send?)", ix.b, k)
			}
			return true, ctx.Err()
		}); err != nil {
			return err
		}
	}
	return nil
}

// queue checks that every queued event is readable and names a stored
// document.
func (c *checker) queue(ctx context.Context) error {
	return c.tx.Scan(store.BucketQueue, nil, nil, func(k, v []byte) (bool, error) {
		c.r.Events++
		var ev Event
		if err := decodeRecord(v, &ev); err != nil {
			c.r.add("queue %q: unreadable event: %v", k, err)
			return true, nil
		}
		if ev.DocID != "" && !c.docs[ev.DocID] {
			c.r.add("queue %q: event for unknown document %s", k, ev.DocID)
		}
		return true, ctx.Err()
	})
}

// aliases checks that every alias is readable, stands for a registered
// agency and is not a registered code itself (which would make a code
// name two agencies).
func (c *checker) aliases(ctx context.Context) error {
	return c.tx.Scan(store.BucketAliases, nil, nil, func(k, v []byte) (bool, error) {
		var al Alias
		if err := json.Unmarshal(v, &al); err != nil {
			c.r.add("alias %q: unreadable: %v", k, err)
			return true, nil
		}
		if al.Alias != string(k) {
			c.r.add("alias under key %q is named %q", k, al.Alias)
		}
		c.want(store.BucketAgencies, []byte(al.Code), "alias %q: stands for %s, which is not a registered agency", k, al.Code)
		if _, err := c.tx.Get(store.BucketAgencies, k); err == nil {
			c.r.add("alias %q: is also a registered agency code", k)
		}
		return true, ctx.Err()
	})
}

// vxpSystems checks that every VXP system is readable, stored under its
// id, holds a secret of the form the hub makes, and serves at least one
// agency, each registered. No problem quotes the secret.
func (c *checker) vxpSystems(ctx context.Context) error {
	return c.tx.Scan(store.BucketVxpSystems, nil, nil, func(k, v []byte) (bool, error) {
		var rec vxpRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			// Not %v of the error: a syntax error can quote the record.
			c.r.add("vxp system %q: unreadable record", k)
			return true, nil
		}
		if rec.ID != string(k) {
			c.r.add("vxp system under key %q is named %q", k, rec.ID)
		}
		if raw, err := base64.StdEncoding.DecodeString(rec.Secret); err != nil || len(raw) != vxpSecretBytes {
			c.r.add("vxp system %q: the secret is not %d bytes in base64", k, vxpSecretBytes)
		}
		if len(rec.Agencies) == 0 {
			c.r.add("vxp system %q: serves no agency", k)
		}
		for _, code := range rec.Agencies {
			c.want(store.BucketAgencies, []byte(code), "vxp system %q: serves %s, which is not a registered agency", k, code)
		}
		return true, ctx.Err()
	})
}
