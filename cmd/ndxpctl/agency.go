package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func parseStage(s string) (ndxpv1.Stage, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pending":
		return ndxpv1.Stage_STAGE_PENDING, nil
	case "pilot":
		return ndxpv1.Stage_STAGE_PILOT, nil
	case "production":
		return ndxpv1.Stage_STAGE_PRODUCTION, nil
	}
	return 0, fmt.Errorf("stage: unknown stage %q (want pending, pilot or production)", s)
}

func agencyCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "agency", Short: "Register and manage agencies"}
	cmd.AddCommand(agencyAddCmd(a), agencyListCmd(a), agencyShowCmd(a), agencyUpdateCmd(a), agencySetStageCmd(a),
		agencySuspendCmd(a, true), agencySuspendCmd(a, false), agencyImportCmd(a), agencyAliasCmd(a))
	return cmd
}

// printAgency prints one agency record as fields or JSON.
func (a *app) printAgency(ag *ndxpv1.Agency) error {
	v := viewAgency(ag)
	if a.json() {
		return cli.JSON(a.stdout, v)
	}
	return cli.Fields(a.stdout, agencyFields(v))
}

func agencyAddCmd(a *app) *cobra.Command {
	var name, parent, stage, person, email, phone, address string
	cmd := &cobra.Command{
		Use:   "add CODE --name NAME [--parent CODE] [--stage pending|pilot|production]",
		Short: "Register an agency under its identifier code",
		Example: `  ndxpctl agency add 000.00.00.G22 --name "Văn phòng Chính phủ" --stage production
  ndxpctl agency add 001.00.10.H47 --name "UBND huyện Duy Xuyên"   # parent derived if registered`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseStage(stage)
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.CreateAgency(cmd.Context(), &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{
				Code: args[0], Name: name, ParentCode: parent, Stage: st,
				Contact: &ndxpv1.Contact{Person: person, Email: email, Phone: phone, Address: address},
			}})
			if err != nil {
				return err
			}
			return a.printAgency(resp.GetAgency())
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "official name (required)")
	f.StringVar(&parent, "parent", "", "parent agency code (default: derived from the code when that agency is registered)")
	f.StringVar(&stage, "stage", "pending", "connection stage: pending, pilot or production")
	f.StringVar(&person, "contact", "", "contact person")
	f.StringVar(&email, "email", "", "contact e-mail")
	f.StringVar(&phone, "phone", "", "contact phone")
	f.StringVar(&address, "address", "", "postal address")
	cmd.MarkFlagRequired("name")
	return cmd
}

