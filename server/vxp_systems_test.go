package server_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// lockedBuffer collects a daemon's log from its concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestVxpSystems adds, lists, rotates and removes VXP systems through real
// gRPC, checks each refusal's code, that an agency credential is refused,
// that the secret reaches the admin and the hub's lookup and nothing else
// (the whole daemon's debug log is searched for it), and that the store
// check stays clean.
func TestVxpSystems(t *testing.T) {
	var logs lockedBuffer
	h := hubtest.StartWith(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := testCtx(t)
	reg := h.Admin().Registry
	h.AddAgency(codeG22, "Văn phòng Chính phủ", production)
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", pilot)
	if _, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "28.22.H17", Code: codeH41}); err != nil {
		t.Fatal(err)
	}

	var secrets []string
	add, err := reg.AddVxpSystem(ctx, &ndxpv1.AddVxpSystemRequest{SystemId: "vxp.saas.03", Agencies: []string{codeH41, codeG22, codeH41}, AllowRegistry: true})
	if err != nil {
		t.Fatalf("AddVxpSystem: %v", err)
	}
	secrets = append(secrets, add.GetSecret())
	if raw, err := base64.StdEncoding.DecodeString(add.GetSecret()); err != nil || len(raw) != 32 {
		t.Errorf("secret %q: %d bytes, %v; want 32 in base64", add.GetSecret(), len(raw), err)
	}
	sys := add.GetSystem()
	if !sys.GetCreateTime().IsValid() || sys.GetRotateTime() != nil || !strings.HasPrefix(sys.GetCreatedBy(), "admin:") {
		t.Errorf("added system %v: want create_time and created_by set, rotate_time unset", sys)
	}
	if _, key, ok := h.Daemon.Hub().LookupVxpSystem("vxp.saas.03"); !ok || string(key) != add.GetSecret() {
		t.Errorf("LookupVxpSystem = %q, %v; want the secret the admin was given", key, ok)
	}
	b, err := reg.AddVxpSystem(ctx, &ndxpv1.AddVxpSystemRequest{SystemId: "sys.a", Agencies: []string{codeG22}})
	if err != nil {
		t.Fatalf("AddVxpSystem: %v", err)
	}
	secrets = append(secrets, b.GetSecret())

	refusals := []struct {
		name string
		req  *ndxpv1.AddVxpSystemRequest
		code codes.Code
		msg  string
	}{
		{"duplicate", &ndxpv1.AddVxpSystemRequest{SystemId: "sys.a", Agencies: []string{codeH41}}, codes.AlreadyExists, "sys.a exists already"},
		{"unknown agency", &ndxpv1.AddVxpSystemRequest{SystemId: "sys.b", Agencies: []string{codeG22, "000.00.00.H99"}}, codes.NotFound, "000.00.00.H99"},
		{"an alias", &ndxpv1.AddVxpSystemRequest{SystemId: "sys.b", Agencies: []string{"28.22.H17"}}, codes.NotFound, "alias"},
		{"no agency", &ndxpv1.AddVxpSystemRequest{SystemId: "sys.b"}, codes.InvalidArgument, "agencies"},
		{"a space", &ndxpv1.AddVxpSystemRequest{SystemId: "sys b", Agencies: []string{codeG22}}, codes.InvalidArgument, "system_id"},
		{"empty", &ndxpv1.AddVxpSystemRequest{Agencies: []string{codeG22}}, codes.InvalidArgument, "system_id"},
	}
	for _, tt := range refusals {
		_, err := reg.AddVxpSystem(ctx, tt.req)
		checkStatus(t, "AddVxpSystem "+tt.name, err, tt.code, tt.msg)
	}

	rot, err := reg.RotateVxpSecret(ctx, &ndxpv1.RotateVxpSecretRequest{SystemId: "sys.a"})
	if err != nil {
		t.Fatalf("RotateVxpSecret: %v", err)
	}
	secrets = append(secrets, rot.GetSecret())
	if rot.GetSecret() == b.GetSecret() || len(rot.GetSecret()) != 44 || !rot.GetSystem().GetRotateTime().IsValid() {
		t.Errorf("RotateVxpSecret = %v; want a new 44-character secret and rotate_time set", rot.GetSystem())
	}
	if _, key, _ := h.Daemon.Hub().LookupVxpSystem("sys.a"); string(key) != rot.GetSecret() {
		t.Errorf("LookupVxpSystem after the rotation: want the new secret at once")
	}
	_, err = reg.RotateVxpSecret(ctx, &ndxpv1.RotateVxpSecretRequest{SystemId: "sys.none"})
	checkStatus(t, "RotateVxpSecret unknown", err, codes.NotFound, "sys.none")

	list, err := reg.ListVxpSystems(ctx, &ndxpv1.ListVxpSystemsRequest{})
	if err != nil {
		t.Fatalf("ListVxpSystems: %v", err)
	}
	want := []*ndxpv1.VxpSystem{
		{SystemId: "sys.a", Agencies: []string{codeG22}},
		{SystemId: "vxp.saas.03", Agencies: []string{codeH41, codeG22}, AllowRegistry: true},
	}
	ignore := protocmp.IgnoreFields(&ndxpv1.VxpSystem{}, "create_time", "rotate_time", "created_by")
	if diff := cmp.Diff(want, list.GetSystems(), protocmp.Transform(), ignore); diff != "" {
		t.Errorf("ListVxpSystems (-want +got):\n%s", diff)
	}

	agency := h.Agency(codeH47, "UBND tỉnh Quảng Nam")
	areg := ndxpv1.NewRegistryServiceClient(agency.Conn())
	_, err = areg.AddVxpSystem(ctx, &ndxpv1.AddVxpSystemRequest{SystemId: "sys.x", Agencies: []string{codeH47}})
	checkStatus(t, "AddVxpSystem as an agency", err, codes.PermissionDenied, "admin")
	_, err = areg.ListVxpSystems(ctx, &ndxpv1.ListVxpSystemsRequest{})
	checkStatus(t, "ListVxpSystems as an agency", err, codes.PermissionDenied, "admin")

	if _, err := reg.RemoveVxpSystem(ctx, &ndxpv1.RemoveVxpSystemRequest{SystemId: "vxp.saas.03"}); err != nil {
		t.Fatalf("RemoveVxpSystem: %v", err)
	}
	if _, _, ok := h.Daemon.Hub().LookupVxpSystem("vxp.saas.03"); ok {
		t.Errorf("LookupVxpSystem found a removed system")
	}
	_, err = reg.RemoveVxpSystem(ctx, &ndxpv1.RemoveVxpSystemRequest{SystemId: "vxp.saas.03"})
	checkStatus(t, "RemoveVxpSystem twice", err, codes.NotFound, "vxp.saas.03")

	maint := ndxpv1.NewMaintenanceServiceClient(h.Admin().Conn())
	if rep, err := maint.CheckStore(ctx, &ndxpv1.CheckStoreRequest{}); err != nil || len(rep.GetProblems()) != 0 {
		t.Errorf("CheckStore = %v, %v; want no problem", rep, err)
	}

	out := logs.String()
	if !strings.Contains(out, `msg="vxp system added" system=vxp.saas.03`) || !strings.Contains(out, `msg="vxp system removed" system=vxp.saas.03`) {
		t.Errorf("the log does not record the changes:\n%s", out)
	}
	for _, s := range secrets {
		if s == "" || strings.Contains(out, s) {
			t.Errorf("the daemon's log holds a secret %q", s)
		}
	}
}
