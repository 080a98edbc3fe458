package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// No goleak ignore options are needed: grpc-go's client and server
// goroutines all end once connections are closed and the server stopped,
// and VerifyTestMain retries long enough for them to wind down.
func TestMain(m *testing.M) { goleak.VerifyTestMain(hubtest.MainWithCleanup(m)) }

const (
	pending    = ndxpv1.Stage_STAGE_PENDING
	pilot      = ndxpv1.Stage_STAGE_PILOT
	production = ndxpv1.Stage_STAGE_PRODUCTION
)

// testCtx bounds every call of a test, so a hung hub fails the test
// instead of hanging the suite.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ignoreTimes drops the fields the hub sets from its clock.
var ignoreTimes = protocmp.IgnoreFields(&ndxpv1.Agency{}, "create_time", "update_time")

// checkStatus reports whether err has code want and a message containing
// every word of wantInMsg.
func checkStatus(t *testing.T, what string, err error, want codes.Code, wantInMsg ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != want {
		t.Errorf("%s: code = %v (%q), want %v", what, st.Code(), st.Message(), want)
		return
	}
	for _, w := range wantInMsg {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("%s: message %q does not mention %q", what, st.Message(), w)
		}
	}
}

// violations returns the fields of the BadRequest detail of err.
func violations(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// listAll pages through ListAgencies and returns every agency and the number of pages.
func listAll(t *testing.T, reg ndxpv1.RegistryServiceClient, req *ndxpv1.ListAgenciesRequest) ([]*ndxpv1.Agency, int) {
	t.Helper()
	ctx := testCtx(t)
	var all []*ndxpv1.Agency
	pages := 0
	for {
		resp, err := reg.ListAgencies(ctx, req)
		if err != nil {
			t.Fatalf("ListAgencies(%v) = %v", req, err)
		}
		pages++
		all = append(all, resp.GetAgencies()...)
		if resp.GetNextPageToken() == "" {
			return all, pages
		}
		if pages > 1000 {
			t.Fatalf("ListAgencies(%v) never ends", req)
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func codesOf(list []*ndxpv1.Agency) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.GetCode()
	}
	return out
}

func TestRegistryRoundTrip(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	ctx := testCtx(t)

	contact := &ndxpv1.Contact{Person: "Nguyễn Văn An", Email: "vanthu@quangnam.gov.vn", Phone: "0235 3810 000", Address: "62 Hùng Vương, Tam Kỳ"}
	created, err := reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{
		Code:    "000.00.00.H47",
		Name:    "  UBND tỉnh Quảng Nam ",
		Stage:   pilot,
		Contact: contact,
		// Output-only fields a client might send; the hub must ignore them.
		Suspended:         true,
		ActiveCredentials: 7,
	}})
	if err != nil {
		t.Fatalf("CreateAgency: %v", err)
	}
	want := &ndxpv1.Agency{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam", Stage: pilot, Contact: contact, Presence: &ndxpv1.Presence{}}
	if diff := cmp.Diff(want, created.GetAgency(), protocmp.Transform(), ignoreTimes); diff != "" {
		t.Fatalf("CreateAgency returned (-want +got):\n%s", diff)
	}
	ct, ut := created.GetAgency().GetCreateTime(), created.GetAgency().GetUpdateTime()
	if !ct.IsValid() || !ct.AsTime().Equal(ut.AsTime()) {
		t.Errorf("new agency: create_time %v, update_time %v; want both set and equal", ct, ut)
	}

	got, err := reg.GetAgency(ctx, &ndxpv1.GetAgencyRequest{Code: "000.00.00.H47"})
	if err != nil {
		t.Fatalf("GetAgency: %v", err)
	}
	if diff := cmp.Diff(created.GetAgency(), got.GetAgency(), protocmp.Transform()); diff != "" {
		t.Errorf("GetAgency after create (-created +got):\n%s", diff)
	}

	// A child registered without a parent gets the province as parent.
	child, err := reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên"}})
	if err != nil {
		t.Fatalf("CreateAgency child: %v", err)
	}
	wantChild := &ndxpv1.Agency{Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên", ParentCode: "000.00.00.H47", Stage: pending, Contact: &ndxpv1.Contact{}, Presence: &ndxpv1.Presence{}}
	if diff := cmp.Diff(wantChild, child.GetAgency(), protocmp.Transform(), ignoreTimes); diff != "" {
		t.Errorf("CreateAgency child (-want +got):\n%s", diff)
	}

	list, err := reg.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{})
	if err != nil {
		t.Fatalf("ListAgencies: %v", err)
	}
	wantList := &ndxpv1.ListAgenciesResponse{Agencies: []*ndxpv1.Agency{created.GetAgency(), child.GetAgency()}}
	if diff := cmp.Diff(wantList, list, protocmp.Transform()); diff != "" {
		t.Errorf("ListAgencies (-want +got):\n%s", diff)
	}

	// Each step changes one thing; the steps run in order on the same agency.
	newContact := &ndxpv1.Contact{Person: "Trần Thị Bình", Email: "binh@quangnam.gov.vn"}
	steps := []struct {
		name   string
		call   func(context.Context) (*ndxpv1.Agency, error)
		change func(*ndxpv1.Agency)
	}{
		{"set stage production", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H47", Stage: production})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Stage = production }},
		{"suspend", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.H47", Reason: "bảo trì hệ thống"})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Suspended = true }},
		{"set stage while suspended", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H47", Stage: pending})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Stage = pending }},
		{"resume", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.ResumeAgency(ctx, &ndxpv1.ResumeAgencyRequest{Code: "000.00.00.H47"})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Suspended = false }},
		{"update name only", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{
				Agency:     &ndxpv1.Agency{Code: "000.00.00.H47", Name: "Ủy ban nhân dân tỉnh Quảng Nam", Contact: newContact},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
			})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Name = "Ủy ban nhân dân tỉnh Quảng Nam" }},
		{"update contact only", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{
				Agency:     &ndxpv1.Agency{Code: "000.00.00.H47", Name: "ignored", Contact: newContact},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"contact"}},
			})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Contact = newContact }},
		{"set stage pilot", func(ctx context.Context) (*ndxpv1.Agency, error) {
			r, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H47", Stage: pilot})
			return r.GetAgency(), err
		}, func(a *ndxpv1.Agency) { a.Stage = pilot }},
	}
	prev := created.GetAgency()
	for _, s := range steps {
		want := proto.Clone(prev).(*ndxpv1.Agency)
		s.change(want)
		got, err := s.call(ctx)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Agency{}, "update_time")); diff != "" {
			t.Errorf("%s returned (-want +got):\n%s", s.name, diff)
		}
		if got.GetUpdateTime().AsTime().Before(prev.GetUpdateTime().AsTime()) {
			t.Errorf("%s: update_time %v went back from %v", s.name, got.GetUpdateTime().AsTime(), prev.GetUpdateTime().AsTime())
		}
		stored, err := reg.GetAgency(ctx, &ndxpv1.GetAgencyRequest{Code: "000.00.00.H47"})
		if err != nil {
			t.Fatalf("%s: GetAgency: %v", s.name, err)
		}
		if diff := cmp.Diff(got, stored.GetAgency(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: GetAgency differs from the returned record (-returned +stored):\n%s", s.name, diff)
		}
		prev = got
	}
}

