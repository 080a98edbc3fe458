package hub

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openStore opens a real bbolt file; it is closed when the test ends.
func openStore(t testing.TB, path string) *store.Bolt {
	t.Helper()
	st, err := store.OpenBolt(path, store.Options{})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newHub starts a hub on a fresh store with a CA that can sign.
func newHub(t *testing.T) (*Hub, *pki.CA) {
	t.Helper()
	ca, err := pki.NewCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return newHubOn(t, openStore(t, filepath.Join(t.TempDir(), "ndxp.db")), ca), ca
}

// newHubOn starts a hub on st, keeping attachment files beside it.
func newHubOn(t *testing.T, st *store.Bolt, ca *pki.CA) *Hub {
	t.Helper()
	files, err := store.OpenFiles(filepath.Join(filepath.Dir(st.Path()), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CA = ca
	cfg.HubAddress = "127.0.0.1:7443"
	h, err := New(t.Context(), st, files, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func mustCreate(t testing.TB, h *Hub, code, name string, stage Stage) Agency {
	t.Helper()
	a, err := h.CreateAgency(t.Context(), Agency{Code: code, Name: name, Stage: stage})
	if err != nil {
		t.Fatalf("CreateAgency(%s): %v", code, err)
	}
	return a
}

// fieldOf returns the field and kind of a hub error, or fails the test.
func fieldOf(t *testing.T, err error) (field string, kind error) {
	t.Helper()
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not a *hub.Error", err, err)
	}
	return he.Field, he.Kind
}

func TestNormalize(t *testing.T) {
	valid := func() Agency { return Agency{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An"} }
	with := func(f func(*Agency)) Agency { a := valid(); f(&a); return a }
	tests := []struct {
		name      string
		in        Agency
		want      Agency // when wantField is ""
		wantField string
	}{
		{"minimal gets stage pending", valid(), with(func(a *Agency) { a.Stage = StagePending }), ""},
		{"texts are trimmed",
			with(func(a *Agency) {
				a.Name = " \t UBND tỉnh Nghệ An\n"
				a.Contact = Contact{Person: " Hồ Văn Thư ", Email: " vanthu@nghean.gov.vn ", Phone: " 0238 ", Address: " Vinh "}
			}),
			with(func(a *Agency) {
				a.Stage = StagePending
				a.Contact = Contact{Person: "Hồ Văn Thư", Email: "vanthu@nghean.gov.vn", Phone: "0238", Address: "Vinh"}
			}), ""},
		{"stage kept", with(func(a *Agency) { a.Stage = StageProduction }), with(func(a *Agency) { a.Stage = StageProduction }), ""},
		{"name of 300 characters", with(func(a *Agency) { a.Name = strings.Repeat("ệ", 300) }), with(func(a *Agency) { a.Name = strings.Repeat("ệ", 300); a.Stage = StagePending }), ""},
		{"contact of 200 characters", with(func(a *Agency) { a.Contact.Address = strings.Repeat("Đ", 200) }), with(func(a *Agency) { a.Contact.Address = strings.Repeat("Đ", 200); a.Stage = StagePending }), ""},
		{"parent given", with(func(a *Agency) { a.Parent = "000.00.00.G22" }), with(func(a *Agency) { a.Parent = "000.00.00.G22"; a.Stage = StagePending }), ""},

		{"malformed code", with(func(a *Agency) { a.Code = "28.22.H17" }), Agency{}, "code"},
		{"empty code", with(func(a *Agency) { a.Code = "" }), Agency{}, "code"},
		{"empty name", with(func(a *Agency) { a.Name = "" }), Agency{}, "name"},
		{"blank name", with(func(a *Agency) { a.Name = " \u3000\t " }), Agency{}, "name"},
		{"name of 301 characters", with(func(a *Agency) { a.Name = strings.Repeat("ệ", 301) }), Agency{}, "name"},
		{"name with NUL", with(func(a *Agency) { a.Name = "UBND\x00" + " tỉnh" }), Agency{}, "name"},
		{"name with inner newline", with(func(a *Agency) { a.Name = "UBND\ntỉnh Nghệ An" }), Agency{}, "name"},
		{"name with DEL", with(func(a *Agency) { a.Name = "UBND\x7f" }), Agency{}, "name"},
		{"name with C1 control", with(func(a *Agency) { a.Name = "UBND\u0085tỉnh" }), Agency{}, "name"},
		{"name not UTF-8", with(func(a *Agency) { a.Name = "UBND t\xe1nh" }), Agency{}, "name"},
		{"malformed parent", with(func(a *Agency) { a.Parent = "000.00.00" }), Agency{}, "parent_code"},
		{"own parent", with(func(a *Agency) { a.Parent = a.Code }), Agency{}, "parent_code"},
		{"unknown stage", with(func(a *Agency) { a.Stage = Stage(4) }), Agency{}, "stage"},
		{"negative stage", with(func(a *Agency) { a.Stage = Stage(-1) }), Agency{}, "stage"},
		{"contact person of 201 characters", with(func(a *Agency) { a.Contact.Person = strings.Repeat("a", 201) }), Agency{}, "contact.person"},
		{"contact phone with tab", with(func(a *Agency) { a.Contact.Phone = "0238\t123" }), Agency{}, "contact.phone"},
		{"contact address not UTF-8", with(func(a *Agency) { a.Contact.Address = "\xff" }), Agency{}, "contact.address"},
		{"contact email without domain", with(func(a *Agency) { a.Contact.Email = "vanthu" }), Agency{}, "contact.email"},
		{"contact email with two addresses", with(func(a *Agency) { a.Contact.Email = "a@b.vn, c@d.vn" }), Agency{}, "contact.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			err := got.normalize()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("normalize = %v, want nil", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("normalized (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("normalize = %v, want ErrInvalid", err)
			}
			if field, _ := fieldOf(t, err); field != tt.wantField {
				t.Errorf("field = %q, want %q (error %v)", field, tt.wantField, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantField+": ") {
				t.Errorf("message %q does not start with the field %q", err.Error(), tt.wantField)
			}
		})
	}
}

func TestParseStage(t *testing.T) {
	tests := []struct {
		in      string
		want    Stage
		wantErr bool
	}{
		{"pending", StagePending, false},
		{"pilot", StagePilot, false},
		{"production", StageProduction, false},
		{"PILOT", StagePilot, false},
		{"Production", StageProduction, false},
		{"", StageUnspecified, true},
		{"prod", StageUnspecified, true},
		{" pilot", StageUnspecified, true},
		{"unspecified", StageUnspecified, true},
		{"stage(0)", StageUnspecified, true},
	}
	for _, tt := range tests {
		got, err := ParseStage(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseStage(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil {
			if field, kind := fieldOf(t, err); kind != ErrInvalid || field != "stage" {
				t.Errorf("ParseStage(%q) error kind %v field %q, want ErrInvalid on stage", tt.in, kind, field)
			}
		}
	}
	// Text round trip, as records are stored.
	for _, s := range []Stage{StagePending, StagePilot, StageProduction} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Stage
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, s)
		}
	}
	if got := Stage(9).String(); got != "stage(9)" {
		t.Errorf("Stage(9).String() = %q, want stage(9)", got)
	}
}

func TestListAgenciesFilters(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "001.00.00.H41", "Sở Nội vụ tỉnh Nghệ An", StagePending)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StagePilot)
	mustCreate(t, h, "000.00.00.H47", "UBND tỉnh Quảng Nam", StageProduction)
	mustCreate(t, h, "001.00.10.H47", "UBND huyện Duy Xuyên", StagePending)
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H14", true, "kiểm tra"); err != nil {
		t.Fatal(err)
	}
	// One agency holds a subscription stream open, so it is online.
	done := h.presence.connect("000.00.00.H47")
	defer done()

	yes, no := true, false
	tests := []struct {
		name string
		f    AgencyFilter
		want []string
	}{
		{"none", AgencyFilter{}, []string{"000.00.00.G22", "000.00.00.H14", "000.00.00.H41", "000.00.00.H47", "001.00.00.H41", "001.00.10.H47"}},
		{"stage", AgencyFilter{Stage: StagePilot}, []string{"000.00.00.H14", "000.00.00.H41"}},
		{"parent", AgencyFilter{Parent: "000.00.00.H47"}, []string{"001.00.10.H47"}},
		{"parent without children", AgencyFilter{Parent: "000.00.00.G22"}, nil},
		{"query name, other case", AgencyFilter{Query: "NGHỆ AN"}, []string{"000.00.00.H41", "001.00.00.H41"}},
		{"query code, lower case", AgencyFilter{Query: "h47"}, []string{"000.00.00.H47", "001.00.10.H47"}},
		{"suspended", AgencyFilter{Suspended: &yes}, []string{"000.00.00.H14"}},
		{"not suspended", AgencyFilter{Suspended: &no}, []string{"000.00.00.G22", "000.00.00.H41", "000.00.00.H47", "001.00.00.H41", "001.00.10.H47"}},
		{"online", AgencyFilter{OnlineOnly: true}, []string{"000.00.00.H47"}},
		{"stage and query", AgencyFilter{Stage: StagePending, Query: "nghệ"}, []string{"001.00.00.H41"}},
		{"stage and suspended", AgencyFilter{Stage: StagePilot, Suspended: &no}, []string{"000.00.00.H41"}},
		{"parent and stage", AgencyFilter{Parent: "000.00.00.H41", Stage: StagePending}, []string{"001.00.00.H41"}},
		{"parent and other stage", AgencyFilter{Parent: "000.00.00.H41", Stage: StagePilot}, nil},
		{"online and stage", AgencyFilter{OnlineOnly: true, Stage: StageProduction}, []string{"000.00.00.H47"}},
		{"online and other stage", AgencyFilter{OnlineOnly: true, Stage: StagePilot}, nil},
		{"query, stage, not suspended", AgencyFilter{Query: "ubnd", Stage: StagePilot, Suspended: &no}, []string{"000.00.00.H41"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every page size gives the same agencies over all pages.
			for _, size := range []int{0, 1, 2, 1000} {
				var got []string
				token := ""
				for pages := 0; ; pages++ {
					list, next, err := h.ListAgencies(t.Context(), tt.f, size, token)
					if err != nil {
						t.Fatalf("ListAgencies(size %d): %v", size, err)
					}
					if size > 0 && len(list) > size {
						t.Errorf("page of %d agencies, page size %d", len(list), size)
					}
					for _, a := range list {
						got = append(got, a.Code)
					}
					if next == "" {
						break
					}
					if pages > 20 {
						t.Fatal("paging never ends")
					}
					token = next
				}
				if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("page size %d (-want +got):\n%s", size, diff)
				}
			}
		})
	}

	bad := []struct {
		name      string
		f         AgencyFilter
		size      int
		token     string
		wantField string
	}{
		{"negative page size", AgencyFilter{}, -1, "", "page_size"},
		{"unknown stage", AgencyFilter{Stage: Stage(7)}, 0, "", "stage"},
		{"malformed parent", AgencyFilter{Parent: "H47"}, 0, "", "parent_code"},
		{"token not base64", AgencyFilter{}, 0, "***", "page_token"},
	}
	for _, tt := range bad {
		_, _, err := h.ListAgencies(t.Context(), tt.f, tt.size, tt.token)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: ListAgencies = %v, want ErrInvalid", tt.name, err)
			continue
		}
		if field, _ := fieldOf(t, err); field != tt.wantField {
			t.Errorf("%s: field %q, want %q", tt.name, field, tt.wantField)
		}
	}
}

