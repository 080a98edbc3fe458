// Command ndxp-bench measures an ndxp hub end to end: sending and
// subscribing agencies talk to a real hub through the client/ SDK over
// mutual TLS, exactly as agency systems do.
//
//	ndxp-bench --duration 10s --senders 8 --subscribers 8      # closed loop, 1 KiB documents
//	ndxp-bench --pipelined --window 256 --duration 10s         # many documents in flight per sender
//	ndxp-bench --rate 2000 --duration 30s                      # open loop, paced
//	ndxp-bench --size 1073741824 --count 1 --senders 1 --subscribers 1
//	ndxp-bench --idle-subscribers 10000 --duration 5s
//	ndxp-bench --list-agencies 100000
//	ndxp-bench --creds admin.creds --hub-pid 1234 ...          # an existing hub
//
// By default it starts its own hub in a child process (the same binary,
// hidden subcommand "hub") on a temporary data directory, so that the hub's
// CPU time and memory can be read from /proc without the load generator's.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cli.Main("ndxp-bench", func() error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// options are the benchmark's settings; the JSON form is echoed in the
// report's "config" so that a result carries what produced it.
type options struct {
	Duration      time.Duration `json:"-"`
	DurationText  string        `json:"duration"`
	Count         int64         `json:"count"`
	Senders       int           `json:"senders"`
	Subscribers   int           `json:"subscribers"`
	Size          int64         `json:"size_bytes"`
	Attachments   int           `json:"attachments"`
	Recipients    int           `json:"recipients"`
	Rate          float64       `json:"rate"`
	MaxInFlight   int           `json:"max_in_flight,omitempty"`
	Fetch         bool          `json:"fetch"`
	Window        int           `json:"window"`
	Pipelined     bool          `json:"pipelined"`
	Attempts      int           `json:"attempts"`
	SenderSub     bool          `json:"sender_subscribe"`
	DrainTimeout  time.Duration `json:"-"`
	IdleSubs      int           `json:"idle_subscribers,omitempty"`
	IdleProcs     int           `json:"idle_procs,omitempty"`
	IdleSources   []string      `json:"idle_source_addrs,omitempty"`
	IdleHold      time.Duration `json:"-"`
	IdleHoldText  string        `json:"idle_hold,omitempty"`
	IdleProbe     int           `json:"idle_probe,omitempty"`
	IdleProbeRate float64       `json:"idle_probe_rate,omitempty"`
	ListAgencies  int           `json:"list_agencies,omitempty"`
	IssueParallel int           `json:"issue_parallel"`
	FsyncProbe    bool          `json:"fsync_probe,omitempty"`
	Load          bool          `json:"load"` // whether documents were sent
	Hub           string        `json:"hub"`  // "embedded" or "existing"
	HubLogLevel   string        `json:"hub_log_level,omitempty"`
	HubMemLimit   string        `json:"hub_memory_limit,omitempty"` // GOMEMLIMIT of the embedded hub
	HubGOGC       string        `json:"hub_gogc,omitempty"`         // GOGC of the embedded hub

	creds         string
	hubAddr       string
	hubPID        int
	hubHTTP       string
	dataDir       string
	keep          bool
	hubCPUProfile string
	hubMemProfile string
	cpuProfile    string
	output        string
	json          bool
	progress      bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := options{}
	root := &cobra.Command{
		Use:   "ndxp-bench",
		Short: "Measure an ndxp hub end to end through the client SDK",
		Long: `ndxp-bench registers sending and receiving agencies, issues their
credentials, and runs them through the real client SDK over mutual TLS:
senders send documents, subscribers receive them (fetching the attachments
unless --fetch=false) and acknowledge each one.

Without --creds it starts its own hub (ndxpd's code, dev mode) in a child
process on a temporary data directory and reports that process's CPU time
and memory. With --creds (an admin credentials file) it targets an existing
hub; pass --hub-pid for CPU and memory, --hub-http for store metrics.

With --pipelined each sender keeps --window documents in flight on one
SendDocuments stream (the SDK pipelines concurrent sends by itself);
without it each sends one document at a time on a SendDocument stream of
its own. Subscribers acknowledge on their Receive stream either way.

A delivery is counted when the subscriber's handler returns; the SDK then
acknowledges it. deliveries_per_second divides the deliveries by the time
until the hub had committed every acknowledgement (read from its /metrics
every 20 ms once the handlers are done; acked_at_hub says so); without the
hub's metrics (--creds without --hub-http) it is the time of the last
handler return.

--list-agencies alone only imports and lists agencies, and
--idle-subscribers alone only subscribes them, holds them idle and probes
them with documents; add --duration, --count or --rate to run the
document load as well.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			explicitLoad := f.Changed("duration") || f.Changed("count") || f.Changed("rate")
			if f.Changed("count") && !f.Changed("duration") {
				o.Duration = 0 // --count alone: exactly that many documents
			}
			if o.Pipelined && !f.Changed("window") {
				o.Window = client.DefaultPipeline
			}
			o.Load = o.ListAgencies == 0 && o.IdleSubs == 0 || explicitLoad
			if o.json {
				o.output = string(cli.FormatJSON)
			}
			if _, err := cli.ParseFormat(o.output); err != nil {
				return &cli.UsageError{Err: err}
			}
			o.progress = cli.IsTerminal(stderr)
			if err := o.validate(); err != nil {
				return &cli.UsageError{Err: err}
			}
			if o.cpuProfile != "" {
				pf, err := os.Create(o.cpuProfile)
				if err != nil {
					return err
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return bench(cmd.Context(), o, stdout, stderr)
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.UsageError{Err: err} })
	f := root.Flags()
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to send (0: until --count)")
	f.Int64Var(&o.Count, "count", 0, "documents to send in all (0: until --duration)")
	f.IntVar(&o.Senders, "senders", 8, "sending agencies, each with its own connection; in closed loop one sender goroutine each")
	f.IntVar(&o.Subscribers, "subscribers", 8, "receiving agencies, each subscribed over its own connection")
	f.Int64Var(&o.Size, "size", 1024, "bytes per document, split evenly across its attachments")
	f.IntVar(&o.Attachments, "attachments", 1, "attachments per document")
	f.IntVar(&o.Recipients, "recipients", 1, "recipients per document, chosen round-robin among the subscribers")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: schedule R documents a second in all and time each from its scheduled start (0: closed loop, as fast as possible)")
	f.IntVar(&o.MaxInFlight, "max-in-flight", 10000, "open loop: most sends outstanding at once; a send waiting for room still counts its wait")
	f.BoolVar(&o.Fetch, "fetch", true, "subscribers download and verify every attachment before acknowledging")
	f.IntVar(&o.Window, "window", 64, "subscription window (unacknowledged events in flight); with --pipelined also the documents each sender keeps in flight (default 256 then)")
	f.BoolVar(&o.Pipelined, "pipelined", false, "each sender keeps --window documents in flight on one SendDocuments stream (closed loop: --window sending goroutines each); without it one document at a time, each on its own SendDocument stream")
	f.IntVar(&o.Attempts, "attempts", client.DefaultAttempts, "send attempts when the hub is unavailable (client.WithAttempts)")
	f.BoolVar(&o.SenderSub, "sender-subscribe", false, "senders also subscribe and acknowledge their status events (status 01), as a real agency system would")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", 2*time.Minute, "after sending ends, how long to wait for the remaining deliveries")
	f.IntVar(&o.IdleSubs, "idle-subscribers", 0, "register N more agencies and hold an open subscription for each (one connection each) during the run")
	f.IntVar(&o.IdleProcs, "idle-procs", 0, "hold the idle subscriptions in K child processes, N/K each (0: in this process); one process may open only so many descriptors")
	f.StringSliceVar(&o.IdleSources, "idle-source-addrs", nil, "local addresses the idle subscriptions connect from, in turn (e.g. 127.0.0.2,127.0.0.3), for more connections than one address pair has ports")
	f.DurationVar(&o.IdleHold, "idle-hold", 30*time.Second, "hold the idle subscriptions this long with nothing sent, to measure the hub's memory and CPU per connected agency")
	f.IntVar(&o.IdleProbe, "idle-probe", 1000, "then send this many documents, each to an idle agency chosen at random, and time them to the handler")
	f.Float64Var(&o.IdleProbeRate, "idle-probe-rate", 200, "documents a second of the idle probe")
	f.IntVar(&o.ListAgencies, "list-agencies", 0, "import N agencies (batches of 10,000) and time listing every agency, 1000 a page")
	f.IntVar(&o.IssueParallel, "issue-parallel", 64, "credentials issued concurrently")
	f.BoolVar(&o.FsyncProbe, "fsync-probe", false, "first time 1000 × (write 4 KiB + fdatasync) on the data directory's disk")
	f.StringVar(&o.creds, "creds", "", "admin credentials of an existing hub to target instead of an embedded one")
	f.StringVar(&o.hubAddr, "hub", "", "with --creds: hub address host:port (default: the one in the credentials file)")
	f.IntVar(&o.hubPID, "hub-pid", 0, "with --creds: process id of the hub, to report its CPU time and memory")
	f.StringVar(&o.hubHTTP, "hub-http", "", "with --creds: the hub's HTTP address, to read store metrics from /metrics")
	f.StringVar(&o.dataDir, "data", "", "data directory of the embedded hub (default: a temporary directory, removed afterwards)")
	f.BoolVar(&o.keep, "keep", false, "keep the temporary directory (hub data, log, credentials)")
	f.StringVar(&o.HubLogLevel, "hub-log-level", "info", "log level of the embedded hub (its log goes to hub.log in the work directory)")
	f.StringVar(&o.HubGOGC, "hub-gogc", "", "GOGC of the embedded hub process only, e.g. 400 (less garbage-collection CPU for more memory; see docs/performance.md)")
	f.StringVar(&o.HubMemLimit, "hub-memory-limit", "", "GOMEMLIMIT of the embedded hub process only, e.g. 900MiB (the Go runtime's soft memory limit; see docs/performance.md)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of ndxp-bench itself (the agencies' side: SDK, TLS, gRPC) to FILE")
	f.StringVar(&o.hubCPUProfile, "hub-cpuprofile", "", "write a CPU profile of the embedded hub during the measured phases to FILE")
	f.StringVar(&o.hubMemProfile, "hub-memprofile", "", "write a heap profile of the embedded hub to FILE once the idle subscriptions are all connected")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	f.BoolVar(&o.json, "json", false, "print one JSON object (same as -o json)")
	root.AddCommand(hubCmd(), idleLoadCmd())
	return root.ExecuteContext(ctx)
}

// hubEnv is what the embedded hub's environment gets on top of ours.
func (o *options) hubEnv() []string {
	var env []string
	if o.HubMemLimit != "" {
		env = append(env, "GOMEMLIMIT="+o.HubMemLimit)
	}
	if o.HubGOGC != "" {
		env = append(env, "GOGC="+o.HubGOGC)
	}
	return env
}

func (o *options) validate() error {
	var errs []error
	if o.Duration < 0 || o.Count < 0 || o.Rate < 0 || o.Size < 0 || o.Attachments < 0 || o.IdleSubs < 0 || o.ListAgencies < 0 {
		errs = append(errs, errors.New("--duration, --count, --rate, --size, --attachments, --idle-subscribers and --list-agencies must not be negative"))
	}
	if o.Load {
		if o.Duration == 0 && o.Count == 0 {
			errs = append(errs, errors.New("give --duration or --count"))
		}
		if o.Senders < 1 || o.Subscribers < 1 {
			errs = append(errs, errors.New("--senders and --subscribers must be at least 1"))
		}
		if o.Recipients < 1 || o.Recipients > o.Subscribers {
			errs = append(errs, fmt.Errorf("--recipients must be between 1 and --subscribers (%d)", o.Subscribers))
		}
		if o.Attachments == 0 && o.Size > 0 {
			errs = append(errs, errors.New("--size needs at least one attachment (--attachments)"))
		}
		if o.Rate > 0 && o.MaxInFlight < 1 {
			errs = append(errs, errors.New("--max-in-flight must be at least 1"))
		}
	}
	if o.Window < 1 || o.Attempts < 1 || o.IssueParallel < 1 {
		errs = append(errs, errors.New("--window, --attempts and --issue-parallel must be at least 1"))
	}
	if o.Window > 1024 {
		errs = append(errs, errors.New("--window must be at most 1024, the hub's largest subscription window"))
	}
	if o.creds == "" && (o.hubAddr != "" || o.hubPID != 0 || o.hubHTTP != "") {
		errs = append(errs, errors.New("--hub, --hub-pid and --hub-http need --creds"))
	}
	if o.creds != "" && o.HubMemLimit != "" {
		errs = append(errs, errors.New("--hub-memory-limit applies to the embedded hub only; set GOMEMLIMIT where the existing hub runs"))
	}
	if n, err := strconv.Atoi(o.HubGOGC); o.HubGOGC != "" && o.HubGOGC != "off" && (err != nil || n < 0) {
		errs = append(errs, fmt.Errorf("--hub-gogc %q: want a percentage (e.g. 400) or off", o.HubGOGC))
	}
	if o.creds != "" && o.HubGOGC != "" {
		errs = append(errs, errors.New("--hub-gogc applies to the embedded hub only; set GOGC where the existing hub runs"))
	}
	if o.creds != "" && (o.hubCPUProfile != "" || o.hubMemProfile != "") {
		errs = append(errs, errors.New("--hub-cpuprofile and --hub-memprofile profile the embedded hub only; profile an existing hub with its own tools"))
	}
	if o.IdleProcs < 0 || o.IdleHold < 0 || o.IdleProbe < 0 || o.IdleProbeRate <= 0 {
		errs = append(errs, errors.New("--idle-procs, --idle-hold and --idle-probe must not be negative, --idle-probe-rate must be positive"))
	}
	if o.IdleProcs > 0 && o.IdleSubs == 0 {
		errs = append(errs, errIdleProcs)
	}
	if _, err := sourceAddrs(o.IdleSources); err != nil {
		errs = append(errs, err)
	}
	if o.IdleSubs > 0 {
		o.IdleHoldText = o.IdleHold.String()
	} else {
		o.IdleProbe, o.IdleProbeRate, o.IdleSources = 0, 0, nil
	}
	o.DurationText = o.Duration.String()
	o.Hub = "embedded"
	if o.creds != "" {
		o.Hub = "existing"
	}
	if o.Rate == 0 {
		o.MaxInFlight = 0
	}
	return errors.Join(errs...)
}
