package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/store"
)

// PacketBody is a document or status as an edXML packet, open for reading.
type PacketBody struct {
	Body io.ReadCloser
	// Original is true for the bytes a document arrived as, false for a
	// rendered packet.
	Original bool
}

// OpenPacket opens a document the caller may see as an edXML packet: the
// bytes it arrived as, or a packet rendered from it, streamed (its
// attachments are read as the packet is).
func (h *Hub) OpenPacket(ctx context.Context, p Principal, docID string) (PacketBody, error) {
	var doc Document
	var l linked
	err := h.st.View(ctx, func(tx store.Tx) error {
		var err error
		if doc, _, err = visible(tx, p, docID); err != nil {
			return err
		}
		if doc.Purged != nil {
			return newErr(ErrNotFound, "document_id", "the bodies of document %s were purged on %s; its packet cannot be made again", docID, doc.Purged.Format("2006-01-02"))
		}
		if doc.Packet != nil {
			_, err := tx.Get(store.BucketBlobs, []byte(hex.EncodeToString(doc.Packet.SHA256)))
			if errors.Is(err, store.ErrNotFound) {
				return newErr(ErrNotFound, "document_id", "the packet of document %s was purged", docID)
			}
			return err
		}
		l, err = linksOf(tx, doc)
		return err
	})
	if err != nil {
		return PacketBody{}, err
	}
	if doc.Packet != nil {
		f, err := h.bodies.open(hex.EncodeToString(doc.Packet.SHA256))
		if errors.Is(err, store.ErrNotFound) && h.bodies.gone(ctx, doc.Packet.SHA256) {
			return PacketBody{}, newErr(ErrNotFound, "document_id", "the packet of document %s was purged", docID)
		}
		if err != nil {
			return PacketBody{}, fmt.Errorf("open packet: %w", err)
		}
		return PacketBody{Body: f, Original: true}, nil
	}
	pk := packetOf(doc, l)
	open := func(i int) (io.ReadCloser, error) {
		a, err := h.OpenAttachment(ctx, p, docID, i)
		if err != nil {
			return nil, err
		}
		return a.Body, nil
	}
	pr, pw := io.Pipe()
	go func() {
		// A panic here would end the process: this goroutine is not a
		// handler's, whose panics the server recovers.
		defer func() {
			if r := recover(); r != nil {
				h.log.Error("panic rendering a packet", "document", docID, "panic", r)
				pw.CloseWithError(fmt.Errorf("render packet of %s: internal error", docID))
			}
		}()
		pw.CloseWithError(edxml.Write(pw, pk, open))
	}()
	return PacketBody{Body: pr}, nil
}

// linksOf reads the documents a natively sent document refers to.
func linksOf(tx store.Tx, d Document) (linked, error) {
	var l linked
	get := func(id string) (*Document, error) {
		if id == "" {
			return nil, nil
		}
		var o Document
		err := getRecord(tx, store.BucketDocuments, []byte(id), &o)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return &o, err
	}
	var err error
	if l.original, err = get(d.Header.Original); err != nil {
		return l, err
	}
	l.responseFor, err = get(d.Header.ResponseFor)
	return l, err
}

// StatusPacket renders recipient's latest report of code on document
// docID as a status packet, for the document's sender, that recipient or
// an admin.
func (h *Hub) StatusPacket(ctx context.Context, p Principal, docID, recipient string, code Status) ([]byte, error) {
	var rep StatusReport
	var doc Document
	err := h.st.View(ctx, func(tx store.Tx) error {
		var r role
		var err error
		if doc, r, err = visible(tx, p, docID); err != nil {
			return err
		}
		if r == roleRecipient && recipient != p.Name {
			return newErr(ErrNotFound, "recipient_code", "no report of %s on document %s", recipient, docID)
		}
		var d Delivery
		if err := getRecord(tx, store.BucketDeliveries, pairKey(docID, recipient), &d); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return newErr(ErrNotFound, "recipient_code", "%s is not a recipient of document %s", recipient, docID)
			}
			return err
		}
		for i := len(d.Steps) - 1; i >= 0; i-- {
			if st := d.Steps[i]; st.Code == code {
				rep = StatusReport{DocID: docID, Recipient: recipient, Code: code, Reason: st.Reason, Staff: st.Staff, Time: st.Time, Packet: st.Packet}
				return nil
			}
		}
		return newErr(ErrNotFound, "status_code", "%s reported no status %s on document %s", recipient, code, docID)
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := edxml.Write(&buf, statusPacketOf(doc, rep), nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
