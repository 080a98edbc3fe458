package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// loadRun is one document load: senders, subscribers and what they saw.
type loadRun struct {
	r             *runner
	senders       []*client.Client
	senderCodes   []string
	receiverCodes []string

	start time.Time // the load's time zero; sends are scheduled from it

	sendLat, e2eLat recorder
	sent            atomic.Int64
	sendErrs        atomic.Int64
	sentBytes       atomic.Int64
	inFlight        atomic.Int64
	firstErr        atomic.Pointer[string]
	delivered       atomic.Int64
	lastDelivery    atomic.Int64 // unix nanoseconds
	fetchErrs       atomic.Int64
	statusEvents    atomic.Int64
}

// load registers the agencies, subscribes the receivers, runs the senders,
// waits for every delivery and fills rep.
func (r *runner) load(ctx context.Context, rep *report, started time.Time) error {
	o := r.o
	l := &loadRun{r: r, senderCodes: codeList(letterSender, o.Senders), receiverCodes: codeList(letterReceiver, o.Subscribers)}
	all := append(append([]string(nil), l.senderCodes...), l.receiverCodes...)
	r.progress.show(func() string { return fmt.Sprintf("registering %d agencies and issuing their credentials", len(all)) })
	if _, err := register(ctx, r.admin, all, "ndxp-bench"); err != nil {
		return err
	}
	paths, err := r.issuer.issue(ctx, all)
	if err != nil {
		return err
	}
	// Senders pipeline only with --pipelined: without it each document
	// goes on a SendDocument stream of its own, as a simple client sends.
	pipe := 0
	if o.Pipelined {
		pipe = o.Window
	}
	senders, err := dialAll(ctx, paths[:o.Senders], r.addr, client.WithPipeline(pipe))
	if err != nil {
		return err
	}
	defer closeAll(senders)
	receivers, err := dialAll(ctx, paths[o.Senders:], r.addr)
	if err != nil {
		return err
	}
	defer closeAll(receivers)
	l.senders = senders

	subCtx, stopSubs := context.WithCancel(ctx)
	subs := newSubscriptions()
	defer func() { stopSubs(); subs.wait() }()
	for _, c := range receivers {
		subs.start(subCtx, c, l.handler(c), o.Window)
	}
	if o.SenderSub {
		for _, c := range l.senders {
			subs.start(subCtx, c, l.statusHandler, o.Window)
		}
	}
	if err := subs.connected(ctx, time.Minute); err != nil {
		return err
	}

	r.progress.show(l.progressLine)
	p := r.begin(ctx)
	rep.SetupSeconds = round3(p.at.Sub(started).Seconds())
	if r.hp != nil {
		r.hp.control(ctlProfileStart)
	}
	l.start = p.at
	if o.Rate > 0 {
		l.paced(ctx)
	} else {
		l.closedLoop(ctx)
	}
	sendEnd := time.Now()
	if err := ctx.Err(); err != nil {
		return err
	}
	expected := l.sent.Load() * int64(o.Recipients)
	l.drain(ctx, expected)
	handled := time.Now()
	// The SDK acknowledges after the handler returns (in batches, from
	// another goroutine), so the load ends when the hub has committed the
	// acknowledgements: watch its counter. Its metrics cache the costly
	// part (a snapshot of the queues) for a second, so polling is cheap.
	var m scrape
	var acked int64
	ackedAt := handled
	if r.http != "" && p.metrics != nil {
		const key = "ndxp_documents_delivered_total"
		for deadline := handled.Add(10 * time.Second); ; {
			if m, err = readMetrics(ctx, r.http); err != nil {
				m = nil
				break
			}
			acked, ackedAt = int64(m[key]-p.metrics[key]), time.Now()
			if acked >= l.delivered.Load() || ackedAt.After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e := r.end(p)
	if r.hp != nil {
		r.hp.control(ctlProfileStop)
	}
	r.progress.stop()

	rep.Sends, rep.SendErrors = l.sent.Load(), l.sendErrs.Load()
	if s := l.firstErr.Load(); s != nil {
		rep.FirstError = *s
	}
	rep.Deliveries, rep.DeliveriesExpected = l.delivered.Load(), expected
	rep.FetchErrors, rep.StatusEvents = l.fetchErrs.Load(), l.statusEvents.Load()
	rep.SendSeconds = round3(sendEnd.Sub(l.start).Seconds())
	if rep.SendSeconds > 0 {
		rep.SendsPerSecond = round3(float64(rep.Sends) / rep.SendSeconds)
		rep.SendMiBPerSecond = round3(float64(l.sentBytes.Load()) / (1 << 20) / rep.SendSeconds)
	}
	if last := l.lastDelivery.Load(); last > 0 {
		rep.HandlerSeconds = round3(time.Unix(0, last).Sub(l.start).Seconds())
		rep.DeliverySeconds = rep.HandlerSeconds
	}
	if m != nil {
		rep.HubAckedDeliveries = &acked
		if acked >= rep.Deliveries && rep.Deliveries > 0 {
			rep.DeliverySeconds = round3(ackedAt.Sub(l.start).Seconds())
			rep.AckedAtHub = true
		}
		rep.HubStore = storeDelta(p.metrics, m, ackedAt.Sub(l.start).Seconds())
		if rep.Sends > 0 {
			rep.HubStore.FsyncsPerDocument = round3(float64(rep.HubStore.Fsyncs) / float64(rep.Sends))
		}
		rep.HubRPC = rpcDelta(p.metrics, m)
	}
	if rep.DeliverySeconds > 0 {
		rep.DeliveriesPerSecond = round3(float64(rep.Deliveries) / rep.DeliverySeconds)
	}
	rep.DurationSeconds = max(rep.SendSeconds, rep.DeliverySeconds)
	rep.SendLatencyMS, rep.E2ELatencyMS = summarize(&l.sendLat), summarize(&l.e2eLat)
	rep.HubCPUSeconds, rep.BenchCPUSeconds = e.hubCPU, e.selfCPU
	rep.HubRSSBeforeBytes, rep.HubRSSAfterBytes, rep.HubRSSGrowthBytes = e.rssBefore, e.rss, e.growth
	return nil
}

// closedLoop runs one goroutine per sender agency (--window of them with
// --pipelined), each sending its next document as soon as the previous
// one is accepted.
func (l *loadRun) closedLoop(ctx context.Context) {
	o := l.r.o
	var next atomic.Int64
	var deadline time.Time
	if o.Duration > 0 {
		deadline = l.start.Add(o.Duration)
	}
	perSender := 1
	if o.Pipelined {
		perSender = o.Window
	}
	var wg sync.WaitGroup
	for k := range len(l.senders) * perSender {
		s := k % len(l.senders)
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !deadline.IsZero() && !now.Before(deadline) {
					return
				}
				i := next.Add(1) - 1
				if o.Count > 0 && i >= o.Count {
					return
				}
				l.send(ctx, s, i, now)
			}
		})
	}
	wg.Wait()
}

