package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

func clusterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Set up, inspect and change a hub cluster"}
	cmd.AddCommand(clusterInitCmd(a), clusterNodeCmd(a), clusterStatusCmd(a), clusterAddCmd(a), clusterRemoveCmd(a))
	return cmd
}

func clusterInitCmd(a *app) *cobra.Command {
	var nodes, basePort int
	var out string
	cmd := &cobra.Command{
		Use:   "init --nodes 3 --out DIR [--base-port P]",
		Short: "Write a CA, certificates and configs for a cluster on this machine",
		Long: `For trying and testing: writes into DIR (new or empty) a CA (ca.crt,
ca.key), an admin credentials file listing every node's gRPC address
(admin.creds), and for each node N a directory nodeN/ with its data
directory, server and node certificates and ndxpd.json; start node N with
  ndxpd --config DIR/nodeN/ndxpd.json
Node N (n1, n2, ...) listens on 127.0.0.1: gRPC on P+10(N-1), HTTP on the
next port, the node port (Raft, node certificates only) on the one after,
and the VXP API on the fourth. A real cluster runs one node per machine
with certificates from its own CA (docs/cluster.md).`,
		Example: "  ndxpctl cluster init --nodes 3 --out ./cluster\n  ndxpd --config ./cluster/node1/ndxpd.json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			l, err := server.InitCluster(out, nodes, basePort, time.Now())
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			if a.json() {
				return cli.JSON(a.stdout, l)
			}
			if err := cli.Fields(a.stdout, [][2]string{
				{"Directory", l.Dir}, {"CA", l.CACert + " (key " + l.CAKey + ")"},
				{"Admin", l.AdminCreds + " (" + strings.Join(l.Addresses, ", ") + ")"},
			}); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			rows := make([][]string, len(l.Nodes))
			for i, n := range l.Nodes {
				rows[i] = []string{n.ID, n.GRPC, n.HTTP, n.Raft, n.VXP, n.Config}
			}
			if err := cli.Table(a.stdout, []string{"NODE", "GRPC", "HTTP", "RAFT", "VXP", "CONFIG"}, rows); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "\nstart each node: ndxpd --config %s\n", filepath.Join(l.Dir, "nodeN", "ndxpd.json"))
			fmt.Fprintf(a.stdout, "then: ndxpctl --creds %s overview\n", l.AdminCreds)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "number of nodes: odd, at least 3")
	f.StringVar(&out, "out", "", "directory to write (new or empty; required)")
	f.IntVar(&basePort, "base-port", server.DefaultClusterBasePort, "first port; node N uses P+10(N-1) to P+10(N-1)+3")
	cmd.MarkFlagRequired("out")
	return cmd
}

