package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func credentialCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "Issue and revoke agency credentials"}
	cmd.AddCommand(credentialIssueCmd(a), credentialRevokeCmd(a))
	return cmd
}

func credentialIssueCmd(a *app) *cobra.Command {
	var out string
	var days int
	var force bool
	cmd := &cobra.Command{
		Use:   "issue CODE --out FILE",
		Short: "Write a credentials file for an agency (mode 0600)",
		Long: `Makes a key pair here, has the hub sign a certificate naming the agency,
and writes one credentials file (hub address, CA certificate, client
certificate and key) with mode 0600. The private key never leaves this machine.
Hand the file to the agency's system operators over a secure channel.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := args[0]
			if !force {
				if _, err := os.Stat(out); err == nil {
					return &cli.UsageError{Err: fmt.Errorf("%s exists; pass --force to replace it", out)}
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			csr, keyPEM, err := pki.NewCSR(pki.AgencyIdentity(code))
			if err != nil {
				return fmt.Errorf("code: %w", err)
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.IssueCredential(cmd.Context(), &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr, ValidDays: int32(days)})
			if err != nil {
				return err
			}
			addr := resp.GetHubAddress()
			if addr == "" {
				addr = c.Address()
			}
			if err := pki.WriteCreds(out, addr, resp.GetCaPem(), resp.GetCertificatePem(), keyPEM); err != nil {
				return err
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{
					"code": code, "file": out, "credential_id": resp.GetCredentialId(),
					"hub_address": addr, "expires": resp.GetExpireTime().AsTime(),
				})
			}
			return cli.Fields(a.stdout, [][2]string{
				{"Credentials", out}, {"Agency", code}, {"Credential id", resp.GetCredentialId()},
				{"Hub", addr}, {"Expires", cli.Time(resp.GetExpireTime().AsTime())},
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "credentials file to write (required)")
	cmd.Flags().IntVar(&days, "days", 0, "validity in days (default 365)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	cmd.MarkFlagRequired("out")
	return cmd
}

func credentialRevokeCmd(a *app) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "revoke [CODE] [--id CREDENTIAL_ID]",
		Short: "Revoke credentials; they are refused on their next call",
		Long: `Revokes every credential of agency CODE, or with --id only that one. With
--id and no CODE it revokes that certificate whoever it names: the way to
revoke an admin credential or a certificate from an external CA (the id is
the certificate's serial in hex, e.g. from openssl x509 -noout -serial).`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := ""
			if len(args) == 1 {
				code = args[0]
			}
			if code == "" && id == "" {
				return &cli.UsageError{Err: errors.New("give an agency CODE, --id CREDENTIAL_ID, or both")}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Registry.RevokeCredential(cmd.Context(), &ndxpv1.RevokeCredentialRequest{Code: code, CredentialId: id})
			if err != nil {
				return err
			}
			what := code
			if what == "" {
				what = "credential " + id
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{"code": code, "credential_id": id, "revoked": resp.GetRevoked()})
			}
			_, err = fmt.Fprintf(a.stdout, "%s: %d credentials revoked\n", what, resp.GetRevoked())
			return err
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "revoke only this credential (default: all of the agency's)")
	return cmd
}
