package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/server"
)

func clusterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Set up and inspect a hub cluster"}
	cmd.AddCommand(clusterInitCmd(a))
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
