package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/hub"
)

// connLimits bound the connections of the gRPC listener. They are
// enforced before TLS, where a connection costs a descriptor and nothing
// else is known of it: a flood of connections that never finish a
// handshake fills at most the pending share (and, from one address, its
// per-host share), for at most the handshake timeout. The room kept for
// admins is kept from agencies' authenticated connections; a new admin
// connection still needs a place at Accept, which a flood of unfinished
// handshakes from many addresses can hold until their timeout.
type connLimits struct {
	// max is the most connections open at once.
	max int
	// perHost is the most connections open at once from one address.
	perHost int
	// pending is the most connections still in their TLS handshake.
	pending int
	// adminReserve of max are kept for admin certificates.
	adminReserve int
}

// conns is the gRPC listener with its limits, and the registry of the
// connections it accepted, so that a revoked credential's connections can
// be closed.
type conns struct {
	net.Listener
	lim     connLimits
	log     *slog.Logger
	refused func()

	mu       sync.Mutex
	open     int
	handshks int
	byHost   map[string]int
	byAddr   map[string]*conn // remote address -> connection
	lastWarn time.Time
}

// conn is one accepted connection.
type conn struct {
	net.Conn
	l    *conns
	host string
	once sync.Once

	handshake bool // still in its TLS handshake; guarded by l.mu
}

func newConns(l net.Listener, lim connLimits, log *slog.Logger, refused func()) *conns {
	return &conns{Listener: l, lim: lim, log: log, refused: refused, byHost: map[string]int{}, byAddr: map[string]*conn{}}
}

// Accept returns the next connection within the limits; one past them is
// closed at once, so it holds its descriptor for no longer than that.
func (l *conns) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		why := ""
		switch {
		case l.lim.max > 0 && l.open >= l.lim.max:
			why = fmt.Sprintf("%d connections open, the limit", l.open)
		case l.lim.perHost > 0 && l.byHost[host] >= l.lim.perHost:
			why = fmt.Sprintf("%d connections open from %s, the limit for one address", l.byHost[host], host)
		case l.lim.pending > 0 && l.handshks >= l.lim.pending:
			why = fmt.Sprintf("%d connections in their TLS handshake, the limit", l.handshks)
		}
		if why != "" {
			warn := time.Since(l.lastWarn) > 10*time.Second
			if warn {
				l.lastWarn = time.Now()
			}
			l.mu.Unlock()
			c.Close()
			l.refused()
			if warn { // at most one line in ten seconds under a flood
				l.log.Warn("connection refused", "remote", c.RemoteAddr().String(), "why", why)
			}
			continue
		}
		l.open++
		l.handshks++
		l.byHost[host]++
		cc := &conn{Conn: c, l: l, host: host, handshake: true}
		l.byAddr[c.RemoteAddr().String()] = cc
		l.mu.Unlock()
		return cc, nil
	}
}

// Close closes the connection and gives its place back.
func (c *conn) Close() error {
	c.once.Do(func() {
		l := c.l
		l.mu.Lock()
		l.open--
		if c.handshake {
			l.handshks--
		}
		if l.byHost[c.host]--; l.byHost[c.host] == 0 {
			delete(l.byHost, c.host)
		}
		if k := c.RemoteAddr().String(); l.byAddr[k] == c {
			delete(l.byAddr, k) // a later connection may have the address now
		}
		l.mu.Unlock()
	})
	return c.Conn.Close()
}

// authenticated records that c finished its handshake with a certificate
// of the given kind, and says whether it may stay: an agency's connection
// may not take the room kept for admins.
func (l *conns) authenticated(c *conn, admin bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.handshake {
		c.handshake = false
		l.handshks--
	}
	if !admin && l.lim.max > 0 && l.open > l.lim.max-l.lim.adminReserve {
		return fmt.Errorf("%d connections open: the last %d are kept for admins", l.open, l.lim.adminReserve)
	}
	return nil
}

// closeConn closes the connection from remote, if it is still open: the
// way to end a stream whose handler is blocked in the transport.
func (l *conns) closeConn(remote string) {
	l.mu.Lock()
	c := l.byAddr[remote]
	l.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// endGrace is how long a stream ended by a revocation may take to return
// its status before its connection is closed under it.
const endGrace = 500 * time.Millisecond

// closeIfStuck closes the connection of a stream ended by a revocation or
// suspension if its handler has not returned within endGrace: a handler
// blocked sending to a peer that does not read (or waiting for one that
// does not write) sees only its connection's end.
func (l *conns) closeIfStuck(ctx context.Context, remote string, returned <-chan struct{}) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		var he *hub.Error
		if !errors.As(context.Cause(ctx), &he) {
			return // the stream ended by itself
		}
		select {
		case <-returned:
		case <-time.After(endGrace):
			l.closeConn(remote)
		}
	})
}
