package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
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
				b, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(tr)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(a.stdout, string(b))
				return err
			}
			return printTrace(a, tr)
		},
	}
}

func printTrace(a *app, tr *ndxpv1.GetTraceResponse) error {
	d := tr.GetDocument()
	h := d.GetHeader()
	recalled := "no"
	if d.GetRecalled() {
		recalled = "yes"
	}
	if err := cli.Fields(a.stdout, [][2]string{
		{"Document", d.GetId()}, {"Reference", h.GetReference()}, {"From", d.GetSenderCode() + " " + d.GetSenderName()},
		{"Subject", h.GetSubject()}, {"Accepted", cli.Time(d.GetCreateTime().AsTime())}, {"Recalled", recalled},
	}); err != nil {
		return err
	}
	for _, r := range tr.GetRecipients() {
		st := r.GetStatus()
		if st == "" {
			st = "--"
		}
		fmt.Fprintf(a.stdout, "\n%s %s: %s %s", r.GetRecipientCode(), r.GetRecipientName(), st, r.GetStatusText())
		if r.GetRecall() != "" {
			fmt.Fprintf(a.stdout, " (recall: %s)", r.GetRecall())
		}
		fmt.Fprintln(a.stdout)
		rows := make([][]string, 0, len(r.GetSteps()))
		for _, s := range r.GetSteps() {
			rows = append(rows, []string{"  " + cli.Time(s.GetTime().AsTime()), orDash(s.GetCode()), s.GetDescription(), s.GetReason()})
		}
		if err := cli.Table(a.stdout, []string{"  TIME", "CODE", "WHAT", "REASON"}, rows); err != nil {
			return err
		}
	}
	return nil
}
