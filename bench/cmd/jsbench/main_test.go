package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeNdxpEnv makes the test binary act as ndxp-bench: it prints a fixed
// result, with the arguments it was given, and exits.
const fakeNdxpEnv = "JSBENCH_FAKE_NDXP_BENCH"

func TestMain(m *testing.M) {
	if os.Getenv(fakeNdxpEnv) == "1" {
		switch filepath.Base(os.Args[0]) {
		case ndxpctlBin:
			os.Exit(fakeNdxpctl(os.Args[1:]))
		case ndxpdBin:
			// A node that serves until told to stop.
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			os.Exit(0)
		}
		argv, _ := json.Marshal(os.Args[1:])
		fmt.Println("ndxp-bench: starting hub") // a stray line before the JSON
		fmt.Printf(`{"sends": 1000, "sends_per_second": 500, "deliveries": 1000, "deliveries_per_second": 250.5,
"send_latency_ms": {"p50": 1, "p99": 2, "p999": 3}, "e2e_latency_ms": {"p50": 4, "p99": 5},
"duration_seconds": 2, "config": {"argv": %s}}
`, argv)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCountsAddUp runs a one-second, tiny workload and checks that every
// acknowledged publish was delivered and acknowledged exactly once.
func TestCountsAddUp(t *testing.T) {
	for _, mode := range []struct{ pull, ack string }{{"fetch", "sync"}, {"messages", "async"}} {
		t.Run(mode.pull+"-"+mode.ack, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := runJetStream(ctx, config{
				Duration: time.Second, Senders: 2, Subscribers: 2, Size: 64, Batch: 64,
				Ack: mode.ack, Pull: mode.pull, Dir: t.TempDir(), DrainTimeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sends == 0 {
				t.Fatal("no sends")
			}
			if res.Deliveries != res.Sends {
				t.Errorf("deliveries %d != sends %d", res.Deliveries, res.Sends)
			}
			if res.PublishErrors+res.AckErrors+res.FetchErrors+res.Redeliveries != 0 {
				t.Errorf("errors: publish %d, ack %d, fetch %d; redeliveries %d",
					res.PublishErrors, res.AckErrors, res.FetchErrors, res.Redeliveries)
			}
			if res.SendsPerSecond <= 0 || res.DeliveriesPerSecond <= 0 || res.SendLatencyMS.P50 <= 0 || res.E2ELatencyMS.P99 < res.E2ELatencyMS.P50 {
				t.Errorf("implausible result: %+v", res)
			}
			if !res.Config.SyncAlways || res.Config.TLS == "" {
				t.Errorf("config: %+v", res.Config)
			}
		})
	}
}

// TestCluster runs the tiny workload on a cluster of three servers with
// the stream on all three.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runJetStream(ctx, config{
		Duration: time.Second, Senders: 2, Subscribers: 2, Size: 64, Batch: 64,
		Ack: "sync", Pull: "fetch", Servers: 3, Dir: t.TempDir(), DrainTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sends == 0 || res.Deliveries != res.Sends {
		t.Errorf("sends %d, deliveries %d", res.Sends, res.Deliveries)
	}
	if res.PublishErrors+res.AckErrors+res.FetchErrors+res.Redeliveries != 0 {
		t.Errorf("errors: publish %d, ack %d, fetch %d; redeliveries %d",
			res.PublishErrors, res.AckErrors, res.FetchErrors, res.Redeliveries)
	}
	if c := res.Config; c.Servers != 3 || c.Replicas != 3 || !c.SyncAlways {
		t.Errorf("config: %+v", c)
	}
}

func TestCountLimit(t *testing.T) {
	res, err := runJetStream(context.Background(), config{
		Count: 300, Senders: 3, Subscribers: 2, Size: 8, Batch: 16,
		Ack: "sync", Pull: "fetch", Dir: t.TempDir(), DrainTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sends != 300 || res.Deliveries != 300 {
		t.Errorf("sends %d, deliveries %d; want 300 each", res.Sends, res.Deliveries)
	}
}

// TestRunNdxp runs a fake ndxp-bench (this test binary) first, then
// JetStream, and checks the combined JSON and the ratios.
func TestRunNdxp(t *testing.T) {
	t.Setenv(fakeNdxpEnv, "1")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"--run-ndxp", os.Args[0], "--duration", "1s", "--senders", "2", "--subscribers", "2",
		"--size", "64", "--json", "--dir", t.TempDir(),
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var out struct {
		JetStream result
		Ndxp      struct {
			DeliveriesPerSecond float64 `json:"deliveries_per_second"`
			Config              struct{ Argv []string }
		}
		Ratio ratio
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	for _, a := range []string{"--duration=1s", "--senders=2", "--subscribers=2", "--size=64", "--json"} {
		if !slices.Contains(out.Ndxp.Config.Argv, a) {
			t.Errorf("ndxp-bench argv %q lacks %q", out.Ndxp.Config.Argv, a)
		}
	}
	// Without --pipelined, the run and its output are as they were.
	if slices.ContainsFunc(out.Ndxp.Config.Argv, func(a string) bool { return strings.HasPrefix(a, "--pipelined") || strings.HasPrefix(a, "--window") }) {
		t.Errorf("ndxp-bench argv %q is pipelined", out.Ndxp.Config.Argv)
	}
	for _, k := range []string{`"window"`, `"jetstream_sync"`, `"jetstream_nofsync"`, `"ratio_sync"`, `"order"`, `"max_in_flight"`} {
		if strings.Contains(stdout.String(), k) {
			t.Errorf("output has %s without --pipelined", k)
		}
	}
	if c := out.JetStream.Config; c.Window != 0 || c.Batch != 64 || !c.SyncAlways || !strings.HasPrefix(c.Publish, "synchronous") {
		t.Errorf("JetStream config without --pipelined: %+v", c)
	}
	js := out.JetStream
	if js.Sends == 0 || js.Deliveries != js.Sends {
		t.Errorf("JetStream sends %d, deliveries %d", js.Sends, js.Deliveries)
	}
	if want := divide(250.5, js.DeliveriesPerSecond); out.Ratio.DeliveriesPerSecond != want || want == 0 {
		t.Errorf("deliveries ratio %v, want %v", out.Ratio.DeliveriesPerSecond, want)
	}
	if want := divide(500, js.SendsPerSecond); out.Ratio.SendsPerSecond != want || want == 0 {
		t.Errorf("sends ratio %v, want %v", out.Ratio.SendsPerSecond, want)
	}
}

func TestParseNdxp(t *testing.T) {
	nested := []byte(`{"jetstream": {"deliveries_per_second": 1}, "ndxp": {"deliveries_per_second": 7, "sends_per_second": 8}}`)
	obj, err := parseNdxp(nested)
	if err != nil {
		t.Fatal(err)
	}
	if number(obj, "deliveries_per_second") != 7 || number(obj, "sends_per_second") != 8 {
		t.Errorf("nested: %v", obj)
	}
	if _, err := parseNdxp([]byte(`{"sends": 1}`)); err == nil {
		t.Error("accepted an object without rates")
	}
	if _, err := parseNdxp([]byte("no json here")); err == nil {
		t.Error("accepted text")
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1000; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latencyMS{Count: 1000, P50: 500, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latencyMS{}) {
		t.Errorf("empty: %+v", got)
	}
}

// fakeNdxpctl does what jsbench asks of ndxpctl: cluster init writes the
// admin credentials and each node's ndxpd.json; cluster status reports n1
// as the leader.
func fakeNdxpctl(args []string) int {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			flags[args[i]] = args[i+1]
		}
	}
	switch {
	case slices.Contains(args, "init"):
		n, _ := strconv.Atoi(flags["--nodes"])
		base, _ := strconv.Atoi(flags["--base-port"])
		out := flags["--out"]
		for i := range n {
			dir := filepath.Join(out, "node"+strconv.Itoa(i+1))
			os.MkdirAll(dir, 0o700)
			b, _ := json.Marshal(map[string]any{
				"node_id": "n" + strconv.Itoa(i+1),
				"listen":  "127.0.0.1:" + strconv.Itoa(base+10*i),
				"http":    "127.0.0.1:" + strconv.Itoa(base+10*i+1),
				"limits":  map[string]any{"uploads": 7},
			})
			os.WriteFile(filepath.Join(dir, "ndxpd.json"), b, 0o600)
		}
		os.WriteFile(filepath.Join(out, "admin.creds"), []byte("fake"), 0o600)
		return 0
	case slices.Contains(args, "status"):
		nodes, _ := filepath.Glob(filepath.Join(filepath.Dir(flags["--creds"]), "node*"))
		st := map[string]any{"leader": "n1"}
		var members []map[string]any
		for i := range nodes {
			state := "Follower"
			if i == 0 {
				state = "Leader"
			}
			members = append(members, map[string]any{"id": "n" + strconv.Itoa(i+1), "state": state})
		}
		st["members"] = members
		json.NewEncoder(os.Stdout).Encode(st)
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake ndxpctl: unexpected", args)
	return 2
}

// TestClusterRun runs --cluster 3 with fake ndxp binaries (this test
// binary under their names) and checks what ndxp-bench was given, the
// report, and that the nodes were stopped and their directory removed.
func TestClusterRun(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelined=%v", pipelined), func(t *testing.T) { testClusterRun(t, pipelined) })
	}
}

// testClusterRun is TestClusterRun; pipelined, ndxp-bench is given the
// window and JetStream R3 publishes asynchronously with it.
func testClusterRun(t *testing.T, pipelined bool) {
	t.Setenv(fakeNdxpEnv, "1")
	bin := t.TempDir()
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{ndxpBenchBin, ndxpdBin, ndxpctlBin} {
		if err := os.WriteFile(filepath.Join(bin, b), self, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	parent := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{
		"--cluster", "3", "--ndxp-bin-dir", bin, "--duration", "1s", "--senders", "2", "--subscribers", "2",
		"--size", "64", "--json", "--dir", parent,
	}
	if pipelined {
		args = append(args, "--pipelined", "--window", "16")
	}
	err = run(context.Background(), args, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var out struct {
		output
		Ndxp        struct{ Config struct{ Argv []string } } `json:"ndxp"`
		NdxpCluster struct{ Config struct{ Argv []string } } `json:"ndxp_cluster"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	p := out.NdxpProcesses
	if p == nil || len(p.Processes) != 3 || p.LeaderAtStart != "n1" || p.Failover {
		t.Fatalf("cluster report: %+v", p)
	}
	argv := out.NdxpCluster.Config.Argv
	want := []string{
		"--hub=" + p.Processes[0].GRPC + "," + p.Processes[1].GRPC + "," + p.Processes[2].GRPC,
		"--hub-http=" + p.Processes[0].HTTP, "--hub-pid=" + strconv.Itoa(p.Processes[0].PID),
		"--duration=1s", "--senders=2", "--subscribers=2", "--size=64", "--json",
	}
	if pipelined {
		want = append(want, "--pipelined", "--window=16")
	}
	for _, a := range want {
		if !slices.Contains(argv, a) {
			t.Errorf("cluster ndxp-bench argv %q lacks %q", argv, a)
		}
	}
	if slices.ContainsFunc(out.Ndxp.Config.Argv, func(a string) bool { return strings.HasPrefix(a, "--creds") }) {
		t.Errorf("single ndxp-bench run got --creds: %q", out.Ndxp.Config.Argv)
	}
	js, jsc := out.JetStream, out.JetStreamCluster
	if js == nil || jsc == nil || js.Config.Servers != 1 || jsc.Config.Replicas != 3 || jsc.Deliveries != jsc.Sends || jsc.Sends == 0 {
		t.Fatalf("JetStream results: %+v / %+v", js, jsc)
	}
	if want := divide(250.5, jsc.DeliveriesPerSecond); out.RatioCluster == nil || out.RatioCluster.DeliveriesPerSecond != want {
		t.Errorf("cluster ratio %+v, want deliveries %v", out.RatioCluster, want)
	}
	if out.RatioNdxpCluster == nil || out.RatioNdxpCluster.DeliveriesPerSecond != 1 {
		t.Errorf("ndxp cluster/single ratio %+v, want 1 (the fake reports the same)", out.RatioNdxpCluster)
	}
	wantOrder, wantWindow := "ndxp,jetstream,ndxp_cluster,jetstream_cluster", 0
	if pipelined {
		wantOrder, wantWindow = "ndxp,jetstream,jetstream_sync,jetstream_nofsync,ndxp_cluster,jetstream_cluster", 16
	}
	if got := strings.Join(out.Order, ","); got != wantOrder {
		t.Errorf("order %s, want %s", got, wantOrder)
	}
	if jsc.Config.Window != wantWindow || js.Config.Window != wantWindow || !jsc.Config.SyncAlways {
		t.Errorf("windows: JetStream R3 %d, single %d, want %d; R3 SyncAlways %v", jsc.Config.Window, js.Config.Window, wantWindow, jsc.Config.SyncAlways)
	}
	for _, n := range p.Processes {
		if err := syscall.Kill(n.PID, 0); err == nil {
			t.Errorf("node %s (pid %d) still running", n.ID, n.PID)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(parent, "jsbench-*")); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}

	// The table names every column and ratio.
	var table bytes.Buffer
	printTable(&table, out.output)
	names := []string{"ndxp single", "ndxp 3-node", "JetStream single", "JetStream R3", "ndxp 3-node / JetStream R3", "ndxp 3-node / ndxp single"}
	if pipelined {
		names = []string{"ndxp single", "ndxp 3-node", "JetStream async", "JetStream sync", "JetStream nofsync", "JetStream R3 async",
			"ndxp 3-node / JetStream R3 async", "ndxp 3-node / ndxp single", "JetStream R3 async / JetStream async"}
	}
	for _, s := range names {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestPrepareNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxpd.json")
	os.WriteFile(path, []byte(`{"node_id": "n2", "listen": "127.0.0.1:7510", "http": "127.0.0.1:7511", "data": "/d", "limits": {"uploads": 7}}`), 0o600)
	nd, err := prepareNode(path)
	if err != nil {
		t.Fatal(err)
	}
	if nd.ID != "n2" || nd.GRPC != "127.0.0.1:7510" || nd.HTTP != "127.0.0.1:7511" {
		t.Errorf("node %+v", nd)
	}
	b, _ := os.ReadFile(path)
	var cfg struct {
		Data            string `json:"data"`
		MaxConnsPerHost int    `json:"max_conns_per_host"`
		Limits          struct {
			Uploads   int     `json:"uploads"`
			SendRate  float64 `json:"send_rate"`
			SendBurst int     `json:"send_burst"`
		}
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Data != "/d" || cfg.MaxConnsPerHost != 1<<20 || cfg.Limits.SendRate != 1e6 || cfg.Limits.SendBurst != 1e6 || cfg.Limits.Uploads != 7 {
		t.Errorf("rewritten config: %s", b)
	}
}

func TestClusterFlags(t *testing.T) {
	for _, args := range [][]string{{"--cluster", "2", "--ndxp-bin-dir", "x"}, {"--cluster", "1", "--ndxp-bin-dir", "x"}, {"--cluster", "3"}} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, io.Discard, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestPipelinedCounts runs the asynchronous publish for a second, with
// and without SyncAlways, and checks that every acknowledged publish was
// delivered and acknowledged exactly once, with more than one publish in
// flight but never more than the window.
func TestPipelinedCounts(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("nosync=%v", noSync), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			const window = 16
			res, err := runJetStream(ctx, config{
				Duration: time.Second, Senders: 2, Subscribers: 2, Size: 64, Batch: window, Window: window, NoSync: noSync,
				Ack: "sync", Pull: "fetch", Dir: t.TempDir(), DrainTimeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sends == 0 {
				t.Fatal("no sends")
			}
			if res.Deliveries != res.Sends || res.AckLatencyMS.Count != res.Deliveries || res.SendLatencyMS.Count != res.Sends {
				t.Errorf("sends %d (latencies %d), deliveries %d, acks %d: want all equal",
					res.Sends, res.SendLatencyMS.Count, res.Deliveries, res.AckLatencyMS.Count)
			}
			if res.PublishErrors+res.AckErrors+res.FetchErrors+res.Redeliveries != 0 {
				t.Errorf("errors: publish %d, ack %d, fetch %d; redeliveries %d",
					res.PublishErrors, res.AckErrors, res.FetchErrors, res.Redeliveries)
			}
			if res.MaxInFlight < 2 || res.MaxInFlight > window {
				t.Errorf("at most %d publishes in flight on a sender, want 2 to %d", res.MaxInFlight, window)
			}
			c := res.Config
			if c.Window != window || c.SyncAlways == noSync || !strings.HasPrefix(c.Publish, "asynchronous") {
				t.Errorf("config: %+v", c)
			}
		})
	}
}

// TestPipelinedCountLimit checks that --count holds with publishes in
// flight: exactly that many are acknowledged and delivered.
func TestPipelinedCountLimit(t *testing.T) {
	res, err := runJetStream(context.Background(), config{
		Count: 300, Senders: 3, Subscribers: 2, Size: 8, Batch: 16, Window: 16,
		Ack: "sync", Pull: "fetch", Dir: t.TempDir(), DrainTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sends != 300 || res.Deliveries != 300 || res.PublishErrors != 0 {
		t.Errorf("sends %d, deliveries %d, publish errors %d; want 300, 300, 0", res.Sends, res.Deliveries, res.PublishErrors)
	}
}

func TestPipelinedFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--window", "8"}, // without --pipelined
		{"--pipelined", "--window", "0"},
		{"--pipelined", "--window", "-1"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	cfg := config{Duration: time.Second, Senders: 2, Subscribers: 3, Size: 64}
	if got, want := ndxpArgv(cfg, 32, []string{"--x"}), []string{
		"--duration=1s", "--senders=2", "--subscribers=3", "--size=64", "--pipelined", "--window=32", "--x", "--json",
	}; !slices.Equal(got, want) {
		t.Errorf("pipelined argv %q, want %q", got, want)
	}
	if got := ndxpArgv(cfg, 0, nil); slices.Contains(got, "--pipelined") {
		t.Errorf("argv without a window %q", got)
	}
}

// TestRunNdxpPipelined runs --pipelined with a fake ndxp-bench: the window
// is passed to it, and JetStream runs three ways, each with its ratio.
func TestRunNdxpPipelined(t *testing.T) {
	t.Setenv(fakeNdxpEnv, "1")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"--run-ndxp", os.Args[0], "--pipelined", "--window", "16", "--duration", "1s", "--senders", "2", "--subscribers", "2",
		"--size", "64", "--json", "--dir", t.TempDir(),
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var out struct {
		output
		Ndxp struct{ Config struct{ Argv []string } } `json:"ndxp"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	for _, a := range []string{"--pipelined", "--window=16", "--duration=1s", "--senders=2", "--subscribers=2", "--size=64", "--json"} {
		if !slices.Contains(out.Ndxp.Config.Argv, a) {
			t.Errorf("ndxp-bench argv %q lacks %q", out.Ndxp.Config.Argv, a)
		}
	}
	if out.Window != 16 {
		t.Errorf("window %d", out.Window)
	}
	if got := strings.Join(out.Order, ","); got != "ndxp,jetstream,jetstream_sync,jetstream_nofsync" {
		t.Errorf("order %s", got)
	}
	for _, c := range []struct {
		name       string
		r          *result
		ratio      *ratio
		window     int
		syncAlways bool
	}{
		{"async", out.JetStream, out.Ratio, 16, true},
		{"sync", out.JetStreamSync, out.RatioSync, 0, true},
		{"nofsync", out.JetStreamNoSync, out.RatioNoSync, 16, false},
	} {
		r := c.r
		if r == nil || c.ratio == nil {
			t.Errorf("%s: result %v, ratio %v", c.name, r, c.ratio)
			continue
		}
		if r.Sends == 0 || r.Deliveries != r.Sends || r.PublishErrors+r.AckErrors+r.FetchErrors != 0 {
			t.Errorf("%s: sends %d, deliveries %d, errors %d/%d/%d", c.name, r.Sends, r.Deliveries, r.PublishErrors, r.AckErrors, r.FetchErrors)
		}
		if r.Config.Window != c.window || r.Config.SyncAlways != c.syncAlways || r.Config.Batch != 16 {
			t.Errorf("%s: window %d, SyncAlways %v, batch %d", c.name, r.Config.Window, r.Config.SyncAlways, r.Config.Batch)
		}
		if want := divide(250.5, r.DeliveriesPerSecond); c.ratio.DeliveriesPerSecond != want || want == 0 {
			t.Errorf("%s: deliveries ratio %v, want %v", c.name, c.ratio.DeliveriesPerSecond, want)
		}
		if want := divide(500, r.SendsPerSecond); c.ratio.SendsPerSecond != want || want == 0 {
			t.Errorf("%s: sends ratio %v, want %v", c.name, c.ratio.SendsPerSecond, want)
		}
	}

	var table bytes.Buffer
	printTable(&table, out.output)
	for _, s := range []string{"JetStream async", "JetStream sync", "JetStream nofsync", "ndxp/this deliveries/s",
		"ndxp / JetStream async (window 16, SyncAlways)", "pipelined: 16 sends in flight per sender"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}
