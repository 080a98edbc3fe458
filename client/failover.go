package client

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/leader"
)

// router is the connection the Client's service stubs use. It sends each
// call to the pool (every address of the hub, tried in turn by grpc-go's
// pick_first policy, so a dead node is skipped) until a node answers that
// it is not the leader and names it (internal/leader); it then sends every
// call to the leader's own connection, retrying the refused unary call
// there at once. A leader that becomes unreachable sends calls back to the
// pool, whose node names the next leader.
//
// A separate connection per leader is needed because pick_first keeps a
// working connection when its address list is reordered: it cannot be
// told "prefer this node" without dropping the others.
type router struct {
	pool  *grpc.ClientConn
	addrs []string
	dial  func(addr string) (*grpc.ClientConn, error)

	mu      sync.Mutex
	leader  string                      // "" while calls go to the pool
	leaders map[string]*grpc.ClientConn // dialed leaders, closed with the router
	next    int                         // the address to try when a node knows no leader
}

var _ grpc.ClientConnInterface = (*router)(nil)

// poolTarget returns the target and dial options of the pool: the address
// itself for a single hub (resolved as before), else a manual resolver
// listing every address in order with pick_first, grpc-go's default.
func poolTarget(addrs []string, passthrough bool) (string, []grpc.DialOption) {
	if len(addrs) == 1 {
		if passthrough {
			return "passthrough:///" + addrs[0], nil
		}
		return addrs[0], nil
	}
	r := manual.NewBuilderWithScheme("ndxp-hub")
	eps := make([]resolver.Endpoint, len(addrs))
	for i, a := range addrs {
		// ServerName: each node's certificate is checked against its own
		// address, not the first node's.
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a, ServerName: a}}}
	}
	r.InitialState(resolver.State{Endpoints: eps})
	return r.Scheme() + ":///" + addrs[0], []grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"pick_first": {}}]}`),
	}
}

// current returns the connection calls go to now, and the leader address
// it serves ("" for the pool).
func (r *router) current() (*grpc.ClientConn, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cc, ok := r.leaders[r.leader]; ok {
		return cc, r.leader
	}
	return r.pool, ""
}

// observe learns from a call's error made on the connection of leader at
// (or the pool): a leader hint naming another node switches calls to it
// and returns its connection; UNAVAILABLE from a leader's connection
// without a hint sends calls back to the pool.
func (r *router) observe(at string, err error) (*grpc.ClientConn, bool) {
	if err == nil {
		return nil, false
	}
	if addr, ok := leader.Hint(err); ok {
		if addr == at {
			return nil, false // a stale hint: the retry would loop
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		cc, ok := r.leaders[addr]
		if !ok {
			if r.leaders == nil {
				return nil, false // closed
			}
			var derr error
			if cc, derr = r.dial(addr); derr != nil {
				return nil, false
			}
			r.leaders[addr] = cc
		}
		r.leader = addr
		return cc, true
	}
	if leader.NotLeader(err) && len(r.addrs) > 1 {
		// A node that neither leads nor knows who does may be cut off
		// from the others; the pool would keep answering from it
		// (pick_first keeps a working connection), so the next call goes
		// to the next address, after the caller's backoff.
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.leaders == nil {
			return nil, false
		}
		i := slices.Index(r.addrs, at)
		if i < 0 {
			i = r.next
		}
		i = (i + 1) % len(r.addrs)
		r.next = i
		addr := r.addrs[i]
		if _, ok := r.leaders[addr]; !ok {
			cc, derr := r.dial(addr)
			if derr != nil {
				return nil, false
			}
			r.leaders[addr] = cc
		}
		r.leader = addr
		return nil, false
	}
	if at != "" && status.Code(err) == codes.Unavailable {
		r.mu.Lock()
		if r.leader == at {
			r.leader = ""
		}
		r.mu.Unlock()
	}
	return nil, false
}

// Invoke makes a unary call, and once more at the leader if the node
// called named another: a refused call did not run, so it is safe to
// repeat, and the leader is tried at once rather than after a backoff.
func (r *router) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	cc, at := r.current()
	err := cc.Invoke(ctx, method, args, reply, opts...)
	if next, ok := r.observe(at, err); ok {
		return next.Invoke(ctx, method, args, reply, opts...)
	}
	return err
}

// NewStream opens a stream on the current connection. A stream cannot be
// replayed here (its messages are the caller's), but its errors are
// watched, so that the caller's own retry (Send, Subscribe, Fetch) goes to
// the leader.
func (r *router) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cc, at := r.current()
	cs, err := cc.NewStream(ctx, desc, method, opts...)
	if err != nil {
		r.observe(at, err)
		return nil, err
	}
	return &watchedStream{ClientStream: cs, r: r, at: at}, nil
}

// watchedStream reports the stream's final error to the router.
type watchedStream struct {
	grpc.ClientStream
	r  *router
	at string
}

func (s *watchedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && !errors.Is(err, io.EOF) {
		s.r.observe(s.at, err)
	}
	return err
}

// close closes the pool and every leader's connection.
func (r *router) close() error {
	r.mu.Lock()
	leaders := r.leaders
	r.leaders = nil
	r.mu.Unlock()
	errs := []error{r.pool.Close()}
	for _, cc := range leaders {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}
