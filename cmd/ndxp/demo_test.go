package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestDemoCommand(t *testing.T) {
	h := hubtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr(), "-o", "json",
		"demo", "--load", "--agencies", "6", "--rate", "10", "--creds-dir", t.TempDir(), "--seed", "7"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("ndxp demo: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		Loaded int `json:"loaded"`
		Sent   int `json:"sent"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	if got.Loaded != 95 || got.Sent < 5 {
		t.Errorf("stdout %+v; want loaded 95 and at least 5 sent in about 2 s at 10/s", got)
	}
	for _, want := range []string{"95 agencies of the 2018 register loaded", "demo traffic starting", "demo traffic stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestDemoCommandErrors(t *testing.T) {
	h := hubtest.Start(t)
	h.AddAgency("000.00.00.G22", "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	agency := h.IssueCreds("000.00.00.G22")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"bad rate", []string{"--creds", h.AdminCreds(), "demo", "--rate", "0"}, true, "--rate"},
		{"bad agencies", []string{"--creds", h.AdminCreds(), "demo", "--agencies", "-3"}, true, "--agencies"},
		{"agency credential", []string{"--creds", agency, "--hub", h.Daemon.GRPCAddr(), "demo"}, false, "needs an admin credential"},
		{"one pilot agency", []string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr(), "demo"}, false, "load the register first"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, &stdout, &stderr)
		var u *cli.UsageError
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.As(err, &u) != tt.usage {
			t.Errorf("%s: error %v (usage error: %v); want one containing %q (usage error: %v)", tt.name, err, errors.As(err, &u), tt.want, tt.usage)
		}
	}
}
