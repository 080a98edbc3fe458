package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// NodeTLS returns the TLS configurations of the cluster's node port, where
// the nodes of one hub exchange Raft and attachment traffic over mutual
// TLS: server for the listener, client for dialing a peer. Both present
// the node certificate certPEM (from [CA.IssueNode]; it may be followed by
// its chain) with keyPEM, require TLS 1.3, and accept a peer only if its
// certificate chains to a CA in ca and names a node (urn:ndxp:node:<id>):
// an agency's or an admin's certificate from the same CA is refused with
// [ErrNotNode], so a credential issued to an agency can never speak Raft.
//
// The client checks the peer's node identity instead of a host name, so it
// dials by address alone (no ServerName needed): a node is known by the
// certificate the cluster's CA gave it, wherever it runs.
func NodeTLS(ca *x509.CertPool, certPEM, keyPEM []byte) (server, client *tls.Config, err error) {
	if ca == nil {
		return nil, nil, errors.New("pki: node TLS: no CA pool")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: node TLS: %w", err)
	}
	id, err := IdentityFromCert(cert.Leaf)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: node TLS: own certificate: %w", err)
	}
	if id.Kind != KindNode {
		return nil, nil, fmt.Errorf("pki: node TLS: own certificate names %s: %w", id, ErrNotNode)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !slices.Contains(cert.Leaf.ExtKeyUsage, u) {
			return nil, nil, fmt.Errorf("pki: node TLS: own certificate %s is not for both server and client authentication (issue it with IssueNode)", id)
		}
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return fmt.Errorf("%w: no verified client certificate", ErrNotNode)
			}
			return requireNode(cs.VerifiedChains[0][0])
		},
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca,
		MinVersion:   tls.VersionTLS13,
		// Verification is not skipped: VerifyConnection below does it,
		// with the node URI in place of the host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: the peer presented no certificate", ErrNotNode)
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			leaf := cs.PeerCertificates[0]
			if _, err := leaf.Verify(x509.VerifyOptions{
				Roots: ca, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}); err != nil {
				return fmt.Errorf("node certificate: %w", err)
			}
			return requireNode(leaf)
		},
	}
	return server, client, nil
}

// requireNode accepts a verified certificate only if it names a node.
func requireNode(cert *x509.Certificate) error {
	id, err := IdentityFromCert(cert)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotNode, err)
	}
	if id.Kind != KindNode {
		return fmt.Errorf("%w: %s may not use the node port", ErrNotNode, id)
	}
	return nil
}
