package server

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/ndxp/ndxp/internal/pki"
)

// Clustered reports whether the configuration is a cluster node's.
func (c Config) Clustered() bool {
	return c.NodeID != "" || c.RaftListen != "" || len(c.Peers) > 0 || c.NodeCert != "" || c.NodeKey != "" || c.Join
}

// validateCluster checks the cluster settings: all or none (peers may be
// empty on a node that joins), a valid node id found among the peers, and
// no address or id given to two nodes.
func (c Config) validateCluster() []error {
	if !c.Clustered() {
		return nil
	}
	var errs []error
	for _, s := range []struct{ name, v string }{
		{"node_id", c.NodeID}, {"raft_listen", c.RaftListen}, {"node_cert", c.NodeCert}, {"node_key", c.NodeKey},
	} {
		if s.v == "" {
			errs = append(errs, fmt.Errorf("%s: a cluster node needs node_id, raft_listen, peers, node_cert and node_key (or none of them, for a single hub)", s.name))
		}
	}
	if len(c.Peers) == 0 && !c.Join {
		errs = append(errs, errors.New("peers: a cluster node needs node_id, raft_listen, peers, node_cert and node_key (or none of them, for a single hub); "+
			"a node joining a running cluster sets \"join\": true instead (ndxpctl cluster node writes it)"))
	}
	if c.Join && c.NodeID != "" && !slices.ContainsFunc(c.Peers, func(p Peer) bool { return p.ID == c.NodeID }) {
		// The others dial the address a node advertises, which is its
		// raft_listen unless its peers list it.
		if h, _, err := net.SplitHostPort(c.RaftListen); err == nil && (h == "" || net.ParseIP(h).IsUnspecified()) {
			errs = append(errs, fmt.Errorf("raft_listen: %s is every interface, which the other nodes cannot dial; "+
				"give this node's own address, or list this node in peers with it", c.RaftListen))
		}
	}
	if c.NodeID != "" {
		if err := pki.ValidateNodeID(c.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("node_id: %w", err))
		}
	}
	if c.RaftListen != "" {
		if _, _, err := net.SplitHostPort(c.RaftListen); err != nil {
			errs = append(errs, fmt.Errorf("raft_listen: %q is not host:port: %w", c.RaftListen, err))
		} else if c.RaftListen == c.Listen || c.RaftListen == c.HTTP || c.RaftListen == c.VxpListen {
			errs = append(errs, fmt.Errorf("raft_listen: %s is also this node's gRPC, HTTP or VXP address", c.RaftListen))
		}
	}
	if c.Dev {
		errs = append(errs, errors.New("node_id: a cluster's nodes share one CA, and --dev makes one per data directory; give --ca-cert, --ca-key, --tls-cert and --tls-key (ndxpctl cluster init writes them)"))
	}
	ids := map[string]bool{}
	addrs := map[string]string{} // address -> "peers[i].raft"
	found := false
	for i, p := range c.Peers {
		if err := pki.ValidateNodeID(p.ID); err != nil {
			errs = append(errs, fmt.Errorf("peers[%d].id: %w", i, err))
		} else if ids[p.ID] {
			errs = append(errs, fmt.Errorf("peers[%d].id: %s is listed twice", i, p.ID))
		}
		ids[p.ID] = true
		found = found || p.ID == c.NodeID
		for _, a := range []struct{ field, v string }{{"raft", p.Raft}, {"grpc", p.GRPC}} {
			name := fmt.Sprintf("peers[%d].%s", i, a.field)
			if _, _, err := net.SplitHostPort(a.v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not host:port: %w", name, a.v, err))
				continue
			}
			if prev, dup := addrs[a.v]; dup {
				errs = append(errs, fmt.Errorf("%s: %s is also %s", name, a.v, prev))
				continue
			}
			addrs[a.v] = name
		}
	}
	if c.NodeID != "" && len(c.Peers) > 0 && !found {
		errs = append(errs, fmt.Errorf("node_id: %s is not among the peers; list every node, this one included", c.NodeID))
	}
	return errs
}