func TestCreateAgencyRefusesBadInput(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	ctx := testCtx(t)
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", pilot)

	// Each refused case differs from an accepted one only in the fault under test.
	tests := []struct {
		name      string
		agency    *ndxpv1.Agency
		wantCode  codes.Code
		wantField string // the field the message and the BadRequest detail name
	}{
		{"accepted child", &ndxpv1.Agency{Code: "001.00.00.H47", Name: "Sở Nội vụ tỉnh Quảng Nam"}, codes.OK, ""},
		{"code with three groups", &ndxpv1.Agency{Code: "28.22.H17", Name: "Sai mã"}, codes.InvalidArgument, "code"},
		{"code group 2 of three digits", &ndxpv1.Agency{Code: "999.010.01.H22", Name: "Sai mã"}, codes.InvalidArgument, "code"},
		{"code group 4 of one digit", &ndxpv1.Agency{Code: "000.00.00.X1", Name: "Sai mã"}, codes.InvalidArgument, "code"},
		{"empty code", &ndxpv1.Agency{Code: "", Name: "Không mã"}, codes.InvalidArgument, "code"},
		{"code with a leading space", &ndxpv1.Agency{Code: " 000.00.00.H14", Name: "UBND tỉnh Cao Bằng"}, codes.InvalidArgument, "code"},
		{"lower-case code letter", &ndxpv1.Agency{Code: "000.00.00.h14", Name: "UBND tỉnh Cao Bằng"}, codes.InvalidArgument, "code"},
		{"unknown parent", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", ParentCode: "000.00.00.G99"}, codes.NotFound, "parent_code"},
		{"malformed parent", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", ParentCode: "G99"}, codes.InvalidArgument, "parent_code"},
		{"own parent", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", ParentCode: "000.00.00.H14"}, codes.InvalidArgument, "parent_code"},
		{"duplicate code", &ndxpv1.Agency{Code: "000.00.00.H47", Name: "Trùng mã"}, codes.AlreadyExists, "code"},
		{"empty name", &ndxpv1.Agency{Code: "000.00.00.H14", Name: ""}, codes.InvalidArgument, "name"},
		{"whitespace-only name", &ndxpv1.Agency{Code: "000.00.00.H14", Name: " \t\u00a0 "}, codes.InvalidArgument, "name"},
		{"301-character name", &ndxpv1.Agency{Code: "000.00.00.H14", Name: strings.Repeat("Ủ", 301)}, codes.InvalidArgument, "name"},
		{"name with a control character", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh\x07 Cao Bằng"}, codes.InvalidArgument, "name"},
		{"unknown stage", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Stage: ndxpv1.Stage(42)}, codes.InvalidArgument, "stage"},
		{"bad contact email", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Contact: &ndxpv1.Contact{Email: "vanthu at caobang"}}, codes.InvalidArgument, "contact.email"},
		{"201-character contact person", &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Contact: &ndxpv1.Contact{Person: strings.Repeat("ệ", 201)}}, codes.InvalidArgument, "contact.person"},
		{"accepted 300-character name", &ndxpv1.Agency{Code: "000.00.00.H14", Name: strings.Repeat("Ủ", 300)}, codes.OK, ""},
		{"accepted with contact", &ndxpv1.Agency{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Stage: production, Contact: &ndxpv1.Contact{Email: "vanthu@chinhphu.vn"}}, codes.OK, ""},
	}
	accepted := []string{"000.00.00.H47"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{Agency: tt.agency})
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("CreateAgency(%s) = %v, want success", tt.agency.GetCode(), err)
				}
				accepted = append(accepted, tt.agency.GetCode())
				return
			}
			checkStatus(t, "CreateAgency", err, tt.wantCode, tt.wantField)
			if got, want := violations(err), []string{tt.wantField}; !slices.Equal(got, want) {
				t.Errorf("BadRequest fields = %q, want %q", got, want)
			}
		})
	}

	got, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
	slices.Sort(accepted)
	if diff := cmp.Diff(accepted, codesOf(got)); diff != "" {
		t.Errorf("registered agencies after the refusals (-accepted +listed):\n%s", diff)
	}
	for _, a := range got {
		if a.GetCode() == "000.00.00.H47" && a.GetName() != "UBND tỉnh Quảng Nam" {
			t.Errorf("duplicate create changed the name of 000.00.00.H47 to %q", a.GetName())
		}
	}
}

