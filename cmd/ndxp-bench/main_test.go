package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ndxp/ndxp/internal/agencycode"
	"github.com/ndxp/ndxp/internal/cli"
)

// TestMain doubles as the hub child: the benchmark re-executes its own
// binary, which under `go test` is this test binary.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestRunJSON(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		sends      int64
		recipients int64
		pipelined  bool
	}{
		{"closed loop", []string{"--count", "200", "--senders", "2", "--subscribers", "2"}, 200, 1, false},
		{"pipelined", []string{"--count", "300", "--senders", "2", "--subscribers", "2", "--pipelined", "--window", "32"}, 300, 1, true},
		{"paced, two recipients, attachments", []string{"--count", "40", "--rate", "400", "--senders", "2", "--subscribers", "3",
			"--recipients", "2", "--attachments", "3", "--size", "300001", "--sender-subscribe", "--hub-gogc", "400"}, 40, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := run(ctx, append(tt.args, "--json"), &out, &errb); err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, errb.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out.String())
			}
			for _, k := range []string{"sends", "sends_per_second", "deliveries", "deliveries_per_second",
				"send_latency_ms", "e2e_latency_ms", "hub_cpu_seconds", "hub_peak_rss_bytes", "hub_rss_growth_bytes",
				"duration_seconds", "config", "hub_acked_deliveries"} {
				if _, ok := got[k]; !ok {
					t.Errorf("JSON lacks %q", k)
				}
			}
			for _, k := range []string{"p50", "p99", "p999"} {
				if _, ok := got["send_latency_ms"].(map[string]any)[k]; !ok {
					t.Errorf("send_latency_ms lacks %q", k)
				}
			}
			for _, k := range []string{"hub_cpu_seconds", "hub_peak_rss_bytes"} {
				if got[k] == nil {
					t.Errorf("%s is null with an embedded hub", k)
				}
			}
			sends, deliveries := int64(got["sends"].(float64)), int64(got["deliveries"].(float64))
			if sends != tt.sends {
				t.Errorf("sends = %d, want %d (errors: %v %v)", sends, tt.sends, got["send_errors"], got["first_error"])
			}
			if want := sends * tt.recipients; deliveries != want {
				t.Errorf("deliveries = %d, want sends × recipients = %d", deliveries, want)
			}
			// Documents went one to a SendDocument call unless pipelined;
			// acknowledgements always ride on the subscription.
			oneByOne := false
			rpcs, _ := got["hub_rpc"].(map[string]any)
			for k := range rpcs {
				if strings.Contains(k, "AcknowledgeEvents") {
					t.Errorf("hub_rpc has %s: acknowledgements should ride on Receive", k)
				}
				oneByOne = oneByOne || regexp.MustCompile(`SendDocument\b`).MatchString(k)
			}
			if oneByOne == tt.pipelined {
				t.Errorf("pipelined %v, but SendDocument calls %v: %v", tt.pipelined, oneByOne, got["hub_rpc"])
			}
			if cfg := got["config"].(map[string]any); cfg["pipelined"] != tt.pipelined {
				t.Errorf("config.pipelined = %v, want %v", cfg["pipelined"], tt.pipelined)
			}
			if acked := int64(got["hub_acked_deliveries"].(float64)); acked != deliveries {
				t.Errorf("hub_acked_deliveries = %d, want %d", acked, deliveries)
			}
			// Every send is durable before its receipt, so the phase has at
			// least one commit; group commit may share one among several
			// writes, and a document takes at most its send, one
			// acknowledgement per recipient and (--sender-subscribe) one
			// acknowledgement of each status event.
			// Each commit is one fsync of the log; each transaction
			// applying the log to the file adds two.
			store, _ := got["hub_store"].(map[string]any)
			commits, _ := store["commits"].(float64)
			fsyncs, _ := store["fsyncs"].(float64)
			perDoc, _ := store["fsyncs_per_document"].(float64)
			if commits < 1 || commits/float64(sends) > float64(1+2*tt.recipients) ||
				fsyncs < commits || int(fsyncs-commits)%2 != 0 || math.Abs(perDoc-fsyncs/float64(sends)) > 0.001 {
				t.Errorf("hub_store: %d commits, %d fsyncs, %v fsyncs a document for %d sends", int(commits), int(fsyncs), perDoc, sends)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{"--recipients", "3", "--subscribers", "2"},
		{"--attachments", "0", "--size", "10"},
		{"--hub-pid", "1"},
		{"--duration", "0"},
		{"-o", "yaml"},
		{"--creds", "admin.creds", "--hub-memory-limit", "900MiB"},
		{"--creds", "admin.creds", "--hub-gogc", "400"},
		{"--hub-gogc", "lots"},
		{"--pipelined", "--window", "2000"},
		{"--idle-procs", "2"},
		{"--idle-subscribers", "10", "--idle-source-addrs", "localhost"},
		{"--idle-subscribers", "10", "--idle-probe-rate", "0"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := run(context.Background(), args, io.Discard, io.Discard)
			if u := (*cli.UsageError)(nil); !errors.As(err, &u) {
				t.Errorf("got %v, want a usage error", err)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	const n = 100_000
	for _, letter := range []byte{letterSender, letterReceiver, letterIdle, letterList} {
		list := codeList(letter, n)
		index := make(map[string]int, n)
		for i, s := range list {
			c, err := agencycode.Parse(s)
			if err != nil {
				t.Fatalf("code %d: %v", i, err)
			}
			if c.String() != s {
				t.Fatalf("code %d: %q is not canonical (%q)", i, s, c.String())
			}
			if j, dup := index[s]; dup {
				t.Fatalf("codes %d and %d are both %s", j, i, s)
			}
			index[s] = i
			// Registering in order must meet each parent before its children.
			if p, ok := c.Parent(); ok {
				if j, ok := index[p.String()]; !ok || j >= i {
					t.Fatalf("code %d %s: parent %s not generated before it", i, s, p)
				}
			}
		}
	}
	if got, want := codeFor('H', 0), "000.00.00.H01"; got != want {
		t.Errorf("codeFor(H, 0) = %s, want %s", got, want)
	}
	if _, err := agencycode.Parse(codeFor('Z', maxCodes-1)); err != nil {
		t.Errorf("last code: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{d, 50, 500 * time.Millisecond},
		{d, 99, 990 * time.Millisecond},
		{d, 99.9, 999 * time.Millisecond},
		{d, 100, 1000 * time.Millisecond},
		{d, 0, 1 * time.Millisecond},
		{d[:1], 99.9, 1 * time.Millisecond},
		{[]time.Duration{1, 2, 3}, 50, 2},
		{nil, 50, 0},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tt.in), tt.p, got, tt.want)
		}
	}
}

