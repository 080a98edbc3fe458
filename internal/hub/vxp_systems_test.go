package hub

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ndxp/ndxp/internal/store"
)

// checkSecret fails the test unless s is a secret as the hub makes them:
// 32 bytes, base64 (standard, padded), 44 characters.
func checkSecret(t *testing.T, s string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 || len(s) != 44 {
		t.Errorf("secret %q: %d bytes, %v; want 32 bytes in 44 characters of base64", s, len(raw), err)
	}
}

func TestVxpSystemRules(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if _, err := h.AddAlias(t.Context(), admin, "28.22.H17", "000.00.00.H41"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.AddVxpSystem(t.Context(), admin, "vxp.saas.03", []string{"000.00.00.G22"}, false); err != nil {
		t.Fatalf("AddVxpSystem: %v", err)
	}
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("000.00.%02d.H%02d", i/100, i%100)
	}
	tests := []struct {
		name          string
		p             Principal
		id            string
		agencies      []string
		allowRegistry bool
		wantAgencies  []string // when added; nil: agencies
		wantKind      error    // nil: added
		wantField     string
		wantInMsg     string
	}{
		{name: "ok", p: admin, id: "sys.a", agencies: []string{"000.00.00.H41"}},
		{name: "ok, several, registry", p: admin, id: "vxp.saas-04_b", agencies: []string{"000.00.00.H41", "000.00.00.G22"}, allowRegistry: true},
		{name: "ok, duplicates dropped", p: admin, id: "sys.dup", agencies: []string{"000.00.00.H41", "000.00.00.G22", "000.00.00.H41"},
			wantAgencies: []string{"000.00.00.H41", "000.00.00.G22"}},
		{name: "ok, 64 characters", p: admin, id: strings.Repeat("a", 64), agencies: []string{"000.00.00.G22"}},
		{name: "duplicate", p: admin, id: "vxp.saas.03", agencies: []string{"000.00.00.H41"},
			wantKind: ErrExists, wantField: "system_id", wantInMsg: "vxp.saas.03 exists already"},
		{name: "empty id", p: admin, id: "", agencies: []string{"000.00.00.G22"}, wantKind: ErrInvalid, wantField: "system_id"},
		{name: "too long", p: admin, id: strings.Repeat("a", 65), agencies: []string{"000.00.00.G22"},
			wantKind: ErrInvalid, wantField: "system_id", wantInMsg: "limit is 64"},
		{name: "a space", p: admin, id: "sys a", agencies: []string{"000.00.00.G22"}, wantKind: ErrInvalid, wantField: "system_id", wantInMsg: "character 4"},
		{name: "a slash", p: admin, id: "sys/a", agencies: []string{"000.00.00.G22"}, wantKind: ErrInvalid, wantField: "system_id"},
		{name: "not ASCII", p: admin, id: "hệ.thống", agencies: []string{"000.00.00.G22"}, wantKind: ErrInvalid, wantField: "system_id"},
		{name: "a newline", p: admin, id: "sys.a\nx", agencies: []string{"000.00.00.G22"}, wantKind: ErrInvalid, wantField: "system_id"},
		{name: "no agency", p: admin, id: "sys.b", wantKind: ErrInvalid, wantField: "agencies", wantInMsg: "at least one"},
		{name: "unknown agency", p: admin, id: "sys.b", agencies: []string{"000.00.00.G22", "000.00.00.H77"},
			wantKind: ErrNotFound, wantField: "agencies[1]", wantInMsg: "000.00.00.H77 is not registered"},
		{name: "an alias", p: admin, id: "sys.b", agencies: []string{"28.22.H17"},
			wantKind: ErrNotFound, wantField: "agencies[0]", wantInMsg: "alias (of 000.00.00.H41)"},
		{name: "blank agency", p: admin, id: "sys.b", agencies: []string{" "}, wantKind: ErrInvalid, wantField: "agencies[0]"},
		{name: "too many agencies", p: admin, id: "sys.b", agencies: tooMany, wantKind: ErrInvalid, wantField: "agencies", wantInMsg: "limit is 1000"},
		{name: "an agency", p: anAgency, id: "sys.b", agencies: []string{"000.00.00.G22"}, wantKind: ErrPermission, wantInMsg: "admin"},
		{name: "anonymous", p: Principal{}, id: "sys.b", agencies: []string{"000.00.00.G22"}, wantKind: ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, secret, err := h.AddVxpSystem(t.Context(), tt.p, tt.id, tt.agencies, tt.allowRegistry)
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("AddVxpSystem(%q, %q): %v", tt.id, tt.agencies, err)
				}
				wantAgencies := tt.wantAgencies
				if wantAgencies == nil {
					wantAgencies = tt.agencies
				}
				want := VxpSystem{ID: tt.id, Agencies: wantAgencies, AllowRegistry: tt.allowRegistry, CreatedBy: "admin:ops"}
				if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(VxpSystem{}, "Created")); diff != "" || got.Created.IsZero() {
					t.Errorf("AddVxpSystem (-want +got):\n%s (created %v)", diff, got.Created)
				}
				checkSecret(t, secret)
				sys, key, ok := h.LookupVxpSystem(tt.id)
				if !ok || string(key) != secret || !cmp.Equal(sys, got) {
					t.Errorf("LookupVxpSystem = %+v, %q, %v; want %+v and the secret", sys, key, ok, got)
				}
				return
			}
			if err == nil {
				t.Fatalf("AddVxpSystem(%q, %d agencies) added it, want %v", tt.id, len(tt.agencies), tt.wantKind)
			}
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("AddVxpSystem(%q, %d agencies) = %v, want %v", tt.id, len(tt.agencies), err, tt.wantKind)
			}
			if field, _ := fieldOf(t, err); field != tt.wantField {
				t.Errorf("field %q, want %q", field, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantInMsg)
			}
			if secret != "" {
				t.Errorf("a refused add returned a secret")
			}
		})
	}

	if err := h.RemoveVxpSystem(t.Context(), admin, "no.such.system"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveVxpSystem(unknown) = %v, want NotFound", err)
	}
	if _, _, err := h.RotateVxpSecret(t.Context(), admin, "no.such.system"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateVxpSecret(unknown) = %v, want NotFound", err)
	}
	if err := h.RemoveVxpSystem(t.Context(), anAgency, "vxp.saas.03"); !errors.Is(err, ErrPermission) {
		t.Errorf("RemoveVxpSystem as an agency = %v, want PermissionDenied", err)
	}
	if _, _, err := h.RotateVxpSecret(t.Context(), anAgency, "vxp.saas.03"); !errors.Is(err, ErrPermission) {
		t.Errorf("RotateVxpSecret as an agency = %v, want PermissionDenied", err)
	}
	if _, err := h.ListVxpSystems(t.Context(), anAgency); !errors.Is(err, ErrPermission) {
		t.Errorf("ListVxpSystems as an agency = %v, want PermissionDenied", err)
	}
	if _, _, ok := h.LookupVxpSystem("sys.b"); ok {
		t.Errorf("LookupVxpSystem found a system every add of which was refused")
	}
}

