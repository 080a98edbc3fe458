package hub

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// Push is one message of a subscription: an event (with its document for
// arrivals) or, with CaughtUp, the news that the queue is empty.
type Push struct {
	Event Event
	Doc   *DocumentView
	// Inline holds the bodies of the document's small attachments, by
	// index (nil for those to fetch), so a recipient need not fetch them.
	Inline     [][]byte
	Redelivery bool
	CaughtUp   bool
	Time       time.Time
}

// SubscribeOptions tune one subscription.
type SubscribeOptions struct {
	// Window is the most unacknowledged events in flight (default 64, at most 1024).
	Window int
	// AckDeadline is how long a pushed event waits for its acknowledgement
	// before it is pushed again (default Config.AckDeadline).
	AckDeadline time.Duration
}

// Subscription limits.
const (
	DefaultWindow  = 64
	MaxWindow      = 1024
	MinAckDeadline = time.Second
	MaxAckDeadline = 10 * time.Minute
)

// deliverer tracks the open subscription of each agency so that commits
// can wake it. One subscription per agency: a newer one takes over.
type deliverer struct {
	mu       sync.Mutex
	sessions map[string]*session
	// pushed is the highest sequence pushed to each agency since the hub
	// started: a queued event at or below it was pushed before and not
	// acknowledged, so a new subscription flags it as a redelivery.
	pushed map[string]uint64
}

type session struct {
	wake   chan struct{}
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	acked []uint64
}

func newDeliverer() *deliverer {
	return &deliverer{sessions: map[string]*session{}, pushed: map[string]uint64{}}
}

func (d *deliverer) markPushed(code string, seq uint64) {
	d.mu.Lock()
	if seq > d.pushed[code] {
		d.pushed[code] = seq
	}
	d.mu.Unlock()
}

func (d *deliverer) pushedBefore(code string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pushed[code]
}

func (s *session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (d *deliverer) notify(code string) {
	d.mu.Lock()
	s := d.sessions[code]
	d.mu.Unlock()
	if s != nil {
		s.poke()
	}
}

func (d *deliverer) acked(code string, seqs []uint64) {
	d.mu.Lock()
	s := d.sessions[code]
	d.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.acked = append(s.acked, seqs...)
	s.mu.Unlock()
	s.poke()
}

// errReplaced ends a subscription when the same agency opens a newer one.
// It is not a "retry" code: two systems subscribing as one agency would
// otherwise take the stream from each other forever; the older one is told
// plainly instead.
var errReplaced = &Error{Kind: ErrPrecondition, Msg: "a newer subscription of the same agency took over this one (is a second system subscribed with this agency's credential?)"}

func (d *deliverer) open(code string, cancel context.CancelCauseFunc) *session {
	s := &session{wake: make(chan struct{}, 1), cancel: cancel}
	d.mu.Lock()
	old := d.sessions[code]
	d.sessions[code] = s
	d.mu.Unlock()
	if old != nil {
		old.cancel(errReplaced)
	}
	return s
}

func (d *deliverer) close(code string, s *session) {
	d.mu.Lock()
	if d.sessions[code] == s {
		delete(d.sessions, code)
	}
	d.mu.Unlock()
}

// Subscribe pushes the caller's queued events through send, in order, with
// at most Window unacknowledged. Events not acknowledged within the
// deadline are pushed again; on a new subscription every unacknowledged
// event comes again. It returns when ctx ends, the hub drains, the agency
// is suspended or revoked, or a newer subscription takes over.
func (h *Hub) Subscribe(ctx context.Context, p Principal, o SubscribeOptions, send func(Push) error) error {
	if err := requireAgency(p, "subscribing"); err != nil {
		return err
	}
	if err := h.draining(); err != nil {
		return err
	}
	switch {
	case o.Window < 0 || o.Window > MaxWindow:
		return invalid("window", "must be between 1 and %d", MaxWindow)
	case o.Window == 0:
		o.Window = DefaultWindow
	}
	switch {
	case o.AckDeadline == 0:
		o.AckDeadline = h.cfg.AckDeadline
	case o.AckDeadline < MinAckDeadline || o.AckDeadline > MaxAckDeadline:
		return invalid("ack_deadline_seconds", "must be between %s and %s", MinAckDeadline, MaxAckDeadline)
	}
	code := p.Name
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sess := h.deliv.open(code, cancel)
	defer h.deliv.close(code, sess)
	defer h.presence.connect(code)()
	h.metrics.online(1)
	defer h.metrics.online(-1)
	h.log.Info("agency connected", "code", code)
	defer h.log.Info("agency disconnected", "code", code)

	earlier := h.deliv.pushedBefore(code) // pushed by an earlier subscription
	var cursor uint64                     // highest sequence pushed on this stream
	inflight := map[uint64]time.Time{}    // pushed, not yet acknowledged
	caughtUp := false
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Take acknowledgements.
		sess.mu.Lock()
		for _, q := range sess.acked {
			delete(inflight, q)
		}
		sess.acked = sess.acked[:0]
		sess.mu.Unlock()

		now := time.Now()
		// Push again what waited too long, and what was taken back.
		var expired []uint64
		for q, t := range inflight {
			if now.Sub(t) >= o.AckDeadline {
				expired = append(expired, q)
			}
		}
		sort.Slice(expired, func(i, j int) bool { return expired[i] < expired[j] })
		if len(expired) > 0 {
			pushes, gone, err := h.loadEvents(ctx, code, expired)
			if err != nil {
				return err
			}
			for _, q := range gone {
				delete(inflight, q)
			}
			for _, ps := range pushes {
				ps.Redelivery = true
				if err := send(ps); err != nil {
					return err
				}
				inflight[ps.Event.Seq] = time.Now()
				h.metrics.redelivered()
			}
		}
		// Fill the window with new events.
		if room := o.Window - len(inflight); room > 0 {
			pushes, err := h.nextEvents(ctx, code, cursor, room)
			if err != nil {
				return err
			}
			for _, ps := range pushes {
				ps.Redelivery = ps.Event.Seq <= earlier
				if err := send(ps); err != nil {
					return err
				}
				inflight[ps.Event.Seq] = time.Now()
				cursor = ps.Event.Seq
				caughtUp = false
				h.deliv.markPushed(code, cursor)
			}
		}
		if len(inflight) == 0 && !caughtUp {
			// Everything pushed was acknowledged and nothing new is queued.
			more, err := h.nextEvents(ctx, code, cursor, 1)
			if err != nil {
				return err
			}
			if len(more) == 0 {
				if err := send(Push{CaughtUp: true, Time: h.now()}); err != nil {
					return err
				}
				caughtUp = true
			} else {
				continue
			}
		}
		// Wait for news, the next deadline, or the end.
		wait := time.Hour
		for _, t := range inflight {
			if d := time.Until(t.Add(o.AckDeadline)); d < wait {
				wait = d
			}
		}
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-sess.wake:
		case <-timer.C:
		case <-h.drain:
			return newErr(ErrUnavailable, "", "the hub is shutting down; reconnect")
		case <-ctx.Done():
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return c
			}
			return ctx.Err()
		}
	}
}

