// Command jsbench runs ndxp's benchmark workload on an embedded NATS
// JetStream server and, given ndxp-bench's output (or the ndxp-bench binary
// to run first, in the same run), prints the ratio ndxp / JetStream.
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
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jsbench:", err)
		os.Exit(1)
	}
}

// output is what --json prints: one object.
type output struct {
	JetStream *result        `json:"jetstream"`
	Ndxp      map[string]any `json:"ndxp,omitempty"`
	Ratio     *ratio         `json:"ratio,omitempty"`
}

// ratio is ndxp / JetStream; above 1 means ndxp is faster.
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
	fs.IntVar(&cfg.Senders, "senders", 8, "concurrent senders, each with its own connection and one publish in flight")
	fs.IntVar(&cfg.Subscribers, "subscribers", 8, "concurrent subscribers, each with its own connection, sharing one durable pull consumer")
	fs.IntVar(&cfg.Size, "size", 1024, "payload bytes per message (at least 8)")
	fs.IntVar(&cfg.Batch, "batch", 64, "pull batch per subscriber (ndxp's subscribe window)")
	fs.StringVar(&cfg.Ack, "ack", "sync", "sync: DoubleAck, wait for the server's reply (like ndxp's unary ack); async: Ack, fire and forget")
	fs.StringVar(&cfg.Pull, "pull", "fetch", "fetch: Consumer.Fetch per batch; messages: Consumer.Messages (overlapping pulls)")
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "parent directory of the JetStream store (put it on the filesystem ndxp's data uses)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the JetStream store directory")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 60*time.Second, "after sending stops, how long to wait for deliveries to catch up")
	jsonOut := fs.Bool("json", false, "print one JSON object instead of a table")
	ndxpJSON := fs.String("ndxp-json", "", "a file holding ndxp-bench --json output ('-' for standard input); adds the ratio ndxp/JetStream")
	runNdxp := fs.String("run-ndxp", "", "path of a built ndxp-bench: run it first with the same workload flags plus --json, then JetStream")
	ndxpArgs := fs.String("ndxp-args", "", "extra arguments for --run-ndxp, split on spaces")
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
	if *ndxpJSON != "" && *runNdxp != "" {
		return errors.New("give --ndxp-json or --run-ndxp, not both")
	}

	var ndxp map[string]any
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
		data, err := execNdxp(ctx, *runNdxp, ndxpArgv(cfg, strings.Fields(*ndxpArgs)), stderr)
		if err != nil {
			return err
		}
		if ndxp, err = parseNdxp(data); err != nil {
			return fmt.Errorf("ndxp-bench output: %w", err)
		}
	}

	fmt.Fprintf(stderr, "jsbench: JetStream run: %d senders, %d subscribers, %d-byte payload, duration %s, count %d; file store, SyncAlways, TLS on (%s)\n",
		cfg.Senders, cfg.Subscribers, cfg.Size, cfg.Duration, cfg.Count, tlsDescription)
	js, err := runJetStream(ctx, cfg)
	if err != nil {
		return err
	}
	out := output{JetStream: js, Ndxp: ndxp}
	if ndxp != nil {
		out.Ratio = &ratio{
			DeliveriesPerSecond: divide(number(ndxp, "deliveries_per_second"), js.DeliveriesPerSecond),
			SendsPerSecond:      divide(number(ndxp, "sends_per_second"), js.SendsPerSecond),
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printTable(stdout, out)
	return nil
}

// ndxpArgv is the command line for ndxp-bench: the same workload, --json.
func ndxpArgv(cfg config, extra []string) []string {
	argv := []string{
		"--duration=" + cfg.Duration.String(),
		"--senders=" + strconv.Itoa(cfg.Senders),
		"--subscribers=" + strconv.Itoa(cfg.Subscribers),
		"--size=" + strconv.Itoa(cfg.Size),
	}
	if cfg.Count > 0 {
		argv = append(argv, "--count="+strconv.FormatInt(cfg.Count, 10))
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
	fmt.Fprintf(w, "JetStream: embedded nats-server %s, file store, SyncAlways (fsync before PubAck), one stream, durable pull consumer, explicit acks (%s)\n", c.NATSServer, c.Ack)
	fmt.Fprintf(w, "TLS: on (%s)\n", c.TLS)
	fmt.Fprintf(w, "workload: %d senders (synchronous publish), %d subscribers (pull %s, batch %d), %d-byte payload, duration %s, count %d\n",
		c.Senders, c.Subscribers, c.Pull, c.Batch, c.Size, c.Duration, c.Count)
	if c.LoadAverage != "" {
		fmt.Fprintf(w, "load average at start: %s (GOMAXPROCS %d)\n", c.LoadAverage, c.GOMAXPROCS)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	have := out.Ndxp != nil
	if have {
		fmt.Fprintln(tw, "\tndxp\tJetStream\tndxp/JetStream\t")
	} else {
		fmt.Fprintln(tw, "\tJetStream\t")
	}
	row := func(label, key string, jsv float64, ratio string) {
		if have {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", label, fmtNum(number(out.Ndxp, key)), fmtNum(jsv), ratio)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t\n", label, fmtNum(jsv))
		}
	}
	r := func(x float64) string {
		if out.Ratio == nil {
			return ""
		}
		return strconv.FormatFloat(x, 'f', 3, 64)
	}
	var rs ratio
	if out.Ratio != nil {
		rs = *out.Ratio
	}
	row("sends", "sends", float64(js.Sends), "")
	row("sends/s", "sends_per_second", js.SendsPerSecond, r(rs.SendsPerSecond))
	row("deliveries", "deliveries", float64(js.Deliveries), "")
	row("deliveries/s", "deliveries_per_second", js.DeliveriesPerSecond, r(rs.DeliveriesPerSecond))
	row("send p50 ms", "send_latency_ms.p50", js.SendLatencyMS.P50, "")
	row("send p99 ms", "send_latency_ms.p99", js.SendLatencyMS.P99, "")
	row("send p99.9 ms", "send_latency_ms.p999", js.SendLatencyMS.P999, "")
	row("e2e p50 ms", "e2e_latency_ms.p50", js.E2ELatencyMS.P50, "")
	row("e2e p99 ms", "e2e_latency_ms.p99", js.E2ELatencyMS.P99, "")
	row("e2e p99.9 ms", "e2e_latency_ms.p999", js.E2ELatencyMS.P999, "")
	row("send s", "send_seconds", js.SendSeconds, "")
	row("delivery s", "delivery_seconds", js.DeliverySeconds, "")
	tw.Flush()
	fmt.Fprintf(w, "\nJetStream only: ack p50 %.3f ms, p99 %.3f ms; redeliveries %d; errors: publish %d, ack %d, fetch %d\n",
		js.AckLatencyMS.P50, js.AckLatencyMS.P99, js.Redeliveries, js.PublishErrors, js.AckErrors, js.FetchErrors)
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