func TestRefusedChangesLeaveStoreUnchanged(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	ctx := testCtx(t)
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", pilot)
	h.AddAgency("001.00.00.H47", "Sở Nội vụ tỉnh Quảng Nam", pending)
	csr, _, err := pki.NewCSR(pki.AgencyIdentity("000.00.00.H47"))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})

	mask := func(p ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: p} }
	tests := []struct {
		name      string
		call      func(context.Context) error
		wantCode  codes.Code
		wantField string
	}{
		{"create without agency", func(ctx context.Context) error {
			_, err := reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{})
			return err
		}, codes.InvalidArgument, "agency"},
		{"set unknown stage", func(ctx context.Context) error {
			_, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H47", Stage: ndxpv1.Stage(42)})
			return err
		}, codes.InvalidArgument, "stage"},
		{"set unspecified stage", func(ctx context.Context) error {
			_, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H47"})
			return err
		}, codes.InvalidArgument, "stage"},
		{"set stage of unknown agency", func(ctx context.Context) error {
			_, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "000.00.00.H14", Stage: pilot})
			return err
		}, codes.NotFound, "code"},
		{"set stage with malformed code", func(ctx context.Context) error {
			_, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: "28.22.H17", Stage: pilot})
			return err
		}, codes.InvalidArgument, "code"},
		{"suspend unknown agency", func(ctx context.Context) error {
			_, err := reg.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.H14"})
			return err
		}, codes.NotFound, "code"},
		{"suspend with control character in reason", func(ctx context.Context) error {
			_, err := reg.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.H47", Reason: "lý do\x00"})
			return err
		}, codes.InvalidArgument, "reason"},
		{"resume malformed code", func(ctx context.Context) error {
			_, err := reg.ResumeAgency(ctx, &ndxpv1.ResumeAgencyRequest{Code: "999.010.01.H22"})
			return err
		}, codes.InvalidArgument, "code"},
		{"update to empty name", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H47", Name: "  "}, UpdateMask: mask("name")})
			return err
		}, codes.InvalidArgument, "name"},
		{"update to bad email", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H47", Contact: &ndxpv1.Contact{Email: "@"}}, UpdateMask: mask("contact")})
			return err
		}, codes.InvalidArgument, "contact.email"},
		{"update to unknown parent", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "001.00.00.H47", ParentCode: "000.00.00.G99"}, UpdateMask: mask("parent_code")})
			return err
		}, codes.NotFound, "parent_code"},
		{"update a field the mask cannot name", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H47", Stage: production}, UpdateMask: mask("stage")})
			return err
		}, codes.InvalidArgument, "update_mask"},
		{"update without mask", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H47", Name: "Tên mới"}})
			return err
		}, codes.InvalidArgument, "update_mask"},
		{"update unknown agency", func(ctx context.Context) error {
			_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H14", Name: "Tên mới"}, UpdateMask: mask("name")})
			return err
		}, codes.NotFound, "code"},
		{"import nothing", func(ctx context.Context) error {
			_, err := reg.ImportAgencies(ctx, &ndxpv1.ImportAgenciesRequest{})
			return err
		}, codes.InvalidArgument, "agencies"},
		{"issue credential with garbage CSR", func(ctx context.Context) error {
			_, err := reg.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: "000.00.00.H47", Csr: []byte("not a CSR")})
			return err
		}, codes.InvalidArgument, "csr"},
		{"issue credential for too long", func(ctx context.Context) error {
			_, err := reg.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: "000.00.00.H47", Csr: csr, ValidDays: 3651})
			return err
		}, codes.InvalidArgument, "valid_days"},
		{"issue credential for unknown agency", func(ctx context.Context) error {
			_, err := reg.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: "000.00.00.H14", Csr: csr})
			return err
		}, codes.NotFound, "code"},
		{"revoke unknown credential", func(ctx context.Context) error {
			_, err := reg.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{Code: "000.00.00.H47", CredentialId: "abc123"})
			return err
		}, codes.NotFound, "credential_id"},
		{"list with negative page size", func(ctx context.Context) error {
			_, err := reg.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument, "page_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(testCtx(t))
			checkStatus(t, tt.name, err, tt.wantCode, tt.wantField)
			if got, want := violations(err), []string{tt.wantField}; !slices.Equal(got, want) {
				t.Errorf("BadRequest fields = %q, want %q", got, want)
			}
		})
	}

	after, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
	if diff := cmp.Diff(before, after, protocmp.Transform()); diff != "" {
		t.Errorf("refused calls changed the registry (-before +after):\n%s", diff)
	}
	ov, err := reg.GetOverview(ctx, &ndxpv1.GetOverviewRequest{})
	if err != nil {
		t.Fatalf("GetOverview: %v", err)
	}
	want := &ndxpv1.Overview{Total: 2, Pending: 1, Pilot: 1}
	if diff := cmp.Diff(want, ov.GetOverview(), protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Overview{}, "time")); diff != "" {
		t.Errorf("overview after refused calls (-want +got):\n%s", diff)
	}
}

// importBatch is five good agencies under 000.00.00.H47 (registered first).
func importBatch() []*ndxpv1.Agency {
	return []*ndxpv1.Agency{
		{Code: "001.00.00.H47", Name: "Sở Nội vụ tỉnh Quảng Nam"},
		{Code: "002.00.00.H47", Name: "Sở Tài chính tỉnh Quảng Nam", Stage: pilot},
		{Code: "003.00.00.H47", Name: "Sở Y tế tỉnh Quảng Nam", Stage: production},
		{Code: "004.00.00.H47", Name: "Sở Giáo dục và Đào tạo tỉnh Quảng Nam"},
		{Code: "005.00.00.H47", Name: "Sở Xây dựng tỉnh Quảng Nam", Contact: &ndxpv1.Contact{Email: "sxd@quangnam.gov.vn"}},
	}
}

