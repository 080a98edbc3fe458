package hub

import (
	"context"
	"errors"
	"testing"

	"github.com/ndxp/ndxp/internal/store"
)

// TestBeginStreamAfterRevocation: a stream whose caller was authenticated
// just before a revocation or suspension, and registered just after it
// ended the streams it found, is refused when it registers.
func TestBeginStreamAfterRevocation(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if _, err := h.RevokeCredential(t.Context(), "", "abc123"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H41", true, "kiểm tra"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		p    Principal
		want error
	}{
		{Principal{Admin: true, Name: "ops", Serial: "abc123"}, ErrUnauthenticated},
		{Principal{Name: "000.00.00.H41", Serial: "def456"}, ErrPermission},
		{Principal{Name: "000.00.00.H14", Serial: "def457"}, ErrUnauthenticated},
	} {
		if _, _, err := h.BeginStream(t.Context(), tt.p, StreamSubscribe); !errors.Is(err, tt.want) {
			t.Errorf("BeginStream(%s): %v, want %v", tt.p, err, tt.want)
		}
	}
}

// TestEndStreamsEndsOnlyMatches: a revocation ends the streams of its
// credential with the reason as cause, and no other caller's.
func TestEndStreamsEndsOnlyMatches(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StagePilot)
	a, doneA, err := h.BeginStream(t.Context(), Principal{Name: "000.00.00.H41", Serial: "a1"}, StreamFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer doneA()
	b, doneB, err := h.BeginStream(t.Context(), Principal{Name: "000.00.00.H14", Serial: "b1"}, StreamFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer doneB()
	if _, err := h.RevokeCredential(t.Context(), "", "a1"); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(a), ErrUnauthenticated) {
		t.Errorf("the revoked credential's stream: cause %v, want ErrUnauthenticated", context.Cause(a))
	}
	if b.Err() != nil {
		t.Errorf("another agency's stream ended: %v", context.Cause(b))
	}
}

// TestStoreErrorsStayInside: a closed store is the hub shutting down to
// the hub's callers, whichever call meets it; no error kind of the store
// leaves the hub (server/ maps hub errors only).
func TestStoreErrorsStayInside(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if err := h.st.Store.Close(); err != nil {
		t.Fatal(err)
	}
	p := Principal{Name: "000.00.00.H41"}
	calls := map[string]error{}
	_, calls["GetDocument"] = h.GetDocument(t.Context(), p, "01HQWGDY00TFSGTB9B8CEXRZJ1")
	_, _, calls["ListReceived"] = h.ListReceived(t.Context(), p, ListFilter{}, 0, "")
	_, calls["OpenAttachment"] = h.OpenAttachment(t.Context(), p, "01HQWGDY00TFSGTB9B8CEXRZJ1", 0)
	_, calls["Check"] = h.Check(t.Context())
	for name, err := range calls {
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable and no store error", name, err)
		}
	}
}
