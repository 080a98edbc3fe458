// Command ndxpctl is the operator's tool for an ndxp hub: register
// agencies, move them through stages, issue and revoke credentials, and
// see the hub at a glance. It needs an admin credentials file.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli.Main("ndxpctl", func() error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// defaultCreds is where `ndxpd --dev` writes the admin credentials.
const defaultCreds = "./ndxp-data/admin.creds"

// app holds the global flags and the connection, made on first use.
type app struct {
	stdout, stderr io.Writer
	credsFlag      string
	hubFlag        string
	output         string
	format         cli.Format
	c              *client.Client
}

func (a *app) client(ctx context.Context) (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	var opts []client.Option
	if a.hubFlag != "" {
		opts = append(opts, client.WithAddress(a.hubFlag))
	}
	c, err := client.Dial(ctx, cli.CredsPath(a.credsFlag, defaultCreds), opts...)
	if err != nil {
		return nil, err
	}
	a.c = c
	return c, nil
}

func (a *app) json() bool { return a.format == cli.FormatJSON }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr}
	defer func() {
		if a.c != nil {
			a.c.Close()
		}
	}()
	root := &cobra.Command{
		Use:   "ndxpctl",
		Short: "Administer an ndxp hub: agencies, credentials, overview",
		Long: `ndxpctl administers an ndxp hub. It needs an admin credentials file:
--creds FILE, else $NDXP_CREDS, else ./ndxp-data/admin.creds (made by ndxpd --dev).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			f, err := cli.ParseFormat(a.output)
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			a.format = f
			return nil
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.UsageError{Err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.credsFlag, "creds", "", "admin credentials file (default $NDXP_CREDS, else "+defaultCreds+")")
	pf.StringVar(&a.hubFlag, "hub", "", "hub address host:port (default: the one in the credentials file)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(agencyCmd(a), credentialCmd(a), overviewCmd(a), traceCmd(a), backupCmd(a), checkCmd(a),
		purgeCmd(a), vxpCmd(a), clusterCmd(a)) // purgeCmd: retention purge (purge.go); vxpCmd: VXP systems (vxp.go); clusterCmd: cluster.go
	return root.ExecuteContext(ctx)
}