func TestImportAllOrNothing(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", pilot)
	h.AddAgency("009.00.00.H47", "Sở Công Thương tỉnh Quảng Nam", pilot)
	before, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})

	tests := []struct {
		name      string
		bad       func(*ndxpv1.Agency)
		wantCode  codes.Code
		wantField string
	}{
		{"malformed code", func(a *ndxpv1.Agency) { a.Code = "000.00.00.X1" }, codes.InvalidArgument, "agencies[3].code"},
		{"empty name", func(a *ndxpv1.Agency) { a.Name = "" }, codes.InvalidArgument, "agencies[3].name"},
		{"301-character name", func(a *ndxpv1.Agency) { a.Name = strings.Repeat("a", 301) }, codes.InvalidArgument, "agencies[3].name"},
		{"unknown stage", func(a *ndxpv1.Agency) { a.Stage = ndxpv1.Stage(42) }, codes.InvalidArgument, "agencies[3].stage"},
		{"bad email", func(a *ndxpv1.Agency) { a.Contact = &ndxpv1.Contact{Email: "no-at-sign"} }, codes.InvalidArgument, "agencies[3].contact.email"},
		{"unknown parent", func(a *ndxpv1.Agency) { a.ParentCode = "000.00.00.H99" }, codes.NotFound, "agencies[3].parent_code"},
		{"already registered", func(a *ndxpv1.Agency) { a.Code = "009.00.00.H47" }, codes.AlreadyExists, "agencies[3].code"},
		{"twice in the list", func(a *ndxpv1.Agency) { a.Code = "001.00.00.H47" }, codes.AlreadyExists, "agencies[3].code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := importBatch()
			tt.bad(list[3])
			_, err := reg.ImportAgencies(testCtx(t), &ndxpv1.ImportAgenciesRequest{Agencies: list})
			checkStatus(t, "ImportAgencies", err, tt.wantCode, tt.wantField)
			fields := violations(err)
			if len(fields) != 1 || !strings.HasPrefix(fields[0], "agencies[3].") || fields[0] != tt.wantField {
				t.Errorf("BadRequest fields = %q, want [%q]", fields, tt.wantField)
			}
			after, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
			if diff := cmp.Diff(before, after, protocmp.Transform()); diff != "" {
				t.Errorf("a refused import changed the registry (-before +after):\n%s", diff)
			}
		})
	}

	// The same batch without the fault goes in whole.
	resp, err := reg.ImportAgencies(testCtx(t), &ndxpv1.ImportAgenciesRequest{Agencies: importBatch()})
	if err != nil {
		t.Fatalf("good ImportAgencies: %v", err)
	}
	if resp.GetCreated() != 5 {
		t.Errorf("created = %d, want 5", resp.GetCreated())
	}
	ov, err := reg.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{})
	if err != nil {
		t.Fatalf("GetOverview: %v", err)
	}
	wantOv := &ndxpv1.Overview{Total: 7, Pending: 3, Pilot: 3, Production: 1}
	if diff := cmp.Diff(wantOv, ov.GetOverview(), protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Overview{}, "time")); diff != "" {
		t.Errorf("overview after import (-want +got):\n%s", diff)
	}
}