func agencyUpdateCmd(a *app) *cobra.Command {
	var name, parent, person, email, phone, address string
	cmd := &cobra.Command{
		Use:   "update CODE [--name NAME] [--parent CODE] [--contact P --email E --phone N --address A]",
		Short: "Change an agency's name, parent or contact",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ag := &ndxpv1.Agency{Code: args[0], Name: name, ParentCode: parent,
				Contact: &ndxpv1.Contact{Person: person, Email: email, Phone: phone, Address: address}}
			mask := &fieldmaskpb.FieldMask{}
			fl := cmd.Flags()
			if fl.Changed("name") {
				mask.Paths = append(mask.Paths, "name")
			}
			if fl.Changed("parent") {
				mask.Paths = append(mask.Paths, "parent_code")
			}
			if fl.Changed("contact") || fl.Changed("email") || fl.Changed("phone") || fl.Changed("address") {
				mask.Paths = append(mask.Paths, "contact")
			}
			if len(mask.Paths) == 0 {
				return &cli.UsageError{Err: errors.New("nothing to change: give --name, --parent or contact flags")}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.UpdateAgency(cmd.Context(), &ndxpv1.UpdateAgencyRequest{Agency: ag, UpdateMask: mask})
			if err != nil {
				return err
			}
			return a.printAgency(resp.GetAgency())
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "official name")
	f.StringVar(&parent, "parent", "", "parent agency code")
	f.StringVar(&person, "contact", "", "contact person (contact fields are replaced together)")
	f.StringVar(&email, "email", "", "contact e-mail")
	f.StringVar(&phone, "phone", "", "contact phone")
	f.StringVar(&address, "address", "", "postal address")
	return cmd
}

func agencyListCmd(a *app) *cobra.Command {
	var stage, parent, query string
	var online, suspended, active bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--stage STAGE] [--search TEXT] [--online]",
		Short: "List registered agencies in code order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &ndxpv1.ListAgenciesRequest{ParentCode: parent, Query: query, OnlineOnly: online, PageSize: 1000}
			if stage != "" {
				st, err := parseStage(stage)
				if err != nil {
					return &cli.UsageError{Err: err}
				}
				req.Stage = st
			}
			switch {
			case suspended && active:
				return &cli.UsageError{Err: errors.New("--suspended and --active exclude each other")}
			case suspended:
				req.Suspension = ndxpv1.SuspensionFilter_SUSPENSION_FILTER_SUSPENDED
			case active:
				req.Suspension = ndxpv1.SuspensionFilter_SUSPENSION_FILTER_ACTIVE
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			var views []agencyView
			for {
				resp, err := c.Registry.ListAgencies(cmd.Context(), req)
				if err != nil {
					return err
				}
				for _, ag := range resp.GetAgencies() {
					views = append(views, viewAgency(ag))
				}
				if resp.GetNextPageToken() == "" || (limit > 0 && len(views) >= limit) {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if limit > 0 && len(views) > limit {
				views = views[:limit]
			}
			if a.json() {
				if views == nil {
					views = []agencyView{}
				}
				return cli.JSON(a.stdout, views)
			}
			rows := make([][]string, len(views))
			for i, v := range views {
				rows[i] = agencyRow(v)
			}
			if err := cli.Table(a.stdout, agencyHeader, rows); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%d agencies\n", len(views))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&stage, "stage", "", "only this stage: pending, pilot or production")
	f.StringVar(&parent, "parent", "", "only direct children of this code")
	f.StringVar(&query, "search", "", "only codes or names containing this text")
	f.BoolVar(&online, "online", false, "only agencies connected now")
	f.BoolVar(&suspended, "suspended", false, "only suspended agencies")
	f.BoolVar(&active, "active", false, "only agencies not suspended")
	f.IntVar(&limit, "limit", 0, "print at most this many (0: all)")
	return cmd
}

func agencyShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show CODE",
		Short: "Show one agency, with whether it is online",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.GetAgency(cmd.Context(), &ndxpv1.GetAgencyRequest{Code: args[0]})
			if err != nil {
				return err
			}
			return a.printAgency(resp.GetAgency())
		},
	}
}

func agencySetStageCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set-stage CODE pending|pilot|production",
		Short: "Move an agency to another connection stage",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseStage(args[1])
			if err != nil {
				return &cli.UsageError{Err: err}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.SetStage(cmd.Context(), &ndxpv1.SetStageRequest{Code: args[0], Stage: st})
			if err != nil {
				return err
			}
			return a.printAgency(resp.GetAgency())
		},
	}
}

func agencySuspendCmd(a *app, suspend bool) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend CODE [--reason TEXT]",
		Short: "Suspend an agency: its calls are refused and nothing can be sent to it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			var ag *ndxpv1.Agency
			if suspend {
				resp, err := c.Registry.SuspendAgency(cmd.Context(), &ndxpv1.SuspendAgencyRequest{Code: args[0], Reason: reason})
				if err != nil {
					return err
				}
				ag = resp.GetAgency()
			} else {
				resp, err := c.Registry.ResumeAgency(cmd.Context(), &ndxpv1.ResumeAgencyRequest{Code: args[0]})
				if err != nil {
					return err
				}
				ag = resp.GetAgency()
			}
			return a.printAgency(ag)
		},
	}
	if suspend {
		cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the hub's log)")
	} else {
		cmd.Use = "resume CODE"
		cmd.Short = "Lift an agency's suspension"
	}
	return cmd
}
