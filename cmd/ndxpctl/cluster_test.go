package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/server"
)

func TestClusterInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"cluster", "init", "--nodes", "3", "--out", dir, "--base-port", "17500", "-o", "json"}, &out, &out); err != nil {
		t.Fatalf("cluster init: %v\n%s", err, out.String())
	}
	var l server.ClusterLayout
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out.String())
	}
	wantAddrs := []string{"127.0.0.1:17500", "127.0.0.1:17510", "127.0.0.1:17520"}
	if diff := cmp.Diff(wantAddrs, l.Addresses); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if len(l.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(l.Nodes))
	}

	// The admin credentials list every node, in order.
	creds, err := pki.ReadCreds(filepath.Join(dir, "admin.creds"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAddrs, creds.Addresses); diff != "" {
		t.Errorf("admin.creds addresses (-want +got):\n%s", diff)
	}
	if creds.Identity != pki.AdminIdentity("admin") {
		t.Errorf("admin.creds names %v, want an admin", creds.Identity)
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}

	for i, n := range l.Nodes {
		node := "node" + n.ID[1:]
		if n.Config != filepath.Join(dir, node, "ndxpd.json") || n.DataDir != filepath.Join(dir, node, "data") {
			t.Errorf("node %s: config %s, data %s; want them in %s", n.ID, n.Config, n.DataDir, node)
		}
		port := 17500 + 10*i
		for _, a := range []struct{ got, want string }{
			{n.GRPC, "127.0.0.1:" + itoa(port)}, {n.HTTP, "127.0.0.1:" + itoa(port+1)},
			{n.Raft, "127.0.0.1:" + itoa(port+2)}, {n.VXP, "127.0.0.1:" + itoa(port+3)},
		} {
			if a.got != a.want {
				t.Errorf("node %s: address %s, want %s", n.ID, a.got, a.want)
			}
		}
		// The config is what ndxpd -t reads (cmd/ndxpd runs it too).
		cfg := server.DefaultConfig()
		if err := server.LoadConfigFile(n.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("node %s: config does not validate: %v", n.ID, err)
		}
		if cfg.NodeID != n.ID || cfg.Listen != n.GRPC || cfg.RaftListen != n.Raft || len(cfg.Peers) != 3 || cfg.DataDir != n.DataDir {
			t.Errorf("node %s: config %+v", n.ID, cfg)
		}
		// Its node certificate is the node's and works on the node port.
		certPEM, _ := os.ReadFile(n.NodeCert)
		keyPEM, _ := os.ReadFile(n.NodeKey)
		if _, _, err := pki.NodeTLS(ca.Pool(), certPEM, keyPEM); err != nil {
			t.Errorf("node %s: NodeTLS: %v", n.ID, err)
		}
		if fi, err := os.Stat(n.NodeKey); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("node %s: key mode %v, %v; want 0600", n.ID, fi.Mode(), err)
		}
		srvPEM, _ := os.ReadFile(n.TLSCert)
		srv, err := x509.ParseCertificate(mustPEM(t, srvPEM))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.VerifyHostname("127.0.0.1"); err != nil {
			t.Errorf("node %s: server certificate: %v", n.ID, err)
		}
	}

	// A second init into the same directory is refused: it would replace the CA.
	if err := run(context.Background(), []string{"cluster", "init", "--out", dir}, &out, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("init over an existing cluster: %v, want a refusal", err)
	}
}

func TestClusterInitRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "4"}, "odd number"},
		{[]string{"--nodes", "1"}, "at least 3"},
		{[]string{"--nodes", "3", "--base-port", "65530"}, "65535"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		args := append([]string{"cluster", "init", "--out", filepath.Join(t.TempDir(), "c")}, tt.args...)
		if err := run(context.Background(), args, &out, &out); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("cluster init %v: %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustPEM(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("no PEM block in %q", data)
	}
	return b.Bytes
}