func TestImportResolvesParentsWithinTheList(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	ctx := testCtx(t)
	// Children come before their parents on purpose: order must not matter.
	list := []*ndxpv1.Agency{
		{Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên"},                                            // derived: province (001.00.00.H47 is not in the list)
		{Code: "000.00.01.G22", Name: "Vụ Hành chính, Văn phòng Chính phủ", ParentCode: "000.00.00.G22"}, // given, in the list
		{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam", Stage: pilot},
		{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Stage: production},
		{Code: "002.00.00.H47", Name: "Sở Tài chính tỉnh Quảng Nam", ParentCode: "000.00.00.G22"}, // given, not the derived one
		{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng"},                                       // level 1: no parent
		{Code: "001.02.00.H41", Name: "Phòng Nội vụ, UBND huyện X, tỉnh Nghệ An"},                 // no ancestor registered
	}
	if _, err := reg.ImportAgencies(ctx, &ndxpv1.ImportAgenciesRequest{Agencies: list}); err != nil {
		t.Fatalf("ImportAgencies: %v", err)
	}
	want := map[string]string{
		"000.00.00.G22": "",
		"000.00.00.H14": "",
		"000.00.00.H47": "",
		"000.00.01.G22": "000.00.00.G22",
		"001.00.10.H47": "000.00.00.H47",
		"001.02.00.H41": "",
		"002.00.00.H47": "000.00.00.G22",
	}
	all, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
	got := map[string]string{}
	for _, a := range all {
		got[a.GetCode()] = a.GetParentCode()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parents after import (-want +got):\n%s", diff)
	}
}

func TestParentDerivation(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	// Steps run in order: each relies on what the ones before registered.
	steps := []struct {
		code, wantParent string
	}{
		{"000.00.00.H47", ""},
		{"001.00.10.H47", "000.00.00.H47"}, // 001.00.00.H47 not registered yet: the nearest registered ancestor
		{"001.00.00.H47", "000.00.00.H47"},
		{"001.00.20.H47", "001.00.00.H47"},
		{"001.03.20.H47", "001.00.00.H47"}, // 001.03.00.H47 missing: skip to the next ancestor
		{"002.05.07.H41", ""},              // no ancestor registered
		{"000.00.00.H41", ""},
		{"002.05.08.H41", "000.00.00.H41"},
	}
	for _, s := range steps {
		resp, err := reg.CreateAgency(testCtx(t), &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: s.code, Name: "Đơn vị " + s.code}})
		if err != nil {
			t.Fatalf("CreateAgency(%s): %v", s.code, err)
		}
		if got := resp.GetAgency().GetParentCode(); got != s.wantParent {
			t.Errorf("CreateAgency(%s) parent = %q, want %q", s.code, got, s.wantParent)
		}
	}
	// A parent is derived once, at registration: registering 001.00.00.H47
	// later does not re-parent 001.00.10.H47.
	got, err := reg.GetAgency(testCtx(t), &ndxpv1.GetAgencyRequest{Code: "001.00.10.H47"})
	if err != nil {
		t.Fatalf("GetAgency: %v", err)
	}
	if got.GetAgency().GetParentCode() != "000.00.00.H47" {
		t.Errorf("001.00.10.H47 parent = %q after its nearer ancestor registered, want it kept as 000.00.00.H47", got.GetAgency().GetParentCode())
	}
}

func TestListAgenciesPaging(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	var list []*ndxpv1.Agency
	var want []string
	// Imported in reverse order, so the listing order is the hub's doing.
	for i := 250; i >= 1; i-- {
		code := fmt.Sprintf("%03d.%02d.00.H50", i%100+1, i/100)
		list = append(list, &ndxpv1.Agency{Code: code, Name: fmt.Sprintf("Đơn vị số %d", i)})
		want = append(want, code)
	}
	slices.Sort(want)
	if _, err := reg.ImportAgencies(testCtx(t), &ndxpv1.ImportAgenciesRequest{Agencies: list}); err != nil {
		t.Fatalf("ImportAgencies: %v", err)
	}

	tests := []struct {
		pageSize  int32
		wantPages int
	}{
		{100, 3},
		{0, 3}, // the default page size is 100
		{250, 1},
		{249, 2},
		{125, 2},
		{5000, 1}, // above the maximum: clamped, not refused
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("size ", tt.pageSize), func(t *testing.T) {
			got, pages := listAll(t, reg, &ndxpv1.ListAgenciesRequest{PageSize: tt.pageSize})
			if diff := cmp.Diff(want, codesOf(got)); diff != "" {
				t.Errorf("codes over all pages (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}

	first, err := reg.ListAgencies(testCtx(t), &ndxpv1.ListAgenciesRequest{PageSize: 100})
	if err != nil {
		t.Fatalf("ListAgencies: %v", err)
	}
	if n := len(first.GetAgencies()); n != 100 || first.GetNextPageToken() == "" {
		t.Errorf("first page: %d agencies, next token %q; want 100 and a token", n, first.GetNextPageToken())
	}
	for _, tok := range []string{"not a token!", "%%%", "="} {
		_, err := reg.ListAgencies(testCtx(t), &ndxpv1.ListAgenciesRequest{PageSize: 100, PageToken: tok})
		checkStatus(t, fmt.Sprintf("ListAgencies(page_token %q)", tok), err, codes.InvalidArgument, "page_token")
	}
}

// registerSample registers a small registry with every stage, one
// suspended agency and Vietnamese names.
func registerSample(t *testing.T, h *hubtest.Hub) {
	t.Helper()
	h.AddAgency("000.00.00.G22", "Văn phòng Chính phủ", production)
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", pilot)
	h.AddAgency("001.00.00.H41", "Sở Nội vụ tỉnh Nghệ An", pending)
	h.AddAgency("000.00.00.H14", "UBND tỉnh Cao Bằng", pilot)
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", production)
	h.AddAgency("001.00.10.H47", "UBND huyện Duy Xuyên", pending)
	if _, err := h.Admin().Registry.SuspendAgency(testCtx(t), &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.H14"}); err != nil {
		t.Fatalf("SuspendAgency: %v", err)
	}
}

func TestListAgenciesFilters(t *testing.T) {
	h := hubtest.Start(t)
	registerSample(t, h)
	reg := h.Admin().Registry

	tests := []struct {
		name string
		req  *ndxpv1.ListAgenciesRequest
		want []string
	}{
		{"all", &ndxpv1.ListAgenciesRequest{}, []string{"000.00.00.G22", "000.00.00.H14", "000.00.00.H41", "000.00.00.H47", "001.00.00.H41", "001.00.10.H47"}},
		{"pending", &ndxpv1.ListAgenciesRequest{Stage: pending}, []string{"001.00.00.H41", "001.00.10.H47"}},
		{"pilot", &ndxpv1.ListAgenciesRequest{Stage: pilot}, []string{"000.00.00.H14", "000.00.00.H41"}},
		{"production", &ndxpv1.ListAgenciesRequest{Stage: production}, []string{"000.00.00.G22", "000.00.00.H47"}},
		{"query lower case Vietnamese", &ndxpv1.ListAgenciesRequest{Query: "nghệ an"}, []string{"000.00.00.H41", "001.00.00.H41"}},
		{"query upper case Vietnamese", &ndxpv1.ListAgenciesRequest{Query: "NGHỆ AN"}, []string{"000.00.00.H41", "001.00.00.H41"}},
		{"query words", &ndxpv1.ListAgenciesRequest{Query: "duy xuyên"}, []string{"001.00.10.H47"}},
		{"query without diacritics does not match", &ndxpv1.ListAgenciesRequest{Query: "nghe an"}, nil},
		{"query code fragment, case-insensitive", &ndxpv1.ListAgenciesRequest{Query: "00.h4"}, []string{"000.00.00.H41", "000.00.00.H47", "001.00.00.H41"}},
		{"query and stage", &ndxpv1.ListAgenciesRequest{Query: "ubnd", Stage: pilot}, []string{"000.00.00.H14", "000.00.00.H41"}},
		{"suspended", &ndxpv1.ListAgenciesRequest{Suspension: ndxpv1.SuspensionFilter_SUSPENSION_FILTER_SUSPENDED}, []string{"000.00.00.H14"}},
		{"active", &ndxpv1.ListAgenciesRequest{Suspension: ndxpv1.SuspensionFilter_SUSPENSION_FILTER_ACTIVE}, []string{"000.00.00.G22", "000.00.00.H41", "000.00.00.H47", "001.00.00.H41", "001.00.10.H47"}},
		{"active pilot", &ndxpv1.ListAgenciesRequest{Stage: pilot, Suspension: ndxpv1.SuspensionFilter_SUSPENSION_FILTER_ACTIVE}, []string{"000.00.00.H41"}},
		{"children of a province", &ndxpv1.ListAgenciesRequest{ParentCode: "000.00.00.H41"}, []string{"001.00.00.H41"}},
		{"online only (nobody is)", &ndxpv1.ListAgenciesRequest{OnlineOnly: true}, nil},
		{"no match", &ndxpv1.ListAgenciesRequest{Query: "Hà Nội"}, nil},
		{"filter with one-item pages", &ndxpv1.ListAgenciesRequest{Query: "ubnd", PageSize: 1}, []string{"000.00.00.H14", "000.00.00.H41", "000.00.00.H47", "001.00.10.H47"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := listAll(t, reg, tt.req)
			if diff := cmp.Diff(tt.want, codesOf(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListAgencies(%v) codes (-want +got):\n%s", tt.req, diff)
			}
		})
	}

	bad := []struct {
		name, field string
		req         *ndxpv1.ListAgenciesRequest
	}{
		{"unknown stage", "stage", &ndxpv1.ListAgenciesRequest{Stage: ndxpv1.Stage(42)}},
		{"malformed parent", "parent", &ndxpv1.ListAgenciesRequest{ParentCode: "28.22.H17"}},
	}
	for _, tt := range bad {
		_, err := reg.ListAgencies(testCtx(t), tt.req)
		checkStatus(t, "ListAgencies "+tt.name, err, codes.InvalidArgument, tt.field)
	}
}

func TestOverviewCounts(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	get := func() *ndxpv1.Overview {
		t.Helper()
		resp, err := reg.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{})
		if err != nil {
			t.Fatalf("GetOverview: %v", err)
		}
		if !resp.GetOverview().GetTime().IsValid() {
			t.Errorf("overview time = %v, want set", resp.GetOverview().GetTime())
		}
		return resp.GetOverview()
	}
	ignoreTime := protocmp.IgnoreFields(&ndxpv1.Overview{}, "time")
	if diff := cmp.Diff(&ndxpv1.Overview{}, get(), protocmp.Transform(), ignoreTime); diff != "" {
		t.Errorf("empty hub overview (-want +got):\n%s", diff)
	}
	registerSample(t, h)
	// Imported agencies count too.
	if _, err := reg.ImportAgencies(testCtx(t), &ndxpv1.ImportAgenciesRequest{Agencies: []*ndxpv1.Agency{
		{Code: "000.00.00.H01", Name: "UBND thành phố Hà Nội", Stage: production},
		{Code: "001.00.00.H01", Name: "Sở Nội vụ thành phố Hà Nội"},
	}}); err != nil {
		t.Fatalf("ImportAgencies: %v", err)
	}
	want := &ndxpv1.Overview{Total: 8, Pending: 3, Pilot: 2, Production: 3, Suspended: 1}
	if diff := cmp.Diff(want, get(), protocmp.Transform(), ignoreTime); diff != "" {
		t.Errorf("overview (-want +got):\n%s", diff)
	}
	if _, err := reg.SetStage(testCtx(t), &ndxpv1.SetStageRequest{Code: "001.00.00.H01", Stage: pilot}); err != nil {
		t.Fatalf("SetStage: %v", err)
	}
	if _, err := reg.ResumeAgency(testCtx(t), &ndxpv1.ResumeAgencyRequest{Code: "000.00.00.H14"}); err != nil {
		t.Fatalf("ResumeAgency: %v", err)
	}
	want = &ndxpv1.Overview{Total: 8, Pending: 2, Pilot: 3, Production: 3}
	if diff := cmp.Diff(want, get(), protocmp.Transform(), ignoreTime); diff != "" {
		t.Errorf("overview after set-stage and resume (-want +got):\n%s", diff)
	}
}

func TestAuthorization(t *testing.T) {
	h := hubtest.Start(t)
	h.AddAgency("000.00.00.G22", "Văn phòng Chính phủ", production)
	const code = "000.00.00.H41"
	agency := h.Agency(code, "UBND tỉnh Nghệ An")
	admin := h.Admin().Registry

	t.Run("registry is admin-only", func(t *testing.T) {
		reg := agency.Registry
		csr, _, err := pki.NewCSR(pki.AgencyIdentity(code))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.AddAlias(testCtx(t), &ndxpv1.AddAliasRequest{Alias: "vxp.saas.03", Code: code}); err != nil {
			t.Fatalf("AddAlias: %v", err)
		}
		if _, err := admin.AddVxpSystem(testCtx(t), &ndxpv1.AddVxpSystemRequest{SystemId: "sys.a", Agencies: []string{code}}); err != nil {
			t.Fatalf("AddVxpSystem: %v", err)
		}
		// Every call would succeed for an admin.
		calls := map[string]func(context.Context) error{
			"CreateAgency": func(ctx context.Context) error {
				_, err := reg.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng"}})
				return err
			},
			"ImportAgencies": func(ctx context.Context) error {
				_, err := reg.ImportAgencies(ctx, &ndxpv1.ImportAgenciesRequest{Agencies: []*ndxpv1.Agency{{Code: "000.00.00.H15", Name: "X"}}})
				return err
			},
			"ImportAgenciesStream": func(ctx context.Context) error {
				stream, err := reg.ImportAgenciesStream(ctx)
				if err != nil {
					return err
				}
				if err := stream.Send(&ndxpv1.ImportAgenciesStreamRequest{Agencies: []*ndxpv1.Agency{{Code: "000.00.00.H15", Name: "X"}}}); err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				_, err = stream.CloseAndRecv()
				return err
			},
			"UpdateAgency": func(ctx context.Context) error {
				_, err := reg.UpdateAgency(ctx, &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: code, Name: "Đổi tên"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
				return err
			},
			"GetAgency": func(ctx context.Context) error {
				_, err := reg.GetAgency(ctx, &ndxpv1.GetAgencyRequest{Code: code})
				return err
			},
			"ListAgencies": func(ctx context.Context) error {
				_, err := reg.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{})
				return err
			},
			"SetStage": func(ctx context.Context) error {
				_, err := reg.SetStage(ctx, &ndxpv1.SetStageRequest{Code: code, Stage: production})
				return err
			},
			"SuspendAgency": func(ctx context.Context) error {
				_, err := reg.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.G22"})
				return err
			},
			"ResumeAgency": func(ctx context.Context) error {
				_, err := reg.ResumeAgency(ctx, &ndxpv1.ResumeAgencyRequest{Code: code})
				return err
			},
			"IssueCredential": func(ctx context.Context) error {
				_, err := reg.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr})
				return err
			},
			"RevokeCredential": func(ctx context.Context) error {
				_, err := reg.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{Code: "000.00.00.G22"})
				return err
			},
			"GetOverview": func(ctx context.Context) error {
				_, err := reg.GetOverview(ctx, &ndxpv1.GetOverviewRequest{})
				return err
			},
			"AddAlias": func(ctx context.Context) error {
				_, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: "28.22.H17", Code: code})
				return err
			},
			"ListAliases": func(ctx context.Context) error {
				_, err := reg.ListAliases(ctx, &ndxpv1.ListAliasesRequest{})
				return err
			},
			"RemoveAlias": func(ctx context.Context) error {
				_, err := reg.RemoveAlias(ctx, &ndxpv1.RemoveAliasRequest{Alias: "vxp.saas.03"})
				return err
			},
			"AddVxpSystem": func(ctx context.Context) error {
				_, err := reg.AddVxpSystem(ctx, &ndxpv1.AddVxpSystemRequest{SystemId: "sys.b", Agencies: []string{code}})
				return err
			},
			"ListVxpSystems": func(ctx context.Context) error {
				_, err := reg.ListVxpSystems(ctx, &ndxpv1.ListVxpSystemsRequest{})
				return err
			},
			"RotateVxpSecret": func(ctx context.Context) error {
				_, err := reg.RotateVxpSecret(ctx, &ndxpv1.RotateVxpSecretRequest{SystemId: "sys.a"})
				return err
			},
			"RemoveVxpSystem": func(ctx context.Context) error {
				_, err := reg.RemoveVxpSystem(ctx, &ndxpv1.RemoveVxpSystemRequest{SystemId: "sys.a"})
				return err
			},
		}
		var methods []string
		for _, m := range ndxpv1.RegistryService_ServiceDesc.Methods {
			methods = append(methods, m.MethodName)
		}
		for _, s := range ndxpv1.RegistryService_ServiceDesc.Streams {
			methods = append(methods, s.StreamName)
		}
		for _, m := range methods {
			call, ok := calls[m]
			if !ok {
				t.Errorf("RegistryService.%s is not checked here; add it to the table", m)
				continue
			}
			checkStatus(t, "agency calls "+m, call(testCtx(t)), codes.PermissionDenied)
		}
		before, _ := listAll(t, admin, &ndxpv1.ListAgenciesRequest{})
		want := []string{"000.00.00.G22", code}
		if diff := cmp.Diff(want, codesOf(before)); diff != "" {
			t.Errorf("registry after refused agency calls (-want +got):\n%s", diff)
		}
		for _, a := range before {
			if a.GetSuspended() || (a.GetCode() == code && (a.GetName() != "UBND tỉnh Nghệ An" || a.GetStage() != pilot || a.GetActiveCredentials() != 1)) {
				t.Errorf("a refused agency call changed %v", a)
			}
		}
		if al, err := admin.ListAliases(testCtx(t), &ndxpv1.ListAliasesRequest{}); err != nil || len(al.GetAliases()) != 1 || al.GetAliases()[0].GetAlias() != "vxp.saas.03" {
			t.Errorf("aliases after refused agency calls = %v, %v; want vxp.saas.03 alone", al, err)
		}
		if l, err := admin.ListVxpSystems(testCtx(t), &ndxpv1.ListVxpSystemsRequest{}); err != nil || len(l.GetSystems()) != 1 ||
			l.GetSystems()[0].GetSystemId() != "sys.a" || l.GetSystems()[0].GetRotateTime() != nil {
			t.Errorf("VXP systems after refused agency calls = %v, %v; want sys.a alone, never rotated", l, err)
		}
	})

	lookup := func(c *client.Client) error {
		_, err := c.Directory.LookupAgency(testCtx(t), &ndxpv1.LookupAgencyRequest{Code: "000.00.00.G22"})
		return err
	}

	t.Run("directory is open to agencies", func(t *testing.T) {
		resp, err := agency.Directory.LookupAgency(testCtx(t), &ndxpv1.LookupAgencyRequest{Code: "000.00.00.G22"})
		if err != nil {
			t.Fatalf("LookupAgency: %v", err)
		}
		want := &ndxpv1.DirectoryEntry{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Stage: production}
		if diff := cmp.Diff(want, resp.GetEntry(), protocmp.Transform()); diff != "" {
			t.Errorf("LookupAgency (-want +got):\n%s", diff)
		}
		search, err := agency.Directory.SearchAgencies(testCtx(t), &ndxpv1.SearchAgenciesRequest{Query: "văn phòng"})
		if err != nil {
			t.Fatalf("SearchAgencies: %v", err)
		}
		if diff := cmp.Diff(&ndxpv1.SearchAgenciesResponse{Entries: []*ndxpv1.DirectoryEntry{want}}, search, protocmp.Transform()); diff != "" {
			t.Errorf("SearchAgencies (-want +got):\n%s", diff)
		}
		_, err = agency.Directory.LookupAgency(testCtx(t), &ndxpv1.LookupAgencyRequest{Code: "000.00.00.H99"})
		checkStatus(t, "LookupAgency unknown", err, codes.NotFound, "000.00.00.H99")
	})

	t.Run("suspension refuses the next call, resumption restores it", func(t *testing.T) {
		if _, err := admin.SuspendAgency(testCtx(t), &ndxpv1.SuspendAgencyRequest{Code: code, Reason: "kiểm tra an toàn"}); err != nil {
			t.Fatalf("SuspendAgency: %v", err)
		}
		checkStatus(t, "LookupAgency while suspended", lookup(agency), codes.PermissionDenied, "suspended")
		if _, err := admin.ResumeAgency(testCtx(t), &ndxpv1.ResumeAgencyRequest{Code: code}); err != nil {
			t.Fatalf("ResumeAgency: %v", err)
		}
		if err := lookup(agency); err != nil {
			t.Errorf("LookupAgency after resume = %v, want success", err)
		}
	})

	t.Run("revocation refuses the next call, a new credential works", func(t *testing.T) {
		resp, err := admin.RevokeCredential(testCtx(t), &ndxpv1.RevokeCredentialRequest{Code: code})
		if err != nil {
			t.Fatalf("RevokeCredential: %v", err)
		}
		if resp.GetRevoked() != 1 {
			t.Errorf("revoked = %d, want 1", resp.GetRevoked())
		}
		checkStatus(t, "LookupAgency with a revoked credential", lookup(agency), codes.Unauthenticated, "revoked")
		fresh := h.Dial(h.IssueCreds(code))
		if err := lookup(fresh); err != nil {
			t.Errorf("LookupAgency with a fresh credential = %v, want success", err)
		}
		checkStatus(t, "LookupAgency with the revoked credential again", lookup(agency), codes.Unauthenticated)
	})

	t.Run("no client certificate", func(t *testing.T) {
		creds, err := pki.ReadCreds(h.AdminCreds())
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		for _, c := range creds.CACerts {
			pool.AddCert(c)
		}
		checkRefusedTLS(t, h, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13})
	})

	t.Run("client certificate from another CA", func(t *testing.T) {
		creds, err := pki.ReadCreds(h.AdminCreds())
		if err != nil {
			t.Fatal(err)
		}
		cert := hubtest.ForeignCert(t)
		pool := x509.NewCertPool()
		for _, c := range creds.CACerts {
			pool.AddCert(c)
		}
		checkRefusedTLS(t, h, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	})
}

