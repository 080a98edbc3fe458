package main

import (
	"github.com/spf13/cobra"

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
				return cli.ProtoJSON(a.stdout, tr)
			}
			return cli.PrintTrace(a.stdout, tr)
		},
	}
}
