package hub

import (
	"context"
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
// event comes again. It returns when ctx ends (the caller gone, its
// credential revoked or its agency suspended), the hub drains, or a newer
// subscription takes over.
func (h *Hub) Subscribe(ctx context.Context, p Principal, o SubscribeOptions, send func(Push) error) error {
	if err := requireAgency(p, "subscribing"); err != nil {
		return err
	}
	if err := h.draining(); err != nil {
		return err
	}
	if err := h.subscribeOptions(&o); err != nil {
		return err
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

	st := &stream{h: h, code: code, o: o, send: send, sess: sess,
		earlier: h.deliv.pushedBefore(code), inflight: map[uint64]time.Time{}}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		st.takeAcks()
		if err := st.redeliver(ctx); err != nil {
			return err
		}
		if err := st.fill(ctx); err != nil {
			return err
		}
		more, err := st.catchUp(ctx)
		if err != nil {
			return err
		}
		if more {
			continue
		}
		timer.Reset(st.wait())
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

// subscribeOptions fills in the defaults of o and checks its bounds.
func (h *Hub) subscribeOptions(o *SubscribeOptions) error {
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
	return nil
}

// stream is one subscription's delivery state (Subscribe).
type stream struct {
	h    *Hub
	code string
	o    SubscribeOptions
	send func(Push) error
	sess *session

	earlier  uint64               // the highest sequence pushed by an earlier subscription
	cursor   uint64               // the highest sequence pushed on this stream
	inflight map[uint64]time.Time // pushed, not yet acknowledged, by when pushed
	caughtUp bool                 // CaughtUp sent, and nothing pushed since
}

// takeAcks forgets the events acknowledged since the last look.
func (st *stream) takeAcks() {
	st.sess.mu.Lock()
	for _, q := range st.sess.acked {
		delete(st.inflight, q)
	}
	st.sess.acked = st.sess.acked[:0]
	st.sess.mu.Unlock()
}

// redeliver pushes again what waited past the acknowledgement deadline.
func (st *stream) redeliver(ctx context.Context) error {
	now := time.Now()
	var expired []uint64
	for q, t := range st.inflight {
		if now.Sub(t) >= st.o.AckDeadline {
			expired = append(expired, q)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	sort.Slice(expired, func(i, j int) bool { return expired[i] < expired[j] })
	pushes, gone, err := st.h.loadEvents(ctx, st.code, expired)
	if err != nil {
		return err
	}
	for _, q := range gone {
		delete(st.inflight, q)
	}
	for _, ps := range pushes {
		ps.Redelivery = true
		if err := st.send(ps); err != nil {
			return err
		}
		st.inflight[ps.Event.Seq] = time.Now()
		st.h.metrics.redelivered()
	}
	return nil
}

// fill pushes new events while the window has room.
func (st *stream) fill(ctx context.Context) error {
	room := st.o.Window - len(st.inflight)
	if room <= 0 {
		return nil
	}
	pushes, err := st.h.nextEvents(ctx, st.code, st.cursor, room)
	if err != nil {
		return err
	}
	for _, ps := range pushes {
		ps.Redelivery = ps.Event.Seq <= st.earlier
		if err := st.send(ps); err != nil {
			return err
		}
		st.inflight[ps.Event.Seq] = time.Now()
		st.cursor = ps.Event.Seq
		st.caughtUp = false
		st.h.deliv.markPushed(st.code, st.cursor)
	}
	return nil
}

// catchUp tells the subscriber once that everything pushed was
// acknowledged and nothing new is queued; more says events came meanwhile.
func (st *stream) catchUp(ctx context.Context) (more bool, err error) {
	if len(st.inflight) > 0 || st.caughtUp {
		return false, nil
	}
	next, err := st.h.nextEvents(ctx, st.code, st.cursor, 1)
	if err != nil || len(next) > 0 {
		return len(next) > 0, err
	}
	if err := st.send(Push{CaughtUp: true, Time: st.h.now()}); err != nil {
		return false, err
	}
	st.caughtUp = true
	return false, nil
}

// wait is how long until the next acknowledgement deadline, if any.
func (st *stream) wait() time.Duration {
	wait := time.Hour
	for _, t := range st.inflight {
		if d := time.Until(t.Add(st.o.AckDeadline)); d < wait {
			wait = d
		}
	}
	return max(wait, time.Millisecond)
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
	if err := decodeRecord(raw, &ev); err != nil {
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
	if err := getRecord(tx, store.BucketDocuments, []byte(ev.DocID), &doc); err != nil {
		return Push{}, err
	}
	v, err := viewTx(tx, doc, roleNone, Principal{}, false)
	if err != nil {
		return Push{}, err
	}
	ps.Doc = &v
	ps.Inline = h.inlineBodies(doc, func(i int) ([]byte, bool) {
		b, ok, err := inlineBody(tx, doc.ID, i)
		return b, ok && err == nil // otherwise kept as a file, or gone: the recipient fetches it
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
