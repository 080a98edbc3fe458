package hub

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestWatch: a watcher hears of a send and of an acknowledgement, and its
// channel closes when its context ends.
func TestWatch(t *testing.T) {
	h, _ := retentionHub(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := h.Watch(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case _, ok := <-changes:
			if !ok {
				t.Fatalf("%s: the channel closed", what)
			}
		case <-time.After(safety):
			t.Fatalf("%s: no change signalled", what)
		}
	}
	id := send(t, h, "Theo dõi", []string{codeH41})
	wait("after a send")
	ack(t, h, id, codeH41)
	wait("after an acknowledgement")
	cancel()
	deadline := time.After(safety)
	for {
		select {
		case _, ok := <-changes:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the channel did not close after its context ended")
		}
	}
}

// TestRecentDocuments: the dashboard's drill-down shows an agency's newest
// documents, sent and received together, with every recipient's delivery.
func TestRecentDocuments(t *testing.T) {
	h, clock := retentionHub(t, nil)
	var ids []string
	for _, sender := range []string{codeG22, codeH14, codeG22, codeH41} {
		clock.Advance(time.Minute)
		recipient := codeH41
		if sender == codeH41 {
			recipient = codeG22
		}
		ids = append(ids, sendFrom(t, h, sender, "Gần đây", recipient))
	}
	tests := []struct {
		code string
		n    int
		want []string
	}{
		{codeG22, 2, []string{ids[3], ids[2]}},
		{codeG22, 0, []string{ids[3], ids[2], ids[0]}},
		{codeH41, 10, []string{ids[3], ids[2], ids[1], ids[0]}},
		{codeH14, -1, []string{ids[1]}},
		{codeH47, 5, []string{}},
	}
	mustCreate(t, h, codeH47, "UBND tỉnh Quảng Nam", StagePilot)
	for _, tt := range tests {
		docs, err := h.RecentDocuments(t.Context(), tt.code, tt.n)
		if err != nil {
			t.Fatalf("RecentDocuments(%s, %d): %v", tt.code, tt.n, err)
		}
		got := []string{}
		for _, d := range docs {
			got = append(got, d.Doc.ID)
			if len(d.Deliveries) != len(d.Doc.Header.Recipients) {
				t.Errorf("%s: %d deliveries for %d recipients", d.Doc.ID, len(d.Deliveries), len(d.Doc.Header.Recipients))
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("RecentDocuments(%s, %d) (-want +got):\n%s", tt.code, tt.n, diff)
		}
	}
	_, err := h.RecentDocuments(t.Context(), "H41", 5)
	checkErr(t, "a malformed code", err, ErrInvalid, "code")
	_, err = h.RecentDocuments(t.Context(), "000.00.00.H99", 5)
	checkErr(t, "an unregistered agency", err, ErrNotFound, "code")
}

// TestAgencyDocument: the drill-down gets a document its agency sent or
// received, with every delivery, and NotFound for any other.
func TestAgencyDocument(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Cho Nghệ An", []string{codeH41})
	for _, code := range []string{codeG22, codeH41} {
		v, err := h.AgencyDocument(t.Context(), code, id)
		if err != nil || v.Doc.ID != id || len(v.Deliveries) != 1 {
			t.Errorf("AgencyDocument(%s): %+v, %v; want the document with its delivery", code, v, err)
		}
	}
	_, err := h.AgencyDocument(t.Context(), codeH14, id)
	checkErr(t, "another agency", err, ErrNotFound, "document_id")
	_, err = h.AgencyDocument(t.Context(), "nope", id)
	checkErr(t, "a bad code", err, ErrInvalid, "code")
}
