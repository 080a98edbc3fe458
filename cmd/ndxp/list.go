package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// maxPageSize is the hub's largest page of ListSent and ListReceived.
const maxPageSize = 500

// listPage fetches one page: it takes the page size and token and returns
// the documents and the next token.
type listPage func(ctx context.Context, size int32, token string) ([]*ndxpv1.DocumentSummary, string, error)

// collect follows next_page_token until limit documents are in hand or
// the listing ends.
func collect(ctx context.Context, limit int, page listPage) ([]*ndxpv1.DocumentSummary, error) {
	var all []*ndxpv1.DocumentSummary
	token := ""
	for len(all) < limit {
		docs, next, err := page(ctx, int32(min(limit-len(all), maxPageSize)), token)
		if err != nil {
			return nil, err
		}
		all = append(all, docs...)
		if next == "" || len(docs) == 0 {
			break
		}
		token = next
	}
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

func (a *app) printSummaries(docs []*ndxpv1.DocumentSummary, sent bool) error {
	if a.json() {
		views := make([]summaryView, len(docs))
		for i, d := range docs {
			views[i] = viewSummary(d)
		}
		return cli.JSON(a.stdout, views)
	}
	header := append([]string(nil), summaryHeader...)
	header[1] = "FROM"
	if sent {
		header[1] = "TO"
	}
	rows := make([][]string, len(docs))
	for i, d := range docs {
		rows[i] = summaryRow(d, sent)
	}
	return cli.Table(a.stdout, header, rows)
}

func checkLimit(limit int) error {
	if limit < 1 {
		return usageErrorf("--limit %d: want at least 1", limit)
	}
	return nil
}

func inboxCmd(a *app) *cobra.Command {
	var status, from string
	var limit int
	cmd := &cobra.Command{
		Use:   "inbox [--status CODE] [--from CODE] [--limit N]",
		Short: "List documents addressed to this agency, newest first",
		Long: `Lists documents addressed to this agency, newest first, with this
agency's processing status of each (docs/domain.md codes; "-" before it was
received). --status 00 lists documents not yet received (acknowledged).`,
		Example: `  ndxp inbox
  ndxp inbox --status 00                 # not yet received
  ndxp inbox --from 000.00.00.G22 --limit 200 -o json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			docs, err := collect(cmd.Context(), limit, func(ctx context.Context, size int32, token string) ([]*ndxpv1.DocumentSummary, string, error) {
				resp, err := c.Exchange.ListReceived(ctx, &ndxpv1.ListReceivedRequest{
					PageSize: size, PageToken: token, Counterpart: from, Status: status})
				return resp.GetDocuments(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			return a.printSummaries(docs, false)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", `only documents at this status code ("00": not yet received)`)
	cmd.Flags().StringVar(&from, "from", "", "only documents from this agency code")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many")
	return cmd
}

func sentCmd(a *app) *cobra.Command {
	var status, to string
	var limit int
	cmd := &cobra.Command{
		Use:   "sent [--status CODE] [--to CODE] [--limit N]",
		Short: "List documents this agency sent, newest first",
		Long: `Lists documents this agency sent, newest first. STATUS is the recipient's
status when there is one recipient, else the common status, else a count
per status code ("01:2 06:1"); ndxp trace ID shows each recipient's line.`,
		Example: `  ndxp sent
  ndxp sent --to 000.00.00.H41 --status 06
  ndxp sent --limit 500 -o json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			docs, err := collect(cmd.Context(), limit, func(ctx context.Context, size int32, token string) ([]*ndxpv1.DocumentSummary, string, error) {
				resp, err := c.Exchange.ListSent(ctx, &ndxpv1.ListSentRequest{
					PageSize: size, PageToken: token, Counterpart: to, Status: status})
				return resp.GetDocuments(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			return a.printSummaries(docs, true)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only documents with a recipient at this status code")
	cmd.Flags().StringVar(&to, "to", "", "only documents sent to this agency code")
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many")
	return cmd
}
