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
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // --timezone works on machines without a zone database

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/client/demo"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
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
	var shutdown, unacked, vxpWindow, httpTimeout, httpIdle time.Duration
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
			if cmd.Flags().Changed("http-timeout") {
				cfg.HTTPTimeout = server.Duration(httpTimeout)
			}
			if cmd.Flags().Changed("http-idle-timeout") {
				cfg.HTTPIdleTimeout = server.Duration(httpIdle)
			}
			if cmd.Flags().Changed("dashboard-token") {
				cfg.NewLogger(stderr).Warn("--dashboard-token is visible to every user of this machine in the process list (/proc/PID/cmdline); use --dashboard-token-file or " + tokenEnv)
			}
			tokenFromEnv(&cfg, os.Getenv(tokenEnv))
			if cmd.Flags().Changed("unacked-after") {
				cfg.UnackedAfter = server.Duration(unacked)
			} else if cfg.Demo && cfg.UnackedAfter == 0 {
				cfg.UnackedAfter = server.Duration(2 * time.Minute) // so the demo's alerts show soon
			}
			if cfg.Dev && cfg.VxpListen == "" && !cmd.Flags().Changed("vxp-listen") {
				// A developer's hub answers the agencies' SDK too, where a
				// second dev hub may already be: a busy port is only a warning.
				cfg.VxpListen, cfg.VxpPlainHTTP, cfg.VxpOptional = devVxpListen, true, true
			}
			if cmd.Flags().Changed("vxp-online-window") {
				cfg.VxpOnlineWindow = server.Duration(vxpWindow)
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
	cmd.AddCommand(restoreCmd(stdout))
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
	f.StringVar(&cfg.DashboardToken, "dashboard-token", cfg.DashboardToken, "token that lets non-loopback clients see the dashboard and /metrics (visible in the process list: prefer --dashboard-token-file or "+tokenEnv+")")
	f.StringVar(&cfg.DashboardTokenFile, "dashboard-token-file", cfg.DashboardTokenFile, "file holding the dashboard token (mode 0600 or stricter); "+tokenEnv+" is read when neither this nor --dashboard-token is set")
	f.StringSliceVar(&cfg.HTTPAllowedHosts, "http-allowed-hosts", cfg.HTTPAllowedHosts, "comma-separated host names the HTTP listener answers to besides localhost, 127.x and ::1 (the hosts of --http, --listen and --advertise are allowed automatically); other Host headers get 421, against DNS rebinding")
	f.BoolVar(&cfg.HTTPTLS, "http-tls", cfg.HTTPTLS, "serve the HTTP listener over TLS with the hub's server certificate (no client certificate asked)")
	f.DurationVar(&httpTimeout, "http-timeout", time.Duration(cfg.HTTPTimeout), "longest time to read an HTTP request or write its response (each dashboard event must be written within it)")
	f.DurationVar(&httpIdle, "http-idle-timeout", time.Duration(cfg.HTTPIdleTimeout), "close HTTP keep-alive connections idle this long")
	f.DurationVar(&unacked, "unacked-after", 15*time.Minute, "alert on documents not acknowledged by a recipient for this long")
	f.DurationVar(&vxpWindow, "vxp-online-window", 2*time.Minute, "an agency polling over the VXP HTTP API counts as online for this long after each poll")
	f.StringVar(&cfg.TimeZone, "timezone", cfg.TimeZone, `time zone of "today" in daily counts, e.g. Asia/Ho_Chi_Minh (default: the machine's)`)
	f.BoolVar(&cfg.Demo, "demo", cfg.Demo, "with --dev: load the 2018 pilot registry (95 agencies) into an empty store and run demo traffic")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	f.IntVar(&cfg.RetentionDays, "retention-days", cfg.RetentionDays, "purge attachment bodies of completed documents older than N days, keeping headers and traces (0 keeps them forever)")
	f.BoolVar(&cfg.EdxmlRequireValidSignature, "edxml-require-valid-signature", cfg.EdxmlRequireValidSignature, "refuse edXML packets whose XML-DSig is not valid (by default it is checked and recorded, never a reason to refuse)")
	f.StringVar(&cfg.EdxmlTrustCA, "edxml-trust-ca", cfg.EdxmlTrustCA, "PEM file of CA certificates that decide whether an edXML packet's signer is trusted")
	f.StringVar(&cfg.VxpListen, "vxp-listen", cfg.VxpListen, "address of the VXP HTTP API that agency systems on the existing SDK poll (docs/vxp.md); HTTPS with the hub's certificate (default with --dev: plain HTTP on "+devVxpListen+"; \"\" disables)")
	f.BoolVar(&cfg.VxpPlainHTTP, "vxp-plain-http", cfg.VxpPlainHTTP, "serve the VXP API over plain HTTP, on a loopback address only")
	f.BoolVar(&cfg.VxpPlainHTTPAny, "vxp-plain-http-any", cfg.VxpPlainHTTPAny, "with --vxp-plain-http, allow a non-loopback address (signatures and documents cross the network in clear)")
	f.BoolVar(&cfg.VxpAllowRegistry, "vxp-allow-registry", cfg.VxpAllowRegistry, "let systems an operator approved (ndxpctl vxp system add --allow-registry) call registerAgency and deleteAgency")
	limitFlags(f, &cfg)
	return cmd.ExecuteContext(ctx)
}