// nextEvents loads up to n events after sequence `after`.
func (h *Hub) nextEvents(ctx context.Context, code string, after uint64, n int) ([]Push, error) {
	var out []Push
	err := h.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(store.BucketQueue, queuePrefix(code), queueKey(code, after+1), func(_, v []byte) (bool, error) {
			ps, err := h.push(tx, v)
			if err != nil {
				return false, err
			}
			out = append(out, ps)
			return len(out) < n, nil
		})
	})
	return out, err
}

// loadEvents loads the given events; gone lists those no longer queued
// (acknowledged meanwhile, or withdrawn by a recall).
func (h *Hub) loadEvents(ctx context.Context, code string, seqs []uint64) (out []Push, gone []uint64, err error) {
	err = h.st.View(ctx, func(tx store.Tx) error {
		for _, q := range seqs {
			v, err := tx.Get(store.BucketQueue, queueKey(code, q))
			if errors.Is(err, store.ErrNotFound) {
				gone = append(gone, q)
				continue
			}
			if err != nil {
				return err
			}
			ps, err := h.push(tx, v)
			if err != nil {
				return err
			}
			out = append(out, ps)
		}
		return nil
	})
	return out, gone, err
}

func (h *Hub) push(tx store.Tx, raw []byte) (Push, error) {
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Push{}, err
	}
	ps := Push{Event: ev, Time: ev.Time}
	if !ev.Kind.carriesDocument() {
		return ps, nil
	}
	if r := h.recent.get(ev.DocID); r != nil {
		ps.Doc, ps.Inline = r.view, r.inline
		return ps, nil
	}
	var doc Document
	if err := getJSON(tx, store.BucketDocuments, []byte(ev.DocID), &doc); err != nil {
		return Push{}, err
	}
	v, err := viewTx(tx, doc, roleNone, Principal{}, false)
	if err != nil {
		return Push{}, err
	}
	ps.Doc = &v
	ps.Inline = h.inlineBodies(doc, func(i int) ([]byte, bool) {
		b, ok, err := inlineBody(tx, doc.ID, i)
		if err != nil || !ok {
			sum := hex.EncodeToString(doc.Header.Attachments[i].SHA256)
			if b, err = tx.Get(store.BucketBlobData, []byte(sum)); err != nil {
				return nil, false // kept as a file, or gone: the recipient fetches it
			}
		}
		return b, true
	})
	return ps, nil
}

// inlineBodies picks the bodies a push of doc carries: attachments of up to
// InlineLimit bytes, maxInlinePush in all, for which body has the bytes.
// The result is indexed like the attachments, or nil if it carries none.
func (h *Hub) inlineBodies(doc Document, body func(i int) ([]byte, bool)) [][]byte {
	var out [][]byte
	budget := maxInlinePush
	for i, a := range doc.Header.Attachments {
		if a.Size == 0 || a.Size > h.cfg.InlineLimit || a.Size > budget || doc.Purged != nil {
			continue
		}
		b, ok := body(i)
		if !ok {
			continue
		}
		if out == nil {
			out = make([][]byte, len(doc.Header.Attachments))
		}
		out[i] = b
		budget -= a.Size
	}
	return out
}

// maxInlinePush bounds the attachment bytes carried inside one pushed event.
const maxInlinePush int64 = 1 << 20
