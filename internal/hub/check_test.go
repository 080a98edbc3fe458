package hub

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// checkFixture is a hub after a small exchange: a document with a small
// (inline), a large (file) and an empty attachment, acknowledged, and one
// without attachments still queued.
type checkFixture struct {
	h            *Hub
	withBodies   string
	queuedDoc    string
	small, large []byte
}

func newCheckFixture(t testing.TB) checkFixture {
	t.Helper()
	h, _ := retentionHub(t, nil) // inline limit 1 KiB
	f := checkFixture{h: h, small: body(300, 1), large: body(4000, 2)}
	f.withBodies = send(t, h, "Có tệp", []string{codeH41}, f.small, f.large, []byte{})
	ack(t, h, f.withBodies, codeH41)
	f.queuedDoc = send(t, h, "Chưa nhận", []string{codeH41, codeH14})
	return f
}

// TestCheckHealthy: a store the hub wrote itself has no problem, and the
// report counts what it looked at.
func TestCheckHealthy(t *testing.T) {
	f := newCheckFixture(t)
	rep, err := f.h.Check(t.Context())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("problems in a healthy store: %q", rep.Problems)
	}
	// Events: an arrival at H14 and one at H41 (the other was
	// acknowledged), and the 01 queued for the sender.
	got := [4]int64{rep.Documents, rep.Events, rep.Bodies, min(rep.StoreBytes, 1)}
	if want := [4]int64{2, 3, 3, 1}; got != want {
		t.Errorf("documents, events, bodies, store bytes > 0: %v, want %v", got, want)
	}
}

// TestCheckFindsDamage damages a healthy store in one way at a time and
// expects Check to name exactly that damage.
func TestCheckFindsDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, f checkFixture) error
		want   string // the one problem, with <doc> for the document with bodies
	}{
		{"an unreadable document", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Put(store.BucketDocuments, []byte(f.queuedDoc), []byte("{"))
			})
		}, "document <queued>: unreadable"},
		{"a reference not indexed", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Delete(store.BucketRefs, pairKey(codeG22, docRef(t, f.h, f.queuedDoc)))
			})
		}, "document <queued>: its reference"},
		{"a delivery record missing", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Delete(store.BucketDeliveries, pairKey(f.queuedDoc, codeH14))
			})
		}, "document <queued>: no delivery record for recipient " + codeH14},
		{"an inline body of the wrong size", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Put(store.BucketBlobData, inlineKey(f.withBodies, 0), f.small[:10])
			})
		}, "document <doc> attachment 0: inline body of 10 bytes with SHA-256"},
		{"an inline body changed", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Put(store.BucketBlobData, inlineKey(f.withBodies, 0), body(300, 9))
			})
		}, "document <doc> attachment 0: inline body of 300 bytes with SHA-256"},
		{"a body record missing", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error { return tx.Delete(store.BucketBlobs, []byte(sumHex(f.large))) })
		}, "document <doc> attachment 1: no body record"},
		{"a body record of the wrong size", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return putRecord(tx, store.BucketBlobs, []byte(sumHex(f.large)), blobRecord{Size: 5})
			})
		}, "document <doc> attachment 1: body record of 5 bytes, header says 4000"},
		{"a body record of the first layout left over", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return putRecord(tx, store.BucketBlobs, []byte(sumHex(f.large)), blobRecord{Size: 4000, Inline: true})
			})
		}, "document <doc> attachment 1: body record " + sumHex(body(4000, 2)) + " of the first layout, not migrated"},
		{"a body file missing", func(t *testing.T, f checkFixture) error {
			return os.Remove(blobPath(f.h, f.large))
		}, "document <doc> attachment 1: body file missing"},
		{"a body file cut short", func(t *testing.T, f checkFixture) error {
			return os.Truncate(blobPath(f.h, f.large), 100)
		}, "document <doc> attachment 1: body file of the wrong size"},
		{"an unreadable event", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error { return tx.Put(store.BucketQueue, queueKey(codeH14, 999), []byte("[")) })
		}, "unreadable event"},
		{"an event for no document", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return putRecord(tx, store.BucketQueue, queueKey(codeH14, 999), Event{Kind: EventArrived, DocID: "01J0000000000000000000000X"})
			})
		}, "event for unknown document 01J0000000000000000000000X"},
		{"an inbox entry for no document", func(t *testing.T, f checkFixture) error {
			return update(t, f.h, func(tx store.Tx) error {
				return tx.Put(store.BucketInbox, pairKey(codeH14, "01J0000000000000000000000X"), nil)
			})
		}, "inbox: key \"000.00.00.H14\\x0001J0000000000000000000000X\" names no stored document"},
	}
	// Cases that fail because of a bug, to run again once it is fixed.
	knownBugs := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bug, ok := knownBugs[tt.name]; ok {
				t.Skip(bug)
			}
			f := newCheckFixture(t)
			if err := tt.damage(t, f); err != nil {
				t.Fatalf("damage: %v", err)
			}
			rep, err := f.h.Check(t.Context())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			want := strings.NewReplacer("<doc>", f.withBodies, "<queued>", f.queuedDoc).Replace(tt.want)
			if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], want) {
				t.Errorf("problems %q, want one with %q", rep.Problems, want)
			}
		})
	}
}

// TestCheckBoundsItsReport: past 200 problems the report says there are
// more instead of listing them.
func TestCheckBoundsItsReport(t *testing.T) {
	f := newCheckFixture(t)
	err := update(t, f.h, func(tx store.Tx) error {
		for i := range 250 {
			if err := tx.Put(store.BucketSent, pairKey(codeG22, fmt.Sprintf("01J00000000000000000000%03d", i)), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.h.Check(t.Context())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(rep.Problems) != 201 {
		t.Fatalf("%d problems listed, want 200 and a last line", len(rep.Problems))
	}
	if diff := cmp.Diff("(more problems not listed)", rep.Problems[200]); diff != "" {
		t.Errorf("last line (-want +got):\n%s", diff)
	}
}

// update changes the store behind the hub's back.
func update(t testing.TB, h *Hub, fn func(store.Tx) error) error {
	return h.st.Update(t.Context(), fn)
}

func sumHex(b []byte) string { return hex.EncodeToString(sumOf(b)) }

// docRef is the reference of document id.
func docRef(t testing.TB, h *Hub, id string) string {
	t.Helper()
	v, err := h.GetDocument(t.Context(), admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Doc.Header.Reference
}
