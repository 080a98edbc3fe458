package server_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestAliases adds, lists and removes aliases through real gRPC, and
// checks each refusal's code and that an agency credential is refused.
func TestAliases(t *testing.T) {
	h := hubtest.Start(t)
	ctx := testCtx(t)
	reg := h.Admin().Registry
	h.AddAgency(codeG22, "Văn phòng Chính phủ", production)
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", pilot)

	add, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "vxp.saas.03", Code: codeG22})
	if err != nil {
		t.Fatalf("AddAlias: %v", err)
	}
	if !add.GetAlias().GetCreateTime().IsValid() {
		t.Errorf("create_time = %v, want set", add.GetAlias().GetCreateTime())
	}
	if _, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "28.22.H17", Code: codeH41}); err != nil {
		t.Fatalf("AddAlias: %v", err)
	}

	refusals := []struct {
		name string
		req  *ndxpv1.AddAliasRequest
		code codes.Code
		msg  string
	}{
		{"duplicate", &ndxpv1.AddAliasRequest{Alias: "28.22.H17", Code: codeG22}, codes.AlreadyExists, "already an alias of " + codeH41},
		{"a registered code", &ndxpv1.AddAliasRequest{Alias: codeH41, Code: codeG22}, codes.AlreadyExists, "registered agency code"},
		{"unknown target", &ndxpv1.AddAliasRequest{Alias: "001.00.20.TT2", Code: "000.00.00.H99"}, codes.NotFound, "000.00.00.H99"},
		{"an alias as target", &ndxpv1.AddAliasRequest{Alias: "001.00.20.TT2", Code: "28.22.H17"}, codes.InvalidArgument, "code"},
		{"a space", &ndxpv1.AddAliasRequest{Alias: "vxp saas", Code: codeG22}, codes.InvalidArgument, "space"},
		{"empty", &ndxpv1.AddAliasRequest{Code: codeG22}, codes.InvalidArgument, "alias"},
	}
	for _, tt := range refusals {
		_, err := reg.AddAlias(ctx, tt.req)
		checkStatus(t, "AddAlias "+tt.name, err, tt.code, tt.msg)
	}
	// An old code of the standard form, now an alias: no agency may take it.
	if _, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "000.00.00.H98", Code: codeH41}); err != nil {
		t.Fatalf("AddAlias: %v", err)
	}
	_, err = reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H98", Name: "UBND tỉnh Cũ"}})
	checkStatus(t, "CreateAgency under an alias", err, codes.AlreadyExists, "000.00.00.H98 is an alias of agency "+codeH41)
	_, err = reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "001.00.20.TT2", Code: "000.00.00.H98"})
	checkStatus(t, "AddAlias to an alias", err, codes.NotFound, "000.00.00.H98 is itself an alias")
	if _, err := reg.RemoveAlias(ctx, &ndxpv1.RemoveAliasRequest{Alias: "000.00.00.H98"}); err != nil {
		t.Fatalf("RemoveAlias: %v", err)
	}

	list, err := reg.ListAliases(ctx, &ndxpv1.ListAliasesRequest{})
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	want := []*ndxpv1.Alias{
		{Alias: "28.22.H17", Code: codeH41, AgencyName: "UBND tỉnh Nghệ An"},
		{Alias: "vxp.saas.03", Code: codeG22, AgencyName: "Văn phòng Chính phủ"},
	}
	if diff := cmp.Diff(want, list.GetAliases(), protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Alias{}, "create_time")); diff != "" {
		t.Errorf("ListAliases (-want +got):\n%s", diff)
	}

	agency := h.Agency(codeH47, "UBND tỉnh Quảng Nam")
	_, err = ndxpv1.NewRegistryServiceClient(agency.Conn()).AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "x.y", Code: codeH47})
	checkStatus(t, "AddAlias as an agency", err, codes.PermissionDenied, "admin")

	if _, err := reg.RemoveAlias(ctx, &ndxpv1.RemoveAliasRequest{Alias: "vxp.saas.03"}); err != nil {
		t.Fatalf("RemoveAlias: %v", err)
	}
	_, err = reg.RemoveAlias(ctx, &ndxpv1.RemoveAliasRequest{Alias: "vxp.saas.03"})
	checkStatus(t, "RemoveAlias twice", err, codes.NotFound, "vxp.saas.03")
	list, err = reg.ListAliases(ctx, &ndxpv1.ListAliasesRequest{})
	if err != nil || len(list.GetAliases()) != 1 || list.GetAliases()[0].GetAlias() != "28.22.H17" {
		t.Errorf("ListAliases after the removal = %v, %v; want 28.22.H17 alone", list, err)
	}
	maint := ndxpv1.NewMaintenanceServiceClient(h.Admin().Conn())
	if rep, err := maint.CheckStore(ctx, &ndxpv1.CheckStoreRequest{}); err != nil || len(rep.GetProblems()) != 0 {
		t.Errorf("CheckStore = %v, %v; want no problem", rep, err)
	}
}
