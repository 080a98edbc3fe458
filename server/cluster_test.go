package server_test

import (
	"strings"
	"testing"

	"github.com/ndxp/ndxp/server"
)

func TestValidateCluster(t *testing.T) {
	peers := []server.Peer{
		{ID: "n1", Raft: "10.0.0.1:7502", GRPC: "10.0.0.1:7443"},
		{ID: "n2", Raft: "10.0.0.2:7502", GRPC: "10.0.0.2:7443"},
		{ID: "n3", Raft: "10.0.0.3:7502", GRPC: "10.0.0.3:7443"},
	}
	node := func(edit func(*server.Config)) server.Config {
		c := server.DefaultConfig()
		c.CACert, c.TLSCert, c.TLSKey = "ca.crt", "server.crt", "server.key"
		c.NodeID, c.RaftListen, c.NodeCert, c.NodeKey = "n1", "0.0.0.0:7502", "node.crt", "node.key"
		c.Peers = append([]server.Peer(nil), peers...)
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		name    string
		cfg     server.Config
		wantErr string // "" for valid
	}{
		{"single hub", func() server.Config {
			c := server.DefaultConfig()
			c.CACert, c.TLSCert, c.TLSKey = "ca.crt", "server.crt", "server.key"
			return c
		}(), ""},
		{"a node", node(nil), ""},
		{"node id alone", func() server.Config {
			c := server.DefaultConfig()
			c.CACert, c.TLSCert, c.TLSKey = "ca.crt", "server.crt", "server.key"
			c.NodeID = "n1"
			return c
		}(), "raft_listen: a cluster node needs"},
		{"no node key", node(func(c *server.Config) { c.NodeKey = "" }), "node_key: a cluster node needs"},
		{"no peers", node(func(c *server.Config) { c.Peers = nil }), `a node joining a running cluster sets "join": true`},
		{"joining, no peers", node(func(c *server.Config) { c.Peers, c.Join, c.RaftListen = nil, true, "10.0.0.4:7502" }), ""},
		{"joining, with peers", node(func(c *server.Config) { c.Join = true }), ""},
		{"joining on every interface", node(func(c *server.Config) { c.Peers, c.Join = nil, true }), "raft_listen: 0.0.0.0:7502 is every interface"},
		{"join alone", func() server.Config {
			c := server.DefaultConfig()
			c.CACert, c.TLSCert, c.TLSKey = "ca.crt", "server.crt", "server.key"
			c.Join = true
			return c
		}(), "node_id: a cluster node needs"},
		{"bad node id", node(func(c *server.Config) { c.NodeID = "N1" }), "node_id: invalid ndxp identity"},
		{"node not a peer", node(func(c *server.Config) { c.NodeID = "n9" }), "n9 is not among the peers"},
		{"peer listed twice", node(func(c *server.Config) { c.Peers[2].ID = "n2" }), "peers[2].id: n2 is listed twice"},
		{"raft address twice", node(func(c *server.Config) { c.Peers[1].Raft = "10.0.0.1:7502" }), "peers[1].raft: 10.0.0.1:7502 is also peers[0].raft"},
		{"grpc is another's raft", node(func(c *server.Config) { c.Peers[1].GRPC = "10.0.0.3:7502" }), "peers[2].raft: 10.0.0.3:7502 is also peers[1].grpc"},
		{"bad peer address", node(func(c *server.Config) { c.Peers[0].GRPC = "10.0.0.1" }), "peers[0].grpc"},
		{"raft on the gRPC port", node(func(c *server.Config) { c.RaftListen = c.Listen }), "raft_listen"},
		{"dev", node(func(c *server.Config) { c.Dev, c.CACert, c.TLSCert, c.TLSKey = true, "", "", "" }), "share one CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
