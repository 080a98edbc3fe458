package main

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/client/demo"
	"github.com/ndxp/ndxp/internal/cli"
)

func demoCmd(a *app) *cobra.Command {
	var (
		load, verbose bool
		agencies      int
		rate          float64
		credsDir      string
		seed          int64
	)
	cmd := &cobra.Command{
		Use:   "demo --creds ADMIN.creds [--load] [--agencies N] [--rate R] [--creds-dir DIR]",
		Short: "Drive demo traffic through a hub: agencies online, documents, statuses, recalls",
		Long: `Plays the pilot agencies of a hub until interrupted (SIGINT or SIGTERM), so
that its dashboard and tools have live traffic to show. With --load it first
registers the 95 bodies of the 2018 pilot (71 pilot, 24 pending) if the hub
has no agencies yet.

Each agency it brings online is a real client with its own credential and
subscription: it fetches the documents that arrive, reports 03 and later
05/06 (sometimes 02 "Không thuộc thẩm quyền") after a random delay, and
answers recalls with 15. Documents go at --rate per second from a random
online agency to 1-3 others; a few recent ones are recalled. About 5% of
the pilot agencies receive documents but never connect, so the dashboard's
offline-with-backlog and unacknowledged alerts show.

It needs an ADMIN credential (--creds, else $NDXP_CREDS), not an agency's:
it lists the pilot agencies and issues their credentials. With --creds-dir
the agencies' credentials are kept there and reused on the next run;
without it they are issued anew each run and the files are deleted once
connected. Do not point it at a hub in real use: the documents are fake
but the hub stores and delivers them like any other.

Logs go to stderr (one line a minute; every action with --verbose). On
exit, the number of documents sent goes to stdout.`,
		Example: `  ndxp demo --creds /var/lib/ndxp/admin.creds --load
  ndxp demo --creds admin.creds --agencies 20 --rate 5 --creds-dir ./demo-creds --verbose`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if agencies < 0 {
				return usageErrorf("--agencies %d: want 0 (80%% of the pilot agencies) or more", agencies)
			}
			if rate <= 0 || rate > 1000 {
				return usageErrorf("--rate %v: want more than 0 and at most 1000 documents per second", rate)
			}
			ctx := cmd.Context()
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			if code := c.Code(); code != "" {
				return fmt.Errorf("demo needs an admin credential, to issue the agencies' credentials; --creds holds agency %s's", code)
			}
			loaded := 0
			if load {
				if loaded, err = demo.Load(ctx, c); err != nil {
					return err
				}
				if loaded == 0 {
					fmt.Fprintln(a.stderr, "ndxp: the hub already has agencies; the 2018 register was not loaded")
				} else {
					fmt.Fprintf(a.stderr, "ndxp: %d agencies of the 2018 register loaded\n", loaded)
				}
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			var sent atomic.Int64
			cfg := demo.DefaultConfig()
			cfg.Admin, cfg.HubAddress, cfg.CredsDir = c, a.hubFlag, credsDir
			cfg.Agencies, cfg.Rate, cfg.Seed = agencies, rate, seed
			cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			cfg.OnSent = func(string) { sent.Add(1) }
			if err := demo.Run(ctx, cfg); err != nil {
				return err
			}
			if a.json() {
				return cli.JSON(a.stdout, map[string]any{"loaded": loaded, "sent": sent.Load()})
			}
			_, err = fmt.Fprintf(a.stdout, "%d documents sent\n", sent.Load())
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&load, "load", false, "first register the 2018 pilot register (95 agencies) if the hub has none")
	f.IntVar(&agencies, "agencies", 0, "pilot agencies to bring online (default 80% of them)")
	f.Float64Var(&rate, "rate", 1, "documents per second, overall")
	f.StringVar(&credsDir, "creds-dir", "", "keep the agencies' credentials in DIR and reuse them (default: temporary)")
	f.Int64Var(&seed, "seed", 0, "seed of the random choices (default: from the clock)")
	f.BoolVar(&verbose, "verbose", false, "log every action")
	return cmd
}