// checkRefusedTLS dials with conf and checks that neither an admin call
// nor the health check (which needs no identity) gets through.
func checkRefusedTLS(t *testing.T, h *hubtest.Hub, conf *tls.Config) {
	t.Helper()
	conn, err := grpc.NewClient(h.Daemon.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = ndxpv1.NewRegistryServiceClient(conn).GetOverview(ctx, &ndxpv1.GetOverviewRequest{})
	if status.Code(err) == codes.OK {
		t.Errorf("GetOverview succeeded; want the connection refused")
	}
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) == codes.OK {
		t.Errorf("health Check succeeded; want the connection refused")
	}
	t.Logf("refused with: %v", err)
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	h1 := hubtest.StartDir(t, dir)
	reg := h1.Admin().Registry
	// One name in NFC, one in NFD (decomposed diacritics): the hub must keep
	// the bytes it was given, not normalize them.
	nfd := "UBND tỉnh Nghe\u0302\u0323 An"
	agencies := []*ndxpv1.Agency{
		{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Stage: production},
		{Code: "000.00.00.H41", Name: nfd, Stage: pilot},
		{Code: "000.00.00.H47", Name: "Ủy ban nhân dân tỉnh Quảng Nam", Stage: pilot, Contact: &ndxpv1.Contact{Person: "Lê Thị Hoà", Email: "hoa@quangnam.gov.vn"}},
		{Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên", Stage: pending},
	}
	for _, a := range agencies {
		if _, err := reg.CreateAgency(testCtx(t), &ndxpv1.CreateAgencyRequest{Agency: a}); err != nil {
			t.Fatalf("CreateAgency(%s): %v", a.GetCode(), err)
		}
	}
	if _, err := reg.SuspendAgency(testCtx(t), &ndxpv1.SuspendAgencyRequest{Code: "000.00.00.G22"}); err != nil {
		t.Fatalf("SuspendAgency: %v", err)
	}
	kept := h1.IssueCreds("000.00.00.H41")
	revoked := h1.IssueCreds("000.00.00.H47")
	if _, err := reg.RevokeCredential(testCtx(t), &ndxpv1.RevokeCredentialRequest{Code: "000.00.00.H47"}); err != nil {
		t.Fatalf("RevokeCredential: %v", err)
	}
	before, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
	adminBefore, err := pki.ReadCreds(h1.AdminCreds())
	if err != nil {
		t.Fatal(err)
	}
	h1.Stop()

	h2 := hubtest.StartDir(t, dir)
	reg = h2.Admin().Registry
	after, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
	// Presence is not stored: who was seen before the restart is not news after it.
	if diff := cmp.Diff(before, after, protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Agency{}, "presence")); diff != "" {
		t.Errorf("agencies after restart (-before +after):\n%s", diff)
	}
	// Names are stored in NFC, so a decomposed input comes back precomposed.
	nfc := "UBND tỉnh Nghệ An"
	for _, a := range after {
		if a.GetCode() == "000.00.00.H41" && !bytes.Equal([]byte(a.GetName()), []byte(nfc)) {
			t.Errorf("name of 000.00.00.H41 after restart = %+q, want the NFC bytes %+q of %+q", a.GetName(), nfc, nfd)
		}
	}
	ov, err := reg.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{})
	if err != nil {
		t.Fatalf("GetOverview: %v", err)
	}
	wantOv := &ndxpv1.Overview{Total: 4, Pending: 1, Pilot: 2, Production: 1, Suspended: 1}
	if diff := cmp.Diff(wantOv, ov.GetOverview(), protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.Overview{}, "time")); diff != "" {
		t.Errorf("overview after restart (-want +got):\n%s", diff)
	}

	lookup := func(c *client.Client) error {
		_, err := c.Directory.LookupAgency(testCtx(t), &ndxpv1.LookupAgencyRequest{Code: "000.00.00.H41"})
		return err
	}
	if err := lookup(h2.Dial(kept)); err != nil {
		t.Errorf("credential issued before the restart: LookupAgency = %v, want success", err)
	}
	checkStatus(t, "credential revoked before the restart", lookup(h2.Dial(revoked)), codes.Unauthenticated, "revoked")

	adminAfter, err := pki.ReadCreds(h2.AdminCreds())
	if err != nil {
		t.Fatal(err)
	}
	if h2.AdminCreds() != h1.AdminCreds() {
		t.Errorf("admin creds path changed from %s to %s", h1.AdminCreds(), h2.AdminCreds())
	}
	if !bytes.Equal(adminBefore.Leaf.Raw, adminAfter.Leaf.Raw) {
		t.Errorf("admin certificate was replaced on restart (serial %s -> %s), want it reused",
			pki.SerialString(adminBefore.Leaf), pki.SerialString(adminAfter.Leaf))
	}
	if adminAfter.Address != h2.Daemon.GRPCAddr() {
		t.Errorf("admin creds address = %s, want the new listen address %s", adminAfter.Address, h2.Daemon.GRPCAddr())
	}
}