// devVxpListen is where ndxpd --dev serves the VXP API.
const devVxpListen = "127.0.0.1:7090"

// tokenEnv names the environment variable that may hold the dashboard token.
const tokenEnv = "NDXP_DASHBOARD_TOKEN"

// tokenFromEnv sets the dashboard token from the environment's value, when
// given, unless the configuration names a token or a token file: an
// explicit setting wins over one inherited from the environment.
func tokenFromEnv(cfg *server.Config, v string) {
	if v = strings.TrimSpace(v); v != "" && cfg.DashboardToken == "" && cfg.DashboardTokenFile == "" {
		cfg.DashboardToken = v
	}
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
		"retention-days":  func() { dst.RetentionDays = flags.RetentionDays },

		"dashboard-token-file":          func() { dst.DashboardTokenFile = flags.DashboardTokenFile },
		"http-allowed-hosts":            func() { dst.HTTPAllowedHosts = flags.HTTPAllowedHosts },
		"http-tls":                      func() { dst.HTTPTLS = flags.HTTPTLS },
		"vxp-listen":                    func() { dst.VxpListen = flags.VxpListen },
		"vxp-plain-http":                func() { dst.VxpPlainHTTP = flags.VxpPlainHTTP },
		"vxp-plain-http-any":            func() { dst.VxpPlainHTTPAny = flags.VxpPlainHTTPAny },
		"vxp-allow-registry":            func() { dst.VxpAllowRegistry = flags.VxpAllowRegistry },
		"edxml-require-valid-signature": func() { dst.EdxmlRequireValidSignature = flags.EdxmlRequireValidSignature },
		"edxml-trust-ca":                func() { dst.EdxmlTrustCA = flags.EdxmlTrustCA },
	}
	for name, apply := range limitOverlay(dst, flags) {
		set[name] = apply
	}
	fs.Visit(func(f *pflag.Flag) {
		if apply, ok := set[f.Name]; ok {
			apply()
		}
	})
	// Either token setting on the command line replaces the file's other
	// one, so the two never clash.
	switch token, file := fs.Changed("dashboard-token"), fs.Changed("dashboard-token-file"); {
	case token && !file:
		dst.DashboardTokenFile = ""
	case file && !token:
		dst.DashboardToken = ""
	}
}

