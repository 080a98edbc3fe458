package hub

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// exchangeHubAt starts a hub on the store in dir (created or reopened)
// with the clock now, counting days in UTC; the store is closed when the
// test ends, or by the caller.
func exchangeHubAt(t testing.TB, dir string, now func() time.Time) (*Hub, *store.Bolt) {
	t.Helper()
	st := openStore(t, filepath.Join(dir, "ndxp.db"))
	files, err := store.OpenFiles(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Now = now
	cfg.InlineLimit = 1 << 10
	cfg.Location = time.UTC
	h, err := New(t.Context(), st, files, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Drain)
	return h, st
}

// TestRestartKeepsTheExchange: a hub started again on the same store has
// the documents still waiting and the last time each agency was seen, and
// drops an attachment file no document references (a
// send that crashed before its commit).
func TestRestartKeepsTheExchange(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	h, st := exchangeHubAt(t, dir, clock.Now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	large := body(3000, 1)
	delivered := send(t, h, "Đã nhận", []string{codeH41}, large)
	ack(t, h, delivered, codeH41)
	waiting := send(t, h, "Đang chờ", []string{codeH41})

	ctx, cancel := context.WithCancel(t.Context())
	s := subscribe(t, ctx, h, codeG22, SubscribeOptions{}, func(Push) error { cancel(); return nil }) // seen, then gone
	if err := s.end(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v", err)
	}
	lastSeen := h.Presence(codeG22).LastSeen
	orphan, err := h.bodies.files.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orphan.Write(body(2000, 7)); err != nil {
		t.Fatal(err)
	}
	if _, err := orphan.Commit(); err != nil {
		t.Fatal(err)
	}
	h.Drain()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	h2, _ := exchangeHubAt(t, dir, clock.Now)
	after, err := h2.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pendingOf(after), map[string]int{codeH41: 1}; !maps.Equal(got, want) {
		t.Errorf("waiting after the restart: %v, want %v", got, want)
	}
	if got := h2.Presence(codeG22); got.Online || !got.LastSeen.Equal(lastSeen) {
		t.Errorf("presence after the restart: %+v, want offline, last seen %v", got, lastSeen)
	}
	if _, err := os.Stat(blobPath(h2, body(2000, 7))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unreferenced file after the restart: %v, want removed", err)
	}
	if got, err := readAttachment(t, h2, agency(codeH41), delivered, 0); err != nil || len(got) != len(large) {
		t.Errorf("a referenced body after the restart: %d bytes, %v", len(got), err)
	}
	if evs := queueOf(t, h2, codeH41); len(evs) != 1 || evs[0].DocID != waiting {
		t.Errorf("queue after the restart: %+v, want the arrival of %s", evs, waiting)
	}
}

// TestClosedStoreIsUnavailable: once the store is closed (a shutdown
// under way), writes answer that the hub is unavailable, never an
// internal error.
func TestClosedStoreIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	h, st := exchangeHubAt(t, dir, clock.Now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	id := send(t, h, "Trước khi đóng", []string{codeH41})
	seq := queueOf(t, h, codeH41)[0].Seq
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Send's first read returns the store's own ErrClosed, which server/
	// maps to Unavailable as well.
	unavailable := func(err error) bool { return errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrClosed) }
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"Send", func() error {
			_, err := h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "2", Subject: "Sau khi đóng"}, &chunkList{})
			return err
		}},
		{"Acknowledge", func() error { _, err := h.Acknowledge(t.Context(), agency(codeH41), []uint64{seq}); return err }},
		{"ReportStatus", func() error {
			_, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: id, Code: Status("03")})
			return err
		}},
		{"Recall", func() error { _, _, err := h.Recall(t.Context(), agency(codeG22), id, "lý do"); return err }},
	} {
		if err := tt.call(); !unavailable(err) {
			t.Errorf("%s on a closed store: %v, want unavailable", tt.name, err)
		}
	}
}

func TestConfigValidateRanges(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
	}{
		{"shortest ack deadline", func(c *Config) { c.AckDeadline = MinAckDeadline }, false},
		{"ack deadline too short", func(c *Config) { c.AckDeadline = MinAckDeadline - 1 }, true},
		{"ack deadline too long", func(c *Config) { c.AckDeadline = MaxAckDeadline + 1 }, true},
		{"no inline bodies", func(c *Config) { c.InlineLimit = 0 }, false},
		{"negative inline limit", func(c *Config) { c.InlineLimit = -1 }, true},
		{"inline limit over 1 MiB", func(c *Config) { c.InlineLimit = 1<<20 + 1 }, true},
		{"no unacknowledged alert time", func(c *Config) { c.UnackedAfter = 0 }, true},
		{"no time zone", func(c *Config) { c.Location = nil }, true},
		{"no attachment size", func(c *Config) { c.MaxAttachmentSize = 0 }, true},
		{"negative retention", func(c *Config) { c.RetentionDays = -1 }, true},
		{"retention too long", func(c *Config) { c.RetentionDays = MaxRetentionDays + 1 }, true},
		{"bad limits", func(c *Config) { c.Limits.Uploads = -1 }, true},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.change(&c)
		if err := c.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}