func TestGRPCHealth(t *testing.T) {
	h := hubtest.Start(t)
	hc := healthpb.NewHealthClient(h.Admin().Conn())
	for _, svc := range []string{"", "ndxp.v1.RegistryService", "ndxp.v1.DirectoryService"} {
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Errorf("Check(%q) = %v", svc, err)
			continue
		}
		if got := resp.GetStatus(); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, want SERVING", svc, got)
		}
	}
	_, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: "ndxp.v1.NoSuchService"})
	checkStatus(t, "Check(unknown service)", err, codes.NotFound)
}

func TestHTTPProbes(t *testing.T) {
	h := hubtest.Start(t)
	// No keep-alive: an idle connection's goroutines would outlive the test.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get("http://" + h.Daemon.HTTPAddr() + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// TestRevokeAdminCredentialBySerial: a certificate is revoked by its
// serial whoever it names, here a second admin's, and stays revoked after
// a restart.
func TestRevokeAdminCredentialBySerial(t *testing.T) {
	dir := t.TempDir()
	h := hubtest.StartDir(t, dir)
	ca, err := pki.LoadCA(filepath.Join(dir, "pki", "ca.crt"), filepath.Join(dir, "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, serial, err := ca.IssueClient(pki.AdminIdentity("second"), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "second.creds")
	if err := pki.WriteCreds(path, h.Daemon.GRPCAddr(), ca.CertPEM(), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	second := h.Dial(path)
	ctx := context.Background()
	if _, err := second.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Fatalf("second admin before revocation: %v", err)
	}
	if _, err := h.Admin().Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{CredentialId: "not hex"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("revoke a malformed serial: %v, want InvalidArgument", err)
	}
	r, err := h.Admin().Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{CredentialId: strings.ToUpper(serial)})
	if err != nil || r.GetRevoked() != 1 {
		t.Fatalf("revoke by serial: %v, %v", r, err)
	}
	if _, err := second.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked admin: %v, want Unauthenticated", err)
	}
	if _, err := h.Admin().Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Errorf("the other admin after the revocation: %v", err)
	}
	h.Stop()
	h2 := hubtest.StartDir(t, dir)
	again := h2.Dial(path)
	if _, err := again.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked admin after a restart: %v, want Unauthenticated", err)
	}
}