func serve(ctx context.Context, cfg server.Config, stdout io.Writer) error {
	d, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ndxpd: gRPC on %s", d.GRPCAddr())
	if u := d.HTTPURL(); u != "" {
		fmt.Fprintf(stdout, ", HTTP on %s", u)
	}
	fmt.Fprintln(stdout)
	if u := d.VXPURL(); u != "" {
		fmt.Fprintf(stdout, "ndxpd: VXP API for the agencies' SDK on %s (service.endpoint; systems: ndxpctl vxp system add)\n", u)
	}
	if p := d.AdminCredsPath(); p != "" {
		fmt.Fprintf(stdout, "ndxpd: admin credentials: %s\n", p)
		fmt.Fprintf(stdout, "ndxpd: try: ndxpctl --creds %s overview\n", p)
	}
	demoDone := make(chan struct{})
	if cfg.Demo {
		if err := startDemo(ctx, d, cfg, stdout, demoDone); err != nil {
			d.Close()
			return err
		}
	} else {
		close(demoDone)
	}
	defer func() { <-demoDone }()
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

func restoreCmd(stdout io.Writer) *cobra.Command {
	var dataDir string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore FILE --data DIR",
		Short: "Restore a backup made with `ndxpctl backup` into a data directory",
		Long: `Unpacks a backup archive into DIR: the store, every attachment body (each
checked against its SHA-256) and, for a dev hub, its CA, then opens the store
and runs the full consistency check. DIR must hold no store unless --force is
given (the old store is then kept beside as ndxp.db.replaced-TIME). Stop the
hub first; start it on DIR afterwards.`,
		Example: "  ndxpd restore /backups/ndxp-2026-11-27.tar --data /var/lib/ndxp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			rep, err := server.Restore(cmd.Context(), f, dataDir, force)
			if err != nil {
				return fmt.Errorf("restore %s: %w", args[0], err)
			}
			fmt.Fprintf(stdout, "restored %s into %s: store %.1f MiB, %d documents, %d attachment files, %d PKI files; check passed\n",
				args[0], dataDir, float64(rep.StoreBytes)/(1<<20), rep.Documents, rep.Bodies, rep.PKIFiles)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./ndxp-data", "data directory to restore into")
	cmd.Flags().BoolVar(&force, "force", false, "replace a store already in the data directory")
	return cmd
}

// startDemo loads the 2018 pilot registry into an empty hub and drives demo
// traffic through real SDK clients until ctx ends. Its banner says what
// the demo changed: the agencies it registered (or why none), the agencies
// it plays, where their credentials are, and how soon alerts show.
func startDemo(ctx context.Context, d *server.Daemon, cfg server.Config, stdout io.Writer, done chan struct{}) error {
	admin, err := client.Dial(ctx, d.AdminCredsPath(), client.WithAddress(d.GRPCAddr()))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	n, err := demo.Load(ctx, admin)
	if err != nil {
		admin.Close()
		return fmt.Errorf("demo: load the 2018 registry: %w", err)
	}
	if n > 0 {
		fmt.Fprintf(stdout, "ndxpd: demo: registered the 2018 pilot registry: %s\n", registryCounts(n))
	} else if o, err := admin.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{}); err == nil {
		ov := o.GetOverview()
		fmt.Fprintf(stdout, "ndxpd: demo: the hub already has %d agencies (%d pilot); the 2018 registry was not loaded\n",
			ov.GetTotal(), ov.GetPilot())
	}
	dc := demo.DefaultConfig()
	dc.Admin, dc.HubAddress = admin, d.GRPCAddr()
	dc.CredsDir = filepath.Join(cfg.DataDir, "demo")
	dc.Logger = cfg.NewLogger(os.Stderr)
	dc.OnStart = func(s demo.Started) {
		fmt.Fprintf(stdout, "ndxpd: demo: traffic runs among %d of the %d pilot agencies (%d more receive but never acknowledge), %s a second in all\n",
			s.Online, s.Pilot, s.NeverAcknowledging, documents(s.Rate))
		fmt.Fprintf(stdout, "ndxpd: demo: their credentials: %s%c (<code>.creds)\n", s.CredsDir, filepath.Separator)
	}
	fmt.Fprintf(stdout, "ndxpd: demo: alerts on documents unacknowledged for %s (--unacked-after)\n", time.Duration(cfg.UnackedAfter))
	if u := d.HTTPURL(); u != "" {
		fmt.Fprintf(stdout, "ndxpd: demo: dashboard: %s/\n", u)
	}
	go func() {
		defer close(done)
		defer admin.Close()
		if err := demo.Run(ctx, dc); err != nil {
			dc.Logger.Error("demo traffic stopped", "err", err)
		}
	}()
	return nil
}

// documents says "1 document" or "2.5 documents".
func documents(n float64) string {
	if n == 1 {
		return "1 document"
	}
	return fmt.Sprintf("%g documents", n)
}

// registryCounts says how many agencies of the 2018 registry were
// registered, by stage: "95 agencies (71 pilot, 24 pending)".
func registryCounts(created int) string {
	list, err := demo.Registry()
	if err != nil || len(list) != created {
		return fmt.Sprintf("%d agencies", created)
	}
	by := map[ndxpv1.Stage]int{}
	for _, a := range list {
		by[a.Stage]++
	}
	return fmt.Sprintf("%d agencies (%d pilot, %d pending)", created, by[ndxpv1.Stage_STAGE_PILOT], by[ndxpv1.Stage_STAGE_PENDING])
}
