package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The node port carries two protocols, Raft and attachment bodies: after
// the TLS handshake (at once on plain TCP, in tests) the dialer writes one
// tag byte and the accepting side routes the connection by it, so both
// share one port and one set of node certificates.
const (
	tagRaft byte = 'R'
	tagBody byte = 'B'
)

// tagTimeout bounds an accepted connection's handshake and tag byte, so a
// silent peer cannot hold a connection open before it is routed.
const tagTimeout = 5 * time.Second

// mux is the node port's listener. With TLS (pki.NodeTLS) only nodes get
// past the handshake, so neither protocol sees any other peer.
type mux struct {
	ln             net.Listener // plain TCP; TLS is done per connection
	server, client *tls.Config  // both nil: plain TCP
	advertise      net.Addr
	log            *slog.Logger
	raft, body     *chanListener
	once           sync.Once

	// Raft's transport does not close the connections it accepted or
	// dialed when it closes; the mux does, so a stopped node lets go of
	// its peers at once.
	connsMu sync.Mutex
	conns   map[net.Conn]struct{} // nil once closed
	// cut lists peer addresses this node may not dial: a network
	// partition, for tests (partition_test.go).
	cut map[string]bool
}

// listenMux listens on bind and starts routing connections.
func listenMux(bind string, advertise net.Addr, server, client *tls.Config, log *slog.Logger) (*mux, error) {
	if (server == nil) != (client == nil) {
		return nil, errors.New("node port: ServerTLS and ClientTLS must be both set or both nil")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	// Raft gives this address to peers, so it must be one they can dial.
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("node port: advertise address %v is not one peers can dial", advertise)
	}
	m := &mux{ln: ln, server: server, client: client, advertise: advertise, log: log,
		raft: newChanListener(advertise), body: newChanListener(advertise), conns: map[net.Conn]struct{}{}}
	go m.accept()
	return m, nil
}

// accept hands every connection to route, until the listener closes.
func (m *mux) accept() {
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("node port: accept", "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go m.route(c)
	}
}

// route completes the handshake, reads the tag and passes the connection
// to its protocol's listener.
func (m *mux) route(c net.Conn) {
	c.SetDeadline(time.Now().Add(tagTimeout))
	conn := c
	if m.server != nil {
		tc, err := tlsAccept(c, m.server)
		if err != nil {
			m.log.Warn("node port: TLS handshake refused", "peer", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		conn = tc
	}
	var tag [1]byte
	if _, err := io.ReadFull(conn, tag[:]); err != nil {
		m.log.Debug("node port: no protocol tag", "peer", c.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	switch tag[0] {
	case tagRaft:
		if c := m.track(conn); c != nil {
			m.raft.deliver(c)
		}
	case tagBody:
		m.body.deliver(conn)
	default:
		m.log.Warn("node port: unknown protocol tag", "peer", c.RemoteAddr().String(), "tag", tag[0])
		conn.Close()
	}
}

// dial connects to a peer's node port for the protocol tag.
func (m *mux) dial(ctx context.Context, addr string, tag byte) (net.Conn, error) {
	m.connsMu.Lock()
	cut := m.cut[addr]
	m.connsMu.Unlock()
	if cut {
		return nil, fmt.Errorf("node port %s: unreachable (partitioned)", addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if m.client != nil {
		tc, err := tlsDial(ctx, c, m.client)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("node port %s: %w", addr, err)
		}
		c = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, fmt.Errorf("node port %s: %w", addr, err)
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// Close stops listening; connections already routed stay with their
// protocol, which closes them.
func (m *mux) Close() error {
	var err error
	m.once.Do(func() {
		err = m.ln.Close()
		m.raft.Close()
		m.body.Close()
		m.connsMu.Lock()
		conns := m.conns
		m.conns = nil
		m.connsMu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	return err
}

// raftLayer is Raft's stream layer on the mux.
func (m *mux) raftLayer() raft.StreamLayer { return raftLayer{m} }

type raftLayer struct{ m *mux }

func (l raftLayer) Accept() (net.Conn, error) { return l.m.raft.Accept() }

// Close closes the whole port: Raft's transport closing is the node
// shutting down (the bodies' server is closed by the node too).
func (l raftLayer) Close() error { return l.m.Close() }

// Addr is the address peers dial, not only the one listened on.
func (l raftLayer) Addr() net.Addr { return l.m.advertise }

// Dial implements raft.StreamLayer; with TLS the handshake is done within
// the timeout, so a peer that is not a node fails the dial.
func (l raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := l.m.dial(ctx, string(address), tagRaft)
	if err != nil {
		return nil, err
	}
	if c = l.m.track(c); c == nil {
		return nil, net.ErrClosed
	}
	return c, nil
}

// track notes a Raft connection for Close, and returns it wrapped so that
// closing it forgets it; nil (and c closed) when the mux is closed.
func (m *mux) track(c net.Conn) net.Conn {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.conns == nil {
		c.Close()
		return nil
	}
	tc := &trackedConn{Conn: c, m: m, peer: c.RemoteAddr().String()}
	m.conns[tc] = struct{}{}
	return tc
}

type trackedConn struct {
	net.Conn
	m    *mux
	peer string // the address dialed, or the dialer's
	once sync.Once
}

// partition makes the peers at addrs unreachable from this node, closing
// the connections it dialed to them, or reachable again (nil). Each side
// of a partition cuts the other: a peer's connections to this node end
// when that peer cuts it.
func (m *mux) partition(addrs []string) {
	m.connsMu.Lock()
	m.cut = map[string]bool{}
	for _, a := range addrs {
		m.cut[a] = true
	}
	var drop []net.Conn
	for c := range m.conns {
		if m.cut[c.(*trackedConn).peer] {
			drop = append(drop, c)
		}
	}
	m.connsMu.Unlock()
	for _, c := range drop {
		c.Close()
	}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.m.connsMu.Lock()
		if c.m.conns != nil {
			delete(c.m.conns, c)
		}
		c.m.connsMu.Unlock()
	})
	return c.Conn.Close()
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn // unbuffered: a connection is either accepted or closed
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept, or closes it when nobody accepts in time.
func (l *chanListener) deliver(c net.Conn) {
	t := time.NewTimer(tagTimeout)
	defer t.Stop()
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	case <-t.C:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