func TestBody(t *testing.T) {
	const size = 3*patternSize + 17
	b := newBody(7, 42, 1, size)
	all, err := io.ReadAll(b)
	if err != nil || len(all) != size {
		t.Fatalf("ReadAll: %d bytes, %v; want %d", len(all), err, size)
	}
	// Reading again after a seek, in odd pieces, gives the same bytes:
	// the SDK reads each body twice (digest, then upload).
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	buf := make([]byte, 1000)
	for {
		n, err := b.Read(buf[:1+again.Len()%999])
		again.Write(buf[:n])
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(all, again.Bytes()) {
		t.Error("second read differs from the first")
	}
	if off, _ := b.Seek(-10, io.SeekEnd); off != size-10 {
		t.Errorf("Seek(-10, End) = %d, want %d", off, size-10)
	}
	other, _ := io.ReadAll(newBody(7, 43, 1, size))
	if bytes.Equal(all, other) {
		t.Error("two documents have the same body; the hub would store it once")
	}
}

func TestSubject(t *testing.T) {
	due := time.Unix(0, 1_700_000_000_123_456_789)
	got, ok := parseSubject(subject(99, 5, due), 99)
	if !ok || !got.Equal(due) {
		t.Errorf("parseSubject = %v, %v; want %v", got, ok, due)
	}
	if _, ok := parseSubject(subject(98, 5, due), 99); ok {
		t.Error("another run's subject was taken as ours")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP ndxp_store_fsyncs_total x
ndxp_store_fsyncs_total 12
ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/SendDocument"} 5
ndxp_rpc_duration_seconds_count{code="Unavailable",method="ExchangeService/SendDocument"} 1
ndxp_rpc_duration_seconds_sum{code="OK",method="ExchangeService/SendDocument"} 0.06
`
	got, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)))
	if err != nil {
		t.Fatal(err)
	}
	if got["ndxp_store_fsyncs_total"] != 12 || got["ndxp_rpc_duration_seconds_count|ExchangeService/SendDocument"] != 6 {
		t.Errorf("parseMetrics = %v", got)
	}
	rpc := rpcDelta(scrape{}, got)
	if s := rpc["ExchangeService/SendDocument"]; s.Calls != 6 || s.MSMean != 10 {
		t.Errorf("rpcDelta = %+v, want 6 calls of 10 ms", s)
	}
}

// --hub-gogc and --hub-memory-limit reach the embedded hub's own
// environment, over whatever the bench's environment says.
func TestHubEnvironment(t *testing.T) {
	t.Setenv("GOGC", "100")
	o := options{HubGOGC: "400", HubMemLimit: "900MiB"}
	dir := t.TempDir()
	h, err := startHub(t.Context(), dir, filepath.Join(dir, "data"), "info", "", "", o.hubEnv())
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", h.PID))
	if err != nil {
		t.Skipf("no /proc environ: %v", err)
	}
	got := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			got[k] = v
		}
	}
	if got["GOGC"] != "400" || got["GOMEMLIMIT"] != "900MiB" {
		t.Errorf("hub environment has GOGC=%q GOMEMLIMIT=%q, want 400 and 900MiB", got["GOGC"], got["GOMEMLIMIT"])
	}
}

// TestIdleProcs holds the idle subscriptions in child processes connecting
// from several loopback addresses, and probes them with documents.
func TestIdleProcs(t *testing.T) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sources := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	args := []string{"--idle-subscribers", "60", "--idle-procs", "3", "--idle-source-addrs", strings.Join(sources, ","),
		"--idle-hold", "200ms", "--idle-probe", "90", "--idle-probe-rate", "300", "--json"}
	if err := run(ctx, args, &out, &errb); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, errb.String())
	}
	var got struct {
		Sends *int64      `json:"sends"`
		Idle  *idleResult `json:"idle_subscribers"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	i := got.Idle
	if got.Sends != nil || i == nil {
		t.Fatalf("want the idle figures and no document load:\n%s", out.String())
	}
	if i.Count != 60 || i.Procs != 3 {
		t.Errorf("count %d in %d processes, want 60 in 3", i.Count, i.Procs)
	}
	if strings.Join(i.SourceAddrs, ",") != strings.Join(sources, ",") {
		t.Errorf("connected from %v, want %v", i.SourceAddrs, sources)
	}
	if i.HubRSSPerAgencyBytes == nil || i.HubCPUMicrosPerAgencySec == nil || i.HubRSSProjected100kBytes == nil {
		t.Errorf("per-agency figures missing:\n%s", out.String())
	}
	p := i.Probe
	if p == nil || p.Sent != 90 || p.Delivered != 90 || p.SendErrors != 0 || p.LatencyMS.Count != 90 {
		t.Errorf("probe = %+v, want 90 sent and delivered", p)
	}
}
