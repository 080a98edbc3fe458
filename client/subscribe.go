package client

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	suspended     bool          // wait out a suspension (WaitSuspended)
	suspendedMax  time.Duration // longest wait between attempts while suspended
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

// WaitSuspended makes Subscribe wait out a suspension of the agency
// instead of returning: while the hub refuses an agency credential with
// PermissionDenied, as it refuses every call of a suspended agency,
// Subscribe tells OnConnection and tries again with backoff, at most max
// between attempts (0 means 30 s), and resumes where the queue stands once
// an operator lifts the suspension. A revoked credential (Unauthenticated)
// still ends Subscribe, as does PermissionDenied for an admin credential.
func WaitSuspended(max time.Duration) SubscribeOption {
	return func(o *subOptions) {
		o.suspended, o.suspendedMax = true, max
		if o.suspendedMax <= 0 {
			o.suspendedMax = 30 * time.Second
		}
	}
}

// Subscribe receives the caller's events and calls h once per event, in
// order, acknowledging each event whose handler returned nil. It
// reconnects with exponential backoff and jitter when the hub goes away
// and resumes where the queue stands, so a hub restart is invisible to h
// except for the delay. An event redelivered after its acknowledgement was
// lost is acknowledged again without calling h a second time.
// Subscribe returns when ctx ends, on an error that retrying cannot cure
// (e.g. a revoked credential, or a suspension without WaitSuspended), or
// with UntilCaughtUp when the queue is empty.
func (c *Client) Subscribe(ctx context.Context, h Handler, opts ...SubscribeOption) error {
	o := subOptions{maxBackoff: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	s := &subscription{c: c, h: h, o: o, done: newSeqSet(4096)}
	b := newBackoff()
	b.max = o.maxBackoff
	// A suspension lasts hours or days: its attempts back off further,
	// and separately, so that a flapping connection after it is lifted
	// starts again from the shortest wait.
	sb := newBackoff()
	sb.max = o.suspendedMax
	quick := false
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
		if progressed {
			b.reset()
			sb.reset()
		}
		wait := b
		var he *HandlerError
		switch {
		case errors.As(err, &he):
			return err
		case o.suspended && c.Code() != "" && status.Code(err) == codes.PermissionDenied:
			wait = sb
		case !retryable(err) && !errors.Is(err, io.EOF) && !errors.Is(err, errStreamEnded):
			return err
		}
		if quick = atOnce(err, quick); quick {
			continue // to the leader just named
		}
		if err := wait.wait(ctx); err != nil {
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
// came, so a flapping hub does not reset the backoff. Handlers run in
// order on this goroutine; acknowledgements go out from a second one in
// batches, so the next event is handled while the last one's
// acknowledgement is being committed. They ride on the stream (Receive),
// or on a hub that predates it go in AcknowledgeEvents calls.
func (s *subscription) run(ctx context.Context) (progressed bool, err error) {
	if !s.c.noReceive.Load() {
		progressed, err = s.runOn(ctx, s.openReceive)
		if progressed || status.Code(err) != codes.Unimplemented {
			return progressed, err
		}
		s.c.noReceive.Store(true)
	}
	return s.runOn(ctx, s.openSubscribe)
}

// eventStream is an open subscription: next returns an event or that the
// caller caught up; acks acknowledges; close ends it, once nothing reads.
type eventStream struct {
	next  func() (ev *ndxpv1.Event, caughtUp bool, err error)
	acks  *acker
	close func()
}

func (s *subscription) request() *ndxpv1.SubscribeRequest {
	return &ndxpv1.SubscribeRequest{Window: s.o.window, AckDeadlineSeconds: int32(s.o.ackDeadline / time.Second)}
}

// openSubscribe opens Subscribe, with acknowledgements in unary calls.
func (s *subscription) openSubscribe(ctx context.Context, fail context.CancelCauseFunc) (*eventStream, error) {
	stream, err := s.c.Exchange.Subscribe(ctx, s.request())
	if err != nil {
		return nil, err
	}
	es := &eventStream{
		next: func() (*ndxpv1.Event, bool, error) {
			resp, err := stream.Recv()
			return resp.GetEvent(), resp.GetCaughtUp() != nil, err
		},
		acks: newAcker(fail, func(batch []uint64) error {
			ctx, cancel := context.WithTimeout(context.Background(), s.c.timeout)
			defer cancel()
			_, err := s.c.Exchange.AcknowledgeEvents(ctx, &ndxpv1.AcknowledgeEventsRequest{Sequences: batch})
			return err
		}),
	}
	es.close = es.acks.stop
	return es, nil
}

// openReceive opens Receive. The stream outlives ctx by a moment: when
// ctx ends, or the subscription stops reading, the acknowledgements of
// handled events go out and the stream is closed from this side, so the
// hub records them before it ends the stream (waiting at most the
// client's timeout).
func (s *subscription) openReceive(ctx context.Context, fail context.CancelCauseFunc) (*eventStream, error) {
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := s.c.Exchange.Receive(sctx)
	if err == nil {
		err = stream.Send(&ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Open{Open: s.request()}})
	}
	if err != nil && !errors.Is(err, io.EOF) {
		scancel()
		return nil, err
	}
	acks := newAcker(fail, func(batch []uint64) error {
		return stream.Send(&ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Acknowledge{
			Acknowledge: &ndxpv1.AcknowledgeEventsRequest{Sequences: batch},
		}})
	})
	// finish flushes the acknowledgements, closes this side and waits for
	// the hub to end the stream, as seen by ended, unless stop closes first.
	finish := func(ended, stop <-chan struct{}) {
		acks.stop()
		if stream.CloseSend() == nil {
			t := time.NewTimer(s.c.timeout)
			defer t.Stop()
			select {
			case <-ended:
			case <-stop:
			case <-t.C:
			}
		}
	}
	ended := make(chan struct{}) // the reader saw the stream end
	var endOnce sync.Once
	returned := make(chan struct{}) // the reader stopped reading
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-returned:
			return
		}
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			scancel() // an acknowledgement failed: the stream is broken
			return
		}
		// The reader is still in Recv, or about to be: it sees the end.
		finish(ended, returned)
		scancel()
	}()
	return &eventStream{
		next: func() (*ndxpv1.Event, bool, error) {
			resp, err := stream.Recv()
			if err != nil {
				endOnce.Do(func() { close(ended) })
			}
			return resp.GetEvent(), resp.GetCaughtUp() != nil, err
		},
		acks: acks,
		close: func() {
			close(returned)
			<-watched
			select {
			case <-ended:
			default:
				// Nothing reads any more: drain here what the hub still sends.
				drained := make(chan struct{})
				go func() {
					defer close(drained)
					for {
						if _, err := stream.Recv(); err != nil {
							return
						}
					}
				}()
				finish(drained, nil)
			}
			acks.stop()
			scancel()
		},
	}, nil
}

