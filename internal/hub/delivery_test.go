package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Subscribe tests. Each subscription runs in a goroutine and calls back
// synchronously, so a test that acts from the callback (acknowledging,
// recalling, draining, cancelling) knows exactly where the loop stands,
// and one that acts from outside waits for a push, never for time. Only
// the redelivery after the acknowledgement deadline waits for the
// deadline to pass: Subscribe measures it on the wall clock, not on
// Config.Now, and the shortest deadline is a second (MinAckDeadline).

// safety bounds every wait for a push or for the end of a subscription:
// a net for a hang, far above what any step takes.
const safety = 30 * time.Second

// subscription is a running Subscribe.
type subscription struct {
	pushes <-chan Push // every push, in order
	done   <-chan error
}

// subscribe runs h.Subscribe for code until ctx ends; onPush, when set,
// runs in the subscription's goroutine after each push is recorded, and
// its error ends the subscription. The subscription is ended and waited
// for when the test ends.
func subscribe(t testing.TB, ctx context.Context, h *Hub, code string, o SubscribeOptions, onPush func(Push) error) subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	pushes := make(chan Push, 1024)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- h.Subscribe(ctx, agency(code), o, func(p Push) error {
			pushes <- p
			if onPush != nil {
				return onPush(p)
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-finished })
	return subscription{pushes: pushes, done: done}
}

// next waits for the subscription's next push.
func (s subscription) next(t testing.TB) Push {
	t.Helper()
	select {
	case p := <-s.pushes:
		return p
	case err := <-s.done:
		t.Fatalf("the subscription ended (%v) while a push was awaited", err)
	case <-time.After(safety):
		t.Fatal("no push came")
	}
	return Push{}
}

// end waits for Subscribe to return and gives its error.
func (s subscription) end(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(safety):
		t.Fatal("the subscription did not end")
	}
	return nil
}

// rest returns the pushes recorded and not yet taken.
func (s subscription) rest() []Push {
	var out []Push
	for {
		select {
		case p := <-s.pushes:
			out = append(out, p)
		default:
			return out
		}
	}
}

// docNames names documents in push descriptions.
type docNames map[string]string

// describe says what a push is, for diffs: "caught up", or the kind and
// document, "again" for a redelivery.
func (n docNames) describe(p Push) string {
	if p.CaughtUp {
		return "caught up"
	}
	kinds := map[EventKind]string{EventArrived: "arrived", EventStatus: "status", EventRecalled: "recalled", EventUpdated: "updated", EventReplaced: "replaced"}
	s := kinds[p.Event.Kind] + " " + n[p.Event.DocID]
	if p.Event.Status != nil {
		s += " " + string(p.Event.Status.Code)
	}
	if p.Redelivery {
		s += " again"
	}
	return s
}

func (n docNames) describeAll(ps []Push) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, n.describe(p))
	}
	return out
}

// sendNamed has codeG22 send documents d1..dn to recipients.
func sendNamed(t testing.TB, h *Hub, names docNames, n int, recipients ...string) []string {
	t.Helper()
	var out []string
	for range n {
		name := fmt.Sprintf("d%d", len(names)+1)
		id := send(t, h, "Văn bản "+name, recipients)
		names[id] = name
		out = append(out, id)
	}
	return out
}

func TestSubscribeRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	tests := []struct {
		name      string
		p         Principal
		o         SubscribeOptions
		wantKind  error
		wantField string
	}{
		{"an admin", admin, SubscribeOptions{}, ErrPermission, ""},
		{"a negative window", agency(codeH41), SubscribeOptions{Window: -1}, ErrInvalid, "window"},
		{"a window too large", agency(codeH41), SubscribeOptions{Window: MaxWindow + 1}, ErrInvalid, "window"},
		{"a deadline too short", agency(codeH41), SubscribeOptions{AckDeadline: MinAckDeadline - time.Millisecond}, ErrInvalid, "ack_deadline_seconds"},
		{"a deadline too long", agency(codeH41), SubscribeOptions{AckDeadline: MaxAckDeadline + time.Second}, ErrInvalid, "ack_deadline_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Subscribe(t.Context(), tt.p, tt.o, func(Push) error { t.Error("pushed to a refused subscription"); return nil })
			checkErr(t, "Subscribe", err, tt.wantKind, tt.wantField)
		})
	}
	h.Drain()
	err := h.Subscribe(t.Context(), agency(codeH41), SubscribeOptions{}, func(Push) error { t.Error("pushed while draining"); return nil })
	checkErr(t, "Subscribe while draining", err, ErrUnavailable, "")
}

