package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func credentialCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "Issue, revoke and export credentials"}
	cmd.AddCommand(credentialIssueCmd(a), credentialRevokeCmd(a), credentialExportCmd(a))
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

// exportView is the JSON shape of `ndxpctl credential export`.
type exportView struct {
	File       string    `json:"file"`
	Identity   string    `json:"identity"`
	HubAddress string    `json:"hub_address"`
	CACert     string    `json:"ca_cert"`
	ClientCert string    `json:"client_cert"`
	ClientKey  string    `json:"client_key"`
	Expires    time.Time `json:"expires"`
}

func credentialExportCmd(a *app) *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "export [FILE] --pem DIR [--force]",
		Short: "Write a credentials file as ca.crt, client.crt and client.key",
		Long: `Splits a credentials file into the three PEM files that grpcurl, Node.js
(@grpc/grpc-js) and Java (grpc-netty) take: DIR/ca.crt (the CA certificates
that sign the hub's certificate), DIR/client.crt and DIR/client.key (PKCS #8,
mode 0600). DIR is made (mode 0700) if missing. It refuses to replace any of
the three files unless --force. It works offline: the hub is not asked.

FILE is the credentials file to export, e.g. one made with credential issue
(a --creds given as well is ignored: it names ndxpctl's own credential);
without FILE it exports the admin credentials ndxpctl itself uses (--creds,
else $NDXP_CREDS, else ./ndxp-data/admin.creds). Like the credentials file,
the key gives whoever holds it the identity: keep DIR private.`,
		Example: `  ndxpctl credential export h41.creds --pem h41-pem
  grpcurl -cacert h41-pem/ca.crt -cert h41-pem/client.crt -key h41-pem/client.key 127.0.0.1:7443 list
  ndxpctl credential export --pem admin-pem     # the admin credentials`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return &cli.UsageError{Err: errors.New("--pem DIR is required: the directory to write ca.crt, client.crt and client.key in")}
			}
			file := cli.CredsPath(a.credsFlag, defaultCreds)
			if len(args) == 1 {
				file = args[0] // --creds stays the credential ndxpctl would call the hub with
			}
			creds, err := pki.ReadCreds(file)
			if err != nil {
				return err
			}
			files, err := creds.WritePEM(dir, force)
			if errors.Is(err, fs.ErrExist) {
				return &cli.UsageError{Err: fmt.Errorf("%w; pass --force to replace", err)}
			}
			if err != nil {
				return err
			}
			v := exportView{File: file, Identity: creds.Identity.URI(), HubAddress: creds.Address, CACert: files.CACert,
				ClientCert: files.ClientCert, ClientKey: files.ClientKey, Expires: creds.Leaf.NotAfter.UTC()}
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			return cli.Fields(a.stdout, [][2]string{
				{"Identity", v.Identity}, {"Hub", v.HubAddress}, {"Expires", cli.Time(v.Expires)},
				{"CA certificate", v.CACert}, {"Client certificate", v.ClientCert}, {"Client key", v.ClientKey},
				{"Try", strings.Join([]string{"grpcurl -cacert", v.CACert, "-cert", v.ClientCert, "-key", v.ClientKey, v.HubAddress, "list"}, " ")},
			})
		},
	}
	cmd.Flags().StringVar(&dir, "pem", "", "directory to write ca.crt, client.crt and client.key in (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace files of an earlier export")
	return cmd
}