// runOn runs one subscription opened by open.
func (s *subscription) runOn(ctx context.Context, open func(context.Context, context.CancelCauseFunc) (*eventStream, error)) (progressed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	es, err := open(ctx, cancel)
	if err != nil {
		return false, err
	}
	defer es.close()
	connected := false
	for {
		ev, caughtUp, err := es.next()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return progressed, cause // an acknowledgement failed
			}
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
		switch {
		case caughtUp:
			// The hub sends this only when every pushed event was
			// acknowledged, so all our acknowledgements are in.
			if s.o.untilCaughtUp {
				return true, nil
			}
		case ev != nil:
			if !s.done.has(ev.GetSequence()) {
				if err := s.h(ctx, ev); err != nil {
					if s.o.untilCaughtUp {
						return progressed, &HandlerError{Sequence: ev.GetSequence(), Err: err}
					}
					continue // left unacknowledged: it comes again
				}
				s.done.add(ev.GetSequence())
			}
			es.acks.add(ev.GetSequence())
		}
	}
}

// acker sends acknowledgements in batches: whatever handlers finished
// while the previous batch was being sent goes in the next one.
type acker struct {
	send   func([]uint64) error
	fail   context.CancelCauseFunc
	mu     sync.Mutex
	queue  []uint64
	wake   chan struct{}
	done   chan struct{}
	stopMu sync.Once
	closed chan struct{}
}

func newAcker(fail context.CancelCauseFunc, send func([]uint64) error) *acker {
	a := &acker{send: send, fail: fail, wake: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan struct{})}
	go a.loop()
	return a
}

func (a *acker) add(seq uint64) {
	a.mu.Lock()
	a.queue = append(a.queue, seq)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *acker) loop() {
	defer close(a.closed)
	for {
		stopping := false
		select {
		case <-a.wake:
		case <-a.done:
			stopping = true // flush what handlers finished, then stop
		}
		for {
			a.mu.Lock()
			batch := a.queue
			if len(batch) > maxAckBatch {
				batch = batch[:maxAckBatch]
			}
			a.queue = a.queue[len(batch):]
			a.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if err := a.send(batch); err != nil {
				// The stream ends; the events come again after the reconnect
				// and are acknowledged then, without calling the handler.
				a.fail(err)
				return
			}
		}
		if stopping {
			return
		}
	}
}

// stop sends what handlers finished and stops; it may be called again.
func (a *acker) stop() {
	a.stopMu.Do(func() { close(a.done) })
	<-a.closed
}

// maxAckBatch is the most sequences in one acknowledgement (the hub's limit).
const maxAckBatch = 1024

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

// backoff waits exponentially longer between attempts, with equal jitter
// (half the wait fixed, half random), so reconnecting agencies spread out
// but none waits much less than the backoff says.
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
