// Package client is the Go SDK that agency document systems (and the ndxp
// command-line tools) embed to talk to an ndxp hub over mutual TLS.
//
// A program reads its credentials file (issued by the hub operator with
// `ndxpctl credential issue`) and dials:
//
//	c, err := client.Dial(ctx, "agency.creds")
//	defer c.Close()
//
// Every call without a deadline of its own gets the client's default
// timeout, so a hung hub never hangs the caller.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"

	"github.com/ndxp/ndxp/internal/bufpool"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// EnvCreds is the environment variable naming a credentials file.
const EnvCreds = "NDXP_CREDS"

// DefaultTimeout bounds each unary call that has no deadline of its own.
const DefaultTimeout = 30 * time.Second

// Client is a connection to a hub. It is safe for concurrent use.
type Client struct {
	conn    *router
	creds   *pki.Creds
	timeout time.Duration
	pipe    *pipeline // small documents' sends; nil without one
	// noReceive is set once the hub turned Receive down as unimplemented.
	noReceive atomic.Bool

	// Registry is the admin API (admin credentials only).
	Registry ndxpv1.RegistryServiceClient
	// Directory looks agencies up.
	Directory ndxpv1.DirectoryServiceClient
	// Exchange is the raw document exchange API; the methods of Client wrap it.
	Exchange ndxpv1.ExchangeServiceClient
	// Monitor is the operators' monitoring API (admin credentials only).
	Monitor ndxpv1.MonitorServiceClient
	// Maintenance is backup, store check and purge (admin credentials only).
	Maintenance ndxpv1.MaintenanceServiceClient
	// Cluster is a cluster's status and membership (admin credentials only).
	Cluster ndxpv1.ClusterServiceClient
}

// Option changes how Dial connects.
type Option func(*options)

type options struct {
	address  string
	timeout  time.Duration
	dialer   func(context.Context, string) (net.Conn, error)
	pipeline int
}

// WithDialer makes connections with dial instead of TCP, e.g. over an
// in-memory listener in tests and benchmarks. TLS still runs over it.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.dialer = dial }
}

// WithAddress dials addr instead of the addresses in the credentials file;
// several addresses, comma-separated, are tried in turn as a file's are.
func WithAddress(addr string) Option { return func(o *options) { o.address = addr } }

// WithTimeout sets the default deadline of calls that have none (0 keeps DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Dial reads a credentials file and prepares a connection to the hub it
// names. The connection is made on first use; Dial fails only on bad
// credentials or options.
//
// When the file lists several addresses (a cluster), calls go to the first
// node that answers, skipping dead ones, and follow the leader: a call a
// follower refuses with the leader's address is repeated there at once,
// and later calls go there too.
func Dial(ctx context.Context, credsFile string, opts ...Option) (*Client, error) {
	if credsFile == "" {
		credsFile = os.Getenv(EnvCreds)
	}
	if credsFile == "" {
		return nil, errors.New("no credentials file: pass one or set " + EnvCreds)
	}
	c, err := pki.ReadCreds(credsFile)
	if err != nil {
		return nil, err
	}
	return dial(ctx, c, opts...)
}

func dial(_ context.Context, c *pki.Creds, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout, pipeline: DefaultPipeline}
	for _, f := range opts {
		f(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	addrs := c.Addresses
	switch {
	case strings.Contains(o.address, ","):
		var err error
		if addrs, err = pki.ParseAddresses(o.address); err != nil {
			return nil, fmt.Errorf("hub address: %w", err)
		}
	case o.address != "":
		addrs = []string{o.address}
	case len(addrs) == 0:
		addrs = []string{c.Address} // Creds built by hand, not parsed
	}
	cl := &Client{creds: c, timeout: o.timeout}
	pool := bufpool.New()
	dopts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(c.ClientTLS())),
		grpc.WithChainUnaryInterceptor(cl.deadline),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Message buffers not cleared on every reuse (internal/bufpool).
		experimental.WithBufferPool(pool),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(pool.Codec())),
	}
	if o.dialer != nil {
		// The dialer resolves; TLS still checks the host name.
		dopts = append(dopts, grpc.WithContextDialer(o.dialer))
	}
	target, popts := poolTarget(addrs, o.dialer != nil)
	conn, err := grpc.NewClient(target, append(popts, dopts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial hub %s: %w", strings.Join(addrs, ","), err)
	}
	r := &router{pool: conn, addrs: addrs, leaders: map[string]*grpc.ClientConn{}}
	r.dial = func(addr string) (*grpc.ClientConn, error) {
		target, _ := poolTarget([]string{addr}, o.dialer != nil)
		return grpc.NewClient(target, dopts...)
	}
	cl.conn = r
	cl.Registry = ndxpv1.NewRegistryServiceClient(r)
	cl.Directory = ndxpv1.NewDirectoryServiceClient(r)
	cl.Exchange = ndxpv1.NewExchangeServiceClient(r)
	cl.Monitor = ndxpv1.NewMonitorServiceClient(r)
	cl.Maintenance = ndxpv1.NewMaintenanceServiceClient(r)
	cl.Cluster = ndxpv1.NewClusterServiceClient(r)
	if o.pipeline > 0 {
		cl.pipe = newPipeline(cl, o.pipeline)
	}
	return cl, nil
}

// deadline gives each unary call the default timeout unless it has one.
func (c *Client) deadline(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// Identity returns the identity URI of the credential, e.g. "urn:ndxp:agency:000.00.00.G22".
func (c *Client) Identity() string { return c.creds.Identity.URI() }

// Code returns the agency code of an agency credential ("" for an admin).
func (c *Client) Code() string {
	if c.creds.Identity.Kind != pki.KindAgency {
		return ""
	}
	return c.creds.Identity.Name
}

// Address returns the hub address the client dials: for a cluster, the
// leader's once a node has named it, else every address, comma-separated
// as a credentials file takes them.
func (c *Client) Address() string {
	cc, at := c.conn.current()
	switch {
	case at != "":
		return at
	case len(c.conn.addrs) == 1:
		return cc.Target()
	}
	return strings.Join(c.conn.addrs, ",")
}

// Conn returns the connection calls go to now, for services the SDK does
// not wrap. The service stubs of Client follow a cluster's leader; a stub
// made on Conn stays on the node it was made for.
func (c *Client) Conn() *grpc.ClientConn {
	cc, _ := c.conn.current()
	return cc
}

// Close releases the connections.
func (c *Client) Close() error {
	if c.pipe != nil {
		c.pipe.close()
	}
	return c.conn.close()
}
