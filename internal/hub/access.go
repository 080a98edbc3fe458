package hub

import (
	"errors"

	"github.com/oklog/ulid/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// Who may see and do what with a document: its sender, its recipients
// (until a recall takes it from them) and admins; anyone else gets
// NotFound, as if it did not exist.

// checkDocID refuses what is not a document id the hub made (a ULID).
func checkDocID(id string) error {
	if _, err := ulid.ParseStrict(id); err != nil {
		return invalid("document_id", "%q is not a document id", id)
	}
	return nil
}

// notFoundDoc is the answer for a document that is not there or not the
// caller's to see: the same, so that it tells nothing.
func notFoundDoc(id string) error {
	return newErr(ErrNotFound, "document_id", "document %s not found", id)
}

// role is how a caller relates to a document.
type role int

const (
	roleNone role = iota
	roleSender
	roleRecipient
	roleAdmin
)

// visible loads a document and the caller's role; callers that are
// neither sender, recipient nor admin get NotFound, as if it did not exist,
// and so does a recipient whose copy was recalled (recalledAway).
func visible(tx store.Tx, p Principal, id string) (Document, role, error) {
	if err := checkDocID(id); err != nil {
		return Document{}, roleNone, err
	}
	var d Document
	if err := getRecord(tx, store.BucketDocuments, []byte(id), &d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Document{}, roleNone, notFoundDoc(id)
		}
		return Document{}, roleNone, err
	}
	switch {
	case p.Admin:
		return d, roleAdmin, nil
	case p.Name == d.Sender:
		return d, roleSender, nil
	}
	if !contains(d.Header.Recipients, p.Name) {
		return Document{}, roleNone, notFoundDoc(id)
	}
	if d.Recalled != nil {
		var dl Delivery
		if err := getRecord(tx, store.BucketDeliveries, pairKey(id, p.Name), &dl); err != nil {
			return Document{}, roleNone, err
		}
		if dl.recalledAway() {
			return Document{}, roleNone, notFoundDoc(id)
		}
	}
	return d, roleRecipient, nil
}

func requireAgency(p Principal, what string) error {
	if p.Admin || p.Name == "" {
		return newErr(ErrPermission, "", "%s needs an agency credential, not an admin one", what)
	}
	return nil
}

// requireExchanging refuses an agency still pending: its code is issued
// and it may prepare (credentials, the directory, a subscription that
// shows operators its system is connected), but it sends nothing, and
// nothing may be addressed to it (checkRecipients), until an operator
// moves it to pilot or production.
func (h *Hub) requireExchanging(p Principal, what string) error {
	h.mu.RLock()
	e := h.index[p.Name]
	h.mu.RUnlock()
	if e.stage == StagePending {
		return newErr(ErrPrecondition, "", "agency %s is pending: it may %s once an operator moves it to pilot or production (ndxpctl agency set-stage)", p.Name, what)
	}
	return nil
}
