package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestJSONOutputs runs every command of ndxpctl with -o json against a
// real hub and checks each output against the CLIs' one JSON style
// (cli.JSON): snake_case keys, no null, numbers as numbers, digests in
// hex, RFC 3339 times, lists as [] when empty.
func TestJSONOutputs(t *testing.T) {
	h := hubtest.Start(t)
	fakeCluster(t, h)
	dir := t.TempDir()
	csv := filepath.Join("testdata", "agencies.csv")
	// A document, for trace.
	vpcp := h.Agency("000.00.00.G22", "Văn phòng Chính phủ")
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	sent, err := vpcp.Send(context.Background(), &ndxpv1.DocumentHeader{Recipients: []string{"000.00.00.H41"}, Subject: "Về việc triển khai"},
		[]client.Attachment{{Name: "quyet-dinh.pdf", Body: bytes.NewReader([]byte("%PDF-1.4"))}})
	if err != nil {
		t.Fatal(err)
	}
	agency := hubtest.JSONStyle{Numbers: []string{"active_credentials"}, Times: []string{"created", "updated"}}
	overview := hubtest.JSONStyle{Numbers: []string{"total", "pending", "pilot", "production", "suspended", "online"}, Times: []string{"time"}}

	tests := []struct {
		name  string
		args  []string
		want  hubtest.JSONStyle
		watch bool // runs until interrupted
	}{
		{name: "agency add", args: []string{"agency", "add", "000.00.00.H56", "--name", "UBND tỉnh Thanh Hóa", "--stage", "pilot"}, want: agency},
		{name: "agency import --dry-run", args: []string{"agency", "import", csv, "--dry-run"},
			want: hubtest.JSONStyle{Numbers: []string{"read", "created"}}},
		{name: "agency import", args: []string{"agency", "import", csv}, want: hubtest.JSONStyle{Numbers: []string{"read", "created"}}},
		{name: "agency list", args: []string{"agency", "list"},
			want: hubtest.JSONStyle{Lists: []string{""}, Numbers: []string{"0.active_credentials"}, Times: []string{"0.created"}}},
		{name: "agency list, none found", args: []string{"agency", "list", "--search", "không có"}, want: hubtest.JSONStyle{Lists: []string{""}}},
		{name: "agency show", args: []string{"agency", "show", "000.00.00.H56"}, want: agency},
		{name: "agency update", args: []string{"agency", "update", "000.00.00.H56", "--email", "vanthu@thanhhoa.gov.vn"}, want: agency},
		{name: "agency set-stage", args: []string{"agency", "set-stage", "000.00.00.H56", "production"}, want: agency},
		{name: "agency suspend", args: []string{"agency", "suspend", "000.00.00.H56"}, want: agency},
		{name: "agency resume", args: []string{"agency", "resume", "000.00.00.H56"}, want: agency},
		{name: "agency alias add", args: []string{"agency", "alias", "add", "vxp.saas.03", "000.00.00.H41"}, want: hubtest.JSONStyle{Times: []string{"created"}}},
		{name: "agency alias list", args: []string{"agency", "alias", "list"}, want: hubtest.JSONStyle{Lists: []string{""}, Times: []string{"0.created"}}},
		{name: "agency alias remove", args: []string{"agency", "alias", "remove", "vxp.saas.03"}},
		{name: "agency alias list, none", args: []string{"agency", "alias", "list"}, want: hubtest.JSONStyle{Lists: []string{""}}},
		{name: "vxp system add", args: []string{"vxp", "system", "add", "vxp.saas.03", "--agency", "000.00.00.H41"}, want: hubtest.JSONStyle{Lists: []string{"agencies"}}},
		{name: "vxp system list", args: []string{"vxp", "system", "list"}, want: hubtest.JSONStyle{Lists: []string{"", "0.agencies"}, Times: []string{"0.created"}}},
		{name: "vxp system rotate", args: []string{"vxp", "system", "rotate", "vxp.saas.03"}, want: hubtest.JSONStyle{Lists: []string{"agencies"}}},
		{name: "vxp system list, rotated", args: []string{"vxp", "system", "list"},
			want: hubtest.JSONStyle{Lists: []string{"", "0.agencies"}, Times: []string{"0.created", "0.rotated"}}},
		{name: "vxp system remove", args: []string{"vxp", "system", "remove", "vxp.saas.03"}},
		{name: "vxp system list, none", args: []string{"vxp", "system", "list"}, want: hubtest.JSONStyle{Lists: []string{""}}},
		{name: "credential issue", args: []string{"credential", "issue", "000.00.00.H56", "--out", filepath.Join(dir, "h56.creds")},
			want: hubtest.JSONStyle{Times: []string{"expires"}}},
		{name: "credential export", args: []string{"credential", "export", filepath.Join(dir, "h56.creds"), "--pem", filepath.Join(dir, "pem")},
			want: hubtest.JSONStyle{Times: []string{"expires"}}},
		{name: "credential revoke", args: []string{"credential", "revoke", "000.00.00.H56"}, want: hubtest.JSONStyle{Numbers: []string{"revoked"}}},
		{name: "overview", args: []string{"overview"}, want: overview},
		{name: "overview --watch", args: []string{"overview", "--watch", "--interval", "100ms"}, watch: true,
			want: hubtest.JSONStyle{Numbers: append(overview.Numbers, "documents_today", "pending_deliveries", "alerts"), Times: []string{"time"}}},
		{name: "trace", args: []string{"trace", sent.GetDocumentId()}, want: hubtest.JSONStyle{
			Lists: []string{"recipients", "recipients.0.steps", "document.header.attachments"}, Numbers: []string{"document.header.attachments.0.size"},
			Digests: []string{"document.header.attachments.0.sha256"}, Times: []string{"document.create_time"}}},
		{name: "backup", args: []string{"backup", filepath.Join(dir, "backup.tar")},
			want: hubtest.JSONStyle{Numbers: []string{"bytes"}, Times: []string{"snapshot_time"}}},
		{name: "check", args: []string{"check"},
			want: hubtest.JSONStyle{Lists: []string{"problems"}, Numbers: []string{"documents", "events", "attachment_bodies", "store_bytes"}}},
		{name: "purge --dry-run", args: []string{"purge", "--dry-run"}, want: hubtest.JSONStyle{Lists: []string{"documents"}, Numbers: []string{"bytes_freed"}}},
		{name: "purge --dry-run --older-than-days", args: []string{"purge", "--dry-run", "--older-than-days", "1"},
			want: hubtest.JSONStyle{Lists: []string{"documents"}, Numbers: []string{"bytes_freed"}}},
		{name: "cluster status", args: []string{"cluster", "status"},
			want: hubtest.JSONStyle{Lists: []string{"members"}, Numbers: []string{"members.0.applied_index", "members.0.last_contact_ms"}}},
		{name: "cluster add", args: []string{"cluster", "add", "n5", "--raft", "10.0.0.5:7502", "--grpc", "10.0.0.5:7500"},
			want: hubtest.JSONStyle{Lists: []string{"members"}}},
		{name: "cluster remove", args: []string{"cluster", "remove", "n5"}, want: hubtest.JSONStyle{Lists: []string{"members"}}},
	}
	for _, tt := range tests {
		ctx := context.Background()
		if tt.watch {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
		}
		var stdout, stderr bytes.Buffer
		args := append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr(), "-o", "json"}, tt.args...)
		if err := run(ctx, args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\nstderr: %s", tt.name, err, stderr.String())
		}
		hubtest.CheckJSONStyle(t, "ndxpctl "+tt.name+" -o json", stdout.Bytes(), tt.want)
	}
}
