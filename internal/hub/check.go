package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/ndxp/ndxp/internal/store"
)

// CheckReport is the result of Check.
type CheckReport struct {
	Problems    []string
	Documents   int64
	Events      int64
	Bodies      int64
	StoreBytes  int64
	maxProblems int
}

func (r *CheckReport) add(format string, args ...any) {
	if len(r.Problems) < r.maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	} else if len(r.Problems) == r.maxProblems {
		r.Problems = append(r.Problems, "(more problems not listed)")
	}
}

// Check runs the store's page check and then the hub's own invariants,
// in one read transaction: every document has a delivery record per
// recipient and its attachment bodies (unless purged); every queued event
// names an existing document; every sent and inbox entry names one.
func (h *Hub) Check(ctx context.Context) (CheckReport, error) {
	r := CheckReport{maxProblems: 200, StoreBytes: h.st.Size()}
	problems, err := h.st.Check(ctx)
	if err != nil {
		return r, err
	}
	for _, p := range problems {
		r.add("store: %s", p)
	}
	err = h.st.View(ctx, func(tx store.Tx) error {
		docs := map[string]bool{}
		if err := tx.Scan(store.BucketDocuments, nil, nil, func(k, v []byte) (bool, error) {
			r.Documents++
			var d Document
			if err := json.Unmarshal(v, &d); err != nil {
				r.add("document %s: unreadable: %v", k, err)
				return true, nil
			}
			docs[d.ID] = true
			if id, err := tx.Get(store.BucketRefs, pairKey(d.Sender, d.Header.Reference)); err != nil || string(id) != d.ID {
				r.add("document %s: its reference %q is not indexed to it", d.ID, d.Header.Reference)
			}
			for _, rc := range d.Header.Recipients {
				if _, err := tx.Get(store.BucketDeliveries, pairKey(d.ID, rc)); err != nil {
					r.add("document %s: no delivery record for recipient %s", d.ID, rc)
				}
			}
			if d.Purged != nil {
				return true, ctx.Err()
			}
			for i, a := range d.Header.Attachments {
				if b, ok, err := inlineBody(tx, d.ID, i); err != nil {
					return false, err
				} else if ok {
					r.Bodies++
					if int64(len(b)) != a.Size {
						r.add("document %s attachment %d: inline body of %d bytes, header says %d", d.ID, i, len(b), a.Size)
					} else if sum := sha256.Sum256(b); !bytes.Equal(sum[:], a.SHA256) {
						r.add("document %s attachment %d: inline body does not match its SHA-256", d.ID, i)
					}
					continue
				}
				sum := hex.EncodeToString(a.SHA256)
				var rec blobRecord
				if err := getJSON(tx, store.BucketBlobs, []byte(sum), &rec); err != nil {
					r.add("document %s attachment %d: no body record (%v)", d.ID, i, err)
					continue
				}
				r.Bodies++
				if rec.Size != a.Size {
					r.add("document %s attachment %d: body of %d bytes, header says %d", d.ID, i, rec.Size, a.Size)
				}
				if rec.Inline {
					if b, err := tx.Get(store.BucketBlobData, []byte(sum)); err != nil || int64(len(b)) != a.Size {
						r.add("document %s attachment %d: inline body missing or of the wrong size", d.ID, i)
					}
					continue
				}
				f, err := h.files.Open(sum)
				if err != nil {
					r.add("document %s attachment %d: body file missing (%v)", d.ID, i, err)
					continue
				}
				fi, err := f.Stat()
				f.Close()
				if err != nil || fi.Size() != a.Size {
					r.add("document %s attachment %d: body file of the wrong size", d.ID, i)
				}
			}
			return true, ctx.Err()
		}); err != nil {
			return err
		}
		if err := tx.Scan(store.BucketQueue, nil, nil, func(k, v []byte) (bool, error) {
			r.Events++
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				r.add("queue %q: unreadable event: %v", k, err)
				return true, nil
			}
			if !docs[ev.DocID] {
				r.add("queue %q: event for unknown document %s", k, ev.DocID)
			}
			return true, ctx.Err()
		}); err != nil {
			return err
		}
		for _, b := range []store.Bucket{store.BucketSent, store.BucketInbox} {
			if err := tx.Scan(b, nil, nil, func(k, _ []byte) (bool, error) {
				i := bytes.IndexByte(k, 0)
				if i < 0 || !docs[string(k[i+1:])] {
					r.add("%s index %q names no document", b, k)
				}
				return true, ctx.Err()
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return r, err
}
