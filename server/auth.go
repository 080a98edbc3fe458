package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/hub"
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
	accessAny                  // any holder of a certificate from the trusted CA (health, reflection)
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
	{"/grpc.health.v1.Health/", accessAny},
	{"/grpc.reflection.", accessAny},
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
	if acc == accessAny {
		return ctx, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate verified by the hub's CA is required")
	}
	pr, err := s.hub.Authenticate(info.State.VerifiedChains[0][0])
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
	ctx, err := s.authenticate(ctx, info.FullMethod)
	var resp any
	if err == nil {
		resp, err = handler(ctx, req)
		err = toStatus(s.log, info.FullMethod, err)
	}
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err == nil {
		err = handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
		err = toStatus(s.log, info.FullMethod, err)
	}
	s.logCall(ctx, info.FullMethod, start, err)
	return err
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
