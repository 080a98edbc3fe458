package server

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
)

// NodeSpec is one more node of a running cluster, for adding a node or
// replacing a dead one: what WriteClusterNode writes.
type NodeSpec struct {
	ID string
	// GRPC, HTTP and Raft are the node's agency and admin gRPC address,
	// its HTTP address and its node port, host:port, listened on and
	// given to the other nodes; VXP is its VXP API address, "" for none.
	GRPC, HTTP, Raft, VXP string
	// Hosts are more names of the node for its server certificate (the
	// DNS names agencies dial), beside the hosts of GRPC, HTTP and VXP.
	Hosts []string
	// Peers are the cluster's members now. The node's ndxpd.json lists
	// them and the node itself, with join set: it does not bootstrap.
	Peers []Peer
	// Bootstrap makes the node one of a new cluster's first members
	// instead: Peers are the others, and all start together.
	Bootstrap bool
	// CACert and CAKey are the cluster CA's files.
	CACert, CAKey string
	// Out is the directory to write, new or empty.
	Out string
	// InstallDir is where Out's files will be on the node's machine, as
	// ndxpd.json names them; "" for Out itself.
	InstallDir string
	// DataDir is the node's data directory on its machine; "" for
	// InstallDir/data.
	DataDir string
	// SharedCA makes ndxpd.json name CACert and CAKey where they are
	// rather than copies in Out, as in the layout of InitCluster.
	SharedCA bool
	// Validity of the certificates; 0 for a year.
	Validity time.Duration
}

// NodeFiles is what WriteClusterNode wrote.
type NodeFiles struct {
	ClusterNode
	// Dir is where the files are (Out); ClusterNode's paths are where
	// they will be on the node's machine.
	Dir    string `json:"dir"`
	CACert string `json:"ca_cert"`
	CAKey  string `json:"ca_key"`
	Peers  []Peer `json:"peers"`
	// AddCommand is the ndxpctl command that adds the node, to run once
	// its ndxpd is started.
	AddCommand string `json:"add_command"`
}

// ParsePeer reads a member as ID,RAFT,GRPC (ndxpctl's --peer).
func ParsePeer(s string) (Peer, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Peer{}, fmt.Errorf("--peer %q: want ID,RAFT,GRPC, e.g. n1,10.0.0.1:7502,10.0.0.1:7500", s)
	}
	p := Peer{ID: strings.TrimSpace(parts[0]), Raft: strings.TrimSpace(parts[1]), GRPC: strings.TrimSpace(parts[2])}
	if err := pki.ValidateNodeID(p.ID); err != nil {
		return Peer{}, fmt.Errorf("--peer %q: %w", s, err)
	}
	for _, a := range []string{p.Raft, p.GRPC} {
		if err := dialable(a); err != nil {
			return Peer{}, fmt.Errorf("--peer %q: %w", s, err)
		}
	}
	return p, nil
}

// dialable checks that addr is a host:port another machine can dial.
func dialable(addr string) error {
	h, p, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	case h == "" || p == "":
		return fmt.Errorf("%q: want host:port, both given", addr)
	case net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified():
		return fmt.Errorf("%q is every interface: give the address the others dial, which the certificates name", addr)
	}
	return nil
}