// TestVxpSecretRotateAndRemove checks that a rotation and a removal take
// effect in LookupVxpSystem as soon as the call returns, and that what
// LookupVxpSystem returns is the caller's own.
func TestVxpSecretRotateAndRemove(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	added, first, err := h.AddVxpSystem(t.Context(), admin, "sys.a", []string{"000.00.00.G22"}, false)
	if err != nil {
		t.Fatal(err)
	}
	sys, key, _ := h.LookupVxpSystem("sys.a")
	key[0] ^= 1
	sys.Agencies[0] = "changed"
	if sys, key, _ := h.LookupVxpSystem("sys.a"); string(key) != first || sys.Agencies[0] != "000.00.00.G22" {
		t.Errorf("a caller's change to what LookupVxpSystem returned reached the hub: %q, %q", sys.Agencies, key)
	}

	rotated, second, err := h.RotateVxpSecret(t.Context(), admin, "sys.a")
	if err != nil {
		t.Fatalf("RotateVxpSecret: %v", err)
	}
	checkSecret(t, second)
	if second == first {
		t.Errorf("RotateVxpSecret returned the old secret")
	}
	if rotated.Rotated.IsZero() || !rotated.Created.Equal(added.Created) || rotated.CreatedBy != "admin:ops" {
		t.Errorf("RotateVxpSecret = %+v; want rotated set, created kept", rotated)
	}
	if _, key, ok := h.LookupVxpSystem("sys.a"); !ok || string(key) != second {
		t.Errorf("LookupVxpSystem after the rotation = %q, %v; want the new secret", key, ok)
	}

	if err := h.RemoveVxpSystem(t.Context(), admin, "sys.a"); err != nil {
		t.Fatalf("RemoveVxpSystem: %v", err)
	}
	if sys, key, ok := h.LookupVxpSystem("sys.a"); ok || key != nil || sys.ID != "" {
		t.Errorf("LookupVxpSystem after the removal = %+v, %q, %v; want nothing", sys, key, ok)
	}
	if err := h.RemoveVxpSystem(t.Context(), admin, "sys.a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveVxpSystem twice = %v, want NotFound", err)
	}
	list, err := h.ListVxpSystems(t.Context(), admin)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListVxpSystems = %#v, %v; want an empty list", list, err)
	}
}