// TestClusterNode: the files of a fourth node for a cluster init layout
// validate, join rather than bootstrap, list every member, and carry
// certificates of the cluster's CA for the node's hosts.
func TestClusterNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"cluster", "init", "--out", dir, "--base-port", "17600"}, &out, &out); err != nil {
		t.Fatalf("cluster init: %v\n%s", err, out.String())
	}
	out.Reset()
	args := []string{"cluster", "node", "n4", "--from", dir, "--grpc", "127.0.0.1:17630", "--http", "127.0.0.1:17631", "--raft", "127.0.0.1:17632"}
	if err := run(context.Background(), append(args, "-o", "json"), &out, &out); err != nil {
		t.Fatalf("cluster node: %v\n%s", err, out.String())
	}
	var nf server.NodeFiles
	if err := json.Unmarshal(out.Bytes(), &nf); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out.String())
	}
	if want := "ndxpctl cluster add n4 --raft 127.0.0.1:17632 --grpc 127.0.0.1:17630"; nf.AddCommand != want {
		t.Errorf("add command %q, want %q", nf.AddCommand, want)
	}
	if nf.Config != filepath.Join(dir, "n4", "ndxpd.json") {
		t.Errorf("config at %s, want in %s", nf.Config, filepath.Join(dir, "n4"))
	}
	cfg := server.DefaultConfig()
	if err := server.LoadConfigFile(nf.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("config does not validate: %v", err)
	}
	var ids []string
	for _, p := range cfg.Peers {
		ids = append(ids, p.ID)
	}
	if !cfg.Join || cfg.NodeID != "n4" || strings.Join(ids, ",") != "n1,n2,n3,n4" || cfg.CACert != filepath.Join(dir, "ca.crt") {
		t.Errorf("config: join %v, node %s, peers %v, CA %s", cfg.Join, cfg.NodeID, ids, cfg.CACert)
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(nf.NodeCert)
	keyPEM, _ := os.ReadFile(nf.NodeKey)
	if _, _, err := pki.NodeTLS(ca.Pool(), certPEM, keyPEM); err != nil {
		t.Errorf("NodeTLS: %v", err)
	}
	srvPEM, _ := os.ReadFile(nf.TLSCert)
	srv, err := x509.ParseCertificate(mustPEM(t, srvPEM))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("server certificate: %v", err)
	}

	// A fifth node sees the fourth as a member; ids and addresses in use
	// are refused, as is a mix of --from and the explicit flags.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"n5", "--from", dir, "--grpc", "127.0.0.1:17630", "--http", "127.0.0.1:17641", "--raft", "127.0.0.1:17642"}, "node n4 has it already"},
		{[]string{"n2", "--from", dir, "--grpc", "127.0.0.1:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652"}, "a replacement takes a new id"},
		{[]string{"n5", "--from", dir, "--out", "x", "--grpc", "127.0.0.1:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652"}, "give none of"},
		{[]string{"n5", "--grpc", "127.0.0.1:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652"}, "--ca-cert, --ca-key and --out"},
		{[]string{"n5", "--from", dir, "--grpc", "0.0.0.0:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652"}, "every interface"},
		{[]string{"n5", "--from", dir, "--grpc", "127.0.0.1:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652", "--peer", "n9,x"}, "give none of"},
		{[]string{"n5", "--ca-cert", filepath.Join(dir, "ca.crt"), "--ca-key", filepath.Join(dir, "ca.key"), "--out", filepath.Join(t.TempDir(), "n5"),
			"--peer", "n9,10.0.0.9:1", "--grpc", "127.0.0.1:17650", "--http", "127.0.0.1:17651", "--raft", "127.0.0.1:17652"}, "want ID,RAFT,GRPC"},
	} {
		out.Reset()
		if err := run(context.Background(), append([]string{"cluster", "node"}, tt.args...), &out, &out); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("cluster node %v: %v, want an error with %q", tt.args, err, tt.want)
		}
	}

	// Files for another machine: copies of the CA, paths where they will be.
	outDir := filepath.Join(t.TempDir(), "n5")
	out.Reset()
	err = run(context.Background(), []string{"cluster", "node", "n5", "--ca-cert", filepath.Join(dir, "ca.crt"), "--ca-key", filepath.Join(dir, "ca.key"),
		"--out", outDir, "--install-dir", "/etc/ndxp", "--data", "/var/lib/ndxp", "--host", "hub.example.vn",
		"--peer", "n1,10.0.0.1:7502,10.0.0.1:7500", "--grpc", "10.0.0.5:7500", "--http", "10.0.0.5:7501", "--raft", "10.0.0.5:7502"}, &out, &out)
	if err != nil {
		t.Fatalf("cluster node n5: %v\n%s", err, out.String())
	}
	cfg = server.DefaultConfig()
	if err := server.LoadConfigFile(filepath.Join(outDir, "ndxpd.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CAKey != "/etc/ndxp/ca.key" || cfg.DataDir != "/var/lib/ndxp" || cfg.TLSCert != "/etc/ndxp/server.crt" || len(cfg.Peers) != 2 {
		t.Errorf("config for another machine: %+v", cfg)
	}
	if !cfg.Join {
		t.Errorf("a node without --bootstrap must join")
	}
	// The first members of a new cluster, one per machine, bootstrap.
	boot := func(id string, peers ...string) error {
		args := []string{"cluster", "node", id, "--bootstrap", "--ca-cert", filepath.Join(dir, "ca.crt"), "--ca-key", filepath.Join(dir, "ca.key"),
			"--out", filepath.Join(t.TempDir(), id), "--grpc", "10.0.0.1:7500", "--http", "10.0.0.1:7501", "--raft", "10.0.0.1:7502"}
		for _, p := range peers {
			args = append(args, "--peer", p)
		}
		out.Reset()
		return run(context.Background(), append(args, "-o", "json"), &out, &out)
	}
	if err := boot("n1", "n2,10.0.0.2:7502,10.0.0.2:7500"); err == nil || !strings.Contains(err.Error(), "odd number") {
		t.Errorf("--bootstrap with one peer: %v, want a refusal", err)
	}
	if err := boot("n1", "n2,10.0.0.2:7502,10.0.0.2:7500", "n3,10.0.0.3:7502,10.0.0.3:7500"); err != nil {
		t.Fatalf("--bootstrap: %v\n%s", err, out.String())
	}
	if err := json.Unmarshal(out.Bytes(), &nf); err != nil {
		t.Fatal(err)
	}
	cfg = server.DefaultConfig()
	if err := server.LoadConfigFile(filepath.Join(nf.Dir, "ndxpd.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Join || len(cfg.Peers) != 3 || cfg.Validate() != nil {
		t.Errorf("--bootstrap config: join %v, %d peers, %v", cfg.Join, len(cfg.Peers), cfg.Validate())
	}
	if _, err := pki.LoadCA(filepath.Join(outDir, "ca.crt"), filepath.Join(outDir, "ca.key")); err != nil {
		t.Errorf("the CA's copy: %v", err)
	}
	srvPEM, _ = os.ReadFile(filepath.Join(outDir, "server.crt"))
	if srv, err = x509.ParseCertificate(mustPEM(t, srvPEM)); err != nil {
		t.Fatal(err)
	}
	if err := srv.VerifyHostname("hub.example.vn"); err != nil {
		t.Errorf("server certificate: %v", err)
	}
}
