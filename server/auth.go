package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/pki"
)

type principalKey struct{}

// principalFrom returns the caller set by the identity interceptor.
func principalFrom(ctx context.Context) hub.Principal {
	p, _ := ctx.Value(principalKey{}).(hub.Principal)
	return p
}

// access says who may call a method, by the method's full-name prefix.
type access int

const (
	accessAdmin  access = iota // admins only
	accessAgency               // any registered, unsuspended agency or an admin
)

var methodAccess = []struct {
	prefix string
	access access
}{
	{"/ndxp.v1.RegistryService/", accessAdmin},
	{"/ndxp.v1.DirectoryService/", accessAgency},
	{"/ndxp.v1.ExchangeService/", accessAgency},
	{"/ndxp.v1.MonitorService/", accessAdmin},
	{"/ndxp.v1.MaintenanceService/", accessAdmin},
	{"/ndxp.v1.ClusterService/", accessAdmin},
	// Health and reflection answer any valid credential, and no revoked
	// or suspended one: they tell what runs here.
	{"/grpc.health.v1.Health/", accessAgency},
	{"/grpc.reflection.", accessAgency},
}

// streamKinds say which per-caller cap each streaming method counts
// against (hub.Limits); every stream is held so that a revocation or a
// suspension ends it.
var streamKinds = map[string]hub.StreamKind{
	"/ndxp.v1.ExchangeService/SendDocument":                          hub.StreamUpload,
	"/ndxp.v1.ExchangeService/SendDocuments":                         hub.StreamUpload,
	"/ndxp.v1.ExchangeService/FetchAttachment":                       hub.StreamFetch,
	"/ndxp.v1.ExchangeService/SendPacket":                            hub.StreamUpload,
	"/ndxp.v1.ExchangeService/FetchPacket":                           hub.StreamFetch,
	"/ndxp.v1.ExchangeService/Subscribe":                             hub.StreamSubscribe,
	"/ndxp.v1.ExchangeService/Receive":                               hub.StreamSubscribe,
	"/ndxp.v1.MonitorService/WatchSnapshot":                          hub.StreamWatch,
	"/ndxp.v1.MaintenanceService/Backup":                             hub.StreamBackup,
	"/grpc.health.v1.Health/Watch":                                   hub.StreamWatch,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      hub.StreamWatch,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": hub.StreamWatch,
}

// authenticate takes the caller's identity from its verified TLS
// certificate (never from request fields) and checks it may call method.
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	acc := accessAdmin // unknown methods are admin-only
	for _, m := range methodAccess {
		if strings.HasPrefix(method, m.prefix) {
			acc = m.access
			break
		}
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(authInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "a client certificate verified by the hub's CA is required")
	}
	if info.cred.Err == nil && info.cred.Identity.Kind == pki.KindNode {
		// Nodes talk to each other on the cluster port (pki.NodeTLS); a
		// node's key on this port is a mistake, or a stolen key at work.
		return nil, status.Error(codes.Unauthenticated, "a node certificate is for the cluster port")
	}
	pr, err := s.hub.Authenticate(info.cred)
	if err != nil {
		return nil, toStatus(s.log, method, err)
	}
	if acc == accessAdmin && !pr.Admin {
		return nil, status.Errorf(codes.PermissionDenied, "%s is an agency credential; %s needs an admin credential", pr, method)
	}
	s.hub.Seen(pr)
	return context.WithValue(ctx, principalKey{}, pr), nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	if err := s.leaderOnly(info.FullMethod, nil); err != nil {
		return nil, err
	}
	ctx, err := s.authenticate(ctx, info.FullMethod)
	var resp any
	if err == nil {
		resp, err = s.runUnary(ctx, req, info, handler)
	}
	err = s.leaderOnly(info.FullMethod, err)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) runUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer s.recoverPanic(ctx, info.FullMethod, &err)
	resp, err = handler(ctx, req)
	return resp, toStatus(s.log, info.FullMethod, err)
}

// recoverPanic turns a panic in a handler into Internal for its caller and
// one log line with the stack, instead of the end of the process and of
// every other agency's calls.
func (s *Server) recoverPanic(ctx context.Context, method string, err *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in handler", "method", method, "caller", principalFrom(ctx).String(), "panic", r, "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error in the hub; the operators have it in the log")
	}
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	if m := s.unserved.Load(); m != nil && (*m)[info.FullMethod] {
		err := status.Errorf(codes.Unimplemented, "unknown method %s", info.FullMethod)
		s.logCall(ss.Context(), info.FullMethod, start, err)
		return err
	}
	if err := s.leaderOnly(info.FullMethod, nil); err != nil {
		return err
	}
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err == nil {
		err = s.runStream(ctx, srv, ss, info, handler)
	}
	err = s.leaderOnly(info.FullMethod, err)
	s.logCall(ctx, info.FullMethod, start, err)
	return err
}

// runStream runs a stream handler held by the hub (BeginStream): counted
// against its caller's cap, and ended with the reason when the caller's
// credential is revoked or its agency suspended; if the handler does not
// return then, its connection is closed under it.
func (s *Server) runStream(ctx context.Context, srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx, done, err := s.hub.BeginStream(ctx, principalFrom(ctx), streamKinds[info.FullMethod])
	if err != nil {
		return toStatus(s.log, info.FullMethod, err)
	}
	defer done()
	if pr, ok := peer.FromContext(ctx); ok && s.conns != nil {
		returned := make(chan struct{})
		defer close(returned)
		defer s.conns.closeIfStuck(ctx, pr.Addr.String(), returned)()
	}
	defer s.recoverPanic(ctx, info.FullMethod, &err)
	err = handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
	var he *hub.Error
	if c := context.Cause(ctx); ctx.Err() != nil && errors.As(c, &he) {
		// The revocation, not the "context canceled" it caused, nor the
		// nil of a handler that ends quietly when its context does.
		err = c
	}
	return toStatus(s.log, info.FullMethod, err)
}

func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	if code != codes.OK {
		level = slog.LevelInfo
	}
	if ctx == nil {
		ctx = context.Background()
	}
	s.log.Log(ctx, level, "rpc", "method", method, "caller", principalFrom(ctx).String(), "code", code.String(), "duration", time.Since(start), "err", errText(err))
	if s.metrics != nil {
		s.metrics.observeRPC(method, code, time.Since(start))
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return status.Convert(err).Message()
}
