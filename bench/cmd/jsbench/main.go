// Command jsbench runs ndxp's benchmark workload on an embedded NATS
// JetStream server and, given ndxp-bench's output (or the ndxp-bench binary
// to run first, in the same run), prints the ratio ndxp / JetStream.
// With --cluster 3 it also runs three ndxpd nodes and three nats-servers
// with the stream replicated three times, and prints both clusters beside
// the single servers. With --pipelined both sides keep --window sends in
// flight per sender, and JetStream also runs with synchronous publish and
// without SyncAlways, each with its ratio.
//
// Both sides fsync before acknowledging a send, both use durable queues with
// explicit acknowledgements, the same payload size and the same number of
// concurrent senders and subscribers, and both run over TLS. See
// bench/README.md for what lines up and what differs.
//
// It lives in its own Go module (github.com/ndxp/ndxp/bench) so that the
// hub binary never links NATS.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	// SIGTERM too: the cluster's ndxpd children are stopped on the way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jsbench:", err)
		os.Exit(1)
	}
}

// output is what --json prints: one object. The *_cluster members and
// their ratios appear with --cluster; window, the *_sync and *_nofsync
// members and their ratios with --pipelined, where "jetstream" is the
// asynchronous publish with the same window, SyncAlways.
type output struct {
	// Window is --window with --pipelined: publishes in flight per sender
	// on both sides.
	Window           int            `json:"window,omitempty"`
	JetStream        *result        `json:"jetstream"`
	JetStreamSync    *result        `json:"jetstream_sync,omitempty"`
	JetStreamNoSync  *result        `json:"jetstream_nofsync,omitempty"`
	JetStreamCluster *result        `json:"jetstream_cluster,omitempty"`
	Ndxp             map[string]any `json:"ndxp,omitempty"`
	NdxpCluster      map[string]any `json:"ndxp_cluster,omitempty"`
	NdxpProcesses    *clusterReport `json:"ndxp_cluster_processes,omitempty"`
	Ratio            *ratio         `json:"ratio,omitempty"`
	// RatioSync is ndxp / JetStream's synchronous publish (SyncAlways).
	RatioSync *ratio `json:"ratio_sync,omitempty"`
	// RatioNoSync is ndxp / JetStream's asynchronous publish without
	// SyncAlways.
	RatioNoSync *ratio `json:"ratio_nofsync,omitempty"`
	// RatioCluster is ndxp's cluster / JetStream's cluster.
	RatioCluster *ratio `json:"ratio_cluster,omitempty"`
	// RatioNdxpCluster is ndxp's cluster / ndxp's single node.
	RatioNdxpCluster *ratio `json:"ratio_ndxp_cluster_to_single,omitempty"`
	// RatioJetStreamCluster is JetStream's cluster / JetStream single.
	RatioJetStreamCluster *ratio `json:"ratio_jetstream_cluster_to_single,omitempty"`
	// Order lists the runs in the order they ran: the machine drifts.
	Order []string `json:"order,omitempty"`
}

