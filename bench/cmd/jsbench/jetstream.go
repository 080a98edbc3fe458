package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	streamName   = "DOCS"
	consumerName = "bench"
	subject      = "docs.bench"
	// publishTimeout bounds one synchronous publish (waiting for its PubAck).
	publishTimeout = 30 * time.Second
	// fetchWait is how long one pull request waits for its batch to fill;
	// messages are handed over as they arrive, so this only bounds idling.
	fetchWait = time.Second
)

// config is one workload; the same numbers are passed to ndxp-bench.
type config struct {
	Duration     time.Duration
	Count        int64
	Senders      int
	Subscribers  int
	Size         int
	Batch        int           // pull batch, ndxp's subscribe window
	Window       int           // 0: synchronous publish; N: asynchronous, N publishes in flight per sender
	NoSync       bool          // the server's default sync (not SyncAlways): no fsync before the PubAck
	Ack          string        // "sync" (DoubleAck) or "async" (Ack)
	Pull         string        // "fetch" or "messages"
	Servers      int           // nats-servers: 1, or a cluster with the stream on every one (replicas = servers)
	Dir          string        // parent of the store directory
	Keep         bool          // keep the store directory
	DrainTimeout time.Duration // how long to wait for deliveries to catch up
}

// latencyMS summarises latency samples with the keys of ndxp-bench's.
type latencyMS struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// result is the JetStream side, with the keys and meanings of ndxp-bench's
// report: rates are counts divided by the time from the start of sending
// to the last send (sends) or to the last acknowledged delivery
// (deliveries); duration_seconds is the larger of the two.
type result struct {
	Sends               int64     `json:"sends"`
	SendsPerSecond      float64   `json:"sends_per_second"`
	Deliveries          int64     `json:"deliveries"`
	DeliveriesPerSecond float64   `json:"deliveries_per_second"`
	SendLatencyMS       latencyMS `json:"send_latency_ms"`
	E2ELatencyMS        latencyMS `json:"e2e_latency_ms"`
	DurationSeconds     float64   `json:"duration_seconds"`
	SendSeconds         float64   `json:"send_seconds"`
	DeliverySeconds     float64   `json:"delivery_seconds"`
	Config              runConfig `json:"config"`

	// JetStream only.
	AckLatencyMS  latencyMS `json:"ack_latency_ms"`
	Redeliveries  int64     `json:"redeliveries"`
	PublishErrors int64     `json:"publish_errors"`
	AckErrors     int64     `json:"ack_errors"`
	FetchErrors   int64     `json:"fetch_errors"`
	// MaxInFlight is the most publishes any sender had awaiting their
	// PubAck at once (asynchronous publish only).
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

type runConfig struct {
	System      string  `json:"system"`
	NATSServer  string  `json:"nats_server"`
	NATSClient  string  `json:"nats_go"`
	Senders     int     `json:"senders"`
	Subscribers int     `json:"subscribers"`
	Size        int     `json:"size"`
	Duration    string  `json:"duration"`
	Count       int64   `json:"count"`
	Storage     string  `json:"storage"`
	SyncAlways  bool    `json:"sync_always"`
	Servers     int     `json:"servers"`
	Replicas    int     `json:"replicas"`
	Durability  string  `json:"durability"`
	Retention   string  `json:"retention"`
	Consumer    string  `json:"consumer"`
	AckPolicy   string  `json:"ack_policy"`
	Ack         string  `json:"ack"`
	Pull        string  `json:"pull"`
	Batch       int     `json:"batch"`
	Window      int     `json:"window,omitempty"` // asynchronous publishes in flight per sender
	Publish     string  `json:"publish"`
	TLS         string  `json:"tls"`
	StoreDir    string  `json:"store_dir"`
	GOMAXPROCS  int     `json:"gomaxprocs"`
	DrainLimitS float64 `json:"drain_timeout_seconds"`
	LoadAverage string  `json:"load_average_at_start,omitempty"` // /proc/loadavg: other work on the machine skews results
}

// embedded is one running nats-server, or a cluster of them, with
// JetStream on a file store.
type embedded struct {
	srvs   []*server.Server
	dir    string
	keep   bool
	client *tlsClient
}

type tlsClient struct{ pki *benchPKI }

// startServers starts n nats-servers in process: 127.0.0.1, random client
// ports, JetStream with each store in its own directory under one temporary
// directory in parent, every write fsynced (SyncAlways) unless noSync, and TLS required
// with client certificates. With n > 1 they form one cluster whose routes
// speak mutual TLS too.
func startServers(parent string, keep bool, n int, noSync bool) (e *embedded, err error) {
	pki, err := newBenchPKI()
	if err != nil {
		return nil, err
	}
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "jsbench-")
	if err != nil {
		return nil, err
	}
	e = &embedded{dir: dir, keep: keep, client: &tlsClient{pki}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	var routes []*url.URL
	var routePorts []int
	if n > 1 {
		// Every server is given every route up front (a server skips its
		// own), so each knows the cluster's size before JetStream starts.
		if routePorts, err = freePorts(n); err != nil {
			return nil, err
		}
		for _, p := range routePorts {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
		}
	}
	for i := range n {
		opts := &server.Options{
			ServerName: "jsbench",
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   dir,
			SyncAlways: !noSync,
			TLS:        true,
			TLSVerify:  true,
			TLSConfig:  pki.server,
			TLSTimeout: 5,
		}
		if n > 1 {
			opts.ServerName = fmt.Sprintf("jsbench-%d", i+1)
			opts.StoreDir = filepath.Join(dir, fmt.Sprintf("s%d", i+1))
			opts.Cluster = server.ClusterOpts{
				Name:       "jsbench",
				Host:       "127.0.0.1",
				Port:       routePorts[i],
				TLSConfig:  pki.route,
				TLSTimeout: 5,
			}
			opts.Routes = routes
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("nats-server: %w", err)
		}
		srv.Start()
		e.srvs = append(e.srvs, srv)
	}
	for _, srv := range e.srvs {
		if !srv.ReadyForConnections(15 * time.Second) {
			return nil, fmt.Errorf("nats-server %s: not ready for connections after 15s", srv.Name())
		}
		if !srv.JetStreamEnabled() {
			return nil, fmt.Errorf("nats-server %s: JetStream did not start", srv.Name())
		}
	}
	if n > 1 {
		// The meta group must have a leader before a stream can be made.
		deadline := time.Now().Add(30 * time.Second)
		for !slices.ContainsFunc(e.srvs, (*server.Server).JetStreamIsLeader) {
			if time.Now().After(deadline) {
				return nil, errors.New("nats-server cluster: no JetStream meta leader after 30s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return e, nil
}

// freePorts returns n TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// connect dials the i-th client's server first (clients are spread over a
// cluster's servers in turn), then the others, in that order.
func (e *embedded) connect(name string, i int) (*nats.Conn, error) {
	var urls []string
	for j := range e.srvs {
		urls = append(urls, e.srvs[(i+j)%len(e.srvs)].ClientURL())
	}
	return nats.Connect(strings.Join(urls, ","),
		nats.Name(name),
		nats.Secure(e.client.pki.client),
		nats.Timeout(10*time.Second),
		nats.DontRandomize(),
	)
}

func (e *embedded) close() {
	for _, srv := range e.srvs {
		srv.Shutdown()
	}
	for _, srv := range e.srvs {
		srv.WaitForShutdown()
	}
	if !e.keep {
		os.RemoveAll(e.dir)
	}
}

// runJetStream runs the workload against a fresh embedded server.
func runJetStream(ctx context.Context, cfg config) (*result, error) {
	if cfg.Size < 8 {
		return nil, fmt.Errorf("--size must be at least 8 (the send timestamp rides in the payload), got %d", cfg.Size)
	}
	if cfg.Senders < 1 || cfg.Subscribers < 1 || cfg.Batch < 1 || cfg.Window < 0 {
		return nil, errors.New("--senders, --subscribers, --batch and --window must be at least 1")
	}
	if cfg.Duration <= 0 && cfg.Count <= 0 {
		return nil, errors.New("give --duration or --count")
	}
	if cfg.Ack != "sync" && cfg.Ack != "async" {
		return nil, fmt.Errorf("--ack must be sync or async, got %q", cfg.Ack)
	}
	if cfg.Pull != "fetch" && cfg.Pull != "messages" {
		return nil, fmt.Errorf("--pull must be fetch or messages, got %q", cfg.Pull)
	}

	servers := max(cfg.Servers, 1)
	e, err := startServers(cfg.Dir, cfg.Keep, servers, cfg.NoSync)
	if err != nil {
		return nil, err
	}
	defer e.close()

	admin, err := e.connect("jsbench-admin", 0)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	if err != nil {
		return nil, err
	}
	setup, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSetup()
	// A new cluster may refuse a stream for a moment while its peers
	// report in; the setup deadline bounds the retries.
	var stream jetstream.Stream
	for {
		stream, err = ajs.CreateStream(setup, jetstream.StreamConfig{
			Name:      streamName,
			Subjects:  []string{"docs.>"},
			Storage:   jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy,
			Replicas:  servers,
		})
		if err == nil {
			break
		}
		if servers == 1 || setup.Err() != nil {
			return nil, fmt.Errorf("create stream: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The stream's peers, read back rather than assumed: the report says
	// how many servers held it.
	streamPeers := 1
	if info := stream.CachedInfo(); info.Cluster != nil {
		streamPeers = 1 + len(info.Cluster.Replicas)
	}
	if streamPeers != servers {
		return nil, fmt.Errorf("stream %s is on %d servers, want %d", streamName, streamPeers, servers)
	}
	if _, err := ajs.CreateOrUpdateConsumer(setup, streamName, jetstream.ConsumerConfig{
		Durable:       consumerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: cfg.Batch * cfg.Subscribers,
	}); err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}

	// With asynchronous publish, lat, last, errs and inFlight are written
	// by the client's PubAck callbacks as well as the sending goroutine,
	// under mu; window holds one token per publish awaiting its PubAck.
	type sender struct {
		nc          *nats.Conn
		js          jetstream.JetStream
		mu          sync.Mutex
		lat         []time.Duration
		last        time.Duration // since base, when its last PubAck arrived
		errs        int64
		window      chan struct{}
		inFlight    int
		maxInFlight int
	}
	type subscriber struct {
		nc         *nats.Conn
		cons       jetstream.Consumer
		e2e, ack   []time.Duration
		last       time.Duration // since base, when its last ack completed
		n, redeliv int64
		ackErrs    int64
		fetchErrs  int64
		fatal      error
	}
	senders := make([]*sender, cfg.Senders)
	subs := make([]*subscriber, cfg.Subscribers)
	defer func() {
		for _, s := range senders {
			if s != nil {
				s.nc.Close()
			}
		}
		for _, s := range subs {
			if s != nil {
				s.nc.Close()
			}
		}
	}()
	var (
		sent   atomic.Int64 // messages claimed by senders (for --count)
		sends  atomic.Int64 // publishes acknowledged by the server
		delivs atomic.Int64 // deliveries acknowledged by subscribers
		base   time.Time    // the start of sending; send times in payloads are offsets from it
	)
	for i := range senders {
		nc, err := e.connect(fmt.Sprintf("jsbench-sender-%d", i), i)
		if err != nil {
			return nil, fmt.Errorf("connect sender: %w", err)
		}
		s := &sender{nc: nc, lat: make([]time.Duration, 0, 1<<14)}
		var opts []jetstream.JetStreamOpt
		if cfg.Window > 0 {
			s.window = make(chan struct{}, cfg.Window)
			// A publish is settled once: by its PubAck, its error reply, or
			// the client's timeout; either frees its place in the window.
			settle := func(m *nats.Msg, err error) {
				now := time.Since(base)
				s.mu.Lock()
				s.inFlight--
				if err != nil {
					s.errs++
				} else {
					s.lat = append(s.lat, now-time.Duration(binary.LittleEndian.Uint64(m.Data)))
					s.last = now
				}
				s.mu.Unlock()
				if err == nil {
					sends.Add(1)
				}
				<-s.window
			}
			opts = append(opts,
				jetstream.WithPublishAsyncMaxPending(cfg.Window),
				jetstream.WithPublishAsyncTimeout(publishTimeout),
				jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { settle(m, nil) }),
				jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { settle(m, err) }),
			)
		}
		if s.js, err = jetstream.New(nc, opts...); err != nil {
			nc.Close()
			return nil, err
		}
		senders[i] = s
	}
	for i := range subs {
		nc, err := e.connect(fmt.Sprintf("jsbench-subscriber-%d", i), cfg.Senders+i)
		if err != nil {
			return nil, fmt.Errorf("connect subscriber: %w", err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		cons, err := js.Consumer(setup, streamName, consumerName)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("bind consumer: %w", err)
		}
		subs[i] = &subscriber{nc: nc, cons: cons, e2e: make([]time.Duration, 0, 1<<14), ack: make([]time.Duration, 0, 1<<14)}
	}

	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()

	loadavg := loadAverage()
	base = time.Now()
	var sendDeadline time.Time
	if cfg.Duration > 0 {
		sendDeadline = base.Add(cfg.Duration)
	}

	// handle records one delivered message and acknowledges it.
	handle := func(s *subscriber, m jetstream.Msg) {
		now := time.Since(base)
		if d := m.Data(); len(d) >= 8 {
			s.e2e = append(s.e2e, now-time.Duration(binary.LittleEndian.Uint64(d)))
		}
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			s.redeliv++
		}
		t0 := time.Now()
		var err error
		if cfg.Ack == "sync" {
			actx, cancel := context.WithTimeout(ctx, publishTimeout)
			err = m.DoubleAck(actx)
			cancel()
		} else {
			err = m.Ack()
		}
		if err != nil {
			s.ackErrs++
			return
		}
		s.ack = append(s.ack, time.Since(t0))
		s.last = time.Since(base)
		s.n++
		delivs.Add(1)
	}

	var wgSubs sync.WaitGroup
	for _, s := range subs {
		wgSubs.Add(1)
		go func() {
			defer wgSubs.Done()
			if cfg.Pull == "messages" {
				it, err := s.cons.Messages(jetstream.PullMaxMessages(cfg.Batch))
				if err != nil {
					s.fatal = err
					return
				}
				go func() { <-subCtx.Done(); it.Stop() }()
				for {
					m, err := it.Next()
					if err != nil {
						if subCtx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
							return
						}
						s.fetchErrs++
						continue
					}
					handle(s, m)
				}
			}
			// Fetch: one pull request of cfg.Batch at a time; messages
			// are handled as they stream in, not when the batch completes.
			for subCtx.Err() == nil {
				fctx, cancel := context.WithTimeout(subCtx, fetchWait)
				batch, err := s.cons.Fetch(cfg.Batch, jetstream.FetchContext(fctx))
				if err != nil {
					cancel()
					if subCtx.Err() != nil {
						return
					}
					s.fetchErrs++
					time.Sleep(10 * time.Millisecond)
					continue
				}
				for m := range batch.Messages() {
					handle(s, m)
				}
				cancel()
				if err := batch.Error(); err != nil && subCtx.Err() == nil &&
					!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
					s.fetchErrs++
				}
			}
		}()
	}

	filler := make([]byte, cfg.Size)
	for i := range filler {
		filler[i] = byte('a' + i%26)
	}
	var wgSend sync.WaitGroup
	for _, s := range senders {
		wgSend.Add(1)
		if cfg.Window > 0 {
			go func() {
				defer wgSend.Done()
				for ctx.Err() == nil {
					// A place in the window first, so that the send time
					// starts when the publish can go out.
					select {
					case s.window <- struct{}{}:
					case <-ctx.Done():
						return
					}
					if (!sendDeadline.IsZero() && !time.Now().Before(sendDeadline)) || (cfg.Count > 0 && sent.Add(1) > cfg.Count) {
						<-s.window
						break
					}
					data := make([]byte, cfg.Size)
					copy(data, filler)
					binary.LittleEndian.PutUint64(data, uint64(time.Since(base)))
					// Counted before the publish: its PubAck may arrive
					// before PublishMsgAsync returns.
					s.mu.Lock()
					s.inFlight++
					s.maxInFlight = max(s.maxInFlight, s.inFlight)
					s.mu.Unlock()
					if _, err := s.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}); err != nil {
						s.mu.Lock()
						s.inFlight--
						s.errs++
						s.mu.Unlock()
						<-s.window
						if s.nc.IsClosed() {
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				// The sender is done once every publish in its window has
				// settled: holding all the window's places means no
				// callback is left to run (the client times each publish
				// out after publishTimeout).
				limit := time.NewTimer(publishTimeout + 5*time.Second)
				defer limit.Stop()
				for range cfg.Window {
					select {
					case s.window <- struct{}{}:
					case <-limit.C:
						return
					case <-ctx.Done():
						return
					}
				}
			}()
			continue
		}
		go func() {
			defer wgSend.Done()
			for ctx.Err() == nil {
				if !sendDeadline.IsZero() && !time.Now().Before(sendDeadline) {
					return
				}
				if cfg.Count > 0 && sent.Add(1) > cfg.Count {
					return
				}
				// A fresh payload per message: the client may still hold the
				// previous one if a publish timed out.
				data := make([]byte, cfg.Size)
				copy(data, filler)
				t0 := time.Now()
				binary.LittleEndian.PutUint64(data, uint64(t0.Sub(base)))
				pctx, cancel := context.WithTimeout(ctx, publishTimeout)
				_, err := s.js.PublishMsg(pctx, &nats.Msg{Subject: subject, Data: data})
				cancel()
				if err != nil {
					s.errs++
					continue
				}
				s.lat = append(s.lat, time.Since(t0))
				s.last = time.Since(base)
				sends.Add(1)
			}
		}()
	}
	wgSend.Wait()

	// Drain: wait until every acknowledged publish has been delivered and
	// acknowledged, or the drain limit passes.
	drainLimit := time.Now().Add(cfg.DrainTimeout)
	for delivs.Load() < sends.Load() && time.Now().Before(drainLimit) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	stopSubs()
	wgSubs.Wait()

	res := &result{
		Config: runConfig{
			System:      system(servers),
			NATSServer:  server.VERSION,
			NATSClient:  nats.Version,
			Senders:     cfg.Senders,
			Subscribers: cfg.Subscribers,
			Size:        cfg.Size,
			Duration:    cfg.Duration.String(),
			Count:       cfg.Count,
			Storage:     "file",
			SyncAlways:  !cfg.NoSync,
			Servers:     servers,
			Replicas:    servers,
			Durability:  durability(servers, cfg.NoSync),
			Retention:   "limits",
			Consumer:    "one durable pull consumer shared by all subscribers",
			AckPolicy:   "explicit",
			Ack:         ackDescription(cfg.Ack),
			Pull:        cfg.Pull,
			Batch:       cfg.Batch,
			Window:      cfg.Window,
			Publish:     publishDescription(cfg.Window),
			TLS:         tlsDescription,
			StoreDir:    e.dir,
			GOMAXPROCS:  runtime.GOMAXPROCS(0),
			DrainLimitS: cfg.DrainTimeout.Seconds(),
			LoadAverage: loadavg,
		},
	}
	var sendLat, e2eLat, ackLat []time.Duration
	var sendEnd, delivEnd time.Duration
	for _, s := range senders {
		// A callback may outlive a sender that gave up waiting for it.
		s.mu.Lock()
		res.Sends += int64(len(s.lat))
		res.PublishErrors += s.errs
		sendLat = append(sendLat, s.lat...)
		sendEnd = max(sendEnd, s.last)
		res.MaxInFlight = max(res.MaxInFlight, s.maxInFlight)
		s.mu.Unlock()
	}
	var fatal error
	for _, s := range subs {
		res.Deliveries += s.n
		res.Redeliveries += s.redeliv
		res.AckErrors += s.ackErrs
		res.FetchErrors += s.fetchErrs
		e2eLat = append(e2eLat, s.e2e...)
		ackLat = append(ackLat, s.ack...)
		delivEnd = max(delivEnd, s.last)
		fatal = errors.Join(fatal, s.fatal)
	}
	if fatal != nil {
		return nil, fatal
	}
	res.SendSeconds = round3(sendEnd.Seconds())
	res.DeliverySeconds = round3(delivEnd.Seconds())
	res.DurationSeconds = max(res.SendSeconds, res.DeliverySeconds)
	if sendEnd > 0 {
		res.SendsPerSecond = round3(float64(res.Sends) / sendEnd.Seconds())
	}
	if delivEnd > 0 {
		res.DeliveriesPerSecond = round3(float64(res.Deliveries) / delivEnd.Seconds())
	}
	res.SendLatencyMS = summarize(sendLat)
	res.E2ELatencyMS = summarize(e2eLat)
	res.AckLatencyMS = summarize(ackLat)
	return res, ctx.Err()
}

func system(servers int) string {
	if servers == 1 {
		return "NATS JetStream (embedded nats-server)"
	}
	return fmt.Sprintf("NATS JetStream cluster (%d embedded nats-servers, routes over mutual TLS)", servers)
}

// durability says when a publish and an ack are answered; the clustered
// case is what nats-server 2.15 does with SyncAlways (stream.go,
// jetstream_cluster.go, consumer.go).
func durability(servers int, noSync bool) string {
	if noSync {
		return "default (no SyncAlways): the PubAck follows the write to the message block's buffer, flushed to the OS in the background; " +
			"blocks are fsynced every 2 minutes (the default SyncInterval), so a crash of the machine can lose acknowledged messages"
	}
	if servers == 1 {
		return "SyncAlways: the message block is fsynced after every message, before the PubAck; acks are applied in memory and flushed in the background"
	}
	return fmt.Sprintf("SyncAlways on every server: each stream's and consumer's Raft log fsyncs every append; "+
		"a PubAck and a DoubleAck reply come after the entry is committed by a majority of the %d; "+
		"the stream's message blocks then sync on flush, as the log covers them", servers)
}

func publishDescription(window int) string {
	if window == 0 {
		return "synchronous: one publish in flight per sender, awaiting its PubAck"
	}
	return fmt.Sprintf("asynchronous: PublishMsgAsync with up to %d publishes in flight per sender (WithPublishAsyncMaxPending %d), "+
		"each counted when its PubAck arrives", window, window)
}

func ackDescription(mode string) string {
	if mode == "sync" {
		return "sync: DoubleAck, waits for the server's reply to each ack"
	}
	return "async: Ack, fire and forget"
}

// loadAverage is the first three fields of /proc/loadavg, or "" off Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
