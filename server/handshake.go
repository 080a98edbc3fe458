package server

import (
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/ndxp/ndxp/internal/pki"
)

// authInfo is a connection's TLS state with the credential its client
// certificate carries, read once at the handshake (grpc-go's ALTS
// AuthInfo is the model): every call on the connection is authorized from
// it, and no call parses a certificate again.
type authInfo struct {
	credentials.TLSInfo
	cred pki.Credential
}

// errNoClientCert stands in a credential when the handshake verified no
// client certificate (it cannot, with the hub's TLS configuration, which
// requires one).
var errNoClientCert = errors.New("no client certificate verified by the hub's CA")

// handshakeCreds is the hub's TLS credentials. After the TLS handshake it
// reads the client certificate's credential, and applies the connection
// limits that depend on who connects (the room kept for admins).
type handshakeCreds struct {
	credentials.TransportCredentials
	conns *conns // nil when the server does not serve the limited listener
}

func (c handshakeCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	ti, ok := info.(credentials.TLSInfo)
	if !ok {
		tc.Close()
		return nil, nil, fmt.Errorf("handshake: %T is not TLS", info)
	}
	cred := pki.Credential{Err: errNoClientCert}
	if ch := ti.State.VerifiedChains; len(ch) > 0 && len(ch[0]) > 0 {
		cred = pki.CredentialOf(ch[0][0])
	}
	if lc, ok := raw.(*conn); ok && c.conns != nil {
		admin := cred.Err == nil && cred.Identity.Kind == pki.KindAdmin
		if err := c.conns.authenticated(lc, admin); err != nil {
			tc.Close()
			c.conns.refused()
			return nil, nil, err
		}
	}
	return tc, authInfo{TLSInfo: ti, cred: cred}, nil
}

func (c handshakeCreds) Clone() credentials.TransportCredentials {
	return handshakeCreds{TransportCredentials: c.TransportCredentials.Clone(), conns: c.conns}
}
