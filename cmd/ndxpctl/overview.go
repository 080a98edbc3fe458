package main

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// overviewView is the JSON shape of `ndxpctl overview`.
type overviewView struct {
	Total      int32     `json:"total"`
	Pending    int32     `json:"pending"`
	Pilot      int32     `json:"pilot"`
	Production int32     `json:"production"`
	Suspended  int32     `json:"suspended"`
	Online     int32     `json:"online"`
	Time       time.Time `json:"time"`
}

func overviewCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "overview",
		Short: "Count agencies: total, by stage, suspended, online now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.GetOverview(cmd.Context(), &ndxpv1.GetOverviewRequest{})
			if err != nil {
				return err
			}
			o := resp.GetOverview()
			v := overviewView{Total: o.GetTotal(), Pending: o.GetPending(), Pilot: o.GetPilot(), Production: o.GetProduction(),
				Suspended: o.GetSuspended(), Online: o.GetOnline(), Time: o.GetTime().AsTime()}
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			n := func(x int32) string { return strconv.Itoa(int(x)) }
			return cli.Fields(a.stdout, [][2]string{
				{"Agencies", n(v.Total)}, {"  pending", n(v.Pending)}, {"  pilot", n(v.Pilot)}, {"  production", n(v.Production)},
				{"Suspended", n(v.Suspended)}, {"Online now", n(v.Online)},
			})
		},
	}
}
