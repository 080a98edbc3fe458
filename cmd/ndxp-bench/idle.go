package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// idleResult is what holding many open subscriptions costs the hub.
type idleResult struct {
	Count              int      `json:"count"`
	Procs              int      `json:"procs"`                  // load processes holding them (0: this one)
	SourceAddrs        []string `json:"source_addrs,omitempty"` // local addresses they connected from, as seen on the sockets
	SecondsToRegister  float64  `json:"seconds_to_register"`
	SecondsToIssue     float64  `json:"seconds_to_issue_credentials"`
	SecondsToSubscribe float64  `json:"seconds_to_subscribe"`
	HubRSSBeforeBytes  *int64   `json:"hub_rss_before_bytes"` // before subscribing, agencies registered
	HubRSSBytes        *int64   `json:"hub_rss_bytes"`        // once all subscribed
	HubRSSGrowthBytes  *int64   `json:"hub_rss_growth_bytes"`
	HubCPUSeconds      *float64 `json:"hub_cpu_seconds"` // to subscribe them all
	BenchRSSBytes      *int64   `json:"bench_rss_bytes"`

	// The steady state: the subscriptions held for HoldSeconds, nothing sent.
	HoldSeconds              float64  `json:"hold_seconds"`
	HubRSSAfterHoldBytes     *int64   `json:"hub_rss_after_hold_bytes"`
	HubRSSPerAgencyBytes     *int64   `json:"hub_rss_per_agency_bytes"` // (after hold − before) / count
	HubHoldCPUSeconds        *float64 `json:"hub_hold_cpu_seconds"`
	HubCPUMicrosPerAgencySec *float64 `json:"hub_cpu_us_per_second_per_agency"`
	// Before + per agency × 100,000: the linear projection.
	HubRSSProjected100kBytes *int64 `json:"hub_rss_projected_100000_bytes"`

	Probe *probeResult `json:"probe,omitempty"`
}

// probeResult is documents sent to randomly chosen idle agencies while
// all are connected, timed from the send to the handler.
type probeResult struct {
	Sent          int64     `json:"sent"`
	SendErrors    int64     `json:"send_errors"`
	FirstError    string    `json:"first_error,omitempty"`
	Delivered     int64     `json:"delivered"`
	Rate          float64   `json:"rate"`
	Seconds       float64   `json:"seconds"`
	LatencyMS     latencyMS `json:"send_to_handler_ms"`
	HubCPUSeconds *float64  `json:"hub_cpu_seconds"`
}

// idleSet is the open idle subscriptions, closed after the load: either
// held here (clients, subs) or by child processes (procs).
type idleSet struct {
	clients []*client.Client
	subs    *subscriptions
	cancel  context.CancelFunc
	procs   []*idleProc

	delivered atomic.Int64
	lat       recorder
	local     *localAddrs
}

// localAddrs collects the local addresses the connections were made from.
type localAddrs struct {
	mu  sync.Mutex
	set map[string]bool
}

func (l *localAddrs) add(a string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil {
		l.set = map[string]bool{}
	}
	l.set[a] = true
}

func (l *localAddrs) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.set))
	for a := range l.set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func (s *idleSet) close() {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
		s.subs.wait()
		closeAll(s.clients)
	}
	for _, p := range s.procs {
		p.stop()
	}
}

// delivery records a probe document handled by an idle agency.
func (s *idleSet) delivery(d time.Duration) {
	s.lat.add(d)
	s.delivered.Add(1)
}

// connectAtOnce bounds the subscriptions connecting (TLS handshake and
// first message) at the same time, so the hub's listen backlog does not
// overflow and the time measured is the hub's, not SYN retransmits'.
const connectAtOnce = 256

