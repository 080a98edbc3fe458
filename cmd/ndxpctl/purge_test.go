package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/server"
)

// TestPurgeDryRunExplains checks that a dry run which finds nothing says
// why and exits 0, whether the hub has no retention configured or no
// document qualifies; a real purge without retention still fails.
func TestPurgeDryRunExplains(t *testing.T) {
	plain := hubtest.Start(t)
	kept := hubtest.StartWith(t, func(c *server.Config) { c.RetentionDays = 30 })
	tests := []struct {
		name    string
		hub     *hubtest.Hub
		args    []string
		want    string // in stdout
		wantErr string // "" for success
	}{
		{name: "no retention", hub: plain, args: []string{"purge", "--dry-run"},
			want: "nothing would be purged: the hub keeps documents forever: no retention is configured (ndxpd --retention-days); give --older-than-days N"},
		{name: "no retention, a given age", hub: plain, args: []string{"purge", "--dry-run", "--older-than-days", "1"},
			want: "nothing would be purged: no document accepted more than 1 day ago is finished by every recipient"},
		{name: "the hub's retention", hub: kept, args: []string{"purge", "--dry-run"},
			want: "nothing would be purged: no document accepted more than the hub's retention period (ndxpd --retention-days) ago"},
		{name: "a purge", hub: kept, args: []string{"purge", "--older-than-days", "7"},
			want: "nothing was purged: no document accepted more than 7 days ago"},
		{name: "a purge without retention", hub: plain, args: []string{"purge"}, wantErr: "none is configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--creds", tt.hub.AdminCreds(), "--hub", tt.hub.Daemon.GRPCAddr()}, tt.args...)
			err := run(context.Background(), args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v; want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if got := stdout.String(); !strings.HasPrefix(got, tt.want) || strings.Count(got, "\n") != 1 {
				t.Errorf("stdout %q; want one line starting %q", got, tt.want)
			}
			stdout.Reset()
			if err := run(context.Background(), append(args, "-o", "json"), &stdout, &stderr); err != nil {
				t.Fatalf("-o json: %v", err)
			}
			var v struct {
				Documents []purgedDocView `json:"documents"`
				Reason    string          `json:"reason"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || v.Documents == nil || len(v.Documents) != 0 || v.Reason == "" ||
				!strings.Contains(tt.want, v.Reason[:20]) {
				t.Errorf("-o json: %s (%v); want no documents, as [], and the reason", stdout.String(), err)
			}
		})
	}
}