// TestSubscribeWindow: a subscription pushes at most Window events before
// it waits for acknowledgements. The callback drains the hub at the first
// push, so Subscribe returns as soon as it would wait: what it pushed by
// then is one window.
func TestSubscribeWindow(t *testing.T) {
	for _, tt := range []struct {
		window int
		want   []string
	}{
		{1, []string{"arrived d1"}},
		{2, []string{"arrived d1", "arrived d2"}},
		{4, []string{"arrived d1", "arrived d2", "arrived d3", "arrived d4"}},
		{5, []string{"arrived d1", "arrived d2", "arrived d3", "arrived d4", "arrived d5"}},
		{0, []string{"arrived d1", "arrived d2", "arrived d3", "arrived d4", "arrived d5"}}, // the default, 64
	} {
		t.Run(fmt.Sprint("window ", tt.window), func(t *testing.T) {
			h, _ := retentionHub(t, nil)
			names := docNames{}
			sendNamed(t, h, names, 5, codeH41)
			s := subscribe(t, t.Context(), h, codeH41, SubscribeOptions{Window: tt.window}, func(Push) error { h.Drain(); return nil })
			checkErr(t, "Subscribe", s.end(t), ErrUnavailable, "")
			if diff := cmp.Diff(tt.want, names.describeAll(s.rest())); diff != "" {
				t.Errorf("pushes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSubscribeAcksRefillTheWindow: each acknowledgement makes room for
// one more event, and once everything pushed is acknowledged and nothing
// is queued the subscriber hears that it caught up. The callback records
// how many events were acknowledged when each push came.
func TestSubscribeAcksRefillTheWindow(t *testing.T) {
	h, _ := retentionHub(t, nil)
	names := docNames{}
	ids := sendNamed(t, h, names, 3, codeH41)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var acked int
	var ackedAt []int
	ackSeqs := func(ps ...Push) error {
		var seqs []uint64
		for _, p := range ps {
			seqs = append(seqs, p.Event.Seq)
		}
		n, err := h.Acknowledge(ctx, agency(codeH41), seqs)
		acked += n
		return err
	}
	var got []Push
	s := subscribe(t, ctx, h, codeH41, SubscribeOptions{Window: 2}, func(p Push) error {
		ackedAt = append(ackedAt, acked)
		got = append(got, p)
		switch len(got) {
		case 2: // the window is full: acknowledge the first
			return ackSeqs(got[0])
		case 3:
			return ackSeqs(got[1], got[2])
		case 4:
			cancel()
		}
		return nil
	})
	if err := s.end(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]string{"arrived d1", "arrived d2", "arrived d3", "caught up"}, names.describeAll(got)); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0, 0, 1, 3}, ackedAt); diff != "" {
		t.Errorf("acknowledged before each push (-want +got):\n%s", diff)
	}
	for i, id := range ids {
		if d := delivery(t, h, id, codeH41); d.Status != "01" {
			t.Errorf("d%d at %s: status %q, want 01", i+1, codeH41, d.Status)
		}
	}
}

// TestSubscribePushesAsThingsHappen: a subscriber that caught up gets each
// new event as it is committed: an arrival with its document and small
// bodies, a status for the sender, a recall, an update.
func TestSubscribePushesAsThingsHappen(t *testing.T) {
	h, clock := retentionHub(t, nil) // inline limit 1 KiB
	names := docNames{}
	recipient := subscribe(t, t.Context(), h, codeH41, SubscribeOptions{}, nil)
	sender := subscribe(t, t.Context(), h, codeG22, SubscribeOptions{}, nil)
	for _, s := range []subscription{recipient, sender} {
		if p := s.next(t); !p.CaughtUp || !p.Time.Equal(clock.Now()) {
			t.Fatalf("first push on an empty queue: %+v, want caught up at the hub's time", p)
		}
	}
	if got := h.Presence(codeH41); !got.Online || !got.ConnectedSince.Equal(clock.Now()) {
		t.Errorf("presence while subscribed: %+v", got)
	}
	if got := h.metrics.OnlineSubscriptions.Load(); got != 2 {
		t.Errorf("online subscriptions: %d, want 2", got)
	}

	small, large := body(600, 1), body(2000, 2)
	id := send(t, h, "Đẩy ngay", []string{codeH41}, small, large)
	names[id] = "d1"
	p := recipient.next(t)
	if names.describe(p) != "arrived d1" || p.Doc == nil || p.Doc.Doc.ID != id || p.Doc.SenderName != "Văn phòng Chính phủ" {
		t.Fatalf("push %s with document %+v, want the arrival of d1 with its document", names.describe(p), p.Doc)
	}
	if len(p.Inline) != 2 || !bytes.Equal(p.Inline[0], small) || p.Inline[1] != nil {
		t.Errorf("inline bodies: %d entries, want the small body only", len(p.Inline))
	}
	if _, err := h.Acknowledge(t.Context(), agency(codeH41), []uint64{p.Event.Seq}); err != nil {
		t.Fatal(err)
	}
	if p := recipient.next(t); !p.CaughtUp {
		t.Errorf("after the acknowledgement: %s, want caught up", names.describe(p))
	}
	if p := sender.next(t); names.describe(p) != "status d1 01" || p.Doc != nil {
		t.Errorf("sender got %s with document %v, want status d1 01 without one", names.describe(p), p.Doc)
	}

	recall(t, h, id)
	if p := recipient.next(t); names.describe(p) != "recalled d1" || p.Event.Reason != "ban hành nhầm" || p.Doc != nil {
		t.Errorf("after the recall: %s (reason %q), want recalled d1 with its reason", names.describe(p), p.Event.Reason)
	}
	upd, err := h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "upd-1", Subject: "Đính chính",
		Business: BusinessUpdate, Original: id}, &chunkList{})
	if err != nil {
		t.Fatal(err)
	}
	names[upd.ID] = "d2"
	if p := recipient.next(t); names.describe(p) != "updated d2" || p.Doc == nil || p.Doc.Doc.Header.Original != id {
		t.Errorf("after the update: %s, want updated d2 naming d1", names.describe(p))
	}
}

// TestSubscribeRedeliversAfterTheDeadline: an event not acknowledged within
// the deadline is pushed again, flagged; one withdrawn meanwhile is not.
func TestSubscribeRedeliversAfterTheDeadline(t *testing.T) {
	h, _ := retentionHub(t, nil)
	names := docNames{}
	ids := sendNamed(t, h, names, 2, codeH41)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []Push
	s := subscribe(t, ctx, h, codeH41, SubscribeOptions{AckDeadline: MinAckDeadline}, func(p Push) error {
		got = append(got, p)
		switch {
		case len(got) == 2: // d2: withdrawn before it is acknowledged
			_, _, err := h.Recall(ctx, agency(codeG22), ids[1], "gửi nhầm")
			return err
		case p.Redelivery:
			_, err := h.Acknowledge(ctx, agency(codeH41), []uint64{p.Event.Seq})
			return err
		case p.CaughtUp:
			cancel()
		}
		return nil
	})
	if err := s.end(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]string{"arrived d1", "arrived d2", "arrived d1 again", "caught up"}, names.describeAll(got)); diff != "" {
		t.Errorf("pushes (-want +got):\n%s", diff)
	}
	if got := h.metrics.Redeliveries.Load(); got != 1 {
		t.Errorf("redeliveries counted: %d, want 1", got)
	}
}

