package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// fakeNdxpEnv makes the test binary act as ndxp-bench: it prints a fixed
// result, with the arguments it was given, and exits.
const fakeNdxpEnv = "JSBENCH_FAKE_NDXP_BENCH"

func TestMain(m *testing.M) {
	if os.Getenv(fakeNdxpEnv) == "1" {
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
