package cluster

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tlsLayer is Raft's stream layer over mutual TLS: the node port accepts
// node certificates only, and a node dials its peers with its own
// (pki.NodeTLS makes both configurations).
type tlsLayer struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

// newTLSLayer listens on bind with the server configuration.
func newTLSLayer(bind string, advertise net.Addr, server, client *tls.Config) (*tlsLayer, error) {
	ln, err := tls.Listen("tcp", bind, server)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	return &tlsLayer{Listener: ln, advertise: advertise, client: client}, nil
}

// Addr is the address peers dial, not only the one listened on.
func (l *tlsLayer) Addr() net.Addr { return l.advertise }

// Dial implements raft.StreamLayer: the handshake is done here, within
// the timeout, so a peer that is not a node fails the dial.
func (l *tlsLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(address), l.client)
	if err != nil {
		return nil, err
	}
	return c, nil
}