// paced is the open loop: document i is due at start + i/rate whatever
// happened to earlier ones, and its latency counts from then. A hub that
// falls behind therefore shows its queueing in the latencies instead of
// slowing the load down (coordinated omission). Sends go out from the
// sender agencies in turn, concurrently, at most MaxInFlight at once; a
// send waiting for room is late, and its lateness is counted too.
func (l *loadRun) paced(ctx context.Context) {
	o := l.r.o
	room := make(chan struct{}, o.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := l.start.Add(time.Duration(float64(i) * float64(time.Second) / o.Rate))
		if o.Count > 0 && i >= o.Count || o.Duration > 0 && due.Sub(l.start) >= o.Duration {
			return
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case room <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-room }()
			l.send(ctx, int(i%int64(len(l.senders))), i, due)
		})
	}
}

// send sends document i from sender s and times it from due.
func (l *loadRun) send(ctx context.Context, s int, i int64, due time.Time) {
	o := l.r.o
	n := len(l.receiverCodes)
	to := make([]string, o.Recipients)
	for k := range to {
		to[k] = l.receiverCodes[(int(i%int64(n))*o.Recipients+k)%n]
	}
	h := &ndxpv1.DocumentHeader{
		Recipients:   to,
		Subject:      subject(l.r.run, i, due),
		DocumentType: "Công văn",
		BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_NEW,
	}
	atts := make([]client.Attachment, o.Attachments)
	for k := range atts {
		size := o.Size / int64(o.Attachments)
		if int64(k) < o.Size%int64(o.Attachments) {
			size++
		}
		atts[k] = client.Attachment{
			Name:      fmt.Sprintf("bench-%d-%d.bin", i, k),
			MediaType: "application/octet-stream",
			Body:      newBody(l.r.run, i, k, size),
		}
	}
	l.inFlight.Add(1)
	_, err := l.senders[s].Send(ctx, h, atts, client.WithAttempts(o.Attempts))
	l.inFlight.Add(-1)
	if err != nil {
		if ctx.Err() == nil {
			l.sendErrs.Add(1)
			msg := fmt.Sprintf("%s: %v", l.senderCodes[s], err)
			l.firstErr.CompareAndSwap(nil, &msg)
		}
		return
	}
	l.sendLat.add(time.Since(due))
	l.sent.Add(1)
	l.sentBytes.Add(o.Size)
}

