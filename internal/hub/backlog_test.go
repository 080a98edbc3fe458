package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// queueBacklog is the backlog as the queues in the store hold it: the
// reference the in-memory one must match.
func queueBacklog(t *testing.T, h *Hub) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := h.st.View(t.Context(), func(tx store.Tx) error {
		return tx.Scan(store.BucketQueue, nil, nil, func(k, v []byte) (bool, error) {
			var ev Event
			if err := decodeRecord(v, &ev); err != nil {
				return false, err
			}
			if ev.Kind.carriesDocument() {
				code := string(k[:bytes.IndexByte(k, 0)])
				out[code] = append(out[code], ev.DocID)
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// memoryBacklog is the in-memory backlog in the same shape.
func memoryBacklog(b *backlog) map[string][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]string{}
	for code, m := range b.pending {
		for _, seq := range slices.Sorted(maps.Keys(m)) { // queue order
			out[code] = append(out[code], m[seq].doc)
		}
	}
	return out
}

func pendingOf(s Snapshot) map[string]int {
	out := map[string]int{}
	for _, a := range s.Agencies {
		if a.Pending > 0 {
			out[a.Code] = a.Pending
		}
	}
	return out
}

func TestSnapshotBacklog(t *testing.T) {
	h, clock := retentionHub(t, nil)
	check := func(step string, wantPending map[string]int, wantTotal int) Snapshot {
		t.Helper()
		if diff := cmp.Diff(queueBacklog(t, h), memoryBacklog(h.backlog)); diff != "" {
			t.Fatalf("%s: in-memory backlog differs from the queues (-store +memory):\n%s", step, diff)
		}
		s, err := h.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantPending, pendingOf(s)); diff != "" {
			t.Errorf("%s: pending per agency (-want +got):\n%s", step, diff)
		}
		if s.PendingDeliveries != wantTotal {
			t.Errorf("%s: PendingDeliveries %d, want %d", step, s.PendingDeliveries, wantTotal)
		}
		return s
	}
	check("empty", map[string]int{}, 0)

	a := send(t, h, "A", []string{codeH41, codeH14}, body(10, 1))
	clock.Advance(time.Minute)
	b := send(t, h, "B", []string{codeH41}, body(10, 2))
	s := check("after two sends", map[string]int{codeH41: 2, codeH14: 1}, 3)
	if want := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC); !s.OldestPending.Equal(want) {
		t.Errorf("OldestPending %s, want %s", s.OldestPending, want)
	}

	// The acknowledgement queues a status report for the sender: not a
	// document waiting, so the sender's count stays 0.
	ack(t, h, a, codeH41)
	check("after H41 acknowledged A", map[string]int{codeH41: 1, codeH14: 1}, 2)

	recall(t, h, b) // B was still queued at H41: withdrawn
	check("after B was recalled", map[string]int{codeH14: 1}, 1)

	clock.Advance(h.cfg.UnackedAfter)
	s = check("past the alert threshold", map[string]int{codeH14: 1}, 1)
	var unacked []string
	kinds := map[AlertKind]bool{}
	for _, al := range s.Alerts {
		kinds[al.Kind] = true
		if want := "UBND tỉnh Cao Bằng"; al.Agency == codeH14 && al.Name != want {
			t.Errorf("%s alert for %s named %q, want %q", al.Kind, al.Agency, al.Name, want)
		}
		if al.Kind == AlertUnacknowledged {
			unacked = append(unacked, al.Agency+" "+al.Document)
		}
	}
	if diff := cmp.Diff([]string{codeH14 + " " + a}, unacked); diff != "" {
		t.Errorf("unacknowledged alerts (-want +got):\n%s", diff)
	}
	if !kinds[AlertOfflineBacklog] {
		t.Errorf("no offline-backlog alert for %s, which never subscribed: %v", codeH14, s.Alerts)
	}

	// A restarted hub rebuilds the same picture from the queues.
	h2, err := New(t.Context(), h.st, h.bodies.files, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Drain()
	s2, err := h2.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pendingOf(s), pendingOf(s2)); diff != "" {
		t.Errorf("pending after restart (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(s.Alerts, s2.Alerts); diff != "" {
		t.Errorf("alerts after restart (-before +after):\n%s", diff)
	}
}

// TestBacklogFollowsConcurrentSendsAndAcks acknowledges documents as soon
// as they are committed, while other sends commit, and checks the backlog
// still matches the queues. (An acknowledgement that reaches the backlog
// before its send's addition is rare here: TestBacklogRemovalBeforeAddition
// makes that order happen.)
func TestBacklogFollowsConcurrentSendsAndAcks(t *testing.T) {
	h, _ := retentionHub(t, nil)
	const senders, perSender = 4, 25
	var wg sync.WaitGroup
	sendsDone, done := make(chan struct{}), make(chan struct{})
	var ackErr error
	go func() { // H41's system: takes whatever is queued and acknowledges it
		defer close(done)
		p := Principal{Name: codeH41}
		finished := false
		for {
			evs, err := h.nextEvents(t.Context(), codeH41, 0, 64)
			if err != nil {
				ackErr = err
				return
			}
			var seqs []uint64
			for _, e := range evs {
				seqs = append(seqs, e.Event.Seq)
			}
			if len(seqs) > 0 {
				if _, err := h.Acknowledge(t.Context(), p, seqs); err != nil {
					ackErr = err
					return
				}
				continue
			}
			if finished { // the queue was empty after the last send
				return
			}
			select {
			case <-sendsDone:
				finished = true
			case <-time.After(time.Millisecond):
			}
		}
	}()
	for i := range senders {
		wg.Go(func() {
			for j := range perSender {
				atts, src := uploadOf(body(10, byte(i)))
				hdr := Header{Recipients: []string{codeH41, codeH14}, Number: fmt.Sprintf("%d-%d", i, j), Notation: "VPCP-TTĐT", Subject: "concurrent", Attachments: atts}
				if _, err := h.Send(t.Context(), Principal{Name: codeG22}, hdr, src); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(sendsDone)
	<-done
	if ackErr != nil {
		t.Fatal(ackErr)
	}
	if diff := cmp.Diff(queueBacklog(t, h), memoryBacklog(h.backlog)); diff != "" {
		t.Fatalf("in-memory backlog differs from the queues (-store +memory):\n%s", diff)
	}
	got := memoryBacklog(h.backlog)
	if n := len(got[codeH41]); n != 0 {
		t.Errorf("%d documents still pending at H41, want 0", n)
	}
	if n := len(got[codeH14]); n != senders*perSender {
		t.Errorf("%d documents pending at H14, want %d", n, senders*perSender)
	}
	if n := len(h.backlog.early); n != 0 {
		t.Errorf("%d removals still wait for their addition", n)
	}
}

func TestBacklogRemovalBeforeAddition(t *testing.T) {
	b := newBacklog()
	at := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	b.add(queued{code: codeH41, seq: 1, pendingDoc: pendingDoc{since: at, doc: "one"}})
	b.remove(queued{code: codeH41, seq: 2}) // acknowledged before its send reported it
	b.add(queued{code: codeH41, seq: 2, pendingDoc: pendingDoc{since: at, doc: "two"}},
		queued{code: codeH14, seq: 3, pendingDoc: pendingDoc{since: at, doc: "three"}})
	want := map[string][]string{codeH41: {"one"}, codeH14: {"three"}}
	if diff := cmp.Diff(want, memoryBacklog(b)); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
	if len(b.early) != 0 {
		t.Errorf("early removals left: %v", b.early)
	}
	b.remove(queued{code: codeH41, seq: 1}, queued{code: codeH14, seq: 3})
	if len(b.pending) != 0 {
		t.Errorf("pending after removing everything: %v", b.pending)
	}
}

func TestLoadBacklogSkipsUnreadableEntries(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "A", []string{codeH41}, body(10, 1))
	bad := map[string][]byte{
		string(binary.BigEndian.AppendUint64([]byte("nonul"), 7)): []byte(`{"kind":1}`), // no NUL
		codeH14 + "\x00short":            []byte(`{"kind":1}`), // sequence not 8 bytes
		string(queueKey(codeH14, 1<<40)): []byte(`not json`),
	}
	if err := h.st.Update(t.Context(), func(tx store.Tx) error {
		for k, v := range bad {
			if err := tx.Put(store.BucketQueue, []byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b, skipped, err := loadBacklog(t.Context(), h.st)
	if err != nil {
		t.Fatalf("loadBacklog: %v", err)
	}
	if skipped != len(bad) {
		t.Errorf("skipped %d entries, want %d", skipped, len(bad))
	}
	if diff := cmp.Diff(map[string][]string{codeH41: {id}}, memoryBacklog(b)); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}
	// And the hub starts on such a store.
	h2, err := New(t.Context(), h.st, h.bodies.files, h.cfg)
	if err != nil {
		t.Fatalf("New with unreadable queue entries: %v", err)
	}
	h2.Drain()
}

// TestUnacknowledgedAlertsAreGrouped: a recipient's overdue documents make
// one alert naming the oldest and counting them all, so an agency down for
// a day is one line, not one per document.
func TestUnacknowledgedAlertsAreGrouped(t *testing.T) {
	h, clock := retentionHub(t, nil)
	after := h.cfg.UnackedAfter
	start := h.now()
	var h41 []string
	for i := range 4 { // queued at start, +1m, +2m, +3m
		h41 = append(h41, send(t, h, fmt.Sprint("H41 ", i), []string{codeH41}, body(10, byte(i))))
		clock.Advance(time.Minute)
	}
	h14 := send(t, h, "H14", []string{codeH14}, body(10, 9)) // +4m

	type line struct {
		Agency, Document, Message string
		Since                     time.Time
		Count                     int
	}
	unacked := func(step string, wantPending map[string]int) []line {
		t.Helper()
		s, err := h.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantPending, pendingOf(s)); diff != "" {
			t.Errorf("%s: pending per agency (-want +got):\n%s", step, diff)
		}
		var out []line
		for _, al := range s.Alerts {
			if al.Kind == AlertUnacknowledged {
				out = append(out, line{al.Agency, al.Document, al.Message, al.Since, al.Count})
			}
		}
		return out
	}

	// The cutoff falls on the third of H41's documents: three overdue.
	clock.Advance(after - 2*time.Minute)
	want := []line{{codeH41, h41[0], fmt.Sprintf("3 documents not acknowledged for over %s, the oldest for %s", after, after+2*time.Minute), start, 3}}
	if diff := cmp.Diff(want, unacked("three overdue", map[string]int{codeH41: 4, codeH14: 1})); diff != "" {
		t.Errorf("three overdue at H41 (-want +got):\n%s", diff)
	}

	// Acknowledging the oldest moves the alert to the next one.
	ack(t, h, h41[0], codeH41)
	want = []line{{codeH41, h41[1], fmt.Sprintf("2 documents not acknowledged for over %s, the oldest for %s", after, after+time.Minute), start.Add(time.Minute), 2}}
	if diff := cmp.Diff(want, unacked("oldest acknowledged", map[string]int{codeH41: 3, codeH14: 1})); diff != "" {
		t.Errorf("after the oldest was acknowledged (-want +got):\n%s", diff)
	}

	// Later everything is overdue: one alert per recipient, oldest first.
	clock.Advance(10 * time.Minute)
	want = []line{
		{codeH41, h41[1], fmt.Sprintf("3 documents not acknowledged for over %s, the oldest for %s", after, after+11*time.Minute), start.Add(time.Minute), 3},
		{codeH14, h14, "not acknowledged for " + (after + 8*time.Minute).String(), start.Add(4 * time.Minute), 1},
	}
	if diff := cmp.Diff(want, unacked("all overdue", map[string]int{codeH41: 3, codeH14: 1})); diff != "" {
		t.Errorf("all overdue (-want +got):\n%s", diff)
	}
}

// TestSnapshotAgenciesFollowTheRegistry: the snapshot's agency lines stay
// in code order and current as agencies are created, imported and changed
// after a snapshot was taken (the sorted code list is kept between them).
func TestSnapshotAgenciesFollowTheRegistry(t *testing.T) {
	h, _ := retentionHub(t, nil)
	lines := func() (codes, names []string) {
		t.Helper()
		s, err := h.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Agencies {
			codes, names = append(codes, a.Code), append(names, a.Name)
		}
		if !slices.IsSorted(codes) {
			t.Errorf("agency lines out of order: %v", codes)
		}
		return codes, names
	}
	before, _ := lines()
	mustCreate(t, h, "000.00.00.A01", "Cơ quan đứng đầu danh sách", StagePilot)
	if _, err := h.ImportAgencies(t.Context(), []Agency{
		{Code: "000.00.00.H20", Name: "Cơ quan giữa danh sách", Stage: StagePilot},
		{Code: "999.99.99.Z99", Name: "Cơ quan cuối danh sách", Stage: StagePending},
	}); err != nil {
		t.Fatal(err)
	}
	renamed := "Tên mới của cơ quan"
	if _, err := h.UpdateAgency(t.Context(), before[0], AgencyUpdate{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	codes, names := lines()
	want := slices.Sorted(slices.Values(append(slices.Clone(before), "000.00.00.A01", "000.00.00.H20", "999.99.99.Z99")))
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("agency lines after registrations (-want +got):\n%s", diff)
	}
	if i := slices.Index(codes, before[0]); i < 0 || names[i] != renamed {
		t.Errorf("%s named %q in the snapshot, want %q", before[0], names[max(i, 0)], renamed)
	}
}