// NodeSpecFromLayout is the spec of node id for a cluster made by
// InitCluster in dir: its CA, and as peers every node whose ndxpd.json
// is in a directory of dir (those of cluster init and those added with
// this). The node's files go to dir/id.
func NodeSpecFromLayout(dir, id string) (NodeSpec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return NodeSpec{}, err
	}
	spec := NodeSpec{
		ID: id, Out: filepath.Join(abs, id), SharedCA: true,
		CACert: filepath.Join(abs, "ca.crt"), CAKey: filepath.Join(abs, "ca.key"),
	}
	for _, f := range []string{spec.CACert, spec.CAKey} {
		if _, err := os.Stat(f); err != nil {
			return NodeSpec{}, fmt.Errorf("--from %s: %w (not a directory written by ndxpctl cluster init)", dir, err)
		}
	}
	configs, err := filepath.Glob(filepath.Join(abs, "*", "ndxpd.json"))
	if err != nil {
		return NodeSpec{}, err
	}
	sort.Strings(configs)
	seen := map[string]bool{}
	for _, path := range configs {
		cfg := DefaultConfig()
		if err := LoadConfigFile(path, &cfg); err != nil {
			return NodeSpec{}, fmt.Errorf("--from: %w", err)
		}
		// A joined node's own config is where its addresses are when no
		// other lists it.
		self := Peer{ID: cfg.NodeID, Raft: cfg.RaftListen, GRPC: cfg.Listen}
		for _, p := range append(slices.Clone(cfg.Peers), self) {
			if p.ID != "" && !seen[p.ID] {
				seen[p.ID] = true
				spec.Peers = append(spec.Peers, p)
			}
		}
	}
	if len(spec.Peers) == 0 {
		return NodeSpec{}, fmt.Errorf("--from %s: no node's ndxpd.json found in its directories (not a directory written by ndxpctl cluster init)", dir)
	}
	sort.Slice(spec.Peers, func(i, j int) bool { return spec.Peers[i].ID < spec.Peers[j].ID })
	return spec, nil
}