// subject carries the run and the due time of a document to its handler,
// which times the delivery from it. Both ends read the same wall clock.
func subject(run uint64, i int64, due time.Time) string {
	return fmt.Sprintf("ndxp-bench %016x %d %d", run, i, due.UnixNano())
}

func parseSubject(s string, run uint64) (time.Time, bool) {
	f := strings.Fields(s)
	if len(f) != 4 || f[0] != "ndxp-bench" || f[1] != fmt.Sprintf("%016x", run) {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// handler is a receiving agency's: it downloads the attachments (unless
// --fetch=false), times the delivery from the document's due time and
// returns nil, upon which the SDK acknowledges the event.
func (l *loadRun) handler(c *client.Client) client.Handler {
	return func(ctx context.Context, ev *ndxpv1.Event) error {
		if ev.GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
			return nil
		}
		due, ok := parseSubject(ev.GetDocument().GetHeader().GetSubject(), l.r.run)
		if !ok {
			return nil // another run's or someone else's document: acknowledge and move on
		}
		if l.r.o.Fetch {
			for k := range ev.GetDocument().GetHeader().GetAttachments() {
				if _, err := c.FetchAttachment(ctx, ev.GetDocument(), k, io.Discard); err != nil {
					if ctx.Err() == nil {
						l.fetchErrs.Add(1)
					}
					return err
				}
			}
		}
		now := time.Now()
		l.e2eLat.add(now.Sub(due))
		l.delivered.Add(1)
		l.lastDelivery.Store(now.UnixNano())
		return nil
	}
}

// statusHandler is a sender's (with --sender-subscribe): it only counts
// the status reports, as an agency system would record them.
func (l *loadRun) statusHandler(context.Context, *ndxpv1.Event) error {
	l.statusEvents.Add(1)
	return nil
}

// drain waits until expected deliveries were handled, the drain timeout
// passes, or ctx ends.
func (l *loadRun) drain(ctx context.Context, expected int64) {
	deadline := time.Now().Add(l.r.o.DrainTimeout)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for l.delivered.Load() < expected && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *loadRun) progressLine() string {
	el := time.Since(l.start).Seconds()
	sent, del := l.sent.Load(), l.delivered.Load()
	line := fmt.Sprintf("%5.1fs  sent %d (%.0f/s)  delivered %d (%.0f/s)  in flight %d  errors %d",
		el, sent, float64(sent)/el, del, float64(del)/el, l.inFlight.Load(), l.sendErrs.Load())
	if s, ok := l.r.hub.sample(); ok {
		line += fmt.Sprintf("  hub rss %s", mib(s.RSS))
	}
	return line
}

// subscriptions runs Subscribe for many clients and knows when each has
// connected (the hub's first message arrived).
type subscriptions struct {
	wg      sync.WaitGroup
	pending sync.WaitGroup // subscriptions not yet connected
	up      atomic.Int64
	errs    chan error
}

func newSubscriptions() *subscriptions { return &subscriptions{errs: make(chan error, 1)} }

// start subscribes c with h in the background.
func (s *subscriptions) start(ctx context.Context, c *client.Client, h client.Handler, window int) {
	s.startGated(ctx, c, h, window, nil)
}

// startGated is start with a semaphore gate released once connected, so
// that many subscriptions connect a bounded number at a time.
func (s *subscriptions) startGated(ctx context.Context, c *client.Client, h client.Handler, window int, gate chan struct{}) {
	s.pending.Add(1)
	var connected sync.Once
	up := func() {
		connected.Do(func() {
			s.up.Add(1)
			s.pending.Done()
			if gate != nil {
				<-gate
			}
		})
	}
	s.wg.Go(func() {
		err := c.Subscribe(ctx, h, client.Window(window), client.OnConnection(func(ok bool, _ error) {
			if ok {
				up()
			}
		}))
		if ctx.Err() == nil && err != nil {
			select {
			case s.errs <- fmt.Errorf("subscription of %s: %w", c.Code(), err):
			default:
			}
		}
		up() // a failed subscription no longer holds the gate or the wait
	})
}

// connected waits until every subscription connected, one failed, or
// timeout passes.
func (s *subscriptions) connected(ctx context.Context, timeout time.Duration) error {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case err := <-s.errs:
		return err
	case <-t.C:
		return fmt.Errorf("%w within %s (%d did)", errNotAll, timeout, s.up.Load())
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-s.errs:
		return err
	default:
		return nil
	}
}

// wait waits for every Subscribe to return (after its context ended).
func (s *subscriptions) wait() { s.wg.Wait() }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