func clusterNodeCmd(a *app) *cobra.Command {
	var spec server.NodeSpec
	var from string
	var peers []string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "node ID (--from DIR | --ca-cert FILE --ca-key FILE --out DIR) --grpc ADDR --raft ADDR --http ADDR [--vxp ADDR]",
		Short: "Write the files of one more node, to add a node or replace a dead one",
		Long: `Writes what node ID needs to join a running cluster: its server certificate
(naming the hosts of --grpc, --http and --vxp, and each --host), its node
certificate (urn:ndxp:node:ID), and its ndxpd.json, which lists the cluster's
members and this node and sets "join": true, so that the node, started
without state, waits for the leader to add it instead of starting a cluster
of its own. A replacement takes a new id; the dead node is removed with
ndxpctl cluster remove.

--from DIR takes the CA and the members from a directory written by
ndxpctl cluster init (every DIR/*/ndxpd.json) and writes DIR/ID/. Otherwise
give the CA (the hub's own: every node holds its key, since whichever node
leads issues credentials; ca.crt and ca.key are copied into --out), the
members with --peer ID,RAFT,GRPC, and --out; --install-dir and --data say
where the files and the data directory will be on the node's machine when
--out is not that place.

--bootstrap writes instead a first member of a new cluster, one machine per
node: run it once per node, each time with the others as --peer; the nodes
start together and elect a leader (docs/cluster.md, "Running three nodes for
real").

Then start the node (ndxpd --config .../ndxpd.json) and run the
ndxpctl cluster add command printed, with admin credentials.`,
		Example: `  ndxpctl cluster node n4 --from ./cluster --grpc 127.0.0.1:7530 --http 127.0.0.1:7531 --raft 127.0.0.1:7532
  ndxpctl cluster node n4 --ca-cert /etc/ndxp/ca.crt --ca-key /etc/ndxp/ca.key \
      --peer n1,10.0.0.1:7502,10.0.0.1:7500 --peer n3,10.0.0.3:7502,10.0.0.3:7500 \
      --grpc 10.0.0.4:7500 --http 10.0.0.4:7501 --raft 10.0.0.4:7502 --vxp 10.0.0.4:7503 \
      --host hub.ndxp.gov.vn --out ./n4 --install-dir /etc/ndxp --data /var/lib/ndxp
  ndxpctl cluster node n1 --bootstrap --ca-cert ca.crt --ca-key ca.key \
      --peer n2,10.0.0.2:7502,10.0.0.2:7500 --peer n3,10.0.0.3:7502,10.0.0.3:7500 \
      --grpc 10.0.0.1:7500 --http 10.0.0.1:7501 --raft 10.0.0.1:7502 --out ./n1 --install-dir /etc/ndxp --data /var/lib/ndxp`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			id := args[0]
			if err := pki.ValidateNodeID(id); err != nil {
				return &cli.UsageError{Err: err}
			}
			s := spec
			if from != "" {
				if s.CACert != "" || s.CAKey != "" || s.Out != "" || len(peers) > 0 || s.Bootstrap {
					return &cli.UsageError{Err: errors.New("--from takes the CA, the members and the output directory from DIR of a running cluster: give none of --ca-cert, --ca-key, --peer, --out, --bootstrap with it")}
				}
				fs, err := server.NodeSpecFromLayout(from, id)
				if err != nil {
					return &cli.UsageError{Err: err}
				}
				s.CACert, s.CAKey, s.Out, s.Peers, s.SharedCA = fs.CACert, fs.CAKey, fs.Out, fs.Peers, true
			} else {
				if s.CACert == "" || s.CAKey == "" || s.Out == "" {
					return &cli.UsageError{Err: errors.New("give --from DIR (a cluster init directory), or --ca-cert, --ca-key and --out")}
				}
				for _, p := range peers {
					peer, err := server.ParsePeer(p)
					if err != nil {
						return &cli.UsageError{Err: err}
					}
					s.Peers = append(s.Peers, peer)
				}
			}
			s.ID, s.Validity = id, validity
			nf, err := server.WriteClusterNode(s, time.Now())
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			if a.json() {
				return cli.JSON(a.stdout, nf)
			}
			if err := cli.Fields(a.stdout, [][2]string{
				{"Node", nf.ID}, {"Written to", nf.Dir}, {"Config", nf.Config}, {"Data", nf.DataDir},
				{"gRPC", nf.GRPC}, {"HTTP", nf.HTTP}, {"Raft", nf.Raft}, {"VXP", orDash(nf.VXP)},
			}); err != nil {
				return err
			}
			if s.Bootstrap {
				fmt.Fprintf(a.stdout, "\nstart it, with the other first members: ndxpd --config %s\n", nf.Config)
				return nil
			}
			fmt.Fprintf(a.stdout, "\nstart it:      ndxpd --config %s\n", nf.Config)
			fmt.Fprintf(a.stdout, "then add it:   %s\n", nf.AddCommand)
			fmt.Fprintln(a.stdout, "and watch it:  ndxpctl cluster status   (its APPLIED reaches the leader's)")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "a directory written by ndxpctl cluster init: its CA and members; writes DIR/ID/")
	f.StringVar(&spec.CACert, "ca-cert", "", "the cluster CA's certificate")
	f.StringVar(&spec.CAKey, "ca-key", "", "the cluster CA's key")
	f.StringArrayVar(&peers, "peer", nil, "a member of the cluster as ID,RAFT,GRPC (repeat for each)")
	f.BoolVar(&spec.Bootstrap, "bootstrap", false, "a first member of a new cluster, with the others as --peer, rather than a node that joins")
	f.StringVar(&spec.Out, "out", "", "directory to write (new or empty)")
	f.StringVar(&spec.GRPC, "grpc", "", "the node's gRPC address, host:port, as agencies and nodes dial it (required)")
	f.StringVar(&spec.HTTP, "http", "", "the node's HTTP address (metrics, dashboard), host:port (required)")
	f.StringVar(&spec.Raft, "raft", "", "the node's node port (Raft, attachments), host:port (required)")
	f.StringVar(&spec.VXP, "vxp", "", "the node's VXP API address, host:port (default: not served)")
	f.StringArrayVar(&spec.Hosts, "host", nil, "another name of the node for its server certificate (repeat)")
	f.StringVar(&spec.InstallDir, "install-dir", "", "where --out's files will be on the node's machine (default: --out)")
	f.StringVar(&spec.DataDir, "data", "", "the node's data directory on its machine (default: INSTALL-DIR/data)")
	f.DurationVar(&validity, "valid-for", 365*24*time.Hour, "how long the certificates are valid")
	for _, name := range []string{"grpc", "http", "raft"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clusterMemberTimeout bounds the status call to each member, so a dead
// node costs seconds, not the client's default timeout.
const clusterMemberTimeout = 5 * time.Second

// stateUnreachable is the state shown for a member that did not answer.
const stateUnreachable = "unreachable"

// clusterStatusView is the JSON shape of `ndxpctl cluster status`.
type clusterStatusView struct {
	Leader  string              `json:"leader"`
	Members []clusterMemberView `json:"members"`
}

// clusterMemberView is one member as it answered for itself.
type clusterMemberView struct {
	ID            string `json:"id"`
	GRPC          string `json:"grpc"`
	Raft          string `json:"raft"`
	State         string `json:"state"` // Leader, Follower, Candidate, Shutdown or unreachable
	AppliedIndex  uint64 `json:"applied_index"`
	LastContactMs int64  `json:"last_contact_ms"` // 0 on the leader, -1 never or unreachable
	// Shown in the table only: why a member is unreachable, and since when
	// the leader has not reached it.
	problem   string
	downSince time.Time
}

func clusterStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show every node of the cluster, as each reports itself",
		Long: `Asks the hub (any node) for the cluster's members, then asks each member at
its gRPC address, with the same admin credentials, for its own state: Leader,
Follower or Candidate, the last Raft log index applied to its store, and how
long ago it last heard from the leader (0 on the leader, -1 never). A member
that does not answer within 5 s shows as unreachable. The table also lists
the peers the leader reports it cannot reach.

A single-node hub answers that it is not a cluster.`,
		Example: "  ndxpctl cluster status\n  ndxpctl --creds ./cluster/admin.creds cluster status -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			first, err := c.Cluster.GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
			if err != nil {
				return err
			}
			v := a.clusterStatus(ctx, first)
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			return printClusterStatus(a.stdout, v)
		},
	}
}