// restart closes h's store and starts a hub on it again.
func restart(t testing.TB, h *Hub, st *store.Bolt, dir string, now func() time.Time) *Hub {
	t.Helper()
	h.Drain()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	h2, _ := exchangeHubAt(t, dir, now)
	return h2
}

// todayCounts are the traffic figures of a snapshot the tests below check.
type todayCounts struct {
	Documents, Delivered     int
	SentByG22, ReceivedByH41 int
	SentLastHour             int
	DeliveredLastHour        int
}

func countsOf(t testing.TB, h *Hub) todayCounts {
	t.Helper()
	s, err := h.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := todayCounts{Documents: s.DocumentsToday, Delivered: s.DeliveredToday}
	for _, a := range s.Agencies {
		switch a.Code {
		case codeG22:
			c.SentByG22 = a.SentToday
		case codeH41:
			c.ReceivedByH41 = a.ReceivedToday
		}
	}
	for _, m := range s.PerMinute {
		c.SentLastHour += m.Sent
		c.DeliveredLastHour += m.Delivered
	}
	return c
}

// trafficFixture starts a hub on clock now in a new directory and has
// codeG22 send two documents to codeH41, one acknowledged.
func trafficFixture(t testing.TB, now func() time.Time) (*Hub, *store.Bolt, string) {
	t.Helper()
	dir := t.TempDir()
	h, st := exchangeHubAt(t, dir, now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	id := send(t, h, "Hôm nay", []string{codeH41})
	send(t, h, "Hôm nay nữa", []string{codeH41})
	ack(t, h, id, codeH41)
	return h, st, dir
}

// skipAcrossMidnight skips a test on the wall clock that ran across
// midnight (UTC): the day's counts start again, as they should.
func skipAcrossMidnight(t testing.TB, start time.Time) {
	t.Helper()
	if y, m, d := time.Now().UTC().Date(); time.Date(y, m, d, 0, 0, 0, 0, time.UTC).After(start) {
		t.Skip("the test ran across midnight")
	}
}

// TestTodayCounts: the snapshot counts the day's documents and deliveries,
// by agency and by minute, and a restart rebuilds the documents' counts
// from the store.
func TestTodayCounts(t *testing.T) {
	start := time.Now().UTC()
	h, st, dir := trafficFixture(t, time.Now)
	want := todayCounts{Documents: 2, Delivered: 1, SentByG22: 2, ReceivedByH41: 2, SentLastHour: 2, DeliveredLastHour: 1}
	got := countsOf(t, h)
	h2 := restart(t, h, st, dir, time.Now)
	after := countsOf(t, h2)
	skipAcrossMidnight(t, start)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// Deliveries are not rebuilt: see TestDeliveredTodaySurvivesARestart.
	after.Delivered, after.DeliveredLastHour = want.Delivered, want.DeliveredLastHour
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("counts after a restart (-want +got):\n%s", diff)
	}
}

// TestDeliveredTodaySurvivesARestart: "arrivals acknowledged today"
// (monitor.proto) are still today's after a restart.
func TestDeliveredTodaySurvivesARestart(t *testing.T) {
	start := time.Now().UTC()
	h, st, dir := trafficFixture(t, time.Now)
	h2 := restart(t, h, st, dir, time.Now)
	got := countsOf(t, h2)
	skipAcrossMidnight(t, start)
	if got.Delivered != 1 || got.DeliveredLastHour != 1 {
		t.Errorf("after a restart: %d delivered today, %d in the last hour; want 1, 1", got.Delivered, got.DeliveredLastHour)
	}
}

// TestTodayCountsFollowTheHubClock: "today" and "the last hour" are the
// hub's (Config.Now), as in Snapshot and loadTraffic.
func TestTodayCountsFollowTheHubClock(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	h, st, dir := trafficFixture(t, clock.Now)
	want := todayCounts{Documents: 2, Delivered: 1, SentByG22: 2, ReceivedByH41: 2, SentLastHour: 2, DeliveredLastHour: 1}
	if diff := cmp.Diff(want, countsOf(t, h)); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	clock.Advance(time.Minute)
	h2 := restart(t, h, st, dir, clock.Now)
	if diff := cmp.Diff(want, countsOf(t, h2)); diff != "" {
		t.Errorf("counts after a restart (-want +got):\n%s", diff)
	}
	clock.Advance(24 * time.Hour)
	if diff := cmp.Diff(todayCounts{}, countsOf(t, h2)); diff != "" {
		t.Errorf("counts the next day (-want +got):\n%s", diff)
	}
}
