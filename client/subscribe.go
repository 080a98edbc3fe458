package client

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Handler handles one event. Returning nil acknowledges the event, so the
// hub will not deliver it again; returning an error leaves it queued, and
// it comes again after the acknowledgement deadline or a reconnect.
// A handler must make the event durable (write it to disk, commit it to a
// database) before it returns nil.
type Handler func(ctx context.Context, ev *ndxpv1.Event) error

// SubscribeOption changes Subscribe.
type SubscribeOption func(*subOptions)

type subOptions struct {
	untilCaughtUp bool
	window        int32
	ackDeadline   time.Duration
	onState       func(connected bool, err error)
	maxBackoff    time.Duration
}

// UntilCaughtUp makes Subscribe return nil once every queued event has
// been handled and acknowledged, instead of waiting for new ones. A
// handler error then ends Subscribe with that error (the event stays
// queued), since waiting for its redelivery would not catch up.
func UntilCaughtUp() SubscribeOption { return func(o *subOptions) { o.untilCaughtUp = true } }

// Window sets the most unacknowledged events in flight (default 64).
func Window(n int) SubscribeOption { return func(o *subOptions) { o.window = int32(n) } }

// AckDeadline asks the hub to push an event again if it is not
// acknowledged within d (default: the hub's, 30 s).
func AckDeadline(d time.Duration) SubscribeOption { return func(o *subOptions) { o.ackDeadline = d } }

// OnConnection calls fn when the subscription connects (err nil) or loses
// its connection (err says why), e.g. to log reconnects.
func OnConnection(fn func(connected bool, err error)) SubscribeOption {
	return func(o *subOptions) { o.onState = fn }
}

// MaxBackoff caps the wait between reconnection attempts (default 5 s).
func MaxBackoff(d time.Duration) SubscribeOption { return func(o *subOptions) { o.maxBackoff = d } }

// Subscribe receives the caller's events and calls h once per event, in
// order, acknowledging each event whose handler returned nil. It
// reconnects with exponential backoff and jitter when the hub goes away
// and resumes where the queue stands, so a hub restart is invisible to h
// except for the delay. An event redelivered after its acknowledgement was
// lost is acknowledged again without calling h a second time.
// Subscribe returns when ctx ends, on an error that retrying cannot cure
// (e.g. a revoked credential), or with UntilCaughtUp when the queue is empty.
func (c *Client) Subscribe(ctx context.Context, h Handler, opts ...SubscribeOption) error {
	o := subOptions{maxBackoff: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	s := &subscription{c: c, h: h, o: o, done: newSeqSet(4096)}
	b := newBackoff()
	b.max = o.maxBackoff
	for {
		progressed, err := s.run(ctx)
		if err == nil {
			return nil // caught up
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.onState != nil {
			o.onState(false, err)
		}
		var he *HandlerError
		if errors.As(err, &he) || (!retryable(err) && !errors.Is(err, io.EOF) && !errors.Is(err, errStreamEnded)) {
			return err
		}
		if progressed {
			b.reset()
		}
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
}

var errStreamEnded = errors.New("subscription stream ended")

// HandlerError is returned by Subscribe with UntilCaughtUp when the
// handler fails; the event stays queued.
type HandlerError struct {
	Sequence uint64
	Err      error
}

func (e *HandlerError) Error() string {
	return "handling event " + strconv.FormatUint(e.Sequence, 10) + ": " + e.Err.Error()
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

type subscription struct {
	c    *Client
	h    Handler
	o    subOptions
	done *seqSet // events handled (and acknowledged, or being acknowledged)
}

// run holds one stream until it breaks; progressed says whether any event
// came, so a flapping hub does not reset the backoff.
func (s *subscription) run(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &ndxpv1.SubscribeRequest{Window: s.o.window, AckDeadlineSeconds: int32(s.o.ackDeadline / time.Second)}
	stream, err := s.c.Exchange.Subscribe(ctx, req)
	if err != nil {
		return false, err
	}
	connected := false
	for {
		resp, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				return progressed, errStreamEnded
			}
			return progressed, err
		}
		if !connected {
			connected = true
			if s.o.onState != nil {
				s.o.onState(true, nil)
			}
		}
		progressed = true
		switch m := resp.GetMessage().(type) {
		case *ndxpv1.SubscribeResponse_CaughtUp:
			if s.o.untilCaughtUp {
				return true, nil
			}
		case *ndxpv1.SubscribeResponse_Event:
			ev := m.Event
			if !s.done.has(ev.GetSequence()) {
				if err := s.h(ctx, ev); err != nil {
					if s.o.untilCaughtUp {
						return progressed, &HandlerError{Sequence: ev.GetSequence(), Err: err}
					}
					continue // left unacknowledged: it comes again
				}
				s.done.add(ev.GetSequence())
			}
			if _, err := s.c.Exchange.AcknowledgeEvents(ctx, &ndxpv1.AcknowledgeEventsRequest{Sequences: []uint64{ev.GetSequence()}}); err != nil {
				return progressed, err
			}
		}
	}
}

// seqSet remembers the most recent n sequences handled.
type seqSet struct {
	mu    sync.Mutex
	n     int
	order []uint64
	set   map[uint64]struct{}
}

func newSeqSet(n int) *seqSet { return &seqSet{n: n, set: make(map[uint64]struct{}, n)} }

func (s *seqSet) has(q uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[q]
	return ok
}

func (s *seqSet) add(q uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[q]; ok {
		return
	}
	s.set[q] = struct{}{}
	s.order = append(s.order, q)
	if len(s.order) > s.n {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

// backoff waits exponentially longer between attempts, with full jitter.
type backoff struct {
	next, min, max time.Duration
}

func newBackoff() *backoff {
	return &backoff{next: 100 * time.Millisecond, min: 100 * time.Millisecond, max: 5 * time.Second}
}

func (b *backoff) reset() { b.next = b.min }

func (b *backoff) wait(ctx context.Context) error {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
