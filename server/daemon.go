package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
	"github.com/ndxp/ndxp/server/vxp"
)

// Names inside the data directory.
const (
	// StoreFile is the database.
	StoreFile = "ndxp.db"
	// BlobDir holds large attachment bodies, named by SHA-256.
	BlobDir = "blobs"
	// VxpSpoolDir holds VXP request bodies while they are checked.
	VxpSpoolDir = "vxp-spool"
)

// Daemon is a running hub: store, core, gRPC and HTTP listeners.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	store *store.Bolt
	hub   *hub.Hub
	// node is this daemon's member of its cluster, nil for a single hub;
	// leading says whether it leads and its hub has loaded its state
	// (daemon_cluster.go). hubReady is closed once hub is set, closing
	// when the shutdown begins.
	node       *cluster.Node
	leading    atomic.Bool
	hubReady   chan struct{}
	closing    chan struct{}
	srv        *Server
	grpcLis    net.Listener
	conns      *conns // grpcLis, with its limits
	httpLis    net.Listener
	httpSrv    *http.Server
	adminCreds string
	metrics    *metrics
	httpCancel context.CancelFunc
	vxpLis     net.Listener
	vxpSrv     *http.Server
	vxpTLS     bool
	ready      atomic.Bool
	// dashToken is the dashboard token, from the configuration or its file.
	dashToken string
	// allowedHosts are the Host names the HTTP listener answers to besides
	// loopback ones, in hostName's form.
	allowedHosts []string

	errc      chan error
	closeOnce sync.Once
	closeErr  error
}

