package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadAgencyCSV(t *testing.T) {
	none := &ndxpv1.Contact{}
	tests := []struct {
		name      string
		in        string
		want      []*ndxpv1.Agency
		wantLines []int
		wantErr   []string // substrings of the error, when it must fail
	}{
		{
			name:      "minimal",
			in:        "code,name\n000.00.00.G22,Văn phòng Chính phủ\n",
			want:      []*ndxpv1.Agency{{Code: "000.00.00.G22", Name: "Văn phòng Chính phủ", Contact: none}},
			wantLines: []int{2},
		},
		{
			name:      "byte order mark",
			in:        "\ufeffcode,name,stage\n000.00.00.H41,UBND tỉnh Nghệ An,pilot\n",
			want:      []*ndxpv1.Agency{{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", Stage: ndxpv1.Stage_STAGE_PILOT, Contact: none}},
			wantLines: []int{2},
		},
		{
			name: "blank lines are skipped but counted",
			in:   "code,name\n\n000.00.00.H41,UBND tỉnh Nghệ An\n   \n\n000.00.00.H14,UBND tỉnh Cao Bằng\n\n",
			want: []*ndxpv1.Agency{
				{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", Contact: none},
				{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Contact: none},
			},
			wantLines: []int{3, 6},
		},
		{
			name:      "CRLF line ends",
			in:        "code,name\r\n000.00.00.H41,UBND tỉnh Nghệ An\r\n000.00.00.H14,UBND tỉnh Cao Bằng\r\n",
			want:      []*ndxpv1.Agency{{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", Contact: none}, {Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Contact: none}},
			wantLines: []int{2, 3},
		},
		{
			name: "quoted fields with commas and quotes in Vietnamese names",
			in:   "code,name,address\n001.00.00.H47,\"Sở Tài chính, tỉnh Quảng Nam\",\"62 Hùng Vương, Tam Kỳ\"\n000.00.00.H79,\"UBND \"\"Thành phố Hồ Chí Minh\"\"\",\n",
			want: []*ndxpv1.Agency{
				{Code: "001.00.00.H47", Name: "Sở Tài chính, tỉnh Quảng Nam", Contact: &ndxpv1.Contact{Address: "62 Hùng Vương, Tam Kỳ"}},
				{Code: "000.00.00.H79", Name: `UBND "Thành phố Hồ Chí Minh"`, Contact: none},
			},
			wantLines: []int{2, 3},
		},
		{
			name: "quoted field over two lines",
			in:   "code,name\n000.00.00.H41,\"UBND tỉnh\nNghệ An\"\n000.00.00.H14,UBND tỉnh Cao Bằng\n",
			want: []*ndxpv1.Agency{
				{Code: "000.00.00.H41", Name: "UBND tỉnh\nNghệ An", Contact: none},
				{Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Contact: none},
			},
			wantLines: []int{2, 4},
		},
		{
			name: "every column, any order and case, values trimmed",
			in:   " Stage ,ADDRESS,phone,email,contact,parent,name,code\nProduction, Vinh ,0238,vt@nghean.gov.vn,Hồ Thư,000.00.00.G22, UBND tỉnh Nghệ An ,000.00.00.H41\n,,,,,,Sở Nội vụ,001.00.00.H41\n",
			want: []*ndxpv1.Agency{
				{Code: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", ParentCode: "000.00.00.G22", Stage: ndxpv1.Stage_STAGE_PRODUCTION,
					Contact: &ndxpv1.Contact{Person: "Hồ Thư", Email: "vt@nghean.gov.vn", Phone: "0238", Address: "Vinh"}},
				{Code: "001.00.00.H41", Name: "Sở Nội vụ", Contact: none},
			},
			wantLines: []int{2, 3},
		},
		{name: "empty file", in: "", wantErr: []string{"line 1", "empty"}},
		{name: "only a BOM", in: "\ufeff", wantErr: []string{"line 1"}},
		{name: "header only", in: "code,name,parent,stage\n", wantErr: []string{"no agencies"}},
		{name: "missing code column", in: "name,stage\nUBND tỉnh Nghệ An,pilot\n", wantErr: []string{"line 1", `"code"`}},
		{name: "missing name column", in: "code,stage\n000.00.00.H41,pilot\n", wantErr: []string{"line 1", `"name"`}},
		{name: "unknown column", in: "code,name,tỉnh\n000.00.00.H41,UBND tỉnh Nghệ An,Nghệ An\n", wantErr: []string{"line 1", "unknown column", `"tỉnh"`}},
		{name: "column twice", in: "code,name,code\n000.00.00.H41,UBND,000.00.00.H41\n", wantErr: []string{"line 1", `"code"`, "twice"}},
		{name: "too few fields", in: "code,name,stage\n000.00.00.H41,UBND tỉnh Nghệ An,pilot\n000.00.00.H14,UBND tỉnh Cao Bằng\n", wantErr: []string{"line 3", "2 fields", "3"}},
		{name: "too many fields", in: "code,name\n000.00.00.H41,UBND tỉnh Nghệ An\n\n000.00.00.H14,UBND tỉnh, Cao Bằng\n", wantErr: []string{"line 4", "3 fields"}},
		{name: "unterminated quote", in: "code,name\n000.00.00.H41,UBND tỉnh Nghệ An\n000.00.00.H14,\"UBND tỉnh Cao Bằng\n", wantErr: []string{"line 3"}},
		// It panicked: FieldPos was asked about a record that had no field.
		{name: "unterminated quote in the first field", in: "code,name\n\"unterminated\n", wantErr: []string{"line 2", `missing "`}},
		{name: "unterminated quote runs over lines", in: "code,name\n000.00.00.H41,UBND\n\"000.00.00.H14,UBND\n\n000.00.00.H02,UBND\n", wantErr: []string{"line 3", "line 5"}},
		{name: "unterminated quote in the header", in: "\"code,name\n000.00.00.H41,UBND tỉnh Nghệ An\n", wantErr: []string{"line 1"}},
		{name: "bare quote", in: "code,name\n000.00.00.H41,UBND \"Nghệ An\"\n", wantErr: []string{"line 2, column", "bare"}},
		{name: "bad stage", in: "code,name,stage\n000.00.00.H41,UBND tỉnh Nghệ An,pilot\n\n000.00.00.H14,UBND tỉnh Cao Bằng,thử nghiệm\n", wantErr: []string{"line 4", "stage", `"thử nghiệm"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lines, err := readAgencyCSV(strings.NewReader(tt.in))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("readAgencyCSV = %v, nil; want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q spans lines; the CLI prints one", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("readAgencyCSV: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("agencies (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
				t.Errorf("line numbers (-want +got):\n%s", diff)
			}
		})
	}
}

// buildBinaries builds the real ndxpd and ndxpctl into a temporary directory.
func buildBinaries(t *testing.T) (ndxpd, ndxpctl string) {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/ndxpd", "./cmd/ndxpctl")
	cmd.Dir = hubtest.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(bin, "ndxpd"), filepath.Join(bin, "ndxpctl")
}

// freeAddrs returns n loopback addresses that were free a moment ago; all
// are held at once while chosen, so they differ.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// daemon is a running ndxpd process.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, once done is closed
	log  string
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// startDaemon runs ndxpd --dev on dataDir and waits until ndxpctl overview
// answers; the process is killed when the test ends if still running.
func startDaemon(t *testing.T, ndxpd, ndxpctl, dataDir, grpcAddr, httpAddr string) *daemon {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "ndxpd-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d := &daemon{done: make(chan struct{}), log: logf.Name()}
	d.cmd = exec.Command(ndxpd, "--dev", "--data", dataDir, "--listen", grpcAddr, "--http", httpAddr)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start ndxpd: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if !d.exited() {
			d.cmd.Process.Kill()
			<-d.done
		}
	})

	creds := filepath.Join(dataDir, "admin.creds")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if d.exited() {
			t.Fatalf("ndxpd exited at start (%v):\n%s", d.err, d.logTail())
		}
		if _, err := os.Stat(creds); err == nil {
			if r := runCtl(t, ndxpctl, "--creds", creds, "overview"); r.code == 0 {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ndxpd not ready within 20 s:\n%s", d.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits up to 10 s for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("ndxpd still running 10 s after SIGTERM:\n%s", d.logTail())
	}
	if d.err != nil {
		t.Errorf("ndxpd exit after SIGTERM: %v (want status 0)\n%s", d.err, d.logTail())
	}
	t.Logf("ndxpd stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
}

type ctlResult struct {
	stdout, stderr string
	code           int
}

func runCtl(t *testing.T, ndxpctl string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ndxpctl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "NDXP_CREDS=") // only --creds counts
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ndxpctl %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return ctlResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// listedAgency is the JSON contract of `ndxpctl agency list -o json`.
type listedAgency struct {
	Code              string `json:"code"`
	Name              string `json:"name"`
	Parent            string `json:"parent"`
	Stage             string `json:"stage"`
	Suspended         bool   `json:"suspended"`
	Online            *bool  `json:"online"` // a pointer, to see that the key is there
	ActiveCredentials int    `json:"active_credentials"`
}

type overviewJSON struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Pilot      int `json:"pilot"`
	Production int `json:"production"`
	Suspended  int `json:"suspended"`
	Online     int `json:"online"`
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	ndxpd, ndxpctl := buildBinaries(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	addrs := freeAddrs(t, 2)
	d := startDaemon(t, ndxpd, ndxpctl, data, addrs[0], addrs[1])
	creds := filepath.Join(data, "admin.creds")

	// ok runs an admin command that must succeed.
	ok := func(args ...string) string {
		t.Helper()
		r := runCtl(t, ndxpctl, append([]string{"--creds", creds}, args...)...)
		if r.code != 0 {
			t.Fatalf("ndxpctl %q: exit %d, stderr %q", args, r.code, r.stderr)
		}
		return r.stdout
	}
	// fails runs an admin command that must fail with exit status want
	// and a one-line reason on stderr containing each of words.
	fails := func(want int, args []string, words ...string) ctlResult {
		t.Helper()
		r := runCtl(t, ndxpctl, args...)
		if r.code != want {
			t.Errorf("ndxpctl %q: exit %d, want %d (stdout %q, stderr %q)", args, r.code, want, r.stdout, r.stderr)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
			t.Errorf("ndxpctl %q: stderr %q, want exactly one line", args, r.stderr)
		}
		for _, w := range words {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("ndxpctl %q: stderr %q does not mention %q", args, r.stderr, w)
			}
		}
		return r
	}
	admin := func(args ...string) []string { return append([]string{"--creds", creds}, args...) }
	list := func(args ...string) []listedAgency {
		t.Helper()
		var got []listedAgency
		out := ok(append([]string{"agency", "list", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("agency list -o json: %v\n%s", err, out)
		}
		return got
	}
	show := func(code string) listedAgency {
		t.Helper()
		var got listedAgency
		out := ok("agency", "show", code, "-o", "json")
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("agency show -o json: %v\n%s", err, out)
		}
		return got
	}
	f := false
	agency := func(code, name, parent, stage string) listedAgency {
		return listedAgency{Code: code, Name: name, Parent: parent, Stage: stage, Online: &f}
	}

	// Register.
	out := ok("agency", "add", "000.00.00.G22", "--name", "Văn phòng Chính phủ", "--stage", "production")
	if !strings.Contains(out, "Văn phòng Chính phủ") || !strings.Contains(out, "production") {
		t.Errorf("agency add printed %q, want the name and stage", out)
	}
	ok("agency", "add", "000.00.00.H41", "--name", "UBND tỉnh Nghệ An", "--stage", "pilot", "--email", "vanthu@nghean.gov.vn")
	ok("agency", "add", "001.00.00.H41", "--name", "Sở Nội vụ tỉnh Nghệ An")
	want := []listedAgency{
		agency("000.00.00.G22", "Văn phòng Chính phủ", "", "production"),
		agency("000.00.00.H41", "UBND tỉnh Nghệ An", "", "pilot"),
		agency("001.00.00.H41", "Sở Nội vụ tỉnh Nghệ An", "000.00.00.H41", "pending"),
	}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("agency list -o json (-want +got):\n%s", diff)
	}

	// Refusals: one line on stderr, exit 1, nothing stored.
	fails(1, admin("agency", "add", "28.22.H17", "--name", "Sai mã"), "code", "InvalidArgument")
	fails(1, admin("agency", "add", "000.00.00.G22", "--name", "Trùng"), "AlreadyExists")
	fails(1, admin("agency", "add", "000.00.00.H14", "--name", ""), "name")
	fails(1, admin("agency", "show", "000.00.00.H14"), "NotFound")

	// Show, set-stage, suspend and resume.
	out = ok("agency", "show", "000.00.00.H41")
	for _, w := range []string{"UBND tỉnh Nghệ An", "pilot", "vanthu@nghean.gov.vn"} {
		if !strings.Contains(out, w) {
			t.Errorf("agency show printed %q, want it to contain %q", out, w)
		}
	}
	ok("agency", "set-stage", "001.00.00.H41", "pilot")
	if got := show("001.00.00.H41"); got.Stage != "pilot" || got.Parent != "000.00.00.H41" {
		t.Errorf("after set-stage: %+v, want stage pilot under 000.00.00.H41", got)
	}
	ok("agency", "suspend", "000.00.00.H41", "--reason", "bảo trì hệ thống")
	if got := show("000.00.00.H41"); !got.Suspended {
		t.Errorf("after suspend: %+v, want suspended", got)
	}
	if got := list("--suspended"); len(got) != 1 || got[0].Code != "000.00.00.H41" {
		t.Errorf("agency list --suspended = %+v, want only 000.00.00.H41", got)
	}
	ok("agency", "resume", "000.00.00.H41")
	if got := show("000.00.00.H41"); got.Suspended {
		t.Errorf("after resume: %+v, want not suspended", got)
	}

	// Import: a good file goes in whole, a bad one not at all.
	goodCSV, err := filepath.Abs(filepath.Join("testdata", "agencies.csv"))
	if err != nil {
		t.Fatal(err)
	}
	out = ok("agency", "import", goodCSV)
	if !strings.Contains(out, "4 agencies imported") {
		t.Errorf("agency import printed %q, want 4 agencies imported", out)
	}
	want = append(want[:1],
		agency("000.00.00.H14", "UBND tỉnh Cao Bằng", "", "pending"),
		agency("000.00.00.H41", "UBND tỉnh Nghệ An", "", "pilot"),
		agency("000.00.00.H47", "UBND tỉnh Quảng Nam", "", "production"),
		agency("001.00.00.H41", "Sở Nội vụ tỉnh Nghệ An", "000.00.00.H41", "pilot"),
		agency("001.00.00.H47", "Sở Tài chính, tỉnh Quảng Nam", "000.00.00.H47", "pilot"),
		agency("001.00.10.H47", "UBND huyện Duy Xuyên, tỉnh Quảng Nam", "001.00.00.H47", "pending"),
	)
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("agency list after import (-want +got):\n%s", diff)
	}
	badCSV, err := filepath.Abs(filepath.Join("testdata", "bad_line5.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fails(1, admin("agency", "import", badCSV), "line 5", "code", "nothing was imported")
	fails(1, admin("agency", "show", "000.00.00.H01"), "NotFound")
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("a refused import changed the registry (-want +got):\n%s", diff)
	}

	// Credentials: the file is private, and it is not an admin's.
	agencyCreds := filepath.Join(work, "h41.creds")
	ok("credential", "issue", "000.00.00.H41", "--out", agencyCreds)
	fi, err := os.Stat(agencyCreds)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode = %v, want 0600", fi.Mode().Perm())
	}
	fails(2, admin("credential", "issue", "000.00.00.H41", "--out", agencyCreds), "exists")
	fails(1, []string{"--creds", agencyCreds, "agency", "list"}, "PermissionDenied")
	fails(1, []string{"--creds", agencyCreds, "agency", "add", "000.00.00.H02", "--name", "UBND tỉnh Hà Giang"}, "PermissionDenied")
	fails(1, admin("agency", "show", "000.00.00.H02"), "NotFound")
	if got := show("000.00.00.H41"); got.ActiveCredentials != 1 {
		t.Errorf("active credentials of 000.00.00.H41 = %d, want 1", got.ActiveCredentials)
	}

	var ov overviewJSON
	if err := json.Unmarshal([]byte(ok("overview", "-o", "json")), &ov); err != nil {
		t.Fatalf("overview -o json: %v", err)
	}
	if diff := cmp.Diff(overviewJSON{Total: 7, Pending: 2, Pilot: 3, Production: 2}, ov); diff != "" {
		t.Errorf("overview -o json (-want +got):\n%s", diff)
	}

	// Usage errors exit 2 before touching the hub.
	fails(2, admin("agency", "add", "000.00.00.H02", "--name", "UBND tỉnh Hà Giang", "--stage", "trial"), "stage")
	fails(2, admin("agency", "set-stage", "000.00.00.H41", "live"), "stage")
	fails(2, admin("agency", "list", "--stage", "soon"), "stage")
	fails(2, admin("overview", "-o", "yaml"), "yaml")
	fails(2, admin("agency", "list", "--no-such-flag"), "no-such-flag")
	fails(1, admin("agency", "show", "000.00.00.H02"), "NotFound")

	// An alias, kept across the restart below.
	ok("agency", "alias", "add", "vxp.saas.03", "000.00.00.G22")
	fails(1, admin("agency", "alias", "add", "vxp.saas.03", "000.00.00.H41"), "vxp.saas.03", "AlreadyExists")

	// A VXP system, kept across the restart below; its secret stays out of
	// the daemon's log.
	var vxpSys vxpSecretView
	if err := json.Unmarshal([]byte(ok("vxp", "system", "add", "sys.a", "--agency", "000.00.00.G22", "-o", "json")), &vxpSys); err != nil || len(vxpSys.Secret) != 44 {
		t.Fatalf("vxp system add -o json: %+v, %v", vxpSys, err)
	}
	fails(2, admin("vxp", "system", "add", "sys.b"), "--agency")

	// A graceful stop, then everything is still there.
	d.stop(t)
	startDaemon(t, ndxpd, ndxpctl, data, addrs[0], addrs[1])
	got := list()
	for i := range got {
		got[i].ActiveCredentials = 0 // a count, checked below
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agencies after restart (-want +got):\n%s", diff)
	}
	if got := show("000.00.00.H41"); got.ActiveCredentials != 1 {
		t.Errorf("active credentials after restart = %d, want 1", got.ActiveCredentials)
	}
	if out := ok("agency", "alias", "list"); !strings.Contains(out, "vxp.saas.03") || !strings.Contains(out, "000.00.00.G22") {
		t.Errorf("agency alias list after restart printed %q, want vxp.saas.03 of 000.00.00.G22", out)
	}
	if out := ok("vxp", "system", "list"); !strings.Contains(out, "sys.a") || strings.Contains(out, vxpSys.Secret) {
		t.Errorf("vxp system list after restart printed %q, want sys.a without its secret", out)
	}
	if log, err := os.ReadFile(d.log); err != nil || strings.Contains(string(log), vxpSys.Secret) || !strings.Contains(string(log), "vxp system added") {
		t.Errorf("ndxpd's log (%v) holds the VXP secret, or not the audit line:\n%s", err, log)
	}
	r := runCtl(t, ndxpctl, "--creds", agencyCreds, "agency", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "PermissionDenied") {
		t.Errorf("agency creds after restart: exit %d, stderr %q; want 1 and PermissionDenied", r.code, r.stderr)
	}
}
