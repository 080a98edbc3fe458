package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestVxpSystem runs vxp system add, list, rotate and remove against a
// real hub, as text and as JSON: the secret is printed once, with the
// warning on stderr, is the one the hub checks requests with, and no list
// shows it; refusals are one-line reasons.
func TestVxpSystem(t *testing.T) {
	h := hubtest.Start(t)
	h.AddAgency("000.00.00.G22", "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PRODUCTION)
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", ndxpv1.Stage_STAGE_PILOT)
	ctl := func(args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr()}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	lookup := func(id string) string {
		t.Helper()
		_, key, ok := h.Daemon.Hub().LookupVxpSystem(id)
		if !ok {
			t.Fatalf("LookupVxpSystem(%s): not found", id)
		}
		return string(key)
	}

	out, stderr, err := ctl("vxp", "system", "add", "sys.a", "--agency", "000.00.00.G22")
	if err != nil {
		t.Fatalf("system add: %v", err)
	}
	m := regexp.MustCompile(`(?m)^Secret: +(\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("system add printed %q, want a Secret line", out)
	}
	if m[1] != lookup("sys.a") || len(m[1]) != 44 {
		t.Errorf("system add printed secret %q, want the hub's, 44 characters", m[1])
	}
	for _, w := range []string{"System:", "sys.a", "000.00.00.G22", "Registry: ", "no"} {
		if !strings.Contains(out, w) {
			t.Errorf("system add printed %q, want %q in it", out, w)
		}
	}
	if !strings.Contains(stderr, "will not be shown again") || strings.Contains(stderr, m[1]) {
		t.Errorf("system add's stderr = %q; want the warning, without the secret", stderr)
	}

	out, _, err = ctl("vxp", "system", "add", "vxp.saas.03", "--agency", "000.00.00.H41", "--agency", "000.00.00.H47,000.00.00.H41",
		"--allow-registry", "-o", "json")
	if err != nil {
		t.Fatalf("system add -o json: %v", err)
	}
	var added map[string]any
	if err := json.Unmarshal([]byte(out), &added); err != nil {
		t.Fatalf("system add -o json: %v\n%s", err, out)
	}
	secret, _ := added["secret"].(string)
	want := map[string]any{"systemid": "vxp.saas.03", "secret": lookup("vxp.saas.03"), "agencies": []any{"000.00.00.H41", "000.00.00.H47"}}
	if diff := cmp.Diff(want, added); diff != "" {
		t.Errorf("system add -o json (-want +got):\n%s", diff)
	}
	if raw, err := base64.StdEncoding.DecodeString(secret); err != nil || len(raw) != 32 {
		t.Errorf("secret %q: %d bytes, %v; want 32 in base64", secret, len(raw), err)
	}

	refusals := []struct {
		args  []string
		want  string // the whole one-line reason
		usage bool
	}{
		{[]string{"vxp", "system", "add", "sys.a", "--agency", "000.00.00.H41"},
			"system_id: VXP system sys.a exists already; rotate its secret or remove it first (AlreadyExists)", false},
		{[]string{"vxp", "system", "add", "sys.b", "--agency", "000.00.00.H77"}, "agencies[0]: agency 000.00.00.H77 is not registered (NotFound)", false},
		{[]string{"vxp", "system", "add", "sys b", "--agency", "000.00.00.H41"},
			`system_id: "sys b": character 4 is not an ASCII letter, digit, '.', '-' or '_' (InvalidArgument)`, false},
		{[]string{"vxp", "system", "add", "sys.b"}, "name the agencies sys.b serves with --agency CODE", true},
		{[]string{"vxp", "system", "rotate", "sys.none"}, "system_id: there is no VXP system sys.none (NotFound)", false},
		{[]string{"vxp", "system", "remove", "sys.none"}, "system_id: there is no VXP system sys.none (NotFound)", false},
	}
	for _, tt := range refusals {
		_, _, err := ctl(tt.args...)
		if err == nil {
			t.Errorf("%q succeeded, want %q", tt.args, tt.want)
			continue
		}
		if got := cli.ErrorLine(err); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.args, got, tt.want)
		}
		var usage *cli.UsageError
		if errors.As(err, &usage) != tt.usage {
			t.Errorf("%q: usage error %v, want %v", tt.args, !tt.usage, tt.usage)
		}
	}

	out, _, err = ctl("vxp", "system", "list")
	if err != nil {
		t.Fatalf("system list: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^SYSTEM +AGENCIES +REGISTRY +CREATED +ROTATED$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^sys\.a +000\.00\.00\.G22 +no +\S+ \S+ +-$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^vxp\.saas\.03 +000\.00\.00\.H41,000\.00\.00\.H47 +yes `).MatchString(lines[2]) || lines[3] != "2 systems" {
		t.Errorf("system list printed:\n%s\nwant a header, sys.a, vxp.saas.03 and a count", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("system list shows a secret")
	}

	out, stderr, err = ctl("vxp", "system", "rotate", "vxp.saas.03", "-o", "json")
	if err != nil {
		t.Fatalf("system rotate -o json: %v", err)
	}
	var rotated map[string]any
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatalf("system rotate -o json: %v\n%s", err, out)
	}
	want["secret"] = lookup("vxp.saas.03")
	if diff := cmp.Diff(want, rotated); diff != "" || rotated["secret"] == secret {
		t.Errorf("system rotate -o json (-want +got):\n%s\nwant a new secret", diff)
	}
	if !strings.Contains(stderr, "will not be shown again") {
		t.Errorf("system rotate's stderr = %q; want the warning", stderr)
	}

	out, _, err = ctl("vxp", "system", "remove", "sys.a")
	if err != nil || out != "VXP system sys.a removed\n" {
		t.Errorf("system remove = %q, %v", out, err)
	}
	if _, _, ok := h.Daemon.Hub().LookupVxpSystem("sys.a"); ok {
		t.Errorf("sys.a is still there after system remove")
	}
	out, _, err = ctl("vxp", "system", "list", "-o", "json")
	if err != nil {
		t.Fatalf("system list -o json: %v", err)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("system list -o json shows a secret:\n%s", out)
	}
	var got []vxpSystemView
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("system list -o json: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].SystemID != "vxp.saas.03" || !got[0].AllowRegistry || got[0].Rotated.IsZero() || got[0].Created.IsZero() ||
		!strings.HasPrefix(got[0].CreatedBy, "admin:") || !cmp.Equal(got[0].Agencies, []string{"000.00.00.H41", "000.00.00.H47"}) {
		t.Errorf("system list -o json = %+v; want vxp.saas.03 alone, rotated", got)
	}
}
