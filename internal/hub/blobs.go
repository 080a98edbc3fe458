package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/ndxp/ndxp/internal/store"
)

// blobRecord is a body file's record, in BucketBlobs under its digest.
// Inline marks a small body of the first layout, which migrate moves.
type blobRecord struct {
	Size   int64 `json:"size"`
	Inline bool  `json:"inline,omitempty"`
}

// inlineBody returns a small body kept with its document, or found=false.
func inlineBody(tx store.Tx, docID string, index int) (body []byte, found bool, err error) {
	b, err := tx.Get(store.BucketBlobData, inlineKey(docID, index))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// putBody keeps attachment index of document docID: a small body with its
// document, under a key next to the document's own (one page, not three
// scattered ones); a file's record and the reference that keeps it from
// the retention purge while the document needs it.
func putBody(tx store.Tx, docID string, index int, a AttachmentInfo, r received) error {
	if !r.file {
		return tx.Put(store.BucketBlobData, inlineKey(docID, index), r.inline)
	}
	key := []byte(r.sum)
	if _, err := tx.Get(store.BucketBlobs, key); errors.Is(err, store.ErrNotFound) {
		if err := putRecord(tx, store.BucketBlobs, key, blobRecord{Size: a.Size}); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} // else content-addressed: stored already
	return tx.Put(store.BucketBlobRefs, pairKey(r.sum, docID), nil)
}

// Attachment is an open attachment body.
type Attachment struct {
	Info AttachmentInfo
	Body io.ReadSeekCloser
}

// OpenAttachment opens attachment index of a document the caller may see.
func (h *Hub) OpenAttachment(ctx context.Context, p Principal, docID string, index int) (Attachment, error) {
	var info AttachmentInfo
	var inline []byte // a small body kept with its document
	var isInline bool
	err := h.st.View(ctx, func(tx store.Tx) error {
		doc, _, err := visible(tx, p, docID)
		if err != nil {
			return err
		}
		if index < 0 || index >= len(doc.Header.Attachments) {
			return newErr(ErrNotFound, "index", "document %s has no attachment %d (it has %d)", docID, index, len(doc.Header.Attachments))
		}
		info = doc.Header.Attachments[index]
		if doc.Purged != nil { // retention: even a body still shared with a kept document
			return purgedErr(docID, index, doc.Purged)
		}
		b, ok, err := inlineBody(tx, docID, index)
		if err != nil || ok {
			inline, isInline = b, ok
			return err
		}
		_, err = tx.Get(store.BucketBlobs, []byte(hex.EncodeToString(info.SHA256)))
		if errors.Is(err, store.ErrNotFound) {
			return purgedErr(docID, index, nil)
		}
		return err
	})
	if err != nil {
		return Attachment{}, err
	}
	if isInline {
		return Attachment{Info: info, Body: nopCloser{bytes.NewReader(inline)}}, nil
	}
	f, err := h.bodies.open(hex.EncodeToString(info.SHA256))
	if errors.Is(err, store.ErrNotFound) && h.bodies.gone(ctx, info.SHA256) { // retention: purged since the transaction above
		return Attachment{}, purgedErr(docID, index, nil)
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("open attachment body: %w", err)
	}
	return Attachment{Info: info, Body: f}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