// WriteClusterNode writes into spec.Out the files of one more node of a
// running cluster: its server certificate (naming its hosts), its node
// certificate, the CA's files unless SharedCA, and its ndxpd.json, which
// lists the peers and sets join, so that the node waits for the leader to
// add it (with Bootstrap, a first member of a new cluster: no join). The
// config is checked as ndxpd -t would.
func WriteClusterNode(spec NodeSpec, now time.Time) (*NodeFiles, error) {
	if err := pki.ValidateNodeID(spec.ID); err != nil {
		return nil, fmt.Errorf("node id: %w", err)
	}
	for _, a := range []struct{ flag, addr string }{{"--grpc", spec.GRPC}, {"--http", spec.HTTP}, {"--raft", spec.Raft}, {"--vxp", spec.VXP}} {
		if a.addr == "" && a.flag == "--vxp" {
			continue
		}
		if err := dialable(a.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", a.flag, err)
		}
	}
	if n := len(spec.Peers) + 1; spec.Bootstrap && (n < 3 || n%2 == 0) {
		return nil, fmt.Errorf("--bootstrap with %d --peer: a new cluster needs an odd number of nodes, at least 3; give the 2 or 4 others", len(spec.Peers))
	}
	for _, p := range spec.Peers {
		if p.ID == spec.ID {
			return nil, fmt.Errorf("node %s is a member already (raft %s); a replacement takes a new id", p.ID, p.Raft)
		}
		for _, a := range []struct{ flag, addr string }{{"--grpc", spec.GRPC}, {"--http", spec.HTTP}, {"--raft", spec.Raft}, {"--vxp", spec.VXP}} {
			if a.addr != "" && (a.addr == p.Raft || a.addr == p.GRPC) {
				return nil, fmt.Errorf("%s %s: node %s has it already; choose another address", a.flag, a.addr, p.ID)
			}
		}
	}
	ca, err := pki.LoadCA(spec.CACert, spec.CAKey)
	if err != nil {
		return nil, err
	}
	if !ca.CanSign() {
		return nil, fmt.Errorf("--ca-key: %w", pki.ErrCannotSign)
	}
	out, err := filepath.Abs(spec.Out)
	if err != nil {
		return nil, err
	}
	if err := emptyDir(out); err != nil {
		return nil, err
	}
	inst := out
	if spec.InstallDir != "" {
		if !filepath.IsAbs(spec.InstallDir) {
			return nil, fmt.Errorf("--install-dir %s: give an absolute path, as ndxpd.json names files by it", spec.InstallDir)
		}
		inst = filepath.Clean(spec.InstallDir)
	}
	data := spec.DataDir
	if data == "" {
		data = filepath.Join(inst, "data")
	} else if !filepath.IsAbs(data) {
		return nil, fmt.Errorf("--data %s: give an absolute path, as ndxpd.json names it", data)
	}
	validity := spec.Validity
	if validity <= 0 {
		validity = clusterValidity
	}
	nf := &NodeFiles{
		ClusterNode: ClusterNode{
			ID: spec.ID, Config: filepath.Join(inst, "ndxpd.json"), DataDir: data,
			GRPC: spec.GRPC, HTTP: spec.HTTP, Raft: spec.Raft, VXP: spec.VXP,
			TLSCert: filepath.Join(inst, "server.crt"), TLSKey: filepath.Join(inst, "server.key"),
			NodeCert: filepath.Join(inst, "node.crt"), NodeKey: filepath.Join(inst, "node.key"),
		},
		Dir: out, CACert: spec.CACert, CAKey: spec.CAKey,
		Peers:      append(slices.Clone(spec.Peers), Peer{ID: spec.ID, Raft: spec.Raft, GRPC: spec.GRPC}),
		AddCommand: fmt.Sprintf("ndxpctl cluster add %s --raft %s --grpc %s", spec.ID, spec.Raft, spec.GRPC),
	}
	if spec.SharedCA {
		// ndxpd reads ndxpd.json's paths from its working directory.
		if nf.CACert, err = filepath.Abs(spec.CACert); err != nil {
			return nil, err
		}
		if nf.CAKey, err = filepath.Abs(spec.CAKey); err != nil {
			return nil, err
		}
	} else {
		nf.CACert, nf.CAKey = filepath.Join(inst, "ca.crt"), filepath.Join(inst, "ca.key")
	}

	srvCert, srvKey, err := ca.IssueServer(certHosts(spec), now, validity)
	if err != nil {
		return nil, err
	}
	nodeCert, nodeKey, _, err := ca.IssueNode(spec.ID, []string{hostOf(spec.Raft)}, now, validity)
	if err != nil {
		return nil, err
	}
	local := func(p string) string { return filepath.Join(out, filepath.Base(p)) }
	type file struct {
		path string
		data []byte
		perm os.FileMode
	}
	files := []file{
		{local(nf.TLSKey), srvKey, 0o600}, {local(nf.TLSCert), srvCert, 0o644},
		{local(nf.NodeKey), nodeKey, 0o600}, {local(nf.NodeCert), nodeCert, 0o644},
	}
	if !spec.SharedCA {
		// The node's own copies: whichever node leads issues credentials.
		caKey, err := os.ReadFile(spec.CAKey)
		if err != nil {
			return nil, err
		}
		files = append(files, file{local(nf.CAKey), caKey, 0o600}, file{local(nf.CACert), ca.CertPEM(), 0o644})
	}
	for _, f := range files {
		if err := pki.WriteFileAtomic(f.path, f.data, f.perm); err != nil {
			return nil, err
		}
	}
	if inst == out && spec.DataDir == "" {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(nodeConfig{
		DataDir: data, Listen: spec.GRPC, HTTP: spec.HTTP, VxpListen: spec.VXP,
		CACert: nf.CACert, CAKey: nf.CAKey, TLSCert: nf.TLSCert, TLSKey: nf.TLSKey,
		NodeID: spec.ID, RaftListen: spec.Raft, Peers: nf.Peers, Join: !spec.Bootstrap, NodeCert: nf.NodeCert, NodeKey: nf.NodeKey,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	cfgPath := local(nf.Config)
	if err := pki.WriteFileAtomic(cfgPath, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	cfg := DefaultConfig()
	if err := LoadConfigFile(cfgPath, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("the written %s does not validate: %w", cfgPath, err)
	}
	return nf, nil
}

// certHosts are the names the node's server certificate carries: the
// hosts of its agency-facing addresses, then spec.Hosts, loopback names
// with a loopback address.
func certHosts(spec NodeSpec) []string {
	var hosts []string
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, a := range []string{spec.GRPC, spec.HTTP, spec.VXP} {
		add(hostOf(a))
	}
	for _, h := range spec.Hosts {
		add(strings.TrimSpace(h))
	}
	if slices.ContainsFunc(hosts, isLoopbackHost) {
		add("localhost")
		add("127.0.0.1")
	}
	return hosts
}

// hostOf is the host of a host:port, "" when it has none.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}
