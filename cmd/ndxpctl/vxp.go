package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func vxpCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vxp",
		Short: "Manage the VXP HTTP API (the agencies' SDK protocol)",
	}
	cmd.AddCommand(vxpSystemCmd(a))
	return cmd
}

func vxpSystemCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Let agency systems in over the VXP HTTP API, with a system id and secret",
		Long: `An agency document system that uses the agencies' SDK (SDKVXP) connects with
three settings: the hub's endpoint, a system id and a secret, with which it
signs every request. A system serves one agency or several (a hosted
provider serves many): it may act only for the agencies it was added with.

The secret is shown once, by the command that makes it (add, rotate): hand
it to the system's operators over a secure channel. The hub never logs it
and no list shows it; if it is lost, rotate it. A rotation or a removal
takes effect on the system's next request. Every change is recorded in the
hub's log with the admin who made it.`,
	}
	cmd.AddCommand(vxpSystemAddCmd(a), vxpSystemListCmd(a), vxpSystemRotateCmd(a), vxpSystemRemoveCmd(a))
	return cmd
}

// vxpSecretView is the JSON shape of add and rotate: what the system's
// operators configure the SDK with, besides the endpoint.
type vxpSecretView struct {
	SystemID string   `json:"systemid"`
	Secret   string   `json:"secret"`
	Agencies []string `json:"agencies"`
}

// vxpSystemView is the JSON shape of a system in list; it has no secret.
type vxpSystemView struct {
	SystemID      string    `json:"systemid"`
	Agencies      []string  `json:"agencies"`
	AllowRegistry bool      `json:"allow_registry"`
	Created       time.Time `json:"created"`
	CreatedBy     string    `json:"created_by"`
	Rotated       time.Time `json:"rotated,omitzero"`
}

func viewVxpSystem(s *ndxpv1.VxpSystem) vxpSystemView {
	v := vxpSystemView{
		SystemID: s.GetSystemId(), Agencies: s.GetAgencies(), AllowRegistry: s.GetAllowRegistry(),
		Created: s.GetCreateTime().AsTime(), CreatedBy: s.GetCreatedBy(),
	}
	if v.Agencies == nil {
		v.Agencies = []string{}
	}
	if s.GetRotateTime() != nil {
		v.Rotated = s.GetRotateTime().AsTime()
	}
	return v
}

// vxpTableAgencies is how many agencies a table row names before it
// counts the rest: a hosted provider's list would not fit a line.
const vxpTableAgencies = 3

