package main

import (
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/internal/cli"
)

func traceCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "trace DOCID",
		Short: "Show every hand-over and status of a document, for every recipient",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			tr, err := c.Trace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return writeProtoJSON(a.stdout, tr)
			}
			return cli.PrintTrace(a.stdout, tr)
		},
	}
}

// writeProtoJSON writes m with the proto field names, several lines, and
// what a terminal would act on escaped (cli.SafeJSON: the same strings to
// a JSON reader).
func writeProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(cli.SafeJSON(b), '\n'))
	return err
}
