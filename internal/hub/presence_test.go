package hub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// storedLastSeen reads the last-seen time kept for code (saveLastSeen).
func storedLastSeen(t testing.TB, h *Hub, code string) time.Time {
	t.Helper()
	var out time.Time
	err := h.st.View(t.Context(), func(tx store.Tx) error {
		v, err := tx.Get(store.BucketPresence, []byte(code))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = time.Parse(time.RFC3339Nano, string(v))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitChange waits for a (coalesced) change on a Watch channel.
func waitChange(t testing.TB, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
	case <-time.After(safety):
		t.Fatalf("%s: no change signalled", what)
	}
}

// drainChanges empties a Watch channel of changes already signalled.
func drainChanges(changes <-chan struct{}) {
	for {
		select {
		case <-changes:
		default:
			return
		}
	}
}

// TestPolledPresence: a poll keeps an agency online for the window; when
// the window passes without a poll it goes offline by itself, and the
// online count, the watchers and the stored last-seen time follow, with
// no poll arriving.
func TestPolledPresence(t *testing.T) {
	h, clock := retentionHub(t, func(c *Config) { c.PollWindow = 2 * time.Minute })
	h.presence.every = time.Millisecond // the sweeper looks often; the fake clock decides
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := h.Watch(ctx)

	start := clock.Now()
	h.Polled(codeH41)
	waitChange(t, changes, "first poll")
	want := Presence{Online: true, Via: ViaPolling, ConnectedSince: start, LastSeen: start, LastPolled: start}
	if diff := cmp.Diff(want, h.Presence(codeH41)); diff != "" {
		t.Errorf("after a poll (-want +got):\n%s", diff)
	}
	if got := h.Overview().Online; got != 1 {
		t.Errorf("online count %d after a poll, want 1", got)
	}

	clock.Advance(90 * time.Second)
	h.Polled(codeH41) // within the window: still the same online period
	second := clock.Now()
	want.LastSeen, want.LastPolled = second, second
	if diff := cmp.Diff(want, h.Presence(codeH41)); diff != "" {
		t.Errorf("after a second poll (-want +got):\n%s", diff)
	}

	clock.Advance(119 * time.Second)
	if p := h.Presence(codeH41); !p.Online || p.Via != ViaPolling {
		t.Errorf("1s before the window passes: %+v, want online by polling", p)
	}
	drainChanges(changes)
	clock.Advance(time.Second)
	waitChange(t, changes, "the window passed")
	want = Presence{LastSeen: second, LastPolled: second}
	if diff := cmp.Diff(want, h.Presence(codeH41)); diff != "" {
		t.Errorf("after the window (-want +got):\n%s", diff)
	}
	if got := h.Overview().Online; got != 0 {
		t.Errorf("online count %d after the window, want 0", got)
	}
	s, err := h.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Agencies {
		if a.Code == codeH41 && (a.Online || a.Via != "" || !a.LastPolled.Equal(second)) {
			t.Errorf("snapshot line %+v, want offline, last polled %v", a, second)
		}
	}
	// onOffline ran: the last poll is the stored last-seen time. It runs
	// after the watchers are told, so wait for the store to have it.
	deadline := time.Now().Add(safety)
	for !storedLastSeen(t, h, codeH41).Equal(second) {
		if time.Now().After(deadline) {
			t.Fatalf("stored last seen %v, want %v", storedLastSeen(t, h, codeH41), second)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPolledAndStream: a stream wins over polling in Via; ending the
// stream leaves the agency online by polling until its window passes.
func TestPolledAndStream(t *testing.T) {
	h, clock := retentionHub(t, nil)
	h.presence.every = time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changes := h.Watch(ctx)

	h.Polled(codeG22)
	polledAt := clock.Now()
	subCtx, endSub := context.WithCancel(t.Context())
	s := subscribe(t, subCtx, h, codeG22, SubscribeOptions{}, nil)
	s.next(t) // caught up: the stream is open
	if p := h.Presence(codeG22); !p.Online || p.Via != ViaStream || !p.ConnectedSince.Equal(polledAt) || !p.LastPolled.Equal(polledAt) {
		t.Errorf("polling and streaming: %+v, want online via stream since the poll", p)
	}
	if got := h.Overview().Online; got != 1 {
		t.Errorf("online count %d, want 1 (one agency, two ways)", got)
	}

	clock.Advance(30 * time.Second)
	endSub()
	if err := s.end(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v", err)
	}
	if p := h.Presence(codeG22); !p.Online || p.Via != ViaPolling {
		t.Errorf("stream ended within the poll window: %+v, want online via polling", p)
	}

	drainChanges(changes)
	clock.Advance(DefaultPollWindow)
	waitChange(t, changes, "the window passed")
	if p := h.Presence(codeG22); p.Online || p.Via != "" || !p.ConnectedSince.IsZero() {
		t.Errorf("after the window: %+v, want offline", p)
	}

	// A stream outlives an expired poll window.
	s = subscribe(t, t.Context(), h, codeG22, SubscribeOptions{}, nil)
	s.next(t)
	h.Polled(codeG22)
	clock.Advance(2 * DefaultPollWindow)
	if p := h.Presence(codeG22); !p.Online || p.Via != ViaStream {
		t.Errorf("stream with an old poll: %+v, want online via stream", p)
	}
}

// TestPolledUnknownAndDrained: a poll for a code the registry does not
// know records nothing; after Drain the sweeper is gone (goleak checks)
// and a poll starts none.
func TestPolledUnknownAndDrained(t *testing.T) {
	h, _ := retentionHub(t, nil)
	h.Polled("000.00.00.X99")
	if p := h.Presence("000.00.00.X99"); p != (Presence{}) {
		t.Errorf("unknown agency: %+v, want nothing", p)
	}
	h.Polled(codeH41)
	h.Drain()
	h.Polled(codeH14)
	if p := h.Presence(codeH14); !p.Online || p.Via != ViaPolling {
		t.Errorf("poll after Drain: %+v, want online via polling", p)
	}
	h.presence.mu.Lock()
	sweeping := h.presence.sweeping
	h.presence.mu.Unlock()
	if sweeping {
		t.Error("a sweeper started after Drain")
	}
}

func TestPollWindowValidate(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.PollWindow != 2*time.Minute {
		t.Errorf("default PollWindow %v, want 2m", cfg.PollWindow)
	}
	cfg.PollWindow = 0
	if err := cfg.Validate(); err == nil {
		t.Error("PollWindow 0 accepted")
	}
}
