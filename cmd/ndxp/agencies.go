package main

import (
	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// entryView is the JSON shape of a line of `ndxp agencies`.
type entryView struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	Parent    string `json:"parent,omitempty"`
	Stage     string `json:"stage"`
	Suspended bool   `json:"suspended"`
	Online    bool   `json:"online"`
}

func agenciesCmd(a *app) *cobra.Command {
	var query string
	var limit int
	cmd := &cobra.Command{
		Use:   "agencies [--search TEXT] [--limit N]",
		Short: "Look up agencies in the hub's directory, to address documents",
		Long: `Lists registered agencies in code order, those whose code or name contains
--search (ignoring case) when given. STAGE says how far the agency's
connection is (pending, pilot, production); a suspended agency cannot be
sent to. ONLINE says whether it is connected now; documents for an
offline agency wait in its queue.`,
		Example: `  ndxp agencies --search "Nghệ An"
  ndxp agencies --search .H47 -o json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageErrorf("--limit %d: want 0 (all) or more", limit)
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			req := &ndxpv1.SearchAgenciesRequest{Query: query, PageSize: 1000}
			views := []entryView{}
			for {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				resp, err := c.Directory.SearchAgencies(cmd.Context(), req)
				if err != nil {
					return err
				}
				for _, e := range resp.GetEntries() {
					views = append(views, entryView{Code: e.GetCode(), Name: e.GetName(), Parent: e.GetParentCode(),
						Stage: cli.StageName(e.GetStage()), Suspended: e.GetSuspended(), Online: e.GetOnline()})
				}
				if resp.GetNextPageToken() == "" || len(resp.GetEntries()) == 0 || (limit > 0 && len(views) >= limit) {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if limit > 0 && len(views) > limit {
				views = views[:limit]
			}
			if a.json() {
				return cli.JSON(a.stdout, views)
			}
			rows := make([][]string, len(views))
			for i, v := range views {
				stage := v.Stage
				if v.Suspended {
					stage += " (suspended)"
				}
				rows[i] = []string{v.Code, v.Name, stage, cli.YesNo(v.Online)}
			}
			return cli.Table(a.stdout, []string{"CODE", "NAME", "STAGE", "ONLINE"}, rows)
		},
	}
	cmd.Flags().StringVar(&query, "search", "", "only agencies whose code or name contains this text")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	return cmd
}
