package demo

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Run starts goroutines per agency; none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("NDXP_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestLoadAndRun(t *testing.T) {
	h := hubtest.Start(t)
	admin := h.Admin()
	ctx := context.Background()

	created, err := Load(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if created != 95 {
		t.Errorf("first Load: created %d, want 95", created)
	}
	if created, err := Load(ctx, admin); err != nil || created != 0 {
		t.Errorf("second Load: created %d, err %v; want 0, nil", created, err)
	}

	var mu sync.Mutex
	sent := map[string]bool{}
	var started []Started
	cfg := Config{
		Admin: admin, HubAddress: h.Daemon.GRPCAddr(), CredsDir: t.TempDir(),
		Agencies: 12, Rate: 20, RecallShare: 0.2, MaxDelay: 400 * time.Millisecond,
		Logger: testLogger(t), Seed: 2018,
		OnSent: func(id string) {
			mu.Lock()
			defer mu.Unlock()
			sent[id] = true
		},
		OnStart: func(s Started) {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, s)
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, cfg) }()

	// Run until every agency has been online, 20 documents went out (a
	// second at 20/s) and recipients acted on them: waiting on what
	// happened, not on a clock (it failed in 3 s on a busy machine), so
	// slowness only makes it longer. The deadline is a safety net.
	maxOnline := int32(0)
	for start := time.Now(); maxOnline < 12 || len(sentIDs(&mu, sent)) < 20 || !acted(statusesOf(t, admin, sentIDs(&mu, sent))); time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("after 2 minutes: at most %d agencies online (want 12), %d documents sent (want 20), statuses %v",
				maxOnline, len(sentIDs(&mu, sent)), statusesOf(t, admin, sentIDs(&mu, sent)))
		}
		resp, err := admin.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{})
		if err != nil {
			t.Fatal(err)
		}
		maxOnline = max(maxOnline, resp.GetOverview().GetOnline())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if maxOnline != 12 {
		t.Errorf("agencies online while running: at most %d, want 12", maxOnline)
	}
	// 71 pilot agencies, 12 online, 5% of 71 (3) never acknowledging.
	want := Started{Pilot: 71, Online: 12, NeverAcknowledging: 3, CredsDir: cfg.CredsDir, Rate: 20}
	mu.Lock()
	if len(started) != 1 || started[0] != want {
		t.Errorf("OnStart got %+v; want once %+v", started, want)
	}
	mu.Unlock()
	ids := sentIDs(&mu, sent)
	statuses := statusesOf(t, admin, ids)
	t.Logf("%d documents; recipient statuses %v", len(ids), statuses)
	if !acted(statuses) {
		t.Errorf("recipients did not act as the demo makes them: statuses %v", statuses)
	}

	// A second run reuses the stored credentials instead of issuing new ones.
	before := activeCredentials(t, admin, ctx)
	runCtx2, cancel2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel2()
	if err := Run(runCtx2, cfg); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if after := activeCredentials(t, admin, ctx); after != before {
		t.Errorf("active credentials: %d after the second run, %d before; want the stored ones reused", after, before)
	}
	files, _ := filepath.Glob(filepath.Join(cfg.CredsDir, "*.creds"))
	if len(files) != 12 {
		t.Errorf("credentials files: %d, want 12", len(files))
	}
}

func activeCredentials(t *testing.T, admin *client.Client, ctx context.Context) int {
	t.Helper()
	resp, err := admin.Registry.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range resp.GetAgencies() {
		n += int(a.GetActiveCredentials())
	}
	return n
}

func TestRunNeedsPilotAgencies(t *testing.T) {
	h := hubtest.Start(t)
	err := Run(context.Background(), Config{Admin: h.Admin(), CredsDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "load the register first") {
		t.Errorf("Run on an empty hub: %v; want an error telling to load the register", err)
	}
}

func TestRunRefusesAgencyCredential(t *testing.T) {
	h := hubtest.Start(t)
	vpcp := h.Agency("000.00.00.G22", "Văn phòng Chính phủ")
	err := Run(context.Background(), Config{Admin: vpcp})
	if err == nil || !strings.Contains(err.Error(), "needs an admin credential") {
		t.Errorf("Run with an agency credential: %v; want an error asking for an admin credential", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no admin", Config{}, "no admin client"},
		{"negative agencies", Config{Agencies: -1}, "agencies"},
		{"rate", Config{Rate: 5000}, "rate"},
		{"shares", Config{UnackedShare: 2, RecallShare: 1.5}, "recall share"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run with an empty Config: no error")
	}
}

func TestRunStopsOnCancelDuringSetup(t *testing.T) {
	h := hubtest.Start(t)
	admin := h.Admin()
	if _, err := Load(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, Config{Admin: admin}); err != nil {
		t.Errorf("Run on a cancelled context: %v; want nil", err)
	}
}

func sentIDs(mu *sync.Mutex, sent map[string]bool) []string {
	mu.Lock()
	defer mu.Unlock()
	ids := make([]string, 0, len(sent))
	for id := range sent {
		ids = append(ids, id)
	}
	return ids
}

// statusesOf counts the recipients' statuses of the documents, checking
// that each went through the hub whole.
func statusesOf(t *testing.T, admin *client.Client, ids []string) map[string]int {
	t.Helper()
	ctx := context.Background()
	statuses := map[string]int{}
	for _, id := range ids {
		tr, err := admin.Exchange.GetTrace(ctx, &ndxpv1.GetTraceRequest{DocumentId: id})
		if err != nil {
			t.Fatalf("trace %s: %v", id, err)
		}
		doc := tr.GetDocument()
		if doc.GetHeader().GetSubject() == "" || len(doc.GetHeader().GetAttachments()) != 1 {
			t.Errorf("document %s: subject %q, %d attachments; want a subject and 1 attachment", id, doc.GetHeader().GetSubject(), len(doc.GetHeader().GetAttachments()))
		}
		if n := len(tr.GetRecipients()); n < 1 || n > 3 {
			t.Errorf("document %s: %d recipients, want 1-3", id, n)
		}
		for _, r := range tr.GetRecipients() {
			statuses[r.GetStatus()]++
			if r.GetRecipientCode() == doc.GetSenderCode() {
				t.Errorf("document %s sent to its own sender", id)
			}
		}
	}
	return statuses
}

// acted says the recipients did what the demo makes them do: arrivals
// acknowledged (01), statuses reported (03 and later), and documents left
// waiting at the agencies that never acknowledge.
func acted(statuses map[string]int) bool {
	return statuses["01"]+statuses["03"]+statuses["05"]+statuses["06"]+statuses["02"] > 0 &&
		statuses["03"]+statuses["05"]+statuses["06"]+statuses["02"] > 0 && statuses[""] > 0
}
