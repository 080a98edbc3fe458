package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestAgencyListShowsPolling: agency list and show tell an agency that
// polls (the VXP HTTP API) from one holding a stream and from one offline,
// with when it last polled, in the table and in JSON.
func TestAgencyListShowsPolling(t *testing.T) {
	h := hubtest.Start(t)
	const (
		polling = "000.00.00.H41"
		stream  = "000.00.00.G22"
		offline = "000.00.00.H14"
	)
	h.AddAgency(offline, "UBND tỉnh Cao Bằng", ndxpv1.Stage_STAGE_PILOT)
	h.AddAgency(polling, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	g22 := h.Agency(stream, "Văn phòng Chính phủ")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g22.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { return nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
	h.Daemon.Hub().Polled(polling)
	for h.Daemon.Hub().Overview().Online != 2 {
		select {
		case <-done:
			t.Fatal("the subscription ended")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ctl := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr()}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("%q: %v (%s)", args, err, stderr.String())
		}
		return stdout.String()
	}

	out := ctl("agency", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "LAST POLL") {
		t.Errorf("header %q has no LAST POLL column", lines[0])
	}
	want := map[string]string{polling: "polling since ", stream: "stream since ", offline: " no "}
	for _, l := range lines[1:] {
		for code, w := range want {
			if strings.HasPrefix(l, code) {
				if !strings.Contains(l, w) {
					t.Errorf("row %q, want %q in it", l, w)
				}
				delete(want, code)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("no rows for %v in:\n%s", want, out)
	}

	var list []agencyView
	if err := json.Unmarshal([]byte(ctl("agency", "list", "-o", "json")), &list); err != nil {
		t.Fatalf("agency list -o json: %v", err)
	}
	for _, v := range list {
		switch v.Code {
		case polling:
			if !v.Online || v.Via != "polling" || v.LastPolled == nil || v.ConnectedSince == nil {
				t.Errorf("JSON %s: %+v, want online via polling with last_polled", v.Code, v)
			}
		case stream:
			if !v.Online || v.Via != "stream" || v.LastPolled != nil {
				t.Errorf("JSON %s: %+v, want online via stream, never polled", v.Code, v)
			}
		case offline:
			if v.Online || v.Via != "" || v.LastPolled != nil {
				t.Errorf("JSON %s: %+v, want offline", v.Code, v)
			}
		}
	}
	if show := ctl("agency", "show", polling); !strings.Contains(show, "yes, by polling") || !strings.Contains(show, "Last poll (VXP)") {
		t.Errorf("agency show:\n%s\nwant \"yes, by polling\" and the last poll", show)
	}
}