// TestVxpSystemsPersist checks that systems and their current secrets
// survive a restart, are listed in id order, and leave the store check
// clean; and that the check names a system serving an unregistered agency.
func TestVxpSystemsPersist(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, filepath.Join(dir, "ndxp.db"))
	h := newHubOn(t, st, nil)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	secrets := map[string]string{}
	for _, s := range []struct {
		id       string
		agencies []string
		registry bool
	}{{"vxp.saas.03", []string{"000.00.00.H41", "000.00.00.G22"}, true}, {"sys.a", []string{"000.00.00.G22"}, false}} {
		_, secret, err := h.AddVxpSystem(t.Context(), admin, s.id, s.agencies, s.registry)
		if err != nil {
			t.Fatal(err)
		}
		secrets[s.id] = secret
	}
	_, rotated, err := h.RotateVxpSecret(t.Context(), admin, "sys.a")
	if err != nil {
		t.Fatal(err)
	}
	secrets["sys.a"] = rotated
	st.Close()
	st = openStore(t, filepath.Join(dir, "ndxp.db"))
	h = newHubOn(t, st, nil)

	for id, secret := range secrets {
		if _, key, ok := h.LookupVxpSystem(id); !ok || string(key) != secret {
			t.Errorf("after a restart LookupVxpSystem(%s) = %q, %v; want its current secret", id, key, ok)
		}
	}
	list, err := h.ListVxpSystems(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	want := []VxpSystem{
		{ID: "sys.a", Agencies: []string{"000.00.00.G22"}, CreatedBy: "admin:ops"},
		{ID: "vxp.saas.03", Agencies: []string{"000.00.00.H41", "000.00.00.G22"}, AllowRegistry: true, CreatedBy: "admin:ops"},
	}
	if diff := cmp.Diff(want, list, cmpopts.IgnoreFields(VxpSystem{}, "Created", "Rotated")); diff != "" {
		t.Errorf("ListVxpSystems (-want +got):\n%s", diff)
	}
	if list[0].Rotated.IsZero() || !list[1].Rotated.IsZero() {
		t.Errorf("rotated = %v, %v; want sys.a's set, vxp.saas.03's zero", list[0].Rotated, list[1].Rotated)
	}

	rep, err := h.Check(t.Context())
	if err != nil || len(rep.Problems) != 0 {
		t.Errorf("Check = %v, %v; want no problem", rep.Problems, err)
	}

	// A record no hub call can make: the check names it, not its secret.
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
	err = st.Update(t.Context(), func(tx store.Tx) error {
		return putRecord(tx, store.BucketVxpSystems, []byte("dangling"), vxpRecord{ID: "dangling", Agencies: []string{"000.00.00.H77"}, Secret: secret})
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = h.Check(t.Context())
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], `vxp system "dangling": serves 000.00.00.H77, which is not a registered agency`) {
		t.Errorf("Check = %q, %v; want the dangling agency named", rep.Problems, err)
	}
	err = st.Update(t.Context(), func(tx store.Tx) error {
		return tx.Put(store.BucketVxpSystems, []byte("garbled"), []byte(`{"id":"garbled","secret":"`+secret+`",`))
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = h.Check(t.Context())
	if err != nil || len(rep.Problems) != 2 || strings.Contains(strings.Join(rep.Problems, "\n"), secret) {
		t.Errorf("Check = %q, %v; want two problems, neither quoting the secret", rep.Problems, err)
	}
}

// syncBuffer is a log destination for a hub's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestVxpSecretNeverLogged runs every system call, the start that loads
// the systems and the store check, at debug level, and checks that the
// log records each change with its admin and never holds a secret.
func TestVxpSecretNeverLogged(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	start := func() (*Hub, *store.Bolt) {
		st := openStore(t, filepath.Join(dir, "ndxp.db"))
		files, err := store.OpenFiles(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h, err := New(t.Context(), st, files, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Drain)
		return h, st
	}
	h, st := start()
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	var secrets []string
	_, s, err := h.AddVxpSystem(t.Context(), admin, "sys.a", []string{"000.00.00.G22"}, true)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, s)
	_, s, err = h.RotateVxpSecret(t.Context(), admin, "sys.a")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, s)
	_, s, err = h.AddVxpSystem(t.Context(), admin, "sys.b", []string{"000.00.00.G22"}, false)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, s)
	if _, _, err := h.AddVxpSystem(t.Context(), admin, "sys.b", []string{"000.00.00.G22"}, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second add = %v, want AlreadyExists", err)
	}
	if _, err := h.ListVxpSystems(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := h.RemoveVxpSystem(t.Context(), admin, "sys.a"); err != nil {
		t.Fatal(err)
	}
	h.Drain()
	st.Close()
	start()

	out := logs.String()
	for _, w := range []string{
		`msg="vxp system added" system=sys.a agencies=[000.00.00.G22] allow_registry=true admin=admin:ops`,
		`msg="vxp system rotated" system=sys.a`,
		`msg="vxp system removed" system=sys.a`,
		`vxp_systems=1`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("the log does not hold %q:\n%s", w, out)
		}
	}
	for _, s := range secrets {
		// The base64 text, and its first bytes in case a log encodes it.
		raw, _ := base64.StdEncoding.DecodeString(s)
		for _, bad := range []string{s, s[:16], fmt.Sprintf("%x", raw[:8]), fmt.Sprint(raw[:8])} {
			if strings.Contains(out, bad) {
				t.Errorf("the log holds a secret (%q):\n%s", bad, out)
			}
		}
	}
}

// TestVxpLookupDuringRotation runs lookups while secrets rotate (under
// -race): each lookup sees one whole secret, never a torn one.
func TestVxpLookupDuringRotation(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
	_, first, err := h.AddVxpSystem(t.Context(), admin, "sys.a", []string{"000.00.00.G22"}, false)
	if err != nil {
		t.Fatal(err)
	}
	issued := map[string]bool{first: true}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); wg.Wait() }()
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				sys, key, ok := h.LookupVxpSystem("sys.a")
				if !ok || sys.ID != "sys.a" || len(key) != 44 {
					t.Errorf("LookupVxpSystem = %+v, %d bytes, %v", sys, len(key), ok)
					return
				}
			}
		})
	}
	for range 20 {
		_, s, err := h.RotateVxpSecret(t.Context(), admin, "sys.a")
		if err != nil {
			t.Fatal(err)
		}
		if issued[s] {
			t.Errorf("a rotation gave a secret already issued")
		}
		issued[s] = true
	}
}