// Start opens the store in cfg.DataDir, loads or (in dev mode) makes the
// PKI, and serves gRPC and HTTP until Shutdown. It returns once listening.
func Start(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.NewLogger(os.Stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	d := &Daemon{cfg: cfg, log: log, errc: make(chan error, 2), hubReady: make(chan struct{}), closing: make(chan struct{})}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	nofile, err := raiseFileLimit()
	if err != nil {
		log.Warn("could not raise the open-files limit", "err", err)
	}
	lim := connBudget(cfg, nofile)
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	d.conns = newConns(lis, lim, log, func() {})
	d.grpcLis = d.conns
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = d.grpcLis.Addr().String()
		if h, p, _ := net.SplitHostPort(advertise); net.ParseIP(h).IsUnspecified() {
			advertise = net.JoinHostPort("127.0.0.1", p)
			log.Warn("listening on all interfaces: credentials will name 127.0.0.1; set --advertise to the address agencies dial")
		}
	}

	d.dashToken = cfg.DashboardToken
	if cfg.DashboardTokenFile != "" {
		if d.dashToken, err = readTokenFile(cfg.DashboardTokenFile); err != nil {
			return nil, err
		}
	}
	d.allowedHosts = allowedHosts(cfg, advertise)

	now := time.Now()
	hosts := serverHosts(cfg.Listen, advertise)
	if cfg.HTTPTLS && cfg.Dev {
		// The dev certificate serves HTTPS too, so it names the HTTP
		// listener and the names operators reach it by.
		for _, h := range append(serverHosts(cfg.HTTP), d.allowedHosts...) {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	mat, err := loadPKI(cfg, hosts, now)
	if err != nil {
		return nil, err
	}
	tlsConf, err := pki.ServerTLS(mat.ca.Pool(), mat.certPEM, mat.keyPEM)
	if err != nil {
		return nil, err
	}

	m := newMetrics()
	files, err := store.OpenFiles(filepath.Join(cfg.DataDir, BlobDir))
	if err != nil {
		return nil, err
	}
	sopts := store.Options{OnCommit: m.observeCommit, OnApply: m.observeApply}
	if cfg.Clustered() {
		err = d.openClusterStore(cfg, mat.ca, files, sopts)
	} else {
		d.store, err = store.OpenBolt(filepath.Join(cfg.DataDir, StoreFile), sopts)
	}
	if err != nil {
		return nil, err
	}
	hcfg := hub.DefaultConfig()
	hcfg.CA = mat.ca
	hcfg.HubAddress = advertise
	if d.node != nil {
		hcfg.HubAddress = d.clusterAddresses(advertise)
		hcfg.HubAddresses = func() string { return d.clusterAddresses(advertise) }
		hcfg.Standby = true
		hcfg.Bodies = d.node
	}
	hcfg.Logger = log
	if cfg.UnackedAfter > 0 {
		hcfg.UnackedAfter = time.Duration(cfg.UnackedAfter)
	}
	if cfg.VxpOnlineWindow > 0 {
		hcfg.PollWindow = time.Duration(cfg.VxpOnlineWindow)
	}
	hcfg.RetentionDays = cfg.RetentionDays
	hcfg.Limits = cfg.Limits.Hub()
	hcfg.PacketRequireValidSignature = cfg.EdxmlRequireValidSignature
	if cfg.EdxmlTrustCA != "" {
		if hcfg.PacketTrust, err = loadCertPool(cfg.EdxmlTrustCA); err != nil {
			return nil, fmt.Errorf("edxml_trust_ca: %w", err)
		}
	}
	if cfg.TimeZone != "" {
		if hcfg.Location, err = time.LoadLocation(cfg.TimeZone); err != nil {
			return nil, fmt.Errorf("timezone: %w", err)
		}
	}
	d.hub, err = hub.New(ctx, d.store, files, hcfg)
	if err != nil {
		return nil, err
	}
	close(d.hubReady)

	if mat.ca.CanSign() {
		d.adminCreds = filepath.Join(cfg.DataDir, AdminCredsFile)
		wrote, err := ensureAdminCreds(d.adminCreds, hcfg.HubAddress, mat.ca, now)
		if err != nil {
			return nil, err
		}
		if wrote {
			log.Info("admin credentials written", "path", d.adminCreds)
		}
	}

	d.conns.refused = func() { d.hub.Refused(hub.LimitConnections) }
	d.srv = newServer(d.hub, tlsConf, log, m, d.conns, time.Duration(cfg.HandshakeTimeout))
	d.srv.maint.d = d
	if d.node != nil {
		d.srv.gate = d.gate
		d.srv.SetClusterNode(d.node)
	}
	m.reg.MustRegister(newHubCollector(d.hub, d.store.Size))
	d.metrics = m
	go func() { d.errc <- d.srv.GRPC().Serve(d.grpcLis) }()

	if cfg.HTTP != "" {
		d.httpLis, err = net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return nil, fmt.Errorf("http listen: %w", err)
		}
		// Event streams (the dashboard) end when the shutdown begins, so
		// Shutdown need not wait for them.
		baseCtx, cancel := context.WithCancel(context.Background())
		d.httpCancel = cancel
		timeout, idle := time.Duration(cfg.HTTPTimeout), time.Duration(cfg.HTTPIdleTimeout)
		if timeout <= 0 {
			timeout = defaultHTTPTimeout
		}
		if idle <= 0 {
			idle = defaultHTTPIdleTimeout
		}
		// Every phase is bounded, so slow or silent clients cannot hold
		// connections (and goroutines) forever; the dashboard's event
		// stream replaces the write deadline with one for each event.
		d.httpSrv = &http.Server{
			Handler:           d.httpHandler(timeout),
			ReadHeaderTimeout: min(10*time.Second, timeout),
			ReadTimeout:       timeout,
			WriteTimeout:      timeout,
			IdleTimeout:       idle,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
		}
		serve := func() error { return d.httpSrv.Serve(d.httpLis) }
		if cfg.HTTPTLS {
			// gRPC's certificate, not its configuration: browsers and
			// Prometheus hold no client certificate, and asking for one
			// makes browsers prompt.
			d.httpSrv.TLSConfig = &tls.Config{Certificates: tlsConf.Certificates, ClientAuth: tls.NoClientCert, MinVersion: tls.VersionTLS12}
			serve = func() error { return d.httpSrv.ServeTLS(d.httpLis, "", "") }
		}
		if h, _, _ := net.SplitHostPort(cfg.HTTP); !isLoopbackHost(h) {
			log.Info("the HTTP listener answers to loopback names and these hosts only; list others in --http-allowed-hosts",
				"hosts", strings.Join(d.allowedHosts, ","))
		}
		go func() {
			if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	if err := d.startVXP(cfg, tlsConf); err != nil {
		return nil, err
	}
	d.ready.Store(true)
	log.Info("ndxpd serving", "grpc", d.GRPCAddr(), "http", d.HTTPAddr(), "data", cfg.DataDir, "dev", cfg.Dev, "advertise", advertise,
		"open_files_limit", nofile, "max_conns", lim.max, "max_conns_per_host", lim.perHost)
	return d, nil
}

// GRPCAddr is the address gRPC listens on.
func (d *Daemon) GRPCAddr() string { return d.grpcLis.Addr().String() }

// HTTPAddr is the address HTTP listens on, or "" when disabled.
func (d *Daemon) HTTPAddr() string {
	if d.httpLis == nil {
		return ""
	}
	return d.httpLis.Addr().String()
}

// HTTPURL is the HTTP listener's base URL (https with HTTPTLS), or "" when
// disabled.
func (d *Daemon) HTTPURL() string {
	if d.httpLis == nil {
		return ""
	}
	if d.cfg.HTTPTLS {
		return "https://" + d.HTTPAddr()
	}
	return "http://" + d.HTTPAddr()
}

// isLoopbackHost reports whether a listen host is localhost or a loopback
// address.
func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// AdminCredsPath is the admin credentials file, or "" when the hub holds no CA key.
func (d *Daemon) AdminCredsPath() string { return d.adminCreds }

// Hub returns the core, for in-process tests and tools.
func (d *Daemon) Hub() *hub.Hub { return d.hub }

// Err delivers a fatal serving error.
func (d *Daemon) Err() <-chan error { return d.errc }

// Shutdown stops gracefully: health turns NOT_SERVING, no new calls are
// accepted, calls in flight finish (streams are cut after the timeout),
// then the store is closed last. It is safe to call more than once.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.closeOnce.Do(func() {
		if d.node != nil && d.leading.Load() {
			// A planned stop hands the leadership over first, so the
			// cluster serves on without waiting out an election timeout.
			d.node.TransferLeadership()
		}
		close(d.closing)
		d.ready.Store(false)
		if d.hub != nil {
			d.hub.Drain() // subscriptions end with "reconnect"; new sends are refused
		}
		if d.srv != nil {
			d.srv.SetNotServing()
			stopped := make(chan struct{})
			go func() { d.srv.GRPC().GracefulStop(); close(stopped) }()
			timeout := time.Duration(d.cfg.ShutdownTimeout)
			select {
			case <-stopped:
			case <-time.After(timeout):
				d.log.Warn("graceful stop timed out; closing remaining streams", "timeout", timeout)
				d.srv.GRPC().Stop()
				<-stopped
			case <-ctx.Done():
				d.srv.GRPC().Stop()
				<-stopped
			}
		} else if d.grpcLis != nil {
			d.grpcLis.Close()
		}
		if d.httpCancel != nil {
			d.httpCancel()
		}
		if d.httpSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			d.httpSrv.Shutdown(sctx)
			cancel()
		} else if d.httpLis != nil {
			d.httpLis.Close()
		}
		if d.vxpSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Duration(d.cfg.ShutdownTimeout))
			d.vxpSrv.Shutdown(sctx)
			cancel()
		} else if d.vxpLis != nil {
			d.vxpLis.Close()
		}
		if d.node != nil {
			// Raft first: the store is its state machine.
			if err := d.node.Shutdown(); err != nil {
				d.log.Warn("raft shutdown", "err", err)
			}
		}
		if d.store != nil {
			d.closeErr = d.store.Close()
		}
		d.log.Info("ndxpd stopped")
	})
	return d.closeErr
}

