package cluster

import (
	"context"
	"crypto/tls"
	"net"
)

// The node port's TLS: mutual, with node certificates only, and a node
// dials its peers with its own (pki.NodeTLS makes both configurations).
// The mux (mux.go) runs it on each connection before reading the tag.

// tlsAccept completes the server side of the handshake within the
// connection's deadline, so a peer that is not a node is refused before
// its connection reaches Raft or the bodies' server.
func tlsAccept(c net.Conn, server *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, server)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

// tlsDial completes the client side of the handshake on c within ctx.
func tlsDial(ctx context.Context, c net.Conn, client *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(c, client)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}
