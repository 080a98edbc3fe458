package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
)

// DefaultClusterBasePort is where InitCluster numbers ports from.
const DefaultClusterBasePort = 7500

// Ports of node N (from 1) in a cluster made by InitCluster: gRPC on
// base+10(N-1), HTTP one above, the node port (Raft) two above, VXP three.
const (
	clusterPortStride = 10
	clusterHTTPOffset = 1
	clusterRaftOffset = 2
	clusterVXPOffset  = 3
)

// ClusterLayout is what InitCluster wrote, with absolute paths.
type ClusterLayout struct {
	Dir        string        `json:"dir"`
	CACert     string        `json:"ca_cert"`
	CAKey      string        `json:"ca_key"`
	AdminCreds string        `json:"admin_creds"`
	Addresses  []string      `json:"addresses"` // every node's gRPC address, as in admin.creds
	Nodes      []ClusterNode `json:"nodes"`
}

// ClusterNode is one node of a ClusterLayout.
type ClusterNode struct {
	ID       string `json:"id"`
	Config   string `json:"config"` // ndxpd --config FILE starts it
	DataDir  string `json:"data"`
	GRPC     string `json:"grpc"`
	HTTP     string `json:"http"`
	Raft     string `json:"raft"`
	VXP      string `json:"vxp"`
	TLSCert  string `json:"tls_cert"`
	TLSKey   string `json:"tls_key"`
	NodeCert string `json:"node_cert"`
	NodeKey  string `json:"node_key"`
}

// nodeConfig is the part of Config a cluster node's file sets; the rest
// keeps ndxpd's defaults.
type nodeConfig struct {
	DataDir    string `json:"data"`
	Listen     string `json:"listen"`
	HTTP       string `json:"http"`
	VxpListen  string `json:"vxp_listen"`
	CACert     string `json:"ca_cert"`
	CAKey      string `json:"ca_key"`
	TLSCert    string `json:"tls_cert"`
	TLSKey     string `json:"tls_key"`
	NodeID     string `json:"node_id"`
	RaftListen string `json:"raft_listen"`
	Peers      []Peer `json:"peers"`
	Join       bool   `json:"join,omitempty"`
	NodeCert   string `json:"node_cert"`
	NodeKey    string `json:"node_key"`
}

// Validity of what InitCluster issues: it is for trying and testing.
const clusterValidity = 365 * 24 * time.Hour

// InitCluster writes, into dir (made if missing, and refused unless
// empty), everything to run a cluster of n nodes on loopback: a CA
// (ca.crt, ca.key), an admin credentials file listing every node's gRPC
// address (admin.creds), and for node N in nodeN/ its server certificate,
// node certificate, data directory and ndxpd.json. Ports count from
// basePort, see DefaultClusterBasePort. n must be odd and at least 3.
//
// Every node gets the CA key, as a hub outside --dev does with --ca-key:
// whichever node leads must be able to issue agencies' credentials.
func InitCluster(dir string, n, basePort int, now time.Time) (*ClusterLayout, error) {
	if n < 3 || n%2 == 0 {
		return nil, fmt.Errorf("--nodes %d: a cluster needs an odd number of nodes, at least 3: "+
			"a majority of 2k nodes survives no more losses than one of 2k-1, and a split in halves leaves no majority; use 3 or 5", n)
	}
	last := basePort + clusterPortStride*(n-1) + clusterVXPOffset
	if basePort < 1 || last > 65535 {
		return nil, fmt.Errorf("--base-port %d: the ports of %d nodes run from %d to %d; keep them within 1..65535", basePort, n, basePort, last)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := emptyDir(abs); err != nil {
		return nil, err
	}
	l := &ClusterLayout{
		Dir: abs, CACert: filepath.Join(abs, "ca.crt"), CAKey: filepath.Join(abs, "ca.key"),
		AdminCreds: filepath.Join(abs, AdminCredsFile),
	}
	ca, err := pki.NewCA("ndxp cluster CA (for trying and testing)", now)
	if err != nil {
		return nil, err
	}
	if err := ca.Save(l.CACert, l.CAKey); err != nil {
		return nil, err
	}
	var peers []Peer
	for i := range n {
		port := func(off int) string {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(basePort+clusterPortStride*i+off))
		}
		name := "node" + strconv.Itoa(i+1)
		nd := filepath.Join(abs, name)
		node := ClusterNode{
			ID: "n" + strconv.Itoa(i+1), Config: filepath.Join(nd, "ndxpd.json"), DataDir: filepath.Join(nd, "data"),
			GRPC: port(0), HTTP: port(clusterHTTPOffset), Raft: port(clusterRaftOffset), VXP: port(clusterVXPOffset),
			TLSCert: filepath.Join(nd, "server.crt"), TLSKey: filepath.Join(nd, "server.key"),
			NodeCert: filepath.Join(nd, "node.crt"), NodeKey: filepath.Join(nd, "node.key"),
		}
		l.Nodes = append(l.Nodes, node)
		l.Addresses = append(l.Addresses, node.GRPC)
		peers = append(peers, Peer{ID: node.ID, Raft: node.Raft, GRPC: node.GRPC})
	}
	for _, node := range l.Nodes {
		if err := writeNode(ca, node, l, peers, now); err != nil {
			return nil, fmt.Errorf("node %s: %w", node.ID, err)
		}
	}
	certPEM, keyPEM, _, err := ca.IssueClient(pki.AdminIdentity(defaultAdmin), now, clusterValidity)
	if err != nil {
		return nil, err
	}
	if err := pki.WriteCreds(l.AdminCreds, strings.Join(l.Addresses, ","), ca.CertPEM(), certPEM, keyPEM); err != nil {
		return nil, err
	}
	return l, nil
}

// writeNode writes a node's certificates, data directory and config, and
// checks the config as ndxpd -t would.
func writeNode(ca *pki.CA, node ClusterNode, l *ClusterLayout, peers []Peer, now time.Time) error {
	if err := os.MkdirAll(node.DataDir, 0o700); err != nil {
		return err
	}
	srvCert, srvKey, err := ca.IssueServer([]string{"127.0.0.1", "localhost", "::1"}, now, clusterValidity)
	if err != nil {
		return err
	}
	nodeCert, nodeKey, _, err := ca.IssueNode(node.ID, []string{"127.0.0.1"}, now, clusterValidity)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{node.TLSKey, srvKey, 0o600}, {node.TLSCert, srvCert, 0o644},
		{node.NodeKey, nodeKey, 0o600}, {node.NodeCert, nodeCert, 0o644},
	} {
		if err := pki.WriteFileAtomic(f.path, f.data, f.perm); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(nodeConfig{
		DataDir: node.DataDir, Listen: node.GRPC, HTTP: node.HTTP, VxpListen: node.VXP,
		CACert: l.CACert, CAKey: l.CAKey, TLSCert: node.TLSCert, TLSKey: node.TLSKey,
		NodeID: node.ID, RaftListen: node.Raft, Peers: peers, NodeCert: node.NodeCert, NodeKey: node.NodeKey,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(node.Config, append(b, '\n'), 0o644); err != nil {
		return err
	}
	cfg := DefaultConfig()
	if err := LoadConfigFile(node.Config, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("the written %s does not validate: %w", node.Config, err)
	}
	return nil
}

// emptyDir makes dir (mode 0700) if missing, and refuses one that holds
// anything: a cluster's CA is not to be overwritten by accident.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return fmt.Errorf("--out: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("--out %s: %w: it is not empty (%s, ...); choose a new directory", dir, fs.ErrExist, entries[0].Name())
	}
	return nil
}
