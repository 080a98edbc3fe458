package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ndxp/ndxp/internal/store"
)

// The hub's record layout has a version of its own, beside the store's
// (store.SchemaVersion covers the file and its log; this covers what the
// hub keeps in it). Version 2 keeps every small attachment body beside its
// document (inlineKey); version 1 kept small bodies content-addressed, in
// three rows: the bytes (BucketBlobData under the SHA-256), a record
// marked inline (BucketBlobs) and a reference per document using it
// (BucketBlobRefs). Version 3 writes documents, queue entries and
// deliveries in a binary encoding (records.go) and reads those of earlier
// versions, JSON, as they are: the upgrade from 2 rewrites nothing, and
// the version is there so that an older hub refuses records it cannot read.
const layoutVersion = 3

// layoutKey is the BucketMeta key of the layout version (decimal text).
var layoutKey = []byte("hub_layout")

// migrate brings a store of an earlier layout to layoutVersion in one
// transaction, at start, and refuses one of a later layout. It returns
// how many bodies it moved.
func migrate(ctx context.Context, st store.Store) (moved int, err error) {
	err = st.Update(ctx, func(tx store.Tx) error {
		moved = 0
		v, err := tx.Get(store.BucketMeta, layoutKey)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Layout 1, or a new store: moving nothing costs one scan.
		case err != nil:
			return err
		case string(v) == fmt.Sprint(layoutVersion):
			return nil
		case string(v) == "2":
			return tx.Put(store.BucketMeta, layoutKey, fmt.Append(nil, layoutVersion))
		default:
			return fmt.Errorf("the store's records are of layout %s, this hub knows %d and earlier: run a newer ndxpd", v, layoutVersion)
		}
		if moved, err = moveSmallBodies(tx); err != nil {
			return err
		}
		return tx.Put(store.BucketMeta, layoutKey, fmt.Append(nil, layoutVersion))
	})
	return moved, err
}

// moveSmallBodies copies each content-addressed small body beside every
// document that uses it and is not purged, then deletes its three rows.
func moveSmallBodies(tx store.Tx) (moved int, err error) {
	var sums []string
	err = tx.Scan(store.BucketBlobs, nil, nil, func(k, v []byte) (bool, error) {
		var rec blobRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, fmt.Errorf("body record %s: %w", k, err)
		}
		if rec.Inline {
			sums = append(sums, string(k))
		}
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	for _, sum := range sums {
		n, err := moveSmallBody(tx, sum)
		if err != nil {
			return 0, fmt.Errorf("move body %s: %w", sum, err)
		}
		moved += n
	}
	return moved, nil
}

func moveSmallBody(tx store.Tx, sum string) (moved int, err error) {
	data, err := tx.Get(store.BucketBlobData, []byte(sum))
	if errors.Is(err, store.ErrNotFound) {
		// Damage, not a body to drop: its rows stay, and Check names the
		// record as not migrated.
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	prefix := []byte(sum + "\x00")
	var refs [][]byte
	if err := tx.Scan(store.BucketBlobRefs, prefix, nil, func(k, _ []byte) (bool, error) {
		refs = append(refs, bytes.Clone(k))
		return true, nil
	}); err != nil {
		return 0, err
	}
	for _, ref := range refs {
		var d Document
		err := getRecord(tx, store.BucketDocuments, ref[len(prefix):], &d)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		if err == nil && d.Purged == nil {
			for i, a := range d.Header.Attachments {
				if hex.EncodeToString(a.SHA256) == sum {
					if err := tx.Put(store.BucketBlobData, inlineKey(d.ID, i), data); err != nil {
						return 0, err
					}
					moved++
				}
			}
		}
		if err := tx.Delete(store.BucketBlobRefs, ref); err != nil {
			return 0, err
		}
	}
	if err := tx.Delete(store.BucketBlobData, []byte(sum)); err != nil {
		return 0, err
	}
	return moved, tx.Delete(store.BucketBlobs, []byte(sum))
}