// ratio is a / b for two runs; for "ratio", ndxp / JetStream, so above 1
// means ndxp is faster.
type ratio struct {
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	SendsPerSecond      float64 `json:"sends_per_second"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{}
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long senders send (0: until --count)")
	fs.Int64Var(&cfg.Count, "count", 0, "messages to send in all (0: until --duration; --count alone sends exactly that many; with --duration, whichever ends first)")
	fs.IntVar(&cfg.Senders, "senders", 8, "concurrent senders, each with its own connection and one publish in flight (--pipelined: --window)")
	fs.IntVar(&cfg.Subscribers, "subscribers", 8, "concurrent subscribers, each with its own connection, sharing one durable pull consumer")
	fs.IntVar(&cfg.Size, "size", 1024, "payload bytes per message (at least 8)")
	fs.IntVar(&cfg.Batch, "batch", 64, "pull batch per subscriber (ndxp's subscribe window)")
	pipelined := fs.Bool("pipelined", false, "pipelined sends: ndxp-bench --pipelined --window N against JetStream's asynchronous publish with N in flight per sender; also runs JetStream's synchronous publish and its asynchronous publish without SyncAlways")
	window := fs.Int("window", 256, "with --pipelined: sends in flight per sender on both sides, and the default --batch")
	fs.StringVar(&cfg.Ack, "ack", "sync", "sync: DoubleAck, wait for the server's reply (like ndxp's unary ack); async: Ack, fire and forget")
	fs.StringVar(&cfg.Pull, "pull", "fetch", "fetch: Consumer.Fetch per batch; messages: Consumer.Messages (overlapping pulls)")
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "parent directory of the JetStream store (put it on the filesystem ndxp's data uses)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the JetStream store directory")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 60*time.Second, "after sending stops, how long to wait for deliveries to catch up")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	ndxpJSON := fs.String("ndxp-json", "", "a file holding ndxp-bench --json output ('-' for standard input); adds the ratio ndxp/JetStream")
	runNdxp := fs.String("run-ndxp", "", "path of a built ndxp-bench: run it first with the same workload flags plus --json, then JetStream")
	ndxpArgs := fs.String("ndxp-args", "", "extra ndxp-bench arguments for every ndxp run, split on spaces")
	cluster := fs.Int("cluster", 0, "also run a cluster of N (odd, at least 3) of each: N ndxpd nodes and N nats-servers with the stream replicated N times; needs --ndxp-bin-dir")
	binDir := fs.String("ndxp-bin-dir", "", "directory holding ndxp-bench, ndxpd and ndxpctl (go build -o DIR ./cmd/ndxp-bench ./cmd/ndxpd ./cmd/ndxpctl); without --run-ndxp or --ndxp-json, runs DIR/ndxp-bench as --run-ndxp does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["count"] && !set["duration"] {
		cfg.Duration = 0 // --count alone: exactly that many, as ndxp-bench does
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if set["window"] && !*pipelined {
		return errors.New("--window needs --pipelined")
	}
	ndxpWindow := 0 // the window passed to ndxp-bench; 0: not pipelined
	if *pipelined {
		if *window < 1 {
			return fmt.Errorf("--window %d: give at least 1", *window)
		}
		ndxpWindow = *window
		if !set["batch"] {
			cfg.Batch = *window // the subscribers take up to a window at a time
		}
	}
	if *ndxpJSON != "" && *runNdxp != "" {
		return errors.New("give --ndxp-json or --run-ndxp, not both")
	}
	if *cluster != 0 && (*cluster < 3 || *cluster%2 == 0) {
		return fmt.Errorf("--cluster %d: give an odd number of nodes, at least 3", *cluster)
	}
	if *cluster != 0 && *binDir == "" {
		return errors.New("--cluster needs --ndxp-bin-dir (the ndxpd and ndxpctl to run)")
	}
	if *binDir != "" && *ndxpJSON == "" && *runNdxp == "" {
		*runNdxp = filepath.Join(*binDir, ndxpBenchBin)
	}
	out := output{}

	var ndxp map[string]any
	extra := strings.Fields(*ndxpArgs)
	switch {
	case *ndxpJSON != "":
		var data []byte
		var err error
		if *ndxpJSON == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(*ndxpJSON)
		}
		if err != nil {
			return err
		}
		if ndxp, err = parseNdxp(data); err != nil {
			return fmt.Errorf("%s: %w", *ndxpJSON, err)
		}
	case *runNdxp != "":
		data, err := execNdxp(ctx, *runNdxp, ndxpArgv(cfg, ndxpWindow, extra), stderr)
		if err != nil {
			return err
		}
		if ndxp, err = parseNdxp(data); err != nil {
			return fmt.Errorf("ndxp-bench output: %w", err)
		}
		out.Order = append(out.Order, "ndxp")
	}

	// Each cluster run comes right after the single run of its system's
	// peer, so that the ratio of the two clusters is of neighbouring runs.
	// Pipelined, the reference (asynchronous, SyncAlways) runs first, right
	// after ndxp.
	cfg.Window = ndxpWindow
	js, err := jetStreamRun(ctx, cfg, 1, stderr)
	if err != nil {
		return err
	}
	out.Order = append(out.Order, "jetstream")
	out.JetStream, out.Ndxp = js, ndxp
	if ndxp != nil {
		out.Ratio = ratioOf(ndxp, toMap(js))
	}
	if *pipelined {
		out.Window = ndxpWindow
		syncCfg := cfg
		syncCfg.Window = 0
		if out.JetStreamSync, err = jetStreamRun(ctx, syncCfg, 1, stderr); err != nil {
			return fmt.Errorf("JetStream synchronous publish: %w", err)
		}
		out.Order = append(out.Order, "jetstream_sync")
		noSync := cfg
		noSync.NoSync = true
		if out.JetStreamNoSync, err = jetStreamRun(ctx, noSync, 1, stderr); err != nil {
			return fmt.Errorf("JetStream without SyncAlways: %w", err)
		}
		out.Order = append(out.Order, "jetstream_nofsync")
		if ndxp != nil {
			out.RatioSync = ratioOf(ndxp, toMap(out.JetStreamSync))
			out.RatioNoSync = ratioOf(ndxp, toMap(out.JetStreamNoSync))
		}
	}
	if *cluster > 0 {
		out.NdxpCluster, out.NdxpProcesses, err = runNdxpCluster(ctx, *binDir, cfg.Dir, *cluster, cfg.Keep, ndxpArgv(cfg, ndxpWindow, extra), stderr)
		if err != nil {
			return fmt.Errorf("ndxp cluster: %w", err)
		}
		out.Order = append(out.Order, "ndxp_cluster")
		if out.JetStreamCluster, err = jetStreamRun(ctx, cfg, *cluster, stderr); err != nil {
			return fmt.Errorf("JetStream cluster: %w", err)
		}
		out.Order = append(out.Order, "jetstream_cluster")
		jsc := toMap(out.JetStreamCluster)
		out.RatioCluster = ratioOf(out.NdxpCluster, jsc)
		out.RatioJetStreamCluster = ratioOf(jsc, toMap(js))
		if ndxp != nil {
			out.RatioNdxpCluster = ratioOf(out.NdxpCluster, ndxp)
		}
	} else if !*pipelined {
		out.Order = nil // two runs need no order: the output stays as before --cluster
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printTable(stdout, out)
	return nil
}

// jetStreamRun runs the workload on servers nats-servers (1: the single
// server; more: a cluster with the stream on every one).
func jetStreamRun(ctx context.Context, cfg config, servers int, stderr io.Writer) (*result, error) {
	what := "one server, file store, SyncAlways"
	if servers > 1 {
		what = fmt.Sprintf("%d servers in a cluster, stream replicas %d, file store, SyncAlways on every server", servers, servers)
	} else if cfg.NoSync {
		what = "one server, file store, default sync (no fsync before the PubAck)"
	}
	if cfg.Window > 0 {
		what += fmt.Sprintf("; asynchronous publish, %d in flight per sender, pull batch %d", cfg.Window, cfg.Batch)
	}
	fmt.Fprintf(stderr, "jsbench: JetStream run: %d senders, %d subscribers, %d-byte payload, duration %s, count %d; %s; TLS on (%s)\n",
		cfg.Senders, cfg.Subscribers, cfg.Size, cfg.Duration, cfg.Count, what, tlsDescription)
	cfg.Servers = servers
	return runJetStream(ctx, cfg)
}

// toMap is r as its JSON, so that it reads like ndxp-bench's output.
func toMap(r *result) map[string]any {
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// ratioOf is a / b for the rates of two runs.
func ratioOf(a, b map[string]any) *ratio {
	return &ratio{
		DeliveriesPerSecond: divide(number(a, "deliveries_per_second"), number(b, "deliveries_per_second")),
		SendsPerSecond:      divide(number(a, "sends_per_second"), number(b, "sends_per_second")),
	}
}

// ndxpArgv is the command line for ndxp-bench: the same workload, --json,
// and with a window (above 0) its pipelined sends with that window.
func ndxpArgv(cfg config, window int, extra []string) []string {
	argv := []string{
		"--duration=" + cfg.Duration.String(),
		"--senders=" + strconv.Itoa(cfg.Senders),
		"--subscribers=" + strconv.Itoa(cfg.Subscribers),
		"--size=" + strconv.Itoa(cfg.Size),
	}
	if cfg.Count > 0 {
		argv = append(argv, "--count="+strconv.FormatInt(cfg.Count, 10))
	}
	if window > 0 {
		argv = append(argv, "--pipelined", "--window="+strconv.Itoa(window))
	}
	argv = append(argv, extra...)
	return append(argv, "--json")
}

// execNdxp runs ndxp-bench and returns its standard output; its standard
// error goes to ours.
func execNdxp(ctx context.Context, path string, argv []string, stderr io.Writer) ([]byte, error) {
	fmt.Fprintf(stderr, "jsbench: ndxp run: %s %s\n", path, strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, path, argv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ndxp-bench: %w", err)
	}
	return out.Bytes(), nil
}

// parseNdxp reads ndxp-bench's JSON: the first JSON object in data (lines
// before it are skipped). A jsbench --json object is accepted too; its
// "ndxp" member is used.
func parseNdxp(data []byte) (map[string]any, error) {
	i := bytes.IndexByte(data, '{')
	if i < 0 {
		return nil, errors.New("no JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data[i:]))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if _, ok := obj["deliveries_per_second"]; !ok {
		if inner, ok := obj["ndxp"].(map[string]any); ok {
			obj = inner
		}
	}
	for _, k := range []string{"deliveries_per_second", "sends_per_second"} {
		if _, ok := obj[k]; !ok {
			return nil, fmt.Errorf("no %q", k)
		}
	}
	return obj, nil
}

// number returns obj's member at path (keys separated by dots), or NaN.
func number(obj map[string]any, path string) float64 {
	var v any = obj
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return math.NaN()
		}
		v = m[k]
	}
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return math.NaN()
		}
		return f
	case float64:
		return n
	}
	return math.NaN()
}

func divide(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return math.Round(a/b*1000) / 1000
}

func printTable(w io.Writer, out output) {
	js := out.JetStream
	c := js.Config
	pipelined := out.Window > 0
	if pipelined {
		fmt.Fprintf(w, "JetStream: embedded nats-server %s, file store, one stream, durable pull consumer, explicit acks (%s)\n", c.NATSServer, c.Ack)
	} else {
		fmt.Fprintf(w, "JetStream: embedded nats-server %s, file store, SyncAlways (fsync before PubAck), one stream, durable pull consumer, explicit acks (%s)\n", c.NATSServer, c.Ack)
	}
	fmt.Fprintf(w, "TLS: on (%s)\n", c.TLS)
	if pipelined {
		fmt.Fprintf(w, "workload: %d senders, %d subscribers (pull %s, batch %d), %d-byte payload, duration %s, count %d; pipelined: %d sends in flight per sender\n",
			c.Senders, c.Subscribers, c.Pull, c.Batch, c.Size, c.Duration, c.Count, out.Window)
	} else {
		fmt.Fprintf(w, "workload: %d senders (synchronous publish), %d subscribers (pull %s, batch %d), %d-byte payload, duration %s, count %d\n",
			c.Senders, c.Subscribers, c.Pull, c.Batch, c.Size, c.Duration, c.Count)
	}
	if c.LoadAverage != "" {
		fmt.Fprintf(w, "load average at start: %s (GOMAXPROCS %d)\n", c.LoadAverage, c.GOMAXPROCS)
	}
	switch {
	case pipelined:
		fmt.Fprintf(w, "columns: ndxp = ndxp-bench --pipelined --window %d (fsync before each receipt);\n", out.Window)
		fmt.Fprintf(w, "  JetStream async = asynchronous publish, %d in flight per sender, SyncAlways (fsync before each PubAck): the reference;\n", out.Window)
		fmt.Fprintf(w, "  JetStream sync = synchronous publish, one in flight per sender, SyncAlways;\n")
		fmt.Fprintf(w, "  JetStream nofsync = asynchronous publish, %d in flight per sender, the server's default sync (no fsync before the PubAck)\n", out.Window)
		if out.JetStreamCluster != nil {
			n := out.JetStreamCluster.Config.Servers
			fmt.Fprintf(w, "  ndxp %d-node = %d ndxpd on loopback (Raft, log fsynced on a majority before each receipt), ndxp-bench --pipelined --window %d at the leader;\n", n, n, out.Window)
			fmt.Fprintf(w, "  JetStream R%d async = %d nats-servers, stream and consumer on all %d, SyncAlways on each, asynchronous publish, %d in flight per sender\n", n, n, n, out.Window)
		}
		fmt.Fprintf(w, "runs in this order: %s\n", strings.Join(out.Order, ", "))
	case out.JetStreamCluster != nil:
		n := out.JetStreamCluster.Config.Servers
		fmt.Fprintf(w, "columns: ndxp single = ndxp-bench's own hub (one process, bbolt, fsync before each receipt);\n")
		fmt.Fprintf(w, "  ndxp %d-node = %d ndxpd on loopback (Raft, log fsynced on a majority before each receipt), clients at the leader;\n", n, n)
		fmt.Fprintf(w, "  JetStream single = one nats-server, SyncAlways; JetStream R%d = %d nats-servers, stream and consumer on all %d, SyncAlways on each\n", n, n, n)
		fmt.Fprintf(w, "runs in this order: %s\n", strings.Join(out.Order, ", "))
	}
	fmt.Fprintln(w)

	// A column's ratio is ndxp's (the cluster's for a cluster) over it.
	type column struct {
		name  string
		m     map[string]any
		ratio *ratio
		js    *result
	}
	var cols []column
	if out.Ndxp != nil {
		cols = append(cols, column{name: "ndxp", m: out.Ndxp})
	}
	if out.NdxpCluster != nil {
		if len(cols) > 0 {
			cols[0].name = "ndxp single"
		}
		cols = append(cols, column{name: fmt.Sprintf("ndxp %d-node", out.NdxpProcesses.Nodes), m: out.NdxpCluster})
	}
	jsName := "JetStream"
	switch {
	case pipelined:
		jsName = "JetStream async"
	case out.JetStreamCluster != nil:
		jsName = "JetStream single"
	}
	cols = append(cols, column{jsName, toMap(js), out.Ratio, js})
	if out.JetStreamSync != nil {
		cols = append(cols, column{"JetStream sync", toMap(out.JetStreamSync), out.RatioSync, out.JetStreamSync})
	}
	if out.JetStreamNoSync != nil {
		cols = append(cols, column{"JetStream nofsync", toMap(out.JetStreamNoSync), out.RatioNoSync, out.JetStreamNoSync})
	}
	if jsc := out.JetStreamCluster; jsc != nil {
		name := fmt.Sprintf("JetStream R%d", jsc.Config.Replicas)
		if pipelined {
			name += " async"
		}
		cols = append(cols, column{name, toMap(jsc), out.RatioCluster, jsc})
	}
	// The one-pair table keeps its ratio column; pipelined, each JetStream
	// column has its ratios in two rows; with the clusters, the ratios
	// follow the table.
	ratioCol := out.Ratio != nil && len(cols) == 2 && !pipelined
	ratioRows := pipelined && out.Ratio != nil

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, col := range cols {
		fmt.Fprintf(tw, "\t%s", col.name)
	}
	if ratioCol {
		fmt.Fprint(tw, "\tndxp/JetStream")
	}
	fmt.Fprintln(tw, "\t")
	row := func(label, key, ratio string) {
		fmt.Fprint(tw, label)
		for _, col := range cols {
			fmt.Fprintf(tw, "\t%s", fmtNum(number(col.m, key)))
		}
		if ratioCol {
			fmt.Fprintf(tw, "\t%s", ratio)
		}
		fmt.Fprintln(tw, "\t")
	}
	f3 := func(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }
	ratioRow := func(label string, pick func(*ratio) float64) {
		fmt.Fprint(tw, label)
		for _, col := range cols {
			if col.ratio == nil {
				fmt.Fprint(tw, "\t-")
				continue
			}
			fmt.Fprintf(tw, "\t%s", f3(pick(col.ratio)))
		}
		fmt.Fprintln(tw, "\t")
	}
	var rs ratio
	if out.Ratio != nil {
		rs = *out.Ratio
	}
	row("sends", "sends", "")
	row("sends/s", "sends_per_second", f3(rs.SendsPerSecond))
	row("deliveries", "deliveries", "")
	row("deliveries/s", "deliveries_per_second", f3(rs.DeliveriesPerSecond))
	if ratioRows {
		ratioRow("ndxp/this deliveries/s", func(r *ratio) float64 { return r.DeliveriesPerSecond })
		ratioRow("ndxp/this sends/s", func(r *ratio) float64 { return r.SendsPerSecond })
	}
	row("send p50 ms", "send_latency_ms.p50", "")
	row("send p99 ms", "send_latency_ms.p99", "")
	row("send p99.9 ms", "send_latency_ms.p999", "")
	row("e2e p50 ms", "e2e_latency_ms.p50", "")
	row("e2e p99 ms", "e2e_latency_ms.p99", "")
	row("e2e p99.9 ms", "e2e_latency_ms.p999", "")
	row("send s", "send_seconds", "")
	row("delivery s", "delivery_seconds", "")
	tw.Flush()

	if pipelined || out.JetStreamCluster != nil {
		fmt.Fprintf(w, "\nratios (deliveries/s; sends/s):\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		pair := func(label string, r *ratio) {
			if r != nil {
				fmt.Fprintf(tw, "  %s\t%s;\t%s\n", label, f3(r.DeliveriesPerSecond), f3(r.SendsPerSecond))
			}
		}
		if pipelined {
			single := "ndxp"
			if out.NdxpCluster != nil {
				single = "ndxp single"
			}
			pair(fmt.Sprintf("%s / JetStream async (window %d, SyncAlways): the reference", single, out.Window), out.Ratio)
			pair(single+" / JetStream sync (SyncAlways)", out.RatioSync)
			pair(fmt.Sprintf("%s / JetStream nofsync (window %d, no fsync)", single, out.Window), out.RatioNoSync)
		}
		if out.JetStreamCluster != nil {
			n := out.JetStreamCluster.Config.Servers
			async := ""
			if pipelined {
				async = " async"
			}
			pair(fmt.Sprintf("ndxp %d-node / JetStream R%d%s", n, n, async), out.RatioCluster)
			pair(fmt.Sprintf("ndxp %d-node / ndxp single", n), out.RatioNdxpCluster)
			if !pipelined {
				pair("ndxp single / JetStream single", out.Ratio)
			}
			pair(fmt.Sprintf("JetStream R%d%s / JetStream %s", n, async, strings.TrimPrefix(jsName, "JetStream ")), out.RatioJetStreamCluster)
		}
		tw.Flush()
	}
	if p := out.NdxpProcesses; p != nil {
		fmt.Fprintf(w, "\nndxp %d-node: leader %s at the start, %s at the end", p.Nodes, p.LeaderAtStart, p.LeaderAtEnd)
		if p.Failover {
			fmt.Fprint(w, " (FAILOVER during the run)")
		}
		fmt.Fprint(w, "; CPU seconds during ndxp-bench (setup included):")
		for _, n := range p.Processes {
			fmt.Fprintf(w, " %s %s", n.ID, fmtNum(n.CPUSeconds))
			if n.ID == p.LeaderAtStart {
				fmt.Fprint(w, " (leader)")
			}
			if n.Exited {
				fmt.Fprint(w, " (EXITED)")
			}
		}
		fmt.Fprintln(w)
	}
	for _, col := range cols {
		r := col.js
		if r == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s only: ack p50 %.3f ms, p99 %.3f ms; redeliveries %d; errors: publish %d, ack %d, fetch %d",
			col.name, r.AckLatencyMS.P50, r.AckLatencyMS.P99, r.Redeliveries, r.PublishErrors, r.AckErrors, r.FetchErrors)
		if r.MaxInFlight > 0 {
			fmt.Fprintf(w, "; most publishes in flight on one sender %d", r.MaxInFlight)
		}
	}
	fmt.Fprintln(w)
}

func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case x == math.Trunc(x) && math.Abs(x) >= 1000:
		return strconv.FormatFloat(x, 'f', 0, 64)
	default:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
}

// summarize gives the nearest-rank percentiles (the smallest sample with
// at least p% of the samples at or below it), maximum and mean of ds in
// milliseconds, rounded to microseconds, as ndxp-bench does; zeros when
// there are no samples.
func summarize(ds []time.Duration) latencyMS {
	if len(ds) == 0 {
		return latencyMS{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latencyMS{
		Count: int64(len(s)),
		P50:   ms(percentile(s, 50)), P99: ms(percentile(s, 99)), P999: ms(percentile(s, 99.9)),
		Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))),
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	// The tolerance keeps 99.9% of 1000 samples at rank 999, not 1000.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
