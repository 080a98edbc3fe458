package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// purgeView is the JSON shape of `ndxpctl purge`.
type purgeView struct {
	DryRun     bool            `json:"dry_run"`
	Documents  []purgedDocView `json:"documents"`
	BytesFreed int64           `json:"bytes_freed"`
	// Reason says why nothing is (or would be) purged; empty otherwise.
	Reason string `json:"reason,omitempty"`
}

type purgedDocView struct {
	ID      string    `json:"id"`
	Sender  string    `json:"sender"`
	Subject string    `json:"subject"`
	Created time.Time `json:"created"`
	Bytes   int64     `json:"bytes"`
}

func viewPurge(r *ndxpv1.PurgeResponse) purgeView {
	v := purgeView{DryRun: r.GetDryRun(), BytesFreed: r.GetBytesFreed(), Documents: make([]purgedDocView, 0, len(r.GetDocuments()))}
	for _, d := range r.GetDocuments() {
		v.Documents = append(v.Documents, purgedDocView{ID: d.GetDocumentId(), Sender: d.GetSenderCode(),
			Subject: d.GetSubject(), Created: d.GetCreateTime().AsTime(), Bytes: d.GetBytes()})
	}
	return v
}

func purgeCmd(a *app) *cobra.Command {
	var days int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "purge [--older-than-days N] [--dry-run]",
		Short: "Remove attachment bodies of completed documents past the retention period",
		Long: `Removes the attachment bodies of completed documents accepted more than N days
ago: those every recipient has finished with (completed 06, refused 02, recall
accepted 15, or withdrawn before delivery). Documents still being processed or
with an unanswered recall are kept. Headers and traces are kept: the documents
stay listed and traceable, only fetching their attachments answers that the
body was removed. A body still used by a kept document stays.

Without --older-than-days the hub's configured retention (ndxpd
--retention-days) applies. --dry-run lists what would go and changes nothing;
when nothing would, it says why (no document old enough and finished, or no
retention configured) and exits 0.`,
		Example: "  ndxpctl purge --older-than-days 1825 --dry-run\n  ndxpctl purge",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 0 {
				return &cli.UsageError{Err: fmt.Errorf("--older-than-days %d: must not be negative", days)}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Maintenance.Purge(cmd.Context(),
				&ndxpv1.PurgeRequest{OlderThanDays: int32(min(days, 1<<30)), DryRun: dryRun})
			var v purgeView
			switch {
			case err == nil:
				v = viewPurge(r)
				if len(v.Documents) == 0 {
					v.Reason = nothingToPurge(days)
				}
			case dryRun && days == 0 && noRetention(err):
				// A dry run asks what a purge would do; with no retention
				// configured the answer is "nothing", not a failure.
				v = purgeView{DryRun: true, Documents: []purgedDocView{}, Reason: "the hub keeps documents forever: no retention is configured " +
					"(ndxpd --retention-days); give --older-than-days N to see what a purge of documents older than N days would remove"}
			default:
				return err
			}
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			return printPurge(a, v)
		},
	}
	cmd.Flags().IntVar(&days, "older-than-days", 0, "purge documents accepted more than N days ago (default: the hub's configured retention)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed without removing anything")
	return cmd
}

// noRetention reports the hub's refusal of a purge by its configured
// retention when none is configured: INVALID_ARGUMENT on older_than_days
// (the only way a request with older_than_days 0 is invalid).
func noRetention(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return false
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, f := range br.GetFieldViolations() {
				if f.GetField() == "older_than_days" {
					return true
				}
			}
		}
	}
	return false
}

// nothingToPurge says why a purge found nothing: no document past the
// age is finished by every recipient.
func nothingToPurge(days int) string {
	age := "the hub's retention period (ndxpd --retention-days)"
	switch days {
	case 0:
	case 1:
		age = "1 day"
	default:
		age = fmt.Sprintf("%d days", days)
	}
	return "no document accepted more than " + age + " ago is finished by every recipient " +
		"(completed 06, refused 02, recall accepted 15 or withdrawn)"
}

func printPurge(a *app, v purgeView) error {
	if len(v.Documents) == 0 && v.Reason != "" {
		would := "nothing was purged"
		if v.DryRun {
			would = "nothing would be purged"
		}
		_, err := fmt.Fprintf(a.stdout, "%s: %s\n", would, v.Reason)
		return err
	}
	if len(v.Documents) > 0 {
		rows := make([][]string, 0, len(v.Documents))
		for _, d := range v.Documents {
			rows = append(rows, []string{d.ID, d.Sender, cli.Time(d.Created), sizeText(d.Bytes), clip(d.Subject, 60)})
		}
		if err := cli.Table(a.stdout, []string{"ID", "SENDER", "CREATED", "SIZE", "SUBJECT"}, rows); err != nil {
			return err
		}
	}
	freed := "freed"
	if v.DryRun {
		freed = "would be freed"
	}
	noun := "documents"
	if len(v.Documents) == 1 {
		noun = "document"
	}
	_, err := fmt.Fprintf(a.stdout, "%d %s, %.1f MiB %s\n", len(v.Documents), noun, float64(v.BytesFreed)/(1<<20), freed)
	return err
}

// sizeText writes a byte count for people.
func sizeText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// clip shortens s to at most n characters for a table column.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
