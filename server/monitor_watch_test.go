package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestWatchSnapshotAgencyChanges: asked for agency_changes, a watch sends
// every line once, then only the changed ones, which applied in order give
// the lines of a fresh snapshot; a caller that does not ask (an older
// client) still gets every line each time.
func TestWatchSnapshotAgencyChanges(t *testing.T) {
	h := hubtest.Start(t)
	h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h.AddAgency(codeH14, "UBND tỉnh Cao Bằng", ndxpv1.Stage_STAGE_PILOT)
	admin := h.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := func(changes bool) ndxpv1.MonitorService_WatchSnapshotClient {
		t.Helper()
		st, err := admin.Monitor.WatchSnapshot(ctx, &ndxpv1.WatchSnapshotRequest{IncludeAgencies: true, AgencyChanges: changes,
			MinInterval: durationpb.New(100 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	news, old := watch(true), watch(false)
	lines := map[string]*ndxpv1.AgencyActivity{}
	first, err := news.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetAgencyChangesOnly() || len(first.GetSnapshot().GetAgencies()) != 3 {
		t.Fatalf("first response: changes only %v, %d lines, want every one of 3", first.GetAgencyChangesOnly(), len(first.GetSnapshot().GetAgencies()))
	}
	for _, a := range first.GetSnapshot().GetAgencies() {
		lines[a.GetCode()] = a
	}
	if r, err := old.Recv(); err != nil || len(r.GetSnapshot().GetAgencies()) != 3 {
		t.Fatalf("first response without agency_changes: %d lines, %v", len(r.GetSnapshot().GetAgencies()), err)
	}

	sub, stop := context.WithCancel(ctx)
	defer stop()
	go h41.Subscribe(sub, func(context.Context, *ndxpv1.Event) error { return nil })
	for {
		r, err := news.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if !r.GetAgencyChangesOnly() {
			t.Fatal("a later response is not changes only")
		}
		for _, a := range r.GetSnapshot().GetAgencies() {
			if a.GetCode() != codeH41 {
				t.Errorf("line of %s sent, which did not change", a.GetCode())
			}
			lines[a.GetCode()] = a
		}
		for _, code := range r.GetRemovedAgencyCodes() {
			delete(lines, code)
		}
		if lines[codeH41].GetPresence().GetOnline() {
			break
		}
	}
	fresh, err := admin.Monitor.GetSnapshot(ctx, &ndxpv1.GetSnapshotRequest{IncludeAgencies: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*ndxpv1.AgencyActivity{}
	for _, a := range fresh.GetSnapshot().GetAgencies() {
		want[a.GetCode()] = a
	}
	if diff := cmp.Diff(want, lines, protocmp.Transform()); diff != "" {
		t.Errorf("lines from the changes differ from a fresh snapshot (-fresh +changes):\n%s", diff)
	}
	// The old form: every line, every time.
	for {
		r, err := old.Recv()
		if err != nil {
			t.Fatalf("watch without agency_changes: %v", err)
		}
		if r.GetAgencyChangesOnly() || len(r.GetSnapshot().GetAgencies()) != 3 {
			t.Fatalf("response without agency_changes: changes only %v, %d lines, want every one of 3", r.GetAgencyChangesOnly(), len(r.GetSnapshot().GetAgencies()))
		}
		if r.GetSnapshot().GetOverview().GetOnline() == 1 {
			break
		}
	}
}