// idle registers --idle-subscribers agencies, each with its own
// credential and therefore its own connection (identity comes from the
// certificate), subscribes them all (here or in --idle-procs child
// processes), holds them for --idle-hold and probes them with documents.
func (r *runner) idle(ctx context.Context) (*idleSet, *idleResult, error) {
	n := r.o.IdleSubs
	sources, err := sourceAddrs(r.o.IdleSources)
	if err != nil {
		return nil, nil, err
	}
	res := &idleResult{Count: n, Procs: r.o.IdleProcs}
	list := codeList(letterIdle, n)

	t := time.Now()
	r.progress.show(func() string { return fmt.Sprintf("registering %d idle agencies", n) })
	if _, err := register(ctx, r.admin, list, "ndxp-bench idle"); err != nil {
		return nil, nil, err
	}
	res.SecondsToRegister = round3(time.Since(t).Seconds())

	t = time.Now()
	r.progress.show(func() string { return fmt.Sprintf("issuing %d credentials (%.0fs)", n, time.Since(t).Seconds()) })
	paths, err := r.issuer.issue(ctx, list)
	if err != nil {
		return nil, nil, err
	}
	res.SecondsToIssue = round3(time.Since(t).Seconds())

	set := &idleSet{local: &localAddrs{}}
	p := r.begin(ctx)
	if r.o.IdleProcs > 0 {
		r.progress.show(func() string {
			return fmt.Sprintf("subscribing %d in %d processes (%.1fs)", n, r.o.IdleProcs, time.Since(p.at).Seconds())
		})
		set.procs, err = r.startIdleProcs(ctx, paths, set.delivery, set.local)
		if err != nil {
			return set, nil, err
		}
	} else {
		var up func() int64
		r.progress.show(func() string {
			if up == nil {
				return "subscribing"
			}
			return fmt.Sprintf("subscribing %d/%d (%.1fs)", up(), n, time.Since(p.at).Seconds())
		})
		set.clients, set.subs, set.cancel, err = holdIdle(ctx, paths, r.addr, sources, connectAtOnce, idleHandler(r.run, r.o.Fetch, set.delivery), set.local, func(f func() int64) { up = f })
		if err != nil {
			return set, nil, err
		}
	}
	res.SecondsToSubscribe = round3(time.Since(p.at).Seconds())
	res.SourceAddrs = set.local.list()
	e := r.end(p)
	res.HubRSSBeforeBytes, res.HubRSSBytes, res.HubRSSGrowthBytes, res.HubCPUSeconds = e.rssBefore, e.rss, e.growth, e.hubCPU
	if s, ok := r.self.sample(); ok {
		res.BenchRSSBytes = &s.RSS
	}
	if r.hp != nil {
		r.hp.control(ctlHeapProfile)
	}

	if r.o.IdleHold > 0 {
		r.progress.show(func() string { return fmt.Sprintf("holding %d subscriptions for %s", n, r.o.IdleHold) })
		h := r.begin(ctx)
		select {
		case <-time.After(r.o.IdleHold):
		case <-ctx.Done():
			return set, nil, ctx.Err()
		}
		he := r.end(h)
		res.HoldSeconds = round3(time.Since(h.at).Seconds())
		res.HubRSSAfterHoldBytes, res.HubHoldCPUSeconds = he.rss, he.hubCPU
		if he.hubCPU != nil && n > 0 {
			v := round3(*he.hubCPU / res.HoldSeconds / float64(n) * 1e6)
			res.HubCPUMicrosPerAgencySec = &v
		}
	}
	after := res.HubRSSAfterHoldBytes
	if after == nil {
		after = res.HubRSSBytes
	}
	if after != nil && res.HubRSSBeforeBytes != nil && n > 0 {
		per := (*after - *res.HubRSSBeforeBytes) / int64(n)
		proj := *res.HubRSSBeforeBytes + per*100_000
		res.HubRSSPerAgencyBytes, res.HubRSSProjected100kBytes = &per, &proj
	}
	if r.o.IdleProbe > 0 {
		if res.Probe, err = r.probe(ctx, list, set); err != nil {
			return set, nil, err
		}
	}
	r.progress.stop()
	return set, res, nil
}

// sourceAddrs parses --idle-source-addrs.
func sourceAddrs(list []string) ([]net.IP, error) {
	var out []net.IP
	for _, s := range list {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP address", s)
		}
		out = append(out, ip)
	}
	return out, nil
}

