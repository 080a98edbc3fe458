package hub

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPushFromRecentEqualsPushFromStore: a push built from the cache of
// just-sent documents carries exactly what one read from the store does:
// the header with its digests, the sender's name, the small bodies (not the
// large or empty ones).
func TestPushFromRecentEqualsPushFromStore(t *testing.T) {
	h, _ := retentionHub(t, nil) // inline limit 1 KiB
	id := send(t, h, "Bộ nhớ đệm", []string{codeH41, codeH14}, body(500, 1), body(3000, 2), nil, body(700, 3))
	if h.recent.get(id) == nil {
		t.Fatal("a document just sent is not kept for its pushes")
	}
	cached, err := h.nextEvents(t.Context(), codeH41, 0, 10)
	if err != nil || len(cached) != 1 {
		t.Fatalf("events from the cache: %v, %v", cached, err)
	}
	h.recent.drop(id)
	stored, err := h.nextEvents(t.Context(), codeH41, 0, 10)
	if err != nil || len(stored) != 1 {
		t.Fatalf("events from the store: %v, %v", stored, err)
	}
	a, _ := json.Marshal(cached[0])
	b, _ := json.Marshal(stored[0])
	if string(a) != string(b) {
		t.Errorf("pushes differ:\ncache %s\nstore %s", a, b)
	}
	p := cached[0]
	if p.Doc.SenderName != "Văn phòng Chính phủ" {
		t.Errorf("sender name %q", p.Doc.SenderName)
	}
	if len(p.Inline) != 4 || len(p.Inline[0]) != 500 || p.Inline[1] != nil || p.Inline[2] != nil || len(p.Inline[3]) != 700 {
		t.Errorf("inline bodies: %d entries", len(p.Inline))
	}
}

// TestRecallAndPurgeForgetRecent: a recalled or purged document is no
// longer pushed from the cache (its stored state changed).
func TestRecallAndPurgeForgetRecent(t *testing.T) {
	h, clock := retentionHub(t, nil)
	recalled := send(t, h, "Thu hồi", []string{codeH41}, body(100, 1))
	recall(t, h, recalled)
	if h.recent.get(recalled) != nil {
		t.Error("a recalled document is still pushed from the cache")
	}
	old := send(t, h, "Cũ", []string{codeH41}, body(100, 2))
	complete(t, h, old, codeH41)
	clock.Advance(2 * 24 * time.Hour)
	rep, err := h.Purge(t.Context(), 24*time.Hour, false)
	if err != nil || len(rep.Documents) == 0 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	if h.recent.get(old) != nil {
		t.Error("a purged document is still pushed from the cache")
	}
}

// TestRecentBounds: the cache keeps at most its count and its bytes,
// dropping the oldest first.
func TestRecentBounds(t *testing.T) {
	view := func(i int, subject string) *DocumentView {
		return &DocumentView{Doc: Document{ID: fmt.Sprintf("doc%03d", i), Header: Header{Subject: subject}}}
	}
	r := newRecentDocs(1<<20, 10)
	for i := range 25 {
		r.add(view(i, "s"), nil)
	}
	if len(r.byID) != 10 || r.get("doc014") != nil || r.get("doc015") == nil || r.get("doc024") == nil {
		t.Errorf("count bound: %d kept, oldest kept should be doc015", len(r.byID))
	}
	r = newRecentDocs(64<<10, 1000)
	big := strings.Repeat("x", 10<<10)
	for i := range 20 {
		r.add(view(i, big), nil)
	}
	if r.bytes > 64<<10 || r.get("doc019") == nil || r.get("doc000") != nil {
		t.Errorf("byte bound: %d bytes kept", r.bytes)
	}
	r.add(view(99, strings.Repeat("y", 20<<10)), nil) // over a quarter of the budget
	if r.get("doc099") != nil {
		t.Error("a document over a quarter of the budget was kept")
	}
	before := r.bytes
	r.drop("doc019")
	if r.get("doc019") != nil || r.bytes >= before {
		t.Error("drop did not forget the document")
	}
}
