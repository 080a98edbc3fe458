package hub

import (
	"errors"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// TestStandbyLeadsAndStepsDown: a cluster node's hub starts without its
// state; Lead loads it (queues, counts, registry) as a restart does, and
// again after StepDown without counting anything twice; StepDown ends the
// subscriptions with "reconnect".
func TestStandbyLeadsAndStepsDown(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)}
	h, st := exchangeHubAt(t, dir, clock.Now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	ack(t, h, send(t, h, "Đã nhận", []string{codeH41}), codeH41)
	send(t, h, "Đang chờ", []string{codeH41})
	want := countsOf(t, h)
	h.Drain()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openStore(t, filepath.Join(dir, "ndxp.db"))
	files, err := store.OpenFiles(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Now, cfg.Location, cfg.InlineLimit, cfg.Standby = clock.Now, time.UTC, 1<<10, true
	sb, err := New(t.Context(), st2, files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Drain)
	sb.mu.RLock()
	known := len(sb.index)
	sb.mu.RUnlock()
	if known != 0 {
		t.Errorf("a standby hub has %d agencies in its index before it leads, want 0", known)
	}
	for round := 1; round <= 2; round++ {
		if err := sb.Lead(t.Context()); err != nil {
			t.Fatalf("round %d: Lead: %v", round, err)
		}
		if got := countsOf(t, sb); got != want {
			t.Errorf("round %d: counts after Lead %+v, want %+v", round, got, want)
		}
		snap, err := sb.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := pendingOf(snap); !maps.Equal(got, map[string]int{codeH41: 1}) {
			t.Errorf("round %d: waiting %v, want one for %s", round, got, codeH41)
		}
		s := subscribe(t, t.Context(), sb, codeH41, SubscribeOptions{}, nil)
		if p := s.next(t); p.Event.Kind != EventArrived {
			t.Fatalf("round %d: first push %+v, want the waiting arrival", round, p)
		}
		sb.StepDown()
		if err := s.end(t); !errors.Is(err, ErrUnavailable) {
			t.Errorf("round %d: the subscription ended with %v, want unavailable", round, err)
		}
	}
}