// clusterStatus asks every member of first's view for its own state, all
// at once; the node that gave first answers from it.
func (a *app) clusterStatus(ctx context.Context, first *ndxpv1.GetClusterStatusResponse) clusterStatusView {
	v := clusterStatusView{Leader: first.GetLeaderId(), Members: make([]clusterMemberView, len(first.GetMembers()))}
	down := map[string]time.Time{}
	var mu sync.Mutex // guards down
	var wg sync.WaitGroup
	for i, m := range first.GetMembers() {
		v.Members[i] = clusterMemberView{ID: m.GetId(), GRPC: m.GetGrpc(), Raft: m.GetRaft()}
		mv := &v.Members[i]
		if m.GetId() == first.GetNode().GetId() {
			mv.set(first.GetNode(), nil)
			continue
		}
		wg.Go(func() {
			st, err := a.memberStatus(ctx, mv.GRPC)
			mv.set(st.GetNode(), err)
			if err == nil && st.GetNode().GetState() == "Leader" {
				mu.Lock()
				for _, d := range st.GetPeersDown() {
					down[d.GetId()] = time.UnixMilli(d.GetSinceUnixMs())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, d := range first.GetPeersDown() {
		down[d.GetId()] = time.UnixMilli(d.GetSinceUnixMs())
	}
	for i := range v.Members {
		v.Members[i].downSince = down[v.Members[i].ID]
		if v.Leader == "" && v.Members[i].State == "Leader" {
			v.Leader = v.Members[i].ID
		}
	}
	return v
}

// set fills the member's state from its answer, or marks it unreachable.
func (mv *clusterMemberView) set(st *ndxpv1.ClusterNodeState, err error) {
	if err != nil || st == nil {
		mv.State, mv.AppliedIndex, mv.LastContactMs = stateUnreachable, 0, -1
		if err != nil {
			mv.problem = cli.ErrorLine(err)
		}
		return
	}
	mv.State, mv.AppliedIndex, mv.LastContactMs = st.GetState(), st.GetAppliedIndex(), st.GetLastContactMs()
}

// memberStatus asks the node at addr for its own status, with the
// credentials of the main connection.
func (a *app) memberStatus(ctx context.Context, addr string) (*ndxpv1.GetClusterStatusResponse, error) {
	if addr == "" {
		return nil, errors.New("no gRPC address recorded for this node")
	}
	c, err := client.Dial(ctx, cli.CredsPath(a.credsFlag, defaultCreds), client.WithAddress(addr), client.WithTimeout(clusterMemberTimeout))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// On this node's own connection: the SDK's stubs would follow a
	// leader hint, and this asks a node about itself.
	return ndxpv1.NewClusterServiceClient(c.Conn()).GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
}

func printClusterStatus(w io.Writer, v clusterStatusView) error {
	leader := v.Leader
	if leader == "" {
		leader = "none elected"
	}
	if err := cli.Fields(w, [][2]string{{"Leader", leader}, {"Members", strconv.Itoa(len(v.Members))}}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, len(v.Members))
	var notes []string
	for i, m := range v.Members {
		contact := "-"
		switch {
		case m.State == "Leader":
			contact = "leader"
		case m.LastContactMs >= 0:
			contact = (time.Duration(m.LastContactMs) * time.Millisecond).String() + " ago"
		case m.State != stateUnreachable:
			contact = "never"
		}
		grpcAddr := m.GRPC
		if grpcAddr == "" {
			grpcAddr = "-"
		}
		rows[i] = []string{m.ID, grpcAddr, m.Raft, m.State, strconv.FormatUint(m.AppliedIndex, 10), contact}
		if m.problem != "" {
			notes = append(notes, m.ID+": "+m.problem)
		}
		if !m.downSince.IsZero() {
			notes = append(notes, m.ID+": the leader has not reached it since "+cli.Time(m.downSince))
		}
	}
	if err := cli.Table(w, []string{"NODE", "GRPC", "RAFT", "STATE", "APPLIED", "LAST CONTACT"}, rows); err != nil {
		return err
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, cli.Cell(n))
		}
	}
	return nil
}

// clusterMembersView is the JSON shape of `ndxpctl cluster add|remove`:
// the members after the change.
type clusterMembersView struct {
	Members []clusterConfigMemberView `json:"members"`
}

type clusterConfigMemberView struct {
	ID    string `json:"id"`
	GRPC  string `json:"grpc"`
	Raft  string `json:"raft"`
	Voter bool   `json:"voter"`
}

func (a *app) printMembers(done string, members []*ndxpv1.ClusterMember) error {
	v := clusterMembersView{Members: make([]clusterConfigMemberView, 0, len(members))}
	for _, m := range members {
		v.Members = append(v.Members, clusterConfigMemberView{ID: m.GetId(), GRPC: m.GetGrpc(), Raft: m.GetRaft(), Voter: m.GetVoter()})
	}
	if a.json() {
		return cli.JSON(a.stdout, v)
	}
	fmt.Fprintln(a.stdout, cli.Cell(done))
	fmt.Fprintln(a.stdout)
	rows := make([][]string, len(v.Members))
	for i, m := range v.Members {
		voter := "no"
		if m.Voter {
			voter = "yes"
		}
		rows[i] = []string{m.ID, m.GRPC, m.Raft, voter}
	}
	return cli.Table(a.stdout, []string{"NODE", "GRPC", "RAFT", "VOTER"}, rows)
}

func clusterAddCmd(a *app) *cobra.Command {
	var raftAddr, grpcAddr string
	cmd := &cobra.Command{
		Use:   "add ID --raft ADDR --grpc ADDR",
		Short: "Add a voting node to the cluster",
		Long: `Adds node ID as a voting member: --raft is its node port (Raft, node
certificates only), --grpc its agency and admin gRPC address, which every
node records so that clients and ndxpctl can reach it. Start the new node
first, with its node certificate and no peers, so it can catch up from the
leader as soon as it is added.

Only the leader changes the membership; ndxpctl follows a follower's answer
to the leader. Add one node at a time, and keep the count odd.`,
		Example: "  ndxpctl cluster add n4 --raft 10.0.0.4:7502 --grpc 10.0.0.4:7500",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := pki.ValidateNodeID(id); err != nil {
				return &cli.UsageError{Err: err}
			}
			for _, f := range []struct{ name, addr string }{{"--raft", raftAddr}, {"--grpc", grpcAddr}} {
				if h, p, err := net.SplitHostPort(f.addr); err != nil || h == "" || p == "" {
					return &cli.UsageError{Err: fmt.Errorf("%s %q: want host:port", f.name, f.addr)}
				}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Cluster.AddClusterNode(cmd.Context(), &ndxpv1.AddClusterNodeRequest{Id: id, Raft: raftAddr, Grpc: grpcAddr})
			if err != nil {
				return err
			}
			return a.printMembers("added node "+id, r.GetMembers())
		},
	}
	f := cmd.Flags()
	f.StringVar(&raftAddr, "raft", "", "the node's Raft address, host:port (required)")
	f.StringVar(&grpcAddr, "grpc", "", "the node's gRPC address, host:port (required)")
	cmd.MarkFlagRequired("raft")
	cmd.MarkFlagRequired("grpc")
	return cmd
}

func clusterRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster",
		Long: `Removes node ID from the cluster's membership; stop its ndxpd afterwards.
Removing the leader makes it step down once the change is committed, and the
others elect a new one. A cluster of three that loses a member without
replacing it tolerates no further failure.

Only the leader changes the membership; ndxpctl follows a follower's answer
to the leader.`,
		Example: "  ndxpctl cluster remove n4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := pki.ValidateNodeID(id); err != nil {
				return &cli.UsageError{Err: err}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Cluster.RemoveClusterNode(cmd.Context(), &ndxpv1.RemoveClusterNodeRequest{Id: id})
			if err != nil {
				return err
			}
			return a.printMembers("removed node "+id, r.GetMembers())
		},
	}
}
