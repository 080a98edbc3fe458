package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestAgencyAlias runs agency alias add, list and remove against a real
// hub, as a table and as JSON, and checks the refusals' one-line reasons.
func TestAgencyAlias(t *testing.T) {
	h := hubtest.Start(t)
	h.AddAgency("000.00.00.G22", "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PRODUCTION)
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	ctl := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr()}, args...), &stdout, &stderr)
		return stdout.String(), err
	}

	out, err := ctl("agency", "alias", "add", "28.22.H17", "000.00.00.H41")
	if err != nil {
		t.Fatalf("alias add: %v", err)
	}
	for _, w := range []string{"Alias:", "28.22.H17", "000.00.00.H41", "UBND tỉnh Nghệ An"} {
		if !strings.Contains(out, w) {
			t.Errorf("alias add printed %q, want %q in it", out, w)
		}
	}
	if _, err := ctl("agency", "alias", "add", "vxp.saas.03", "000.00.00.G22", "-o", "json"); err != nil {
		t.Fatalf("alias add -o json: %v", err)
	}

	refusals := []struct {
		args []string
		want string // the whole one-line reason
	}{
		{[]string{"agency", "alias", "add", "28.22.H17", "000.00.00.G22"}, "alias: 28.22.H17 is already an alias of 000.00.00.H41 (AlreadyExists)"},
		{[]string{"agency", "alias", "add", "000.00.00.H41", "000.00.00.G22"},
			"alias: 000.00.00.H41 is a registered agency code; an alias must be a code the registry does not hold (AlreadyExists)"},
		{[]string{"agency", "alias", "add", "001.00.20.TT2", "000.00.00.H77"}, "code: agency 000.00.00.H77 is not registered (NotFound)"},
		{[]string{"agency", "alias", "remove", "001.00.20.TT2"}, "alias: 001.00.20.TT2 is not an alias (NotFound)"},
	}
	for _, tt := range refusals {
		_, err := ctl(tt.args...)
		if err == nil {
			t.Errorf("%q succeeded, want %q", tt.args, tt.want)
			continue
		}
		if got := cli.ErrorLine(err); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.args, got, tt.want)
		}
	}

	out, err = ctl("agency", "alias", "list")
	if err != nil {
		t.Fatalf("alias list: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ALIAS") || !strings.HasPrefix(lines[1], "28.22.H17") ||
		!strings.HasPrefix(lines[2], "vxp.saas.03") || lines[3] != "2 aliases" {
		t.Errorf("alias list printed:\n%s\nwant a header, 28.22.H17, vxp.saas.03 and a count", out)
	}

	out, err = ctl("agency", "alias", "remove", "28.22.H17")
	if err != nil || out != "alias 28.22.H17 removed\n" {
		t.Errorf("alias remove = %q, %v", out, err)
	}
	out, err = ctl("agency", "alias", "list", "-o", "json")
	if err != nil {
		t.Fatalf("alias list -o json: %v", err)
	}
	var got []aliasView
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("alias list -o json: %v\n%s", err, out)
	}
	want := []aliasView{{Alias: "vxp.saas.03", Code: "000.00.00.G22", AgencyName: "Văn phòng Chính phủ"}}
	if len(got) == 1 && !got[0].Created.IsZero() {
		want[0].Created = got[0].Created
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alias list -o json (-want +got):\n%s", diff)
	}
}