// TestSubscribeRedeliversOnReconnect: a new subscription pushes again what
// an earlier one pushed and nobody acknowledged, flagged as a redelivery,
// and what was never pushed unflagged.
func TestSubscribeRedeliversOnReconnect(t *testing.T) {
	h, _ := retentionHub(t, nil)
	names := docNames{}
	sendNamed(t, h, names, 2, codeH41)
	ctx1, cancel1 := context.WithCancel(t.Context())
	defer cancel1()
	first := subscribe(t, ctx1, h, codeH41, SubscribeOptions{Window: 1}, func(Push) error { cancel1(); return nil })
	if err := first.end(t); !errors.Is(err, context.Canceled) {
		t.Errorf("first subscription: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]string{"arrived d1"}, names.describeAll(first.rest())); diff != "" {
		t.Errorf("first subscription's pushes (-want +got):\n%s", diff)
	}
	if got := h.Presence(codeH41); got.Online || got.LastSeen.IsZero() {
		t.Errorf("presence after the first subscription: %+v, want offline and last seen", got)
	}

	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	var got []Push
	second := subscribe(t, ctx2, h, codeH41, SubscribeOptions{}, func(p Push) error {
		got = append(got, p)
		switch {
		case len(got) == 2:
			_, err := h.Acknowledge(ctx2, agency(codeH41), []uint64{got[0].Event.Seq, got[1].Event.Seq})
			return err
		case p.CaughtUp:
			cancel2()
		}
		return nil
	})
	if err := second.end(t); !errors.Is(err, context.Canceled) {
		t.Errorf("second subscription: %v, want context.Canceled", err)
	}
	if diff := cmp.Diff([]string{"arrived d1 again", "arrived d2", "caught up"}, names.describeAll(got)); diff != "" {
		t.Errorf("second subscription's pushes (-want +got):\n%s", diff)
	}
}

// TestSubscribeNewerTakesOver: a second subscription of the same agency
// ends the first with a precondition error that says why, and it alone
// gets what comes next.
func TestSubscribeNewerTakesOver(t *testing.T) {
	h, _ := retentionHub(t, nil)
	names := docNames{}
	older := subscribe(t, t.Context(), h, codeH41, SubscribeOptions{}, nil)
	if p := older.next(t); !p.CaughtUp {
		t.Fatalf("first push: %s, want caught up", names.describe(p))
	}
	newer := subscribe(t, t.Context(), h, codeH41, SubscribeOptions{}, nil)
	err := older.end(t)
	checkErr(t, "the older subscription", err, ErrPrecondition, "")
	if !errors.Is(err, errReplaced) {
		t.Errorf("the older subscription ended with %v, want %v", err, errReplaced)
	}
	if p := newer.next(t); !p.CaughtUp {
		t.Fatalf("newer subscription's first push: %s, want caught up", names.describe(p))
	}
	if !h.Presence(codeH41).Online {
		t.Error("offline while the newer subscription runs")
	}
	sendNamed(t, h, names, 1, codeH41)
	if p := newer.next(t); names.describe(p) != "arrived d1" {
		t.Errorf("newer subscription got %s, want arrived d1", names.describe(p))
	}
	if rest := older.rest(); len(rest) > 0 {
		t.Errorf("the older subscription got %v after it ended", names.describeAll(rest))
	}
}

// TestSubscribeEnds: a subscription waiting for news ends with the hub's
// drain, its agency's suspension or its credential's revocation (through
// the context BeginStream gives it), each with its own error.
func TestSubscribeEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, h *Hub)
		want error
	}{
		{"drain", func(_ *testing.T, h *Hub) { h.Drain() }, ErrUnavailable},
		{"suspension", func(t *testing.T, h *Hub) {
			if _, err := h.SetSuspended(t.Context(), codeH41, true, "kiểm tra"); err != nil {
				t.Fatal(err)
			}
		}, ErrPermission},
		{"revocation", func(t *testing.T, h *Hub) {
			if _, err := h.RevokeCredential(t.Context(), "", "5eed41"); err != nil {
				t.Fatal(err)
			}
		}, ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := retentionHub(t, nil)
			ctx, done, err := h.BeginStream(t.Context(), Principal{Name: codeH41, Serial: "5eed41"}, StreamSubscribe)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			s := subscribe(t, ctx, h, codeH41, SubscribeOptions{}, nil)
			if p := s.next(t); !p.CaughtUp {
				t.Fatalf("first push: %+v, want caught up", p)
			}
			tt.end(t, h)
			checkErr(t, "Subscribe", s.end(t), tt.want, "")
			if h.Presence(codeH41).Online {
				t.Error("still online after the subscription ended")
			}
		})
	}
}

// TestSubscribeSendFails: a push the transport cannot send ends the
// subscription with the transport's error.
func TestSubscribeSendFails(t *testing.T) {
	errGone := errors.New("stream closed")
	for _, queued := range []int{0, 1} {
		t.Run(fmt.Sprint(queued, " queued"), func(t *testing.T) {
			h, _ := retentionHub(t, nil)
			sendNamed(t, h, docNames{}, queued, codeH41)
			s := subscribe(t, t.Context(), h, codeH41, SubscribeOptions{}, func(Push) error { return errGone })
			if err := s.end(t); !errors.Is(err, errGone) {
				t.Errorf("Subscribe: %v, want %v", err, errGone)
			}
			if got := h.metrics.OnlineSubscriptions.Load(); got != 0 {
				t.Errorf("online subscriptions after the end: %d", got)
			}
		})
	}
}
