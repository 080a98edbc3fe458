// Command ndxp is an agency's tool for the ndxp hub: send official
// documents, receive those addressed to the agency into a directory,
// report processing statuses, recall, and trace every hand-over. It needs
// the agency's credentials file (issued with `ndxpctl credential issue`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli.Main("ndxp", func() error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

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
	// No fallback path: an agency credential is never at a well-known place.
	c, err := client.Dial(ctx, cli.CredsPath(a.credsFlag, ""), opts...)
	if err != nil {
		return nil, err
	}
	a.c = c
	return c, nil
}

func (a *app) json() bool { return a.format == cli.FormatJSON }

// marshalProto encodes m for the files receive and fetch write,
// header.json and recall.json: the proto3 JSON mapping (protojson with
// the proto field names), which any protobuf library reads back, unlike
// the CLIs' -o json style (cli.ProtoJSON). Bidi, invisible and control
// characters are escaped (the same strings to a JSON reader; safe to cat).
func marshalProto(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append(cli.SafeJSON(b), '\n'), nil
}

// usage makes a cobra argument check report a usage error (exit 2).
func usage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &cli.UsageError{Err: err}
		}
		return nil
	}
}

func usageErrorf(format string, args ...any) error {
	return &cli.UsageError{Err: fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr}
	defer func() {
		if a.c != nil {
			a.c.Close()
		}
	}()
	root := rootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var u *cli.UsageError
	if err != nil && !errors.As(err, &u) && strings.HasPrefix(err.Error(), "unknown command") {
		// cobra reports an unknown subcommand of a subcommand as a plain error.
		err = &cli.UsageError{Err: err}
	}
	return err
}

// rootCmd builds the command tree around a.
func rootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "ndxp",
		Short: "Send, receive and track official documents through an ndxp hub",
		Long: `ndxp is an agency's client for an ndxp hub (the national document exchange
axis). It sends documents with their attachments, receives the documents
addressed to the agency into a directory, reports processing statuses
(docs/domain.md codes 02-06, 15, 16), recalls documents and shows the trace of
every hand-over.

It needs the agency's credentials file: --creds FILE, else $NDXP_CREDS
(ndxp edxml, which works on packet files offline, needs none).
Results go to stdout (-o json for programs), diagnostics and progress to
stderr. Exit status: 0 done, 1 failed (one line on stderr), 2 bad command line.`,
		Example: `  export NDXP_CREDS=/etc/ndxp/agency.creds
  ndxp send --to 000.00.00.H41 --subject "Về việc triển khai" --number 7816/VPCP-TTĐT cv.pdf
  ndxp receive --out /var/lib/ndxp/inbox --follow
  ndxp status 01J9Z3Q8M4K2V7X5W6T1R0S9PA --code 03
  ndxp trace 01J9Z3Q8M4K2V7X5W6T1R0S9PA
  ndxp send --edxml 7816-VPCP-TTDT.edxml
  ndxp edxml inspect 7816-VPCP-TTDT.edxml`,
		Args:          usage(cobra.NoArgs),
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.UsageError{Err: err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.credsFlag, "creds", "", "agency credentials file (default $"+client.EnvCreds+")")
	pf.StringVar(&a.hubFlag, "hub", "", "hub address host:port (default: the one in the credentials file)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(sendCmd(a), receiveCmd(a), inboxCmd(a), sentCmd(a), statusCmd(a), recallCmd(a),
		traceCmd(a), showCmd(a), fetchCmd(a), agenciesCmd(a), edxmlCmd(a))
	root.AddCommand(demoCmd(a))
	return root
}
