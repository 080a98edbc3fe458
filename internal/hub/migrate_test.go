package hub

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ndxp/ndxp/internal/store"
)

// TestMigrateFirstLayout opens a store written by the hub before small
// bodies were kept beside their documents (testdata/layout1, written by
// that version's code: document A with a small body it shares with B and
// a large one in a file, B with the shared body and one of its own, C
// purged). Every body still reads, the first layout's rows are gone, the
// store checks whole, and a second start changes nothing.
func TestMigrateFirstLayout(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/layout1")); err != nil {
		t.Fatal(err)
	}
	open := func() (*Hub, *store.Bolt) {
		st := openStore(t, filepath.Join(dir, "ndxp.db"))
		files, err := store.OpenFiles(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.InlineLimit = 1 << 10
		h, err := New(t.Context(), st, files, cfg)
		if err != nil {
			t.Fatalf("New on the first layout: %v", err)
		}
		t.Cleanup(h.Drain)
		return h, st
	}
	h, st := open()
	shared, large, own := body(300, 1), body(4000, 2), body(200, 3)
	docs := map[string][][]byte{}
	list, _, err := h.ListSent(t.Context(), Principal{Name: codeG22}, ListFilter{}, 0, "")
	if err != nil || len(list) != 3 {
		t.Fatalf("ListSent: %d documents, %v; want A, B and C", len(list), err)
	}
	for _, v := range list {
		switch v.Doc.Header.Subject {
		case "A: shared small and large":
			docs[v.Doc.ID] = [][]byte{shared, large}
		case "B: shared small":
			docs[v.Doc.ID] = [][]byte{shared, own}
		}
	}
	for id, bodies := range docs {
		for i, want := range bodies {
			got, err := readAttachment(t, h, Principal{Admin: true, Name: "ops"}, id, i)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("document %s attachment %d after the migration: %d bytes, %v; want the %d sent", id, i, len(got), err, len(want))
			}
		}
	}
	err = st.View(t.Context(), func(tx store.Tx) error {
		for _, b := range [][]byte{shared, own, body(100, 4)} {
			if _, err := tx.Get(store.BucketBlobData, []byte(sumHex(b))); err == nil {
				t.Errorf("the first layout's row of a %d-byte body is still there", len(b))
			}
			if _, err := tx.Get(store.BucketBlobs, []byte(sumHex(b))); err == nil {
				t.Errorf("the first layout's record of a %d-byte body is still there", len(b))
			}
		}
		v, err := tx.Get(store.BucketMeta, layoutKey)
		if err != nil || string(v) != fmt.Sprint(layoutVersion) {
			t.Errorf("layout version %q, %v; want %d", v, err, layoutVersion)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := CheckStore(t.Context(), st, h.bodies.files, true); err != nil || len(r.Problems) != 0 || r.Unreferenced != 0 {
		t.Errorf("check after the migration: %v, %+v", err, r)
	}
	h.Drain()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, st = open()
	if moved, err := migrate(t.Context(), st); err != nil || moved != 0 {
		t.Errorf("a second migration moved %d, %v; want nothing", moved, err)
	}
}

// TestMigrateRefusesLaterLayout: a store of a layout this hub does not
// know is refused, not read as if it were its own.
func TestMigrateRefusesLaterLayout(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "ndxp.db"))
	if err := st.Update(t.Context(), func(tx store.Tx) error { return tx.Put(store.BucketMeta, layoutKey, fmt.Append(nil, layoutVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(t.Context(), st); err == nil {
		t.Errorf("a store of layout %d was accepted", layoutVersion+1)
	}
}

// TestMigrateKeepsDamage: a first-layout body whose bytes are missing is
// damage to show, not a body to drop: its rows stay, and Check names them.
func TestMigrateKeepsDamage(t *testing.T) {
	h, _ := retentionHub(t, nil)
	b := body(300, 5)
	id := send(t, h, "Thiếu dữ liệu", []string{codeH41}, b)
	sum := sumHex(b)
	err := h.st.Update(t.Context(), func(tx store.Tx) error {
		for _, op := range []func() error{
			func() error { return tx.Delete(store.BucketBlobData, inlineKey(id, 0)) },
			func() error {
				return putRecord(tx, store.BucketBlobs, []byte(sum), blobRecord{Size: 300, Inline: true})
			},
			func() error { return tx.Put(store.BucketBlobRefs, pairKey(sum, id), nil) },
			func() error { return tx.Delete(store.BucketMeta, layoutKey) },
		} {
			if err := op(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if moved, err := migrate(t.Context(), h.st); err != nil || moved != 0 {
		t.Fatalf("migrate: moved %d, %v; want 0, nil", moved, err)
	}
	r, err := h.Check(t.Context())
	if err != nil || len(r.Problems) != 1 {
		t.Fatalf("check: %v, %v; want the record named as not migrated", r.Problems, err)
	}
}