func TestOverview(t *testing.T) {
	h, _ := newHub(t)
	if got := h.Overview(); got != (Overview{}) {
		t.Errorf("empty hub Overview = %+v, want zeros", got)
	}
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StageUnspecified) // defaults to pending
	if _, err := h.ImportAgencies(t.Context(), []Agency{
		{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam", Stage: StagePilot},
		{Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H41", true, ""); err != nil {
		t.Fatal(err)
	}
	done := h.presence.connect("000.00.00.G22")
	done2 := h.presence.connect("000.00.00.G22") // a second stream: still one agency online
	want := Overview{Total: 5, Pending: 2, Pilot: 2, Production: 1, Suspended: 1, Online: 1}
	if got := h.Overview(); got != want {
		t.Errorf("Overview = %+v, want %+v", got, want)
	}
	done()
	done2()
	if _, err := h.SetStage(t.Context(), "000.00.00.H14", StageProduction); err != nil {
		t.Fatal(err)
	}
	// Refused changes leave the counts alone.
	if _, err := h.SetStage(t.Context(), "000.00.00.H47", Stage(9)); err == nil {
		t.Error("SetStage(Stage(9)) succeeded")
	}
	if _, err := h.ImportAgencies(t.Context(), []Agency{{Code: "002.00.00.H47", Name: "ok"}, {Code: "000.00.00.G22", Name: "dup"}}); !errors.Is(err, ErrExists) {
		t.Errorf("ImportAgencies with a registered code = %v, want ErrExists", err)
	}
	want = Overview{Total: 5, Pending: 1, Pilot: 2, Production: 2, Suspended: 1}
	if got := h.Overview(); got != want {
		t.Errorf("Overview after changes = %+v, want %+v", got, want)
	}
}

// leaf parses the first certificate of a PEM block.
func leaf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientCert(t *testing.T, ca *pki.CA, id pki.Identity) *x509.Certificate {
	t.Helper()
	certPEM, _, _, err := ca.IssueClient(id, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return leaf(t, certPEM)
}

// issue has the hub sign a credential for code from a CSR, as ndxpctl does.
func issue(t *testing.T, h *Hub, code string) *x509.Certificate {
	t.Helper()
	csr, _, err := pki.NewCSR(pki.AgencyIdentity(code))
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.IssueCredential(t.Context(), code, csr, 0)
	if err != nil {
		t.Fatalf("IssueCredential(%s): %v", code, err)
	}
	return leaf(t, c.CertPEM)
}

func TestAuthenticate(t *testing.T) {
	h, ca := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StagePilot)
	mustCreate(t, h, "000.00.00.H47", "UBND tỉnh Quảng Nam", StagePilot)
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H14", true, "bảo trì"); err != nil {
		t.Fatal(err)
	}
	admin := clientCert(t, ca, pki.AdminIdentity("ops"))
	agency := clientCert(t, ca, pki.AgencyIdentity("000.00.00.H41"))
	unregistered := clientCert(t, ca, pki.AgencyIdentity("000.00.00.H01"))
	suspended := clientCert(t, ca, pki.AgencyIdentity("000.00.00.H14"))
	revoked := issue(t, h, "000.00.00.H47")
	kept := issue(t, h, "000.00.00.H47")
	if _, err := h.RevokeCredential(t.Context(), "000.00.00.H47", pki.SerialString(revoked)); err != nil {
		t.Fatalf("RevokeCredential: %v", err)
	}
	serverPEM, _, err := ca.IssueServer([]string{"localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	noIdentity := leaf(t, serverPEM)

	tests := []struct {
		name     string
		cert     *x509.Certificate
		want     Principal
		wantKind error
	}{
		{"admin", admin, Principal{Admin: true, Name: "ops", Serial: pki.SerialString(admin)}, nil},
		{"agency", agency, Principal{Name: "000.00.00.H41", Serial: pki.SerialString(agency)}, nil},
		{"agency credential issued by the hub", kept, Principal{Name: "000.00.00.H47", Serial: pki.SerialString(kept)}, nil},
		{"unregistered agency", unregistered, Principal{}, ErrUnauthenticated},
		{"suspended agency", suspended, Principal{}, ErrPermission},
		{"revoked credential", revoked, Principal{}, ErrUnauthenticated},
		{"no ndxp identity", noIdentity, Principal{}, ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Authenticate(pki.CredentialOf(tt.cert))
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("Authenticate = %v, want success", err)
				}
				h.Seen(got) // as the server does once the call is authorized
			} else if !errors.Is(err, tt.wantKind) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.wantKind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}

	// An authorized call is activity: the agency was seen, but it holds no stream.
	if p := h.Presence("000.00.00.H41"); p.Online || p.LastSeen.IsZero() {
		t.Errorf("presence after an authenticated call = %+v, want offline with last seen set", p)
	}
	if p := h.Presence("000.00.00.H14"); !p.LastSeen.IsZero() {
		t.Errorf("a refused suspended agency was marked seen: %+v", p)
	}

	// Resuming lets the suspended agency in on its next call.
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H14", false, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Authenticate(pki.CredentialOf(suspended)); err != nil {
		t.Errorf("Authenticate after resume = %v, want success", err)
	}
	// Revoking every credential of an agency refuses the one that was kept.
	if n, err := h.RevokeCredential(t.Context(), "000.00.00.H47", ""); err != nil || n != 1 {
		t.Errorf("RevokeCredential(all) = %d, %v; want 1 revoked", n, err)
	}
	if _, err := h.Authenticate(pki.CredentialOf(kept)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate after revoking all = %v, want ErrUnauthenticated", err)
	}
}

func TestNewRebuildsStateFromStore(t *testing.T) {
	ca, err := pki.NewCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ndxp.db")
	st := openStore(t, path)
	h := newHubOn(t, st, ca)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StagePending)
	if _, err := h.ImportAgencies(t.Context(), []Agency{{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam"}, {Code: "001.00.10.H47", Name: "UBND huyện Duy Xuyên", Stage: StagePilot}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H14", true, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetStage(t.Context(), "000.00.00.H47", StageProduction); err != nil {
		t.Fatal(err)
	}
	good := issue(t, h, "000.00.00.H41")
	bad := issue(t, h, "000.00.00.H41")
	if _, err := h.RevokeCredential(t.Context(), "000.00.00.H41", pki.SerialString(bad)); err != nil {
		t.Fatal(err)
	}
	suspended := clientCert(t, ca, pki.AgencyIdentity("000.00.00.H14"))
	wantOverview := h.Overview()
	wantList, _, err := h.ListAgencies(t.Context(), AgencyFilter{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	h2 := newHubOn(t, openStore(t, path), ca)
	if got := h2.Overview(); got != wantOverview {
		t.Errorf("Overview after reopen = %+v, want %+v", got, wantOverview)
	}
	gotList, _, err := h2.ListAgencies(t.Context(), AgencyFilter{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantList, gotList); diff != "" {
		t.Errorf("agencies after reopen (-before +after):\n%s", diff)
	}
	if _, err := h2.Authenticate(pki.CredentialOf(good)); err != nil {
		t.Errorf("Authenticate(kept credential) after reopen = %v, want success", err)
	}
	if _, err := h2.Authenticate(pki.CredentialOf(bad)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Authenticate(revoked credential) after reopen = %v, want ErrUnauthenticated", err)
	}
	if _, err := h2.Authenticate(pki.CredentialOf(suspended)); !errors.Is(err, ErrPermission) {
		t.Errorf("Authenticate(suspended agency) after reopen = %v, want ErrPermission", err)
	}
	if n, err := h2.ActiveCredentials(t.Context(), "000.00.00.H41"); err != nil || n != 1 {
		t.Errorf("ActiveCredentials after reopen = %d, %v; want 1", n, err)
	}
}

func TestImportAgenciesIsAtomic(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H47", "UBND tỉnh Quảng Nam", StagePilot)
	// The child comes first: its parent, later in the list, must count.
	list := []Agency{
		{Code: "001.00.10.H47", Name: "Phòng Nội vụ huyện Duy Xuyên"},
		{Code: "001.00.00.H47", Name: "Sở Nội vụ"},
		{Code: "002.00.00.H47", Name: "Sở Tài chính", Parent: "000.00.00.H99"},
	}
	_, err := h.ImportAgencies(t.Context(), list)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("ImportAgencies = %v, want ErrNotFound", err)
	}
	if field, _ := fieldOf(t, err); field != "agencies[2].parent_code" {
		t.Errorf("field = %q, want agencies[2].parent_code", field)
	}
	got, _, err := h.ListAgencies(t.Context(), AgencyFilter{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("after a refused import %d agencies are listed, want 1", len(got))
	}
	if o := h.Overview(); o.Total != 1 {
		t.Errorf("Overview after a refused import = %+v, want total 1", o)
	}

	list[2].Parent = ""
	if n, err := h.ImportAgencies(t.Context(), list); err != nil || n != 3 {
		t.Fatalf("ImportAgencies = %d, %v; want 3", n, err)
	}
	want := map[string]string{"000.00.00.H47": "", "001.00.00.H47": "000.00.00.H47", "001.00.10.H47": "001.00.00.H47", "002.00.00.H47": "000.00.00.H47"}
	got, _, err = h.ListAgencies(t.Context(), AgencyFilter{}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	parents := map[string]string{}
	for _, a := range got {
		parents[a.Code] = a.Parent
		if a.Stage != StagePending && a.Code != "000.00.00.H47" {
			t.Errorf("%s stage = %v, want pending", a.Code, a.Stage)
		}
		if a.Created.IsZero() || !a.Created.Equal(a.Updated) {
			t.Errorf("%s created %v updated %v, want both set and equal", a.Code, a.Created, a.Updated)
		}
	}
	if diff := cmp.Diff(want, parents); diff != "" {
		t.Errorf("parents (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr bool
	}{
		{"default", func(*Config) {}, false},
		{"no clock", func(c *Config) { c.Now = nil }, true},
		{"zero days", func(c *Config) { c.DefaultCredentialDays = 0 }, true},
		{"too many days", func(c *Config) { c.DefaultCredentialDays = MaxCredentialDays + 1 }, true},
		{"max days", func(c *Config) { c.DefaultCredentialDays = MaxCredentialDays }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.change(&c)
		if err := c.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "ndxp.db"))
	files, err := store.OpenFiles(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), st, files, Config{}); err == nil {
		t.Error("New with a zero Config succeeded, want the Validate error")
	}
}

func TestParentCyclesRefused(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	for _, a := range []Agency{{Code: "000.00.00.H47", Name: "UBND tỉnh Quảng Nam"}, {Code: "001.00.00.H47", Name: "Sở"}} {
		if _, err := h.CreateAgency(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	p := "001.00.00.H47"
	if _, err := h.UpdateAgency(ctx, "000.00.00.H47", AgencyUpdate{Parent: &p}); !errors.Is(err, ErrInvalid) {
		t.Errorf("update making a loop: %v, want ErrInvalid", err)
	}
	_, err := h.ImportAgencies(ctx, []Agency{
		{Code: "000.00.00.H01", Name: "A", Parent: "000.00.00.H02"},
		{Code: "000.00.00.H02", Name: "B", Parent: "000.00.00.H01"},
	})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("import with a loop: %v, want ErrInvalid", err)
	}
	empty := ""
	a, err := h.UpdateAgency(ctx, "001.00.00.H47", AgencyUpdate{Parent: &empty})
	if err != nil || a.Parent != "" {
		t.Errorf("clearing the parent: parent %q, err %v; want it empty", a.Parent, err)
	}
	if _, err := h.CreateAgency(ctx, Agency{Code: "000.00.00.H14", Name: "X", Contact: Contact{Email: "Văn thư <vt@chinhphu.vn>"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("e-mail with a display name: %v, want ErrInvalid", err)
	}
}