func vxpAgencyCell(codes []string) string {
	if len(codes) <= vxpTableAgencies {
		return strings.Join(codes, ",")
	}
	return fmt.Sprintf("%s (+%d more)", strings.Join(codes[:vxpTableAgencies], ","), len(codes)-vxpTableAgencies)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printVxpSecret prints a system with its new secret, and says on
// stderr that the secret will not be shown again.
func (a *app) printVxpSecret(s *ndxpv1.VxpSystem, secret string) error {
	fmt.Fprintf(a.stderr, "The secret of VXP system %s is shown below once: it will not be shown again.\n"+
		"Give it to the system's operators over a secure channel; if it is lost, rotate it.\n", cli.Cell(s.GetSystemId()))
	if a.json() {
		agencies := s.GetAgencies()
		if agencies == nil {
			agencies = []string{}
		}
		return cli.JSON(a.stdout, vxpSecretView{SystemID: s.GetSystemId(), Secret: secret, Agencies: agencies})
	}
	v := viewVxpSystem(s)
	return cli.Fields(a.stdout, [][2]string{
		{"System", v.SystemID}, {"Agencies", strings.Join(v.Agencies, ", ")}, {"Registry", yesNo(v.AllowRegistry)},
		{"Created", cli.Time(v.Created)}, {"Rotated", cli.Time(v.Rotated)}, {"Secret", secret},
	})
}

func vxpSystemAddCmd(a *app) *cobra.Command {
	var agencies []string
	var allowRegistry bool
	cmd := &cobra.Command{
		Use:   "add SYSID --agency CODE [--agency CODE ...] [--allow-registry]",
		Short: "Add a system serving the given agencies and print its secret, once",
		Long: `Adds a VXP system under SYSID (1 to 64 ASCII letters, digits, '.', '-', '_';
matched exactly) that may act for each agency given with --agency (registered
codes, not aliases; at most 1000), and prints its new secret: 32 random bytes
in base64, 44 characters. It is shown this once.

--allow-registry approves the system for registerAgency and deleteAgency,
which the hub answers only when ndxpd also runs with --vxp-allow-registry.`,
		Example: `  ndxpctl vxp system add sys.a --agency 000.00.00.G22
  ndxpctl vxp system add vxp.saas.03 --agency 000.00.00.H41 --agency 000.00.00.H47
  ndxpctl vxp system add vxp.saas.03 --agency 000.00.00.H41,000.00.00.H47 --allow-registry -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(agencies) == 0 {
				return &cli.UsageError{Err: fmt.Errorf("name the agencies %s serves with --agency CODE", args[0])}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.AddVxpSystem(cmd.Context(), &ndxpv1.AddVxpSystemRequest{
				SystemId: args[0], Agencies: agencies, AllowRegistry: allowRegistry,
			})
			if err != nil {
				return err
			}
			return a.printVxpSecret(resp.GetSystem(), resp.GetSecret())
		},
	}
	cmd.Flags().StringSliceVar(&agencies, "agency", nil, "code of an agency the system serves (repeat, or separate with commas, for several)")
	cmd.Flags().BoolVar(&allowRegistry, "allow-registry", false, "approve the system for registerAgency and deleteAgency")
	return cmd
}

var vxpSystemHeader = []string{"SYSTEM", "AGENCIES", "REGISTRY", "CREATED", "ROTATED"}

func vxpSystemListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the systems, in system id order, without their secrets",
		Long: `Lists every VXP system: the agencies it serves (a table names the first
three; -o json lists them all), whether it is approved for the registry
calls, when it was added and when its secret was last rotated.`,
		Example: `  ndxpctl vxp system list
  ndxpctl vxp system list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.ListVxpSystems(cmd.Context(), &ndxpv1.ListVxpSystemsRequest{})
			if err != nil {
				return err
			}
			views := make([]vxpSystemView, len(resp.GetSystems()))
			for i, s := range resp.GetSystems() {
				views[i] = viewVxpSystem(s)
			}
			if a.json() {
				return cli.JSON(a.stdout, views)
			}
			rows := make([][]string, len(views))
			for i, v := range views {
				rows[i] = []string{v.SystemID, vxpAgencyCell(v.Agencies), yesNo(v.AllowRegistry), cli.Time(v.Created), cli.Time(v.Rotated)}
			}
			if err := cli.Table(a.stdout, vxpSystemHeader, rows); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%d systems\n", len(views))
			return err
		},
	}
}

func vxpSystemRotateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate SYSID",
		Short: "Give a system a new secret and print it, once; the old one is refused at once",
		Long: `Replaces the secret of a VXP system and prints the new one, once. Requests
signed with the old secret are refused from now on, so give the new one to
the system's operators before their next request, or rotate when they are
ready to change it.`,
		Example: `  ndxpctl vxp system rotate vxp.saas.03
  ndxpctl vxp system rotate vxp.saas.03 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.RotateVxpSecret(cmd.Context(), &ndxpv1.RotateVxpSecretRequest{SystemId: args[0]})
			if err != nil {
				return err
			}
			return a.printVxpSecret(resp.GetSystem(), resp.GetSecret())
		},
	}
}

func vxpSystemRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove SYSID",
		Short:   "Remove a system: its next request is refused",
		Example: `  ndxpctl vxp system remove vxp.saas.03`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.Registry.RemoveVxpSystem(cmd.Context(), &ndxpv1.RemoveVxpSystemRequest{SystemId: args[0]}); err != nil {
				return err
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{"systemid": args[0], "removed": true})
			}
			_, err = fmt.Fprintf(a.stdout, "VXP system %s removed\n", cli.Cell(args[0]))
			return err
		},
	}
}
