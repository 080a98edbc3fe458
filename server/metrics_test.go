package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// scrape reads /metrics and returns each sample line's value by its full
// name with labels, e.g. `ndxp_agencies{stage="pilot"}`.
func scrape(t *testing.T, h *hubtest.Hub) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + h.Daemon.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s %s", resp.Status, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparsable sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// scrapeWhen scrapes until sample name has value v (the hub changes some
// of its state on its own time), or for a minute, and returns the last
// scrape. The minute is a safety net, not a budget: the wait ends as soon
// as the value shows, however loaded the machine.
func scrapeWhen(t *testing.T, h *hubtest.Hub, name string, v float64) map[string]float64 {
	t.Helper()
	m := scrape(t, h)
	for deadline := time.Now().Add(time.Minute); m[name] != v && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		m = scrape(t, h)
	}
	return m
}

// checkSamples reports every sample of want that m lacks or differs from.
func checkSamples(t *testing.T, m, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

func TestMetricsAfterKnownExchange(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h.Agency(codeH14, "UBND tỉnh Cao Bằng") // never subscribes: its document stays pending
	h.AddAgency(codeH47, "UBND tỉnh Quảng Nam", ndxpv1.Stage_STAGE_PENDING)
	ctx := context.Background()
	for i, to := range [][]string{{codeH41, codeH14}, {codeH41}} {
		if _, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: to, Subject: "Đo lường", Number: strconv.Itoa(i) + "/M"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, h41) // acknowledges both: 2 deliveries
	if _, err := h41.Report(ctx, client.Status{DocumentID: "not-an-id", Code: "03"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad report: %v", err)
	}

	// Closing G22 ends its pipelined send stream once it is answered.
	g22.Close()
	// H41's subscription ended on the client's side; the hub notices the
	// closed stream on its own time, and the scrape reads it live.
	scrapeWhen(t, h, `ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/SendDocuments"}`, 1)
	m := scrapeWhen(t, h, "ndxp_agencies_online", 0)
	want := map[string]float64{
		"ndxp_documents_sent_total":           2,
		"ndxp_deliveries_queued_total":        3,
		"ndxp_documents_delivered_total":      2,
		"ndxp_queue_depth":                    1, // H14's
		"ndxp_documents_today":                2,
		`ndxp_agencies{stage="pilot"}`:        3,
		`ndxp_agencies{stage="pending"}`:      1,
		"ndxp_agencies_online":                0,
		`ndxp_alerts{kind="offline_backlog"}`: 1,
		`ndxp_alerts{kind="unacknowledged"}`:  0,
		`ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/SendDocuments"}`:             1,
		`ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/Receive"}`:                   1,
		`ndxp_rpc_duration_seconds_count{code="InvalidArgument",method="ExchangeService/ReportStatus"}`: 1,
	}
	checkSamples(t, m, want)
	for _, k := range []string{"ndxp_store_commits_total", "ndxp_store_fsyncs_total", "ndxp_store_writes_total", "ndxp_store_size_bytes", "ndxp_store_commit_duration_seconds_count", "ndxp_queue_oldest_pending_seconds"} {
		if m[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	commits, fsyncs := m["ndxp_store_commits_total"], m["ndxp_store_fsyncs_total"]
	if m["ndxp_store_writes_total"] < commits {
		t.Errorf("fewer writes (%v) than commits (%v)", m["ndxp_store_writes_total"], commits)
	}
	// One fsync per commit (the log), two per transaction applying it.
	applies := m["ndxp_store_apply_duration_seconds_count"]
	if fsyncs != commits+2*applies || (applies > 0) != (m["ndxp_store_applied_operations_total"] > 0) {
		t.Errorf("fsyncs %v, commits %v, applies %v, applied operations %v", fsyncs, commits, applies, m["ndxp_store_applied_operations_total"])
	}
}

func TestMonitorService(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	admin := h.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := g22.Monitor.GetSnapshot(ctx, &ndxpv1.GetSnapshotRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("agency calling MonitorService: %v, want PermissionDenied", err)
	}
	r, err := admin.Monitor.GetSnapshot(ctx, &ndxpv1.GetSnapshotRequest{IncludeAgencies: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.GetSnapshot(); s.GetOverview().GetTotal() != 2 || len(s.GetAgencies()) != 2 || len(s.GetPerMinute()) != 60 {
		t.Errorf("snapshot: total %d, %d agency lines, %d minutes", s.GetOverview().GetTotal(), len(s.GetAgencies()), len(s.GetPerMinute()))
	}
	stream, err := admin.Monitor.WatchSnapshot(ctx, &ndxpv1.WatchSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetSnapshot().GetOverview().GetOnline() != 0 {
		t.Fatalf("first watched snapshot: %v, %v", first, err)
	}
	sub, stop := context.WithCancel(ctx)
	defer stop()
	go h41.Subscribe(sub, func(context.Context, *ndxpv1.Event) error { return nil })
	for {
		next, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if next.GetSnapshot().GetOverview().GetOnline() == 1 {
			break // the connection was pushed, well before the 10 s heartbeat
		}
	}
}

// TestMetricsOverdueDocuments: documents past the alert threshold are
// counted one by one, while the alerts count the agencies they wait for.
func TestMetricsOverdueDocuments(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.UnackedAfter = server.Duration(time.Millisecond) })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH14, "UBND tỉnh Cao Bằng") // never subscribes
	h.Agency(codeH41, "UBND tỉnh Nghệ An")  // never subscribes
	for i, to := range [][]string{{codeH14}, {codeH14}, {codeH14, codeH41}} {
		if _, err := g22.Send(context.Background(), &ndxpv1.DocumentHeader{Recipients: to, Subject: "Quá hạn", Number: strconv.Itoa(i) + "/Q"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A millisecond after each was queued, all four deliveries are overdue.
	m := scrapeWhen(t, h, "ndxp_documents_overdue", 4)
	want := map[string]float64{
		"ndxp_documents_overdue":              4,
		`ndxp_alerts{kind="unacknowledged"}`:  2,
		`ndxp_alerts{kind="offline_backlog"}`: 2,
		"ndxp_queue_depth":                    4,
	}
	checkSamples(t, m, want)
}
