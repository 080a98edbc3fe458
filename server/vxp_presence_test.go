package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// TestPollingAndFailuresReachTheAPI: what the VXP adapter records (a
// poll, a recipient's delivery failure) reaches the registry's and the
// monitor's answers and the metrics.
func TestPollingAndFailuresReachTheAPI(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	ctx := context.Background()
	r, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Không nhận được", Number: "1/VXP"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hb := h.Daemon.Hub()
	hb.Polled(codeH41)
	for range 2 {
		if err := hb.ReportDeliveryFailure(ctx, hub.Principal{Name: codeH41}, r.GetDocumentId()); err != nil {
			t.Fatalf("ReportDeliveryFailure: %v", err)
		}
	}

	ag, err := h.Admin().Registry.GetAgency(ctx, &ndxpv1.GetAgencyRequest{Code: codeH41})
	if err != nil {
		t.Fatal(err)
	}
	if p := ag.GetAgency().GetPresence(); !p.GetOnline() || p.GetVia() != ndxpv1.ConnectionVia_CONNECTION_VIA_POLLING || p.GetLastPollTime() == nil {
		t.Errorf("presence %v, want online via polling with a last poll time", p)
	}
	snap, err := h.Admin().Monitor.GetSnapshot(ctx, &ndxpv1.GetSnapshotRequest{IncludeAgencies: true})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range snap.GetSnapshot().GetAlerts() {
		if a.GetKind() == ndxpv1.AlertKind_ALERT_KIND_DELIVERY_FAILURES {
			found = true
			if a.GetAgencyCode() != codeH41 || a.GetDocumentId() != r.GetDocumentId() || a.GetCount() != 1 || a.GetFailures() != 2 || a.GetLastFailureTime() == nil {
				t.Errorf("alert %v, want H41's, naming the document, 1 document, 2 failures", a)
			}
		}
	}
	if !found {
		t.Errorf("no delivery failures alert in %v", snap.GetSnapshot().GetAlerts())
	}
	for _, a := range snap.GetSnapshot().GetAgencies() {
		if a.GetCode() == codeH41 && (a.GetFailures() != 2 || a.GetOldestPendingDocumentId() != r.GetDocumentId() ||
			a.GetPresence().GetVia() != ndxpv1.ConnectionVia_CONNECTION_VIA_POLLING) {
			t.Errorf("activity %v, want 2 failures, the document, via polling", a)
		}
	}
	checkSamples(t, scrape(t, h), map[string]float64{
		"ndxp_delivery_failures_total":          2,
		`ndxp_alerts{kind="delivery_failures"}`: 1,
		"ndxp_agencies_online":                  1,
		"ndxp_queue_depth":                      1,
	})
}

// TestVxpOnlineWindowIsWired: the daemon's VxpOnlineWindow is the hub's
// poll window: a poll counts for that long, then the agency is offline
// without anything arriving.
func TestVxpOnlineWindowIsWired(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.VxpOnlineWindow = server.Duration(50 * time.Millisecond) })
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	hb := h.Daemon.Hub()
	hb.Polled(codeH41)
	if !hb.Presence(codeH41).Online {
		t.Fatal("offline right after a poll")
	}
	changes := hb.Watch(t.Context())
	for deadline := time.Now().Add(time.Minute); hb.Overview().Online != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("still online a minute after a 50 ms window: %+v", hb.Presence(codeH41))
		}
		select {
		case <-changes:
		case <-time.After(10 * time.Millisecond):
		}
	}
	if p := hb.Presence(codeH41); p.Online || p.Via != "" || p.LastPolled.IsZero() {
		t.Errorf("after the window: %+v, want offline with its last poll", p)
	}
}
