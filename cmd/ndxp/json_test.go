package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestJSONOutputs runs every command of ndxp with -o json against a real
// hub, in the order an exchange takes, and checks each output against the
// CLIs' one JSON style (cli.JSON): snake_case keys, no null, numbers as
// numbers, digests in hex, RFC 3339 times, lists as [] when empty.
// (ndxp demo runs until interrupted; its JSON is checked in demo_test.go.)
func TestJSONOutputs(t *testing.T) {
	h := hubtest.Start(t)
	h.AddAgency(codeVPCP, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PRODUCTION)
	h.AddAgency(codeNgheAn, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	vpcp, ngheAn := h.IssueCreds(codeVPCP), h.IssueCreds(codeNgheAn)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "quyet-dinh.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.4 quyết định"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := "" // the document sent, from the first step

	tests := []struct {
		name  string
		creds string
		args  []string // {id} is the document's id
		want  hubtest.JSONStyle
	}{
		{"send", vpcp, []string{"send", "--to", codeNgheAn, "--subject", "Về việc triển khai", "--number", "7816/VPCP-TTĐT", pdf},
			hubtest.JSONStyle{Lists: []string{"recipients"}, Times: []string{"accepted"}}},
		{"agencies", vpcp, []string{"agencies"}, hubtest.JSONStyle{Lists: []string{""}}},
		{"agencies, none found", vpcp, []string{"agencies", "--search", "không có"}, hubtest.JSONStyle{Lists: []string{""}}},
		{"inbox", ngheAn, []string{"inbox"}, hubtest.JSONStyle{Lists: []string{"", "0.to", "0.recipients"},
			Numbers: []string{"0.priority"}, Times: []string{"0.created"}}},
		{"receive", ngheAn, []string{"receive", "--out", filepath.Join(dir, "inbox")}, hubtest.JSONStyle{Times: []string{"time"}}},
		{"fetch", ngheAn, []string{"fetch", "{id}", "--out", filepath.Join(dir, "copies")},
			hubtest.JSONStyle{Lists: []string{"files"}, Numbers: []string{"files.0.index", "files.0.size"}}},
		{"show", ngheAn, []string{"show", "{id}"}, hubtest.JSONStyle{
			Lists:   []string{"header.recipients", "header.to_places", "header.attachments"},
			Numbers: []string{"header.priority", "header.steering_type", "header.attachments.0.size"},
			Digests: []string{"header.attachments.0.sha256"}, Times: []string{"create_time"}}},
		{"status", ngheAn, []string{"status", "{id}", "--code", "03"}, hubtest.JSONStyle{Times: []string{"time"}}},
		{"trace", vpcp, []string{"trace", "{id}"}, hubtest.JSONStyle{
			Lists:   []string{"recipients", "recipients.0.steps"},
			Numbers: []string{"document.header.attachments.0.size"}, Digests: []string{"document.header.attachments.0.sha256"},
			Times: []string{"recipients.0.steps.0.time", "recipients.0.deliver_time"}}},
		{"sent", vpcp, []string{"sent"}, hubtest.JSONStyle{Lists: []string{"", "0.recipients"}}},
		{"sent, none", ngheAn, []string{"sent"}, hubtest.JSONStyle{Lists: []string{""}}},
		{"receive, statuses", vpcp, []string{"receive", "--out", filepath.Join(dir, "sender")}, hubtest.JSONStyle{Times: []string{"time"}}},
		{"recall", vpcp, []string{"recall", "{id}", "--reason", "Ban hành nhầm"}, hubtest.JSONStyle{Lists: []string{"withdrawn", "asked"}}},
	}
	for _, tt := range tests {
		args := []string{"--creds", tt.creds, "--hub", h.Daemon.GRPCAddr(), "-o", "json"}
		for _, a := range tt.args {
			args = append(args, strings.ReplaceAll(a, "{id}", id))
		}
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\nstderr: %s", tt.name, err, stderr.String())
		}
		hubtest.CheckJSONStyle(t, "ndxp "+tt.name+" -o json", stdout.Bytes(), tt.want)
		if id == "" {
			var r receiptView
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.DocumentID == "" {
				t.Fatalf("send -o json: %q, %v; want the receipt", stdout.String(), err)
			}
			id = r.DocumentID
		}
	}
}
