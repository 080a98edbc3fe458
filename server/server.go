// Package server is the hub's gRPC face: it authenticates callers from
// their verified certificates, translates requests into calls on
// internal/hub, maps errors to gRPC codes in one place (toStatus), and
// assembles the daemon (Start) that ndxpd and the tests run.
package server

import (
	"crypto/tls"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/ndxp/ndxp/internal/bufpool"
	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Server holds the gRPC server and services of a hub.
type Server struct {
	hub     *hub.Hub
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	metrics *metrics
	maint   *maintenanceService
	conns   *conns // the limited listener's connections; nil when serving another listener
	// gate, on a cluster node, says whether the node serves calls now
	// (it leads) or where the leader is (leader.go); nil on a single hub.
	gate func() (ok bool, leaderGRPC string)

	nodeMu      sync.RWMutex
	node        clusterNode // nil: a single-node hub (clusterservice.go)
	nodeMetrics sync.Once   // registers the cluster's gauges when a node is first set

	// unserved streaming methods answer Unimplemented, as a hub from
	// before them would: the SDK's fallbacks are tested against it.
	unserved atomic.Pointer[map[string]bool]
}

// serviceNames are reported SERVING by the health service.
var serviceNames = []string{
	ndxpv1.RegistryService_ServiceDesc.ServiceName,
	ndxpv1.DirectoryService_ServiceDesc.ServiceName,
	ndxpv1.ExchangeService_ServiceDesc.ServiceName,
	ndxpv1.MonitorService_ServiceDesc.ServiceName,
	ndxpv1.MaintenanceService_ServiceDesc.ServiceName,
	ndxpv1.ClusterService_ServiceDesc.ServiceName,
}

// New builds the gRPC server for h, requiring mutual TLS with tlsConf.
func New(h *hub.Hub, tlsConf *tls.Config, log *slog.Logger) *Server {
	return newServer(h, tlsConf, log, newMetrics(), nil, DefaultHandshakeTimeout)
}

// maxStreamsPerConn bounds the concurrent streams of one connection, so
// that one peer cannot make the hub hold unbounded stream state before the
// per-caller caps (hub.Limits) count its calls.
const maxStreamsPerConn = 1024

func newServer(h *hub.Hub, tlsConf *tls.Config, log *slog.Logger, m *metrics, cl *conns, handshake time.Duration) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{hub: h, log: log, health: health.NewServer(), metrics: m, conns: cl}
	creds := handshakeCreds{TransportCredentials: credentials.NewTLS(tlsConf), conns: cl}
	pool := bufpool.New()
	s.grpc = grpc.NewServer(
		grpc.Creds(creds),
		// A connection that has not finished its TLS handshake by then is
		// closed: it holds a descriptor and proves nothing (gRPC's default
		// is 120 s).
		grpc.ConnectionTimeout(handshake),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		// Find dead peers (a killed agency system) in well under a minute,
		// and let clients keep idle connections alive with pings.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 20 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// No read buffer: the TLS connection below already buffers a whole
		// record, and tens of thousands of mostly idle subscriptions would
		// each hold one more (docs/performance.md).
		grpc.ReadBufferSize(0),
		// Message buffers not cleared on every reuse (internal/bufpool).
		experimental.BufferPool(pool),
		grpc.ForceServerCodecV2(pool.Codec()),
	)
	ndxpv1.RegisterRegistryServiceServer(s.grpc, &registryService{hub: h})
	ndxpv1.RegisterDirectoryServiceServer(s.grpc, &directoryService{hub: h})
	ndxpv1.RegisterExchangeServiceServer(s.grpc, &exchangeService{hub: h, log: s.log})
	ndxpv1.RegisterMonitorServiceServer(s.grpc, &monitorService{hub: h})
	s.maint = &maintenanceService{hub: h}
	ndxpv1.RegisterMaintenanceServiceServer(s.grpc, s.maint)
	ndxpv1.RegisterClusterServiceServer(s.grpc, &clusterService{s: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	for _, n := range append([]string{""}, serviceNames...) {
		s.health.SetServingStatus(n, healthpb.HealthCheckResponse_SERVING)
	}
	return s
}

// GRPC returns the underlying gRPC server, to serve on a listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// SetNotServing turns the health status to NOT_SERVING before a shutdown,
// so load balancers and probes stop sending new work.
func (s *Server) SetNotServing() { s.health.Shutdown() }
