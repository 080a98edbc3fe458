package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func backupCmd(a *app) *cobra.Command {
	var force bool
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a hot, consistent backup of the hub to FILE",
		Long: `Streams a consistent snapshot of the running hub (the store, every attachment
body it references and, for a dev hub, its CA) into FILE, a tar archive,
while the hub keeps serving. Every document receipted before the snapshot
began is in it. Restore with: ndxpd restore FILE --data DIR (hub stopped).
FILE is written beside as FILE.partial and renamed when complete; a progress
bar shows on a terminal.`,
		Example: "  ndxpctl backup /backups/ndxp-$(date +%F).tar",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := args[0]
			if !force && fileExists(out) {
				return &cli.UsageError{Err: fmt.Errorf("%s exists; pass --force to replace it", out)}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			stream, err := c.Maintenance.Backup(cmd.Context(), &ndxpv1.BackupRequest{})
			if err != nil {
				return err
			}
			tmp := out + ".partial"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			ok := false
			defer func() {
				if !ok {
					f.Close()
					os.Remove(tmp)
				}
			}()
			var total, written int64
			var at time.Time
			bar := cli.NewProgress(a.stderr)
			for {
				msg, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				if msg.GetTotalBytes() > 0 {
					total, at = msg.GetTotalBytes(), msg.GetSnapshotTime().AsTime()
				}
				if _, err := f.Write(msg.GetData()); err != nil {
					return err
				}
				written += int64(len(msg.GetData()))
				bar.Update(written, total)
			}
			bar.Clear()
			if total > 0 && written != total {
				return fmt.Errorf("backup ended after %d of %d bytes; %s not written", written, total, out)
			}
			if err := f.Sync(); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp, out); err != nil {
				return err
			}
			ok = true
			if d, err := os.Open(filepath.Dir(out)); err == nil {
				d.Sync()
				d.Close()
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{"file": out, "bytes": written, "snapshot_time": at})
			}
			_, err = fmt.Fprintf(a.stdout, "backup written: %s (%.1f MiB, snapshot at %s)\n", out, float64(written)/(1<<20), cli.Time(at))
			return err
		},
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

func checkCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Run the store's consistency check on the running hub",
		Long: `Checks every page of the hub's store and the hub's own invariants: each
document has its delivery records and attachment bodies, each queued event and
index entry names an existing document. Exits 1 if anything is wrong.

While the page check runs, the hub copies nothing from its write-ahead log into
the store file; sends go on into the log, and wait only if the check outlasts
the log's memory bound (64 MiB of writes). On a large store, run it at a quiet
hour.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			r, err := c.Maintenance.CheckStore(cmd.Context(), &ndxpv1.CheckStoreRequest{})
			if err != nil {
				return err
			}
			if a.json() {
				if err := cli.JSON(a.stdout, map[string]any{"ok": len(r.GetProblems()) == 0, "problems": nonNil(r.GetProblems()),
					"documents": r.GetDocuments(), "events": r.GetEvents(), "attachment_bodies": r.GetAttachmentBodies(), "store_bytes": r.GetStoreBytes()}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "checked %d documents, %d queued events, %d attachment bodies (store %.1f MiB)\n",
					r.GetDocuments(), r.GetEvents(), r.GetAttachmentBodies(), float64(r.GetStoreBytes())/(1<<20))
				for _, p := range r.GetProblems() {
					fmt.Fprintln(a.stdout, "problem:", cli.Cell(p))
				}
			}
			if n := len(r.GetProblems()); n > 0 {
				return fmt.Errorf("the store has %d problems", n)
			}
			if !a.json() {
				fmt.Fprintln(a.stdout, "store OK")
			}
			return nil
		},
	}
}

// nonNil makes an empty list print as [] in JSON, not null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
