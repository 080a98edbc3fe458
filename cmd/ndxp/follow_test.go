package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestFollowWaitsOutSuspension runs receive --follow while an operator
// suspends the agency, resumes it and revokes its credential: it says
// once that it is suspended (not once per attempt), goes on receiving
// after the resumption, and stops on the revocation with exit 1 and a
// clear reason.
func TestFollowWaitsOutSuspension(t *testing.T) {
	h := hubtest.Start(t)
	admin := h.Admin()
	ctx := context.Background()
	vpcp := h.Agency(codeVPCP, "Văn phòng Chính phủ")
	h.AddAgency(codeNgheAn, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	creds := h.IssueCreds(codeNgheAn)

	var stdout, stderr hubtest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--creds", creds, "--hub", h.Daemon.GRPCAddr(), "receive", "--out", filepath.Join(t.TempDir(), "inbox"), "--follow"},
			&stdout, &stderr)
	}()
	waitFor := func(what string, buf *hubtest.SyncBuffer, want string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(buf.String(), want) < n {
			select {
			case err := <-done:
				t.Fatalf("receive --follow ended (%v) waiting for %s; stderr:\n%s", err, what, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after 20 s; stderr:\n%s", what, stderr.String())
			}
		}
	}
	waitFor("connection", &stderr, "ndxp: connected\n", 1)

	if _, err := admin.Registry.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	waitFor("suspension line", &stderr, "waiting until an operator resumes the agency", 1)
	time.Sleep(1500 * time.Millisecond) // several attempts, backing off from 100 ms
	if _, err := admin.Registry.ResumeAgency(ctx, &ndxpv1.ResumeAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	waitFor("connection after the resumption", &stderr, "ndxp: connected\n", 2)
	resp, err := vpcp.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeNgheAn}, Subject: "Sau khi đình chỉ được gỡ bỏ"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the document", &stdout, resp.GetDocumentId()+"\t", 1)

	if _, err := admin.Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no longer accepts this credential") || !strings.Contains(err.Error(), "revoked") ||
			!strings.Contains(err.Error(), "ask the hub's operator for a new one") {
			t.Errorf("receive --follow after the revocation: %v; want the revocation and what to do", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("receive --follow goes on after the revocation; stderr:\n%s", stderr.String())
	}
	want := "ndxp: connected\n" +
		"ndxp: refused: agency 000.00.00.H41 was suspended (PermissionDenied); waiting until an operator resumes the agency\n" +
		"ndxp: connected\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant one line per change:\n%s", got, want)
	}
}