// holdIdle dials one client per credentials file, the i-th from
// sources[i % len(sources)] (the system's choice without sources), and
// subscribes each with window 1, atOnce connecting at a time, adding the
// local address of each connection to local. It returns
// once all are subscribed; cancel ends the subscriptions. watch, if not
// nil, gets a function counting those subscribed so far.
func holdIdle(ctx context.Context, paths []string, addr string, sources []net.IP, atOnce int, h func(*client.Client) client.Handler,
	local *localAddrs, watch func(func() int64)) (
	clients []*client.Client, subs *subscriptions, cancel context.CancelFunc, err error) {
	clients = make([]*client.Client, 0, len(paths))
	for i, p := range paths {
		d := &net.Dialer{}
		if len(sources) > 0 {
			d.LocalAddr = &net.TCPAddr{IP: sources[i%len(sources)]}
		}
		dial := func(ctx context.Context, a string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", a)
			if err == nil {
				local.add(conn.LocalAddr().(*net.TCPAddr).IP.String())
			}
			return conn, err
		}
		c, err := client.Dial(ctx, p, client.WithAddress(addr), client.WithDialer(dial))
		if err != nil {
			closeAll(clients)
			return nil, nil, nil, err
		}
		clients = append(clients, c)
	}
	subCtx, cancel := context.WithCancel(ctx)
	subs = newSubscriptions()
	if watch != nil {
		watch(subs.up.Load)
	}
	fail := func(err error) ([]*client.Client, *subscriptions, context.CancelFunc, error) {
		cancel()
		subs.wait()
		closeAll(clients)
		return nil, nil, nil, err
	}
	gate := make(chan struct{}, max(atOnce, 1))
	for _, c := range clients {
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			return fail(ctx.Err())
		case err := <-subs.errs:
			return fail(err)
		}
		subs.startGated(subCtx, c, h(c), 1, gate)
	}
	if err := subs.connected(ctx, 10*time.Minute); err != nil {
		return fail(err)
	}
	return clients, subs, cancel, nil
}

// idleHandler acknowledges everything and reports this run's probe
// documents, timed from the send, after fetching their attachments if
// fetch says so.
func idleHandler(run uint64, fetch bool, delivered func(time.Duration)) func(*client.Client) client.Handler {
	return func(c *client.Client) client.Handler {
		return func(ctx context.Context, ev *ndxpv1.Event) error {
			if ev.GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
				return nil
			}
			due, ok := parseSubject(ev.GetDocument().GetHeader().GetSubject(), run)
			if !ok {
				return nil
			}
			if fetch {
				for k := range ev.GetDocument().GetHeader().GetAttachments() {
					if _, err := c.FetchAttachment(ctx, ev.GetDocument(), k, io.Discard); err != nil {
						return err
					}
				}
			}
			delivered(time.Since(due))
			return nil
		}
	}
}

// probe sends --idle-probe documents of --size bytes, paced at
// --idle-probe-rate, each to one idle agency chosen at random, from one
// sending agency, and waits until every one was handled.
func (r *runner) probe(ctx context.Context, list []string, set *idleSet) (*probeResult, error) {
	o := r.o
	res := &probeResult{Rate: o.IdleProbeRate}
	code := codeFor(letterProbe, 0)
	r.progress.show(func() string {
		return fmt.Sprintf("probe: %d of %d delivered", set.delivered.Load(), o.IdleProbe)
	})
	if _, err := register(ctx, r.admin, []string{code}, "ndxp-bench probe"); err != nil {
		return nil, err
	}
	paths, err := r.issuer.issue(ctx, []string{code})
	if err != nil {
		return nil, err
	}
	sender, err := client.Dial(ctx, paths[0], client.WithAddress(r.addr))
	if err != nil {
		return nil, err
	}
	defer sender.Close()

	p := r.begin(ctx)
	var sent, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range int64(o.IdleProbe) {
		due := p.at.Add(time.Duration(float64(i) * float64(time.Second) / o.IdleProbeRate))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				wg.Wait()
				return nil, ctx.Err()
			case <-timer.C:
			}
		}
		to := list[rand.IntN(len(list))]
		wg.Go(func() {
			h := &ndxpv1.DocumentHeader{
				Recipients:   []string{to},
				Subject:      subject(r.run, i, due),
				DocumentType: "Công văn",
				BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_NEW,
			}
			var atts []client.Attachment
			if o.Size > 0 {
				atts = []client.Attachment{{Name: fmt.Sprintf("probe-%d.bin", i), MediaType: "application/octet-stream", Body: newBody(r.run, i, 0, o.Size)}}
			}
			if _, err := sender.Send(ctx, h, atts, client.WithAttempts(o.Attempts)); err != nil {
				errs.Add(1)
				msg := fmt.Sprintf("to %s: %v", to, err)
				firstErr.CompareAndSwap(nil, &msg)
				return
			}
			sent.Add(1)
		})
	}
	wg.Wait()
	deadline := time.Now().Add(o.DrainTimeout)
	for set.delivered.Load() < sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	e := r.end(p)
	res.Sent, res.SendErrors, res.Delivered = sent.Load(), errs.Load(), set.delivered.Load()
	if s := firstErr.Load(); s != nil {
		res.FirstError = *s
	}
	res.Seconds = round3(time.Since(p.at).Seconds())
	res.LatencyMS = summarize(&set.lat)
	res.HubCPUSeconds = e.hubCPU
	return res, ctx.Err()
}
