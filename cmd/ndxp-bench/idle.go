package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// idleResult is what holding many open subscriptions costs the hub.
type idleResult struct {
	Count              int      `json:"count"`
	SecondsToRegister  float64  `json:"seconds_to_register"`
	SecondsToIssue     float64  `json:"seconds_to_issue_credentials"`
	SecondsToSubscribe float64  `json:"seconds_to_subscribe"`
	HubRSSBytes        *int64   `json:"hub_rss_bytes"`
	HubRSSGrowthBytes  *int64   `json:"hub_rss_growth_bytes"`
	HubCPUSeconds      *float64 `json:"hub_cpu_seconds"`
	BenchRSSBytes      *int64   `json:"bench_rss_bytes"`
}

// idleSet is the open idle subscriptions, closed after the load.
type idleSet struct {
	clients []*client.Client
	subs    *subscriptions
	cancel  context.CancelFunc
}

func (s *idleSet) close() {
	if s == nil {
		return
	}
	s.cancel()
	s.subs.wait()
	closeAll(s.clients)
}

// connectAtOnce bounds the subscriptions connecting (TLS handshake and
// first message) at the same time, so the hub's listen backlog does not
// overflow and the time measured is the hub's, not SYN retransmits'.
const connectAtOnce = 256

// idle registers --idle-subscribers agencies, each with its own
// credential and therefore its own connection (identity comes from the
// certificate), and subscribes them all.
func (r *runner) idle(ctx context.Context) (*idleSet, *idleResult, error) {
	n := r.o.IdleSubs
	res := &idleResult{Count: n}
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

	clients, err := dialAll(ctx, paths, r.addr)
	if err != nil {
		return nil, nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	set := &idleSet{clients: clients, subs: newSubscriptions(), cancel: cancel}
	ack := func(context.Context, *ndxpv1.Event) error { return nil }

	p := r.begin(ctx)
	r.progress.show(func() string {
		return fmt.Sprintf("subscribing %d/%d (%.1fs)", set.subs.up.Load(), n, time.Since(p.at).Seconds())
	})
	gate := make(chan struct{}, connectAtOnce)
	for _, c := range clients {
		select {
		case gate <- struct{}{}:
		case <-ctx.Done():
			return set, nil, ctx.Err()
		case err := <-set.subs.errs:
			return set, nil, err
		}
		set.subs.startGated(subCtx, c, ack, 1, gate)
	}
	if err := set.subs.connected(ctx, 10*time.Minute); err != nil {
		return set, nil, err
	}
	res.SecondsToSubscribe = round3(time.Since(p.at).Seconds())
	e := r.end(p)
	res.HubRSSBytes, res.HubRSSGrowthBytes, res.HubCPUSeconds = e.rss, e.growth, e.hubCPU
	if s, ok := r.self.sample(); ok {
		res.BenchRSSBytes = &s.RSS
	}
	r.progress.stop()
	return set, res, nil
}