// Close is Shutdown with the configured timeout.
func (d *Daemon) Close() error { return d.Shutdown(context.Background()) }

// Descriptors kept out of the connection budget: the store, attachment
// files being written and read, the HTTP listener's clients and logs.
const (
	fdReserveMin = 256
	fdReserveDiv = 10 // and at least a tenth of the limit
	// adminReserveConns of the budget only admin certificates may take,
	// so operators can always reach a hub under a flood of agencies.
	adminReserveConns = 32
)

// connBudget turns the configuration and the open-files limit into the
// listener's limits.
func connBudget(cfg Config, nofile uint64) connLimits {
	lim := connLimits{max: cfg.MaxConns, perHost: cfg.MaxConnsPerHost, adminReserve: adminReserveConns}
	if lim.max == 0 && nofile > 0 {
		reserve := max(fdReserveMin, nofile/fdReserveDiv)
		if nofile > reserve {
			lim.max = int(min(nofile-reserve, 1<<30))
		} else {
			lim.max = int(nofile / 2)
		}
	}
	if lim.max > 0 {
		// Connections still in their handshake may fill at most half of
		// the budget: a flood of them leaves the rest to agencies that
		// authenticate.
		lim.pending = max(1, lim.max/2)
		lim.adminReserve = min(lim.adminReserve, lim.max/4)
	}
	return lim
}

