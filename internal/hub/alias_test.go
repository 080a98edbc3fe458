package hub

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ndxp/ndxp/internal/store"
)

// anAgency is an agency's principal; admin (retention_test.go) an admin's.
var anAgency = Principal{Name: "000.00.00.G22", Serial: "02"}

func TestAliasRules(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if _, err := h.AddAlias(t.Context(), admin, "vxp.saas.03", "000.00.00.G22"); err != nil {
		t.Fatalf("AddAlias: %v", err)
	}
	tests := []struct {
		name        string
		p           Principal
		alias, code string
		wantKind    error // nil: added
		wantField   string
		wantInMsg   string
	}{
		{name: "ok", p: admin, alias: "28.22.H17", code: "000.00.00.H41"},
		{name: "ok, standard form", p: admin, alias: "000.00.00.H99", code: "000.00.00.H41"},
		{name: "ok, 64 characters", p: admin, alias: strings.Repeat("đ", 64), code: "000.00.00.H41"},
		{name: "duplicate", p: admin, alias: "vxp.saas.03", code: "000.00.00.H41",
			wantKind: ErrExists, wantField: "alias", wantInMsg: "already an alias of 000.00.00.G22"},
		{name: "a registered code", p: admin, alias: "000.00.00.H41", code: "000.00.00.G22",
			wantKind: ErrExists, wantField: "alias", wantInMsg: "registered agency code"},
		{name: "unknown target", p: admin, alias: "001.00.20.TT2", code: "000.00.00.H77",
			wantKind: ErrNotFound, wantField: "code", wantInMsg: "000.00.00.H77 is not registered"},
		{name: "an alias as target", p: admin, alias: "001.00.20.TT2", code: "000.00.00.H99",
			wantKind: ErrNotFound, wantField: "code", wantInMsg: "itself an alias (of 000.00.00.H41)"},
		{name: "malformed target", p: admin, alias: "001.00.20.TT2", code: "vxp.saas.03",
			wantKind: ErrInvalid, wantField: "code"},
		{name: "empty", p: admin, alias: "", code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias"},
		{name: "a space", p: admin, alias: "28.22 H17", code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias", wantInMsg: "space"},
		{name: "a no-break space", p: admin, alias: "28.22\u00a0H17", code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias", wantInMsg: "space"},
		{name: "a tab", p: admin, alias: "28.22\tH17", code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias"},
		{name: "a bidi control", p: admin, alias: "28.22\u202eH17", code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias"},
		{name: "too long", p: admin, alias: strings.Repeat("a", 65), code: "000.00.00.G22", wantKind: ErrInvalid, wantField: "alias", wantInMsg: "limit is 64"},
		{name: "an agency", p: anAgency, alias: "001.00.20.TT2", code: "000.00.00.G22", wantKind: ErrPermission, wantInMsg: "admin"},
		{name: "anonymous", p: Principal{}, alias: "001.00.20.TT2", code: "000.00.00.G22", wantKind: ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.AddAlias(t.Context(), tt.p, tt.alias, tt.code)
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("AddAlias(%q, %q): %v", tt.alias, tt.code, err)
				}
				if got.Alias != tt.alias || got.Code != tt.code || got.CreatedBy != "admin:ops" || got.Created.IsZero() || got.AgencyName == "" {
					t.Errorf("AddAlias = %+v", got)
				}
				return
			}
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("AddAlias(%q, %q) = %v, want %v", tt.alias, tt.code, err, tt.wantKind)
			}
			if field, _ := fieldOf(t, err); field != tt.wantField {
				t.Errorf("field %q, want %q", field, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantInMsg)
			}
		})
	}

	if err := h.RemoveAlias(t.Context(), admin, "no.such.alias"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveAlias(unknown) = %v, want NotFound", err)
	}
	if err := h.RemoveAlias(t.Context(), anAgency, "vxp.saas.03"); !errors.Is(err, ErrPermission) {
		t.Errorf("RemoveAlias as an agency = %v, want PermissionDenied", err)
	}
	if _, err := h.ListAliases(t.Context(), anAgency); !errors.Is(err, ErrPermission) {
		t.Errorf("ListAliases as an agency = %v, want PermissionDenied", err)
	}
}

func TestResolveCode(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	for alias, code := range map[string]string{"28.22.H17": "000.00.00.H41", "vxp.saas.03": "000.00.00.G22"} {
		if _, err := h.AddAlias(t.Context(), admin, alias, code); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		element, code string
		want          string
		wantErr       string // the whole message
	}{
		{element: "From/OrganId", code: "000.00.00.G22", want: "000.00.00.G22"},
		{element: "To/OrganId", code: "28.22.H17", want: "000.00.00.H41"},
		{element: "To/OrganId", code: "vxp.saas.03", want: "000.00.00.G22"},
		{element: "To/OrganId", code: "001.00.20.TT2", wantErr: `To/OrganId "001.00.20.TT2" is not a registered agency or alias`},
		{element: "From/OrganId", code: "null", wantErr: `From/OrganId "null" is not a registered agency or alias`},
		{element: "From/OrganId", code: "", wantErr: `From/OrganId "" is not a registered agency or alias`},
		{element: "To/OrganId", code: "28.22.h17", wantErr: `To/OrganId "28.22.h17" is not a registered agency or alias`},
		{element: "To/OrganId", code: "000.00.00.H99", wantErr: `To/OrganId "000.00.00.H99" is not a registered agency or alias`},
	}
	for _, tt := range tests {
		got, err := h.ResolveCode(t.Context(), tt.element, tt.code)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrInvalid) {
				t.Errorf("ResolveCode(%q, %q) = %q, %v; want InvalidArgument %q", tt.element, tt.code, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveCode(%q, %q) = %q, %v; want %q", tt.element, tt.code, got, err, tt.want)
		}
	}

	if err := h.RemoveAlias(t.Context(), admin, "28.22.H17"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ResolveCode(t.Context(), "To/OrganId", "28.22.H17"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ResolveCode of a removed alias = %v, want InvalidArgument", err)
	}
}

// TestAliasesPersistAndBlockCodes checks that aliases survive a restart,
// are listed in order with their agency's current name, keep agencies
// from being registered (one by one or imported) under them, and leave
// the store check clean.
func TestAliasesPersistAndBlockCodes(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "ndxp.db"))
	h := newHubOn(t, st, nil)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	for _, a := range [][2]string{{"vxp.saas.03", "000.00.00.G22"}, {"000.00.00.H98", "000.00.00.H41"}, {"28.22.H17", "000.00.00.H41"}} {
		if _, err := h.AddAlias(t.Context(), admin, a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	newName := "UBND tỉnh Nghệ An (mới)"
	if _, err := h.UpdateAgency(t.Context(), "000.00.00.H41", AgencyUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, filepath.Join(dir, "ndxp.db"))
	h = newHubOn(t, st, nil)

	if got, err := h.ResolveCode(t.Context(), "To/OrganId", "vxp.saas.03"); err != nil || got != "000.00.00.G22" {
		t.Errorf("after a restart ResolveCode(vxp.saas.03) = %q, %v", got, err)
	}
	list, err := h.ListAliases(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	want := []Alias{
		{Alias: "000.00.00.H98", Code: "000.00.00.H41", AgencyName: newName, CreatedBy: "admin:ops"},
		{Alias: "28.22.H17", Code: "000.00.00.H41", AgencyName: newName, CreatedBy: "admin:ops"},
		{Alias: "vxp.saas.03", Code: "000.00.00.G22", AgencyName: "Văn phòng Chính phủ", CreatedBy: "admin:ops"},
	}
	if diff := cmp.Diff(want, list, cmpopts.IgnoreFields(Alias{}, "Created")); diff != "" {
		t.Errorf("ListAliases (-want +got):\n%s", diff)
	}

	_, err = h.CreateAgency(t.Context(), Agency{Code: "000.00.00.H98", Name: "UBND tỉnh Cũ"})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "000.00.00.H98 is an alias of agency 000.00.00.H41") {
		t.Errorf("CreateAgency under an alias = %v, want AlreadyExists naming the alias", err)
	}
	_, err = h.ImportAgencies(t.Context(), []Agency{{Code: "000.00.00.H52", Name: "UBND tỉnh Mới"}, {Code: "000.00.00.H98", Name: "UBND tỉnh Cũ"}})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "agencies[1].code") {
		t.Errorf("ImportAgencies with an alias = %v, want AlreadyExists at agencies[1]", err)
	}

	rep, err := h.Check(t.Context())
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("Check = %v, %v; want no problem", rep.Problems, err)
	}

	// A record no hub call can make: the check names it.
	err = st.Update(t.Context(), func(tx store.Tx) error {
		return putRecord(tx, store.BucketAliases, []byte("dangling"), Alias{Alias: "dangling", Code: "000.00.00.H77"})
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = h.Check(t.Context())
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], `alias "dangling": stands for 000.00.00.H77`) {
		t.Errorf("Check = %q, %v; want the dangling alias named", rep.Problems, err)
	}
}

func TestEmptyAliasListIsNotNil(t *testing.T) {
	h, _ := newHub(t)
	list, err := h.ListAliases(t.Context(), admin)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListAliases = %#v, %v; want an empty list", list, err)
	}
}
