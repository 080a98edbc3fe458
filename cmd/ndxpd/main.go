// Command ndxpd is the ndxp hub daemon: it stores official documents and
// delivers them between registered agencies over mutual TLS.
//
//	ndxpd --dev                       # a development hub in ./ndxp-data
//	ndxpd --config /etc/ndxp/hub.json # production, with an external CA
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // --timezone works on machines without a zone database

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ndxp/ndxp/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ndxpd: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := server.DefaultConfig()
	var configFile string
	var check bool
	var shutdown, unacked time.Duration
	cmd := &cobra.Command{
		Use:   "ndxpd",
		Short: "ndxp hub daemon: the national document exchange axis",
		Long: `ndxpd runs an ndxp hub. Agencies connect with mutual TLS, send official
documents through it and receive those addressed to them.

With --dev it makes a CA, a server certificate for localhost and an admin
credentials file (DATA/admin.creds) on first start and reuses them after.
Settings come from --config FILE (JSON, keys named like the flags with
underscores) and flags; flags win.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				fileCfg := server.DefaultConfig()
				if err := server.LoadConfigFile(configFile, &fileCfg); err != nil {
					return err
				}
				overlayFlags(cmd.Flags(), &fileCfg, cfg)
				cfg = fileCfg
			}
			if cmd.Flags().Changed("shutdown-timeout") {
				cfg.ShutdownTimeout = server.Duration(shutdown)
			}
			if cmd.Flags().Changed("unacked-after") {
				cfg.UnackedAfter = server.Duration(unacked)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if check {
				fmt.Fprintln(stdout, "configuration OK")
				return nil
			}
			return serve(ctx, cfg, stdout)
		},
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "JSON config file; flags override it")
	f.BoolVarP(&check, "check", "t", false, "check the configuration and exit")
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory (store, dev PKI, admin credentials)")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "gRPC listen address (mutual TLS)")
	f.StringVar(&cfg.HTTP, "http", cfg.HTTP, `HTTP listen address for /healthz, /readyz and the dashboard ("" disables)`)
	f.StringVar(&cfg.Advertise, "advertise", cfg.Advertise, "gRPC address written into issued credentials (default: the listen address)")
	f.BoolVar(&cfg.Dev, "dev", cfg.Dev, "development mode: make and reuse a CA, a localhost server certificate and admin credentials in the data directory")
	f.StringVar(&cfg.CACert, "ca-cert", cfg.CACert, "CA certificate (PEM) that client certificates must chain to")
	f.StringVar(&cfg.CAKey, "ca-key", cfg.CAKey, "CA private key (PEM); lets the hub issue credentials")
	f.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "server certificate (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "server private key (PEM)")
	f.DurationVar(&shutdown, "shutdown-timeout", time.Duration(cfg.ShutdownTimeout), "how long a graceful stop waits for calls in flight")
	f.StringVar(&cfg.DashboardToken, "dashboard-token", cfg.DashboardToken, "token that lets non-loopback clients see the dashboard and /metrics")
	f.DurationVar(&unacked, "unacked-after", 15*time.Minute, "alert on documents not acknowledged by a recipient for this long")
	f.StringVar(&cfg.TimeZone, "timezone", cfg.TimeZone, `time zone of "today" in daily counts, e.g. Asia/Ho_Chi_Minh (default: the machine's)`)
	f.BoolVar(&cfg.Demo, "demo", cfg.Demo, "with --dev: load the 2018 pilot registry (95 agencies) into an empty store and run demo traffic")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	return cmd.ExecuteContext(ctx)
}

// overlayFlags copies the settings given on the command line over those
// read from the config file.
func overlayFlags(fs *pflag.FlagSet, dst *server.Config, flags server.Config) {
	set := map[string]func(){
		"data":            func() { dst.DataDir = flags.DataDir },
		"listen":          func() { dst.Listen = flags.Listen },
		"http":            func() { dst.HTTP = flags.HTTP },
		"advertise":       func() { dst.Advertise = flags.Advertise },
		"dev":             func() { dst.Dev = flags.Dev },
		"ca-cert":         func() { dst.CACert = flags.CACert },
		"ca-key":          func() { dst.CAKey = flags.CAKey },
		"tls-cert":        func() { dst.TLSCert = flags.TLSCert },
		"tls-key":         func() { dst.TLSKey = flags.TLSKey },
		"log-level":       func() { dst.LogLevel = flags.LogLevel },
		"dashboard-token": func() { dst.DashboardToken = flags.DashboardToken },
		"timezone":        func() { dst.TimeZone = flags.TimeZone },
		"demo":            func() { dst.Demo = flags.Demo },
		"log-format":      func() { dst.LogFormat = flags.LogFormat },
	}
	fs.Visit(func(f *pflag.Flag) {
		if apply, ok := set[f.Name]; ok {
			apply()
		}
	})
}

func serve(ctx context.Context, cfg server.Config, stdout io.Writer) error {
	d, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ndxpd: gRPC on %s", d.GRPCAddr())
	if a := d.HTTPAddr(); a != "" {
		fmt.Fprintf(stdout, ", HTTP on http://%s", a)
	}
	fmt.Fprintln(stdout)
	if p := d.AdminCredsPath(); p != "" {
		fmt.Fprintf(stdout, "ndxpd: admin credentials: %s\n", p)
		fmt.Fprintf(stdout, "ndxpd: try: ndxpctl --creds %s overview\n", p)
	}
	select {
	case <-ctx.Done():
	case err := <-d.Err():
		d.Close()
		return fmt.Errorf("serving stopped: %w", err)
	}
	if err := d.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
