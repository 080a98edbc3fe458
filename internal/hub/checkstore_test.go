package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/store"
)

// TestCheckStoreFindsDamage: the one invariant checker (ndxpctl check,
// restore and the crash tests) finds each kind of damage it names.
func TestCheckStoreFindsDamage(t *testing.T) {
	h, _ := retentionHub(t, nil)
	small, large := body(300, 1), body(5000, 2)
	id := send(t, h, "Công văn", []string{codeH41, codeH14}, small, large)
	if r, err := CheckStore(t.Context(), h.st, h.bodies.files, true); err != nil || len(r.Problems) != 0 || r.Documents != 1 || r.Bodies != 2 {
		t.Fatalf("a whole store: %+v, %v; want no problems, 1 document, 2 bodies", r, err)
	}

	// Damage: a delivery record and an inbox entry gone, the large body
	// changed on disk, a stray body file.
	err := h.st.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Delete(store.BucketDeliveries, pairKey(id, codeH14)); err != nil {
			return err
		}
		return tx.Delete(store.BucketInbox, pairKey(codeH41, id))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blobPath(h, large), body(5000, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	stray := strings.Repeat("ab", 32)
	if err := os.MkdirAll(filepath.Join(h.bodies.files.Dir(), "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.bodies.files.Dir(), "ab", stray), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	r, err := CheckStore(t.Context(), h.st, h.bodies.files, true)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(r.Problems, "\n")
	for _, want := range []string{"no delivery record for recipient " + codeH14, "not in the inbox of " + codeH41, "attachment 1: body file of 5000 bytes with SHA-256"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not name %q:\n%s", want, all)
		}
	}
	if r.Unreferenced != 1 {
		t.Errorf("%d unreferenced body files, want 1", r.Unreferenced)
	}
	// Without hashing (a live hub's check), a same-size change goes unseen
	// but the missing records do not.
	if r, _ := h.Check(t.Context()); len(r.Problems) != 2 {
		t.Errorf("Check without hashing: %d problems, want the 2 missing records: %v", len(r.Problems), r.Problems)
	}
}
