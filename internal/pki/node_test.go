package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNodeIdentity(t *testing.T) {
	for _, id := range []string{"n1", "node-3", "a", strings.Repeat("z", MaxNodeIDLen)} {
		uri := "urn:ndxp:node:" + id
		got, err := ParseIdentity(uri)
		if err != nil {
			t.Fatalf("ParseIdentity(%q): %v", uri, err)
		}
		if want := NodeIdentity(id); got != want {
			t.Errorf("ParseIdentity(%q) = %+v, want %+v", uri, got, want)
		}
		if got.URI() != uri {
			t.Errorf("URI() = %q, want %q", got.URI(), uri)
		}
	}
	if got := KindNode.String(); got != "node" {
		t.Errorf("KindNode.String() = %q, want node", got)
	}
	for _, uri := range []string{
		"urn:ndxp:node:",
		"urn:ndxp:node:Node1", // upper case
		"urn:ndxp:node:n.1",   // dot, valid in agency codes
		"urn:ndxp:node:n_1",   // underscore
		"urn:ndxp:node:" + strings.Repeat("a", MaxNodeIDLen+1),
	} {
		if got, err := ParseIdentity(uri); !errors.Is(err, ErrInvalidIdentity) {
			t.Errorf("ParseIdentity(%q) = %v, %v; want %v", uri, got, err, ErrInvalidIdentity)
		}
	}
}

func TestIssueNode(t *testing.T) {
	ca := newTestCA(t, "hub CA")
	certPEM, keyPEM, serial, err := ca.IssueNode("n2", []string{"127.0.0.1", "node2.hub.example"}, testNow, time.Hour)
	if err != nil {
		t.Fatalf("IssueNode: %v", err)
	}
	cert := parseCertPEM(t, certPEM)
	id, err := IdentityFromCert(cert)
	if err != nil || id != NodeIdentity("n2") {
		t.Errorf("IdentityFromCert = %v, %v; want %v", id, err, NodeIdentity("n2"))
	}
	if SerialString(cert) != serial {
		t.Errorf("serial %s, want %s", SerialString(cert), serial)
	}
	if want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; !slices.Equal(cert.ExtKeyUsage, want) {
		t.Errorf("ExtKeyUsage = %v, want %v (nodes dial each other)", cert.ExtKeyUsage, want)
	}
	if len(cert.IPAddresses) != 1 || len(cert.DNSNames) != 1 {
		t.Errorf("SANs IP %v DNS %v, want one of each", cert.IPAddresses, cert.DNSNames)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("key does not match: %v", err)
	}
	if _, _, _, err := ca.IssueNode("N2", nil, testNow, time.Hour); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("IssueNode(N2) = %v, want %v", err, ErrInvalidIdentity)
	}
	if _, _, _, err := ca.IssueClient(NodeIdentity("n2"), testNow, time.Hour); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("IssueClient(node) = %v, want %v: a client-only node certificate cannot serve", err, ErrInvalidIdentity)
	}
}

// TestNodeTLS runs handshakes on the node port: only node certificates
// from the hub's CA pass, on either end.
func TestNodeTLS(t *testing.T) {
	now := time.Now()
	hubCA, otherCA := newTestCA(t, "hub CA"), newTestCA(t, "other CA")
	type material struct{ certPEM, keyPEM []byte }
	node := func(ca *CA, id string) material {
		c, k, _, err := ca.IssueNode(id, nil, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return material{c, k}
	}
	client := func(id Identity) material {
		c, k, _, err := hubCA.IssueClient(id, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return material{c, k}
	}
	hubServer := func() material {
		c, k, err := hubCA.IssueServer([]string{"127.0.0.1"}, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return material{c, k}
	}()
	n1, n2 := node(hubCA, "n1"), node(hubCA, "n2")

	tests := []struct {
		name string
		// server is the listener's certificate; nil: n1 with NodeTLS.
		server *material
		// client is the dialer's certificate: with NodeTLS when node,
		// else as a plain client certificate forced on the server.
		client        material
		clientIsNode  bool
		wantServerErr string // "" for success
	}{
		{name: "node to node", client: n2, clientIsNode: true},
		{name: "agency certificate", client: client(AgencyIdentity(agencyCode)), wantServerErr: "not a node certificate"},
		{name: "admin certificate", client: client(AdminIdentity("root")), wantServerErr: "not a node certificate"},
		{name: "node of another CA", client: node(otherCA, "n2"), clientIsNode: true, wantServerErr: "didn't provide a certificate"},
		{name: "listener with the hub's server certificate", server: &hubServer, client: n2, clientIsNode: true, wantServerErr: "bad certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var serverCfg *tls.Config
			if tt.server == nil {
				if serverCfg, _, err = NodeTLS(hubCA.Pool(), n1.certPEM, n1.keyPEM); err != nil {
					t.Fatalf("NodeTLS: %v", err)
				}
			} else if serverCfg, err = ServerTLS(hubCA.Pool(), tt.server.certPEM, tt.server.keyPEM); err != nil {
				t.Fatal(err)
			}
			var clientCfg *tls.Config
			if tt.clientIsNode {
				if _, clientCfg, err = NodeTLS(hubCA.Pool(), tt.client.certPEM, tt.client.keyPEM); err != nil {
					t.Fatalf("NodeTLS: %v", err)
				}
			} else {
				cert, err := tls.X509KeyPair(tt.client.certPEM, tt.client.keyPEM)
				if err != nil {
					t.Fatal(err)
				}
				// A hostile agency would also skip checking the node.
				clientCfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
			}
			results := make(chan serverResult, 1)
			go serveOnce(ln, serverCfg, results)

			var clientErr error
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), clientCfg)
			if err != nil {
				clientErr = err
			} else {
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 3)
				if _, err := io.ReadFull(conn, buf); err != nil {
					clientErr = err
				}
				conn.Close()
			}
			res := <-results
			if tt.wantServerErr == "" {
				if res.err != nil || clientErr != nil {
					t.Fatalf("server error %v, client error %v; want success", res.err, clientErr)
				}
				if res.id != NodeIdentity("n2") {
					t.Errorf("server saw %v, want %v", res.id, NodeIdentity("n2"))
				}
				return
			}
			if res.err == nil || clientErr == nil {
				t.Fatalf("server error %v, client error %v; want both to fail", res.err, clientErr)
			}
			if !strings.Contains(res.err.Error(), tt.wantServerErr) {
				t.Errorf("server error %q, want it to contain %q", res.err, tt.wantServerErr)
			}
		})
	}
}

func TestNodeTLSRefusesNonNodeCertificate(t *testing.T) {
	ca := newTestCA(t, "hub CA")
	certPEM, keyPEM, _, err := ca.IssueClient(AdminIdentity("root"), testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NodeTLS(ca.Pool(), certPEM, keyPEM); !errors.Is(err, ErrNotNode) {
		t.Errorf("NodeTLS(admin certificate) = %v, want %v", err, ErrNotNode)
	}
}
