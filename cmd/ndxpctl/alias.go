package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func agencyAliasCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alias",
		Short: "Name agencies by the non-standard codes real packets carry",
		Long: `An alias is another name of a registered agency: a code outside the standard
form that real packets carry as an OrganId (28.22.H17, 001.00.20.TT2, another
hub's system id vxp.saas.03). Where the hub must identify an agency in a
packet, an alias stands for its agency; a code there that is neither
registered nor an alias is refused. An alias is matched exactly, holds no
spaces, is at most 64 characters, and can be neither a registered code nor
the code of an agency registered later. Every change is recorded in the
hub's log with the admin who made it.`,
	}
	cmd.AddCommand(aliasAddCmd(a), aliasListCmd(a), aliasRemoveCmd(a))
	return cmd
}

// aliasView is the JSON shape of an alias in ndxpctl's output.
type aliasView struct {
	Alias      string    `json:"alias"`
	Code       string    `json:"code"`
	AgencyName string    `json:"agency_name"`
	Created    time.Time `json:"created"`
}

func viewAlias(al *ndxpv1.Alias) aliasView {
	return aliasView{Alias: al.GetAlias(), Code: al.GetCode(), AgencyName: al.GetAgencyName(), Created: al.GetCreateTime().AsTime()}
}

var aliasHeader = []string{"ALIAS", "CODE", "AGENCY", "ADDED"}

func aliasRow(v aliasView) []string {
	return []string{v.Alias, v.Code, v.AgencyName, cli.Time(v.Created)}
}

func aliasAddCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "add ALIAS CODE",
		Short: "Make ALIAS another name of the agency registered under CODE",
		Example: `  ndxpctl agency alias add vxp.saas.03 000.00.00.G22
  ndxpctl agency alias add 28.22.H17 000.00.00.H41`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.AddAlias(cmd.Context(), &ndxpv1.AddAliasRequest{Alias: args[0], Code: args[1]})
			if err != nil {
				return err
			}
			v := viewAlias(resp.GetAlias())
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			return cli.Fields(a.stdout, [][2]string{
				{"Alias", v.Alias}, {"Code", v.Code}, {"Agency", v.AgencyName}, {"Added", cli.Time(v.Created)},
			})
		},
	}
}

func aliasListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every alias, in alias order, with the agency it stands for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.ListAliases(cmd.Context(), &ndxpv1.ListAliasesRequest{})
			if err != nil {
				return err
			}
			views := make([]aliasView, len(resp.GetAliases()))
			for i, al := range resp.GetAliases() {
				views[i] = viewAlias(al)
			}
			if a.json() {
				return cli.JSON(a.stdout, views)
			}
			rows := make([][]string, len(views))
			for i, v := range views {
				rows[i] = aliasRow(v)
			}
			if err := cli.Table(a.stdout, aliasHeader, rows); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%d aliases\n", len(views))
			return err
		},
	}
}

func aliasRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ALIAS",
		Short:   "Remove an alias: packets naming it are refused from then on",
		Example: `  ndxpctl agency alias remove vxp.saas.03`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.Registry.RemoveAlias(cmd.Context(), &ndxpv1.RemoveAliasRequest{Alias: args[0]}); err != nil {
				return err
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{"alias": args[0], "removed": true})
			}
			_, err = fmt.Fprintf(a.stdout, "alias %s removed\n", cli.Cell(args[0]))
			return err
		},
	}
}