// loadCertPool reads a PEM file of CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// startVXP serves the VXP HTTP API (docs/vxp.md), over TLS with the hub's
// certificate unless plain HTTP was asked for.
func (d *Daemon) startVXP(cfg Config, tlsConf *tls.Config) error {
	if cfg.VxpListen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", cfg.VxpListen)
	if err != nil {
		if cfg.VxpOptional {
			d.log.Warn("the VXP API is not served: its address is taken", "addr", cfg.VxpListen, "err", err)
			return nil
		}
		return fmt.Errorf("vxp listen: %w", err)
	}
	d.vxpLis = lis
	spool := filepath.Join(cfg.DataDir, VxpSpoolDir)
	// Spooled bodies are unlinked as they are made; a crash leaves nothing
	// but the directory.
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return fmt.Errorf("vxp spool: %w", err)
	}
	vcfg := vxp.Config{Hub: d.hub, Logger: d.log, Registerer: d.metrics.reg, SpoolDir: spool, AllowRegistry: cfg.VxpAllowRegistry}
	if d.node != nil {
		vcfg.Serving = d.gate
	}
	h := vxp.New(vcfg)
	// Headers must come quickly; a body may be hundreds of MiB from a
	// slow province, so it is bounded by its idle time (vxp.Server), not
	// by a total.
	d.vxpSrv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// TLS handshake failures and the like: a debug line, not stderr.
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	serve := func() error { return d.vxpSrv.Serve(lis) }
	if !cfg.VxpPlainHTTP {
		d.vxpTLS = true
		d.vxpSrv.TLSConfig = &tls.Config{Certificates: tlsConf.Certificates, ClientAuth: tls.NoClientCert, MinVersion: tls.VersionTLS12}
		serve = func() error { return d.vxpSrv.ServeTLS(lis, "", "") }
	} else if h, _, _ := net.SplitHostPort(cfg.VxpListen); !isLoopbackHost(h) {
		d.log.Warn("the VXP API is served over plain HTTP on a non-loopback address: request signatures and documents cross the network in clear", "addr", cfg.VxpListen)
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("vxp: %w", err)
		}
	}()
	return nil
}

// VXPURL is the VXP API's endpoint URL, or "" when it is not served.
func (d *Daemon) VXPURL() string {
	if d.vxpLis == nil {
		return ""
	}
	scheme := "http"
	if d.vxpTLS {
		scheme = "https"
	}
	return scheme + "://" + d.vxpLis.Addr().String()
}
