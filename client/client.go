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
	conn    *grpc.ClientConn
	creds   *pki.Creds
	timeout time.Duration

	// Registry is the admin API (admin credentials only).
	Registry ndxpv1.RegistryServiceClient
	// Directory looks agencies up.
	Directory ndxpv1.DirectoryServiceClient
	// Exchange is the raw document exchange API; the methods of Client wrap it.
	Exchange ndxpv1.ExchangeServiceClient
	// Monitor is the operators' monitoring API (admin credentials only).
	Monitor ndxpv1.MonitorServiceClient
}

// Option changes how Dial connects.
type Option func(*options)

type options struct {
	address string
	timeout time.Duration
	dialer  func(context.Context, string) (net.Conn, error)
}

// WithDialer makes connections with dial instead of TCP, e.g. over an
// in-memory listener in tests and benchmarks. TLS still runs over it.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(o *options) { o.dialer = dial }
}

// WithAddress dials addr instead of the address in the credentials file.
func WithAddress(addr string) Option { return func(o *options) { o.address = addr } }

// WithTimeout sets the default deadline of calls that have none (0 keeps DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Dial reads a credentials file and prepares a connection to the hub it
// names. The connection is made on first use; Dial fails only on bad
// credentials or options.
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
	o := options{address: c.Address, timeout: DefaultTimeout}
	for _, f := range opts {
		f(&o)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
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
	target := o.address
	if o.dialer != nil {
		dopts = append(dopts, grpc.WithContextDialer(o.dialer))
		if h, _, err := net.SplitHostPort(target); err == nil {
			target = "passthrough:///" + target // let the dialer resolve; TLS still checks the host name
			_ = h
		}
	}
	conn, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("dial hub %s: %w", o.address, err)
	}
	cl.conn = conn
	cl.Registry = ndxpv1.NewRegistryServiceClient(conn)
	cl.Directory = ndxpv1.NewDirectoryServiceClient(conn)
	cl.Exchange = ndxpv1.NewExchangeServiceClient(conn)
	cl.Monitor = ndxpv1.NewMonitorServiceClient(conn)
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

// Address returns the hub address the client dials.
func (c *Client) Address() string { return c.conn.Target() }

// Conn returns the underlying connection, for services the SDK does not wrap.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }
