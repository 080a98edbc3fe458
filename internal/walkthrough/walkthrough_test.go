package walkthrough

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hubtest"
)

// section is the README's heading of the walkthrough.
const section = "## Five-minute walkthrough"

// step is one command of the walkthrough, as a newcomer types it: its
// continuation lines joined, its trailing comment apart.
type step struct {
	line    int    // in README.md
	cmd     string // the shell command
	comment string // the text after #, if any
}

// refused says the README expects the command to fail: its comment
// starts with "refused".
func (s step) refused() bool { return strings.HasPrefix(s.comment, "refused") }

// result is what a command did.
type result struct {
	step
	ran            bool
	stdout, stderr string
	code           int
}

// TestREADMEWalkthrough runs the README's walkthrough as a newcomer would,
// from the ```sh blocks of its section, in a fresh directory: it builds
// the CLIs (the README's go build, into the directory's bin/), starts the
// hub the README starts (with its flags, on free ports instead of the
// README's), and runs every other command there with bash. A command whose
// comment starts with "refused" must fail with one line on stderr, every
// other one must succeed; then each step's result is checked. A README
// change that drops a checked command fails the test until the check
// follows it.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("the walkthrough builds the binaries and starts a hub")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("the walkthrough's commands need bash")
	}
	root := hubtest.RepoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseWalkthrough(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	w := &walk{t: t, bash: bash, root: root, dir: t.TempDir(), vars: map[string]string{}, addrs: map[string]string{}}
	// The commands name examples/ as in the repository's root.
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(w.dir, "examples")); err != nil {
		t.Fatal(err)
	}
	w.build(steps)
	t.Cleanup(w.stopHub)
	var results []result
	for _, s := range steps {
		results = append(results, w.run(s))
	}

	pdf, err := os.ReadFile(filepath.Join(root, "examples", "quyet-dinh.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	id := func() string { return w.vars["id"] }
	contains := func(stream func(result) string, wants ...string) func(*testing.T, result) {
		return func(t *testing.T, r result) {
			for _, want := range wants {
				if !strings.Contains(stream(r), want) {
					t.Errorf("README line %d: %s\nprinted %q; want %q", r.line, r.cmd, stream(r), want)
				}
			}
		}
	}
	stdout := func(r result) string { return r.stdout }
	stderr := func(r result) string { return r.stderr }
	checks := []struct {
		match string // a step whose command contains it
		check func(*testing.T, result)
	}{
		{"agency add 000.00.00.G22", contains(stdout, "000.00.00.G22", "Văn phòng Chính phủ", "production")},
		{"agency add 28.22.H17", contains(stderr, "28.22.H17", "4 dot-separated groups")},
		{"agency import examples/registry.csv", contains(stdout, "3 agencies imported")},
		{"agency list", contains(stdout, "000.00.00.H47", "UBND huyện Duy Xuyên", "5 agencies")},
		{"overview -o json", func(t *testing.T, r result) {
			var got struct{ Total, Pending, Pilot, Production int }
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Total != 5 || got.Pending != 1 || got.Pilot != 3 || got.Production != 1 {
				t.Errorf("overview -o json: %s (%v); want 5 agencies: 1 pending, 3 pilot, 1 production", r.stdout, err)
			}
		}},
		{"credential issue 000.00.00.H41 --out h41.creds", func(t *testing.T, r result) {
			if fi, err := os.Stat(filepath.Join(w.dir, "h41.creds")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("h41.creds: %v; want a file of mode 0600", err)
			}
		}},
		{"credential export h41.creds --pem h41-pem", func(t *testing.T, r result) {
			pem := filepath.Join(w.dir, "h41-pem")
			if _, err := tls.LoadX509KeyPair(filepath.Join(pem, "client.crt"), filepath.Join(pem, "client.key")); err != nil {
				t.Errorf("h41-pem/client.crt and client.key: %v", err)
			}
			if _, err := os.Stat(filepath.Join(pem, "ca.crt")); err != nil {
				t.Error(err)
			}
		}},
		{"grpcurl", func(t *testing.T, r result) {
			if r.ran && !strings.Contains(r.stdout, "ndxp.v1.ExchangeService") {
				t.Errorf("grpcurl list printed %q; want the hub's services", r.stdout)
			}
		}},
		{"send --to 000.00.00.H41", func(t *testing.T, r result) {
			if !regexp.MustCompile(`^[0-9A-Z]{26}$`).MatchString(id()) {
				t.Errorf("send printed %q; want the document id", id())
			}
		}},
		{"receive --out inbox", func(t *testing.T, r result) {
			if strings.Contains(r.cmd, "--format edxml") {
				return // checked below
			}
			got, err := os.ReadFile(filepath.Join(w.dir, "inbox", id(), "quyet-dinh.pdf"))
			if err != nil || !bytes.Equal(got, pdf) {
				t.Errorf("inbox/%s/quyet-dinh.pdf: %d bytes, %v; want examples/quyet-dinh.pdf", id(), len(got), err)
			}
		}},
		{"edxml inspect examples/cong-van.edxml", contains(stdout, "Về việc kết nối trục liên thông văn bản quốc gia", "cong-van.pdf")},
		{"send --edxml examples/cong-van.edxml", func(t *testing.T, r result) {
			if !regexp.MustCompile(`^[0-9A-Z]{26}\n$`).MatchString(r.stdout) {
				t.Errorf("send --edxml printed %q; want the document id", r.stdout)
			}
		}},
		{"--format edxml", func(t *testing.T, r result) {
			want, err := os.ReadFile(filepath.Join(root, "examples", "cong-van.edxml"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := filepath.Glob(filepath.Join(w.dir, "inbox-edxml", "*.edxml"))
			if err != nil || len(got) != 1 {
				t.Fatalf("inbox-edxml holds %v, %v; want one packet", got, err)
			}
			if b, err := os.ReadFile(got[0]); err != nil || !bytes.Equal(b, want) {
				t.Errorf("%s: %d bytes, %v; want examples/cong-van.edxml byte for byte", got[0], len(b), err)
			}
		}},
		{"vxp system add sys.g22", func(t *testing.T, r result) {
			var got struct {
				SystemID string   `json:"systemid"`
				Secret   string   `json:"secret"`
				Agencies []string `json:"agencies"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.SystemID != "sys.g22" || len(got.Secret) < 43 || len(got.Agencies) != 1 {
				t.Errorf("vxp system add -o json printed %q (%v); want the system, its secret and its agency", r.stdout, err)
			}
		}},
		{`status "$id" --code 03`, contains(stdout, "\t000.00.00.H41\t03\t")},
		{`status "$id" --code 06`, contains(stdout, "\t000.00.00.H41\t06\t")},
		{`ndxp --creds g22.creds trace "$id"`, contains(stdout, "000.00.00.H41 UBND tỉnh Nghệ An", "06 completed")},
		{`ndxpctl trace "$id"`, contains(stdout, "000.00.00.H41 UBND tỉnh Nghệ An", "06 completed")},
		{"purge --dry-run", contains(stdout, "nothing would be purged: the hub keeps documents forever")},
		{"agency suspend 000.00.00.H41", contains(stdout, "Suspended:", "yes")},
		{"ndxp --creds h41.creds inbox", contains(stderr, "suspended")},
		{"credential revoke 000.00.00.G22", contains(stdout, "000.00.00.G22: 1 credentials revoked")},
		{"ndxp --creds g22.creds sent", contains(stderr, "revoked")},
	}
	for _, c := range checks {
		matched := false
		for _, r := range results {
			if strings.Contains(r.cmd, c.match) {
				matched = true
				c.check(t, r)
			}
		}
		if !matched {
			t.Errorf("no command of the walkthrough contains %q: the README changed; change this test with it", c.match)
		}
	}
}

// parseWalkthrough returns the commands of the README's walkthrough.
func parseWalkthrough(readme string) ([]step, error) {
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == section {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("README.md has no %q section", section)
	}
	var steps []step
	inBlock := false
	var pending []string // continued lines
	pendingLine := 0
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		switch {
		case !inBlock && strings.HasPrefix(l, "## "):
			i = len(lines) // the next section
			continue
		case !inBlock && strings.TrimSpace(l) == "```sh":
			inBlock = true
			continue
		case inBlock && strings.TrimSpace(l) == "```":
			inBlock = false
			if pending != nil {
				return nil, fmt.Errorf("README.md line %d: a command continues past its block", pendingLine)
			}
			continue
		case !inBlock:
			continue
		}
		if pending == nil {
			pendingLine = i + 1
		}
		if strings.HasSuffix(l, `\`) {
			pending = append(pending, strings.TrimSuffix(l, `\`))
			continue
		}
		full := strings.Join(append(pending, l), " ")
		pending = nil
		cmd, comment := splitComment(full)
		if cmd == "" {
			continue
		}
		steps = append(steps, step{line: pendingLine, cmd: strings.Join(strings.Fields(cmd), " "), comment: comment})
	}
	if len(steps) == 0 {
		return nil, errors.New("the walkthrough has no ```sh commands")
	}
	return steps, nil
}

// splitComment parts a shell line at a # that starts a comment: outside
// quotes, at the start or after a space.
func splitComment(s string) (cmd, comment string) {
	var quote rune
	prev := ' '
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t'):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		}
		prev = r
	}
	return strings.TrimSpace(s), ""
}

var (
	buildCmd  = regexp.MustCompile(`^go build -o bin/ (.+)$`)
	goRunCmd  = regexp.MustCompile(`^go run \./cmd/(\w+)(.*)$`)
	exportCmd = regexp.MustCompile(`^export ([A-Za-z_][A-Za-z0-9_]*)=(.+)$`)
	assignCmd = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=\$\((.+)\)$`)
	addrFlag  = regexp.MustCompile(`--(?:listen|http) (\S+)`)
)

// walk runs the steps in dir, as one shell session would.
type walk struct {
	t          *testing.T
	bash       string
	root, dir  string
	vars       map[string]string // exported and assigned shell variables
	addrs      map[string]string // the README's addresses -> free ones
	hub        *exec.Cmd
	hubLog     hubtest.SyncBuffer
	hubDone    chan error
	hubHTTP    string
	buildCount int
}

// build runs the README's go build, the CLIs into dir/bin, before the
// first command: the README starts the hub with go run, which builds too.
func (w *walk) build(steps []step) {
	w.t.Helper()
	for _, s := range steps {
		m := buildCmd.FindStringSubmatch(s.cmd)
		if m == nil {
			continue
		}
		w.buildCount++
		args := append([]string{"build", "-o", filepath.Join(w.dir, "bin") + string(filepath.Separator)}, strings.Fields(m[1])...)
		cmd := exec.Command("go", args...)
		cmd.Dir = w.root
		if out, err := cmd.CombinedOutput(); err != nil {
			w.t.Fatalf("README line %d: %s: %v\n%s", s.line, s.cmd, err, out)
		}
	}
	if w.buildCount != 1 {
		w.t.Fatalf("the walkthrough has %d `go build -o bin/ ...` commands; want 1, which this test runs first", w.buildCount)
	}
}

func (w *walk) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NDXP_CREDS=") {
			env = append(env, kv)
		}
	}
	for k, v := range w.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// shell runs cmd with bash in dir and returns what it did.
func (w *walk) shell(s step, cmd string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, w.bash, "-c", cmd)
	c.Dir, c.Env = w.dir, w.env()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		w.t.Fatalf("README line %d: %s: %v", s.line, s.cmd, err)
	}
	r := result{step: s, ran: true, stdout: stdout.String(), stderr: stderr.String(), code: c.ProcessState.ExitCode()}
	if testing.Verbose() {
		w.t.Logf("README line %d: %s: exit %d\n%s%s", s.line, cmd, r.code, r.stdout, r.stderr)
	}
	return r
}

func (w *walk) run(s step) result {
	w.t.Helper()
	cmd := s.cmd
	for from, to := range w.addrs {
		cmd = strings.ReplaceAll(cmd, from, to)
	}
	var r result
	switch {
	case buildCmd.MatchString(cmd):
		return result{step: s, ran: true} // done first
	case goRunCmd.MatchString(cmd):
		m := goRunCmd.FindStringSubmatch(cmd)
		if m[1] != "ndxpd" || w.hub != nil {
			w.t.Fatalf("README line %d: %s: the walkthrough should start one hub, with go run ./cmd/ndxpd", s.line, s.cmd)
		}
		w.startHub(s, m[2])
		return result{step: s, ran: true}
	case exportCmd.MatchString(cmd):
		m := exportCmd.FindStringSubmatch(cmd)
		r = w.shell(s, "printf %s "+m[2])
		w.vars[m[1]] = r.stdout
	case assignCmd.MatchString(cmd):
		m := assignCmd.FindStringSubmatch(cmd)
		r = w.shell(s, m[2])
		w.vars[m[1]] = strings.TrimSpace(r.stdout)
	case strings.HasPrefix(cmd, "grpcurl "):
		if _, err := exec.LookPath("grpcurl"); err != nil {
			w.t.Logf("README line %d: grpcurl is not installed; not run", s.line)
			return result{step: s}
		}
		r = w.shell(s, cmd)
	default:
		r = w.shell(s, cmd)
	}
	switch {
	case s.refused() && r.code == 0:
		w.t.Errorf("README line %d: %s\nsucceeded; the README says it is refused\nstdout: %s", s.line, s.cmd, r.stdout)
	case s.refused() && strings.Count(r.stderr, "\n") != 1:
		w.t.Errorf("README line %d: %s\nstderr %q; want the reason on one line", s.line, s.cmd, r.stderr)
	case !s.refused() && r.code != 0:
		w.t.Errorf("README line %d: %s\nexit %d\nstdout: %s\nstderr: %s\nhub log:\n%s", s.line, s.cmd, r.code, r.stdout, r.stderr, w.hubLog.Tail(15))
	}
	return r
}

// startHub starts ndxpd from dir/bin with the README's flags, its
// addresses replaced by free ones, and waits until it is ready.
func (w *walk) startHub(s step, flags string) {
	w.t.Helper()
	for _, m := range addrFlag.FindAllStringSubmatch(flags, -1) {
		w.addrs[m[1]] = freeAddr(w.t)
	}
	for from, to := range w.addrs {
		flags = strings.ReplaceAll(flags, from, to)
	}
	if m := regexp.MustCompile(`--http (\S+)`).FindStringSubmatch(flags); m != nil {
		w.hubHTTP = m[1]
	} else {
		w.t.Fatalf("README line %d: %s: the hub has no --http address to wait on", s.line, s.cmd)
	}
	w.hub = exec.Command(w.bash, "-c", "exec bin/ndxpd"+flags)
	w.hub.Dir, w.hub.Env = w.dir, w.env()
	w.hub.Stdout, w.hub.Stderr = &w.hubLog, &w.hubLog
	if err := w.hub.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.hubDone = make(chan error, 1)
	go func() { w.hubDone <- w.hub.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + w.hubHTTP + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-w.hubDone:
			w.hubDone <- err
			w.t.Fatalf("README line %d: the hub exited: %v\n%s", s.line, err, w.hubLog.Tail(15))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("README line %d: the hub is not ready after 20 s\n%s", s.line, w.hubLog.Tail(15))
		}
	}
}

// stopHub stops the hub as Ctrl-C would.
func (w *walk) stopHub() {
	if w.hub == nil {
		return
	}
	w.hub.Process.Signal(syscall.SIGINT)
	select {
	case err := <-w.hubDone:
		if err != nil {
			w.t.Errorf("the hub's exit after SIGINT: %v\n%s", err, w.hubLog.Tail(15))
		}
	case <-time.After(30 * time.Second):
		w.hub.Process.Kill()
		<-w.hubDone
		w.t.Errorf("the hub did not stop on SIGINT\n%s", w.hubLog.Tail(15))
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestSplitComment(t *testing.T) {
	tests := []struct{ in, cmd, comment string }{
		{`bin/ndxpctl agency list`, `bin/ndxpctl agency list`, ``},
		{`bin/ndxpctl agency add 28.22.H17 --name "Sai mã"      # refused: the error`, `bin/ndxpctl agency add 28.22.H17 --name "Sai mã"`, `refused: the error`},
		{`echo "a # b" 'c # d' # e`, `echo "a # b" 'c # d'`, `e`},
		{`# only a comment`, ``, `only a comment`},
		{`id=$(x --number 7816/VPCP-TTĐT a.pdf)   # prints the id`, `id=$(x --number 7816/VPCP-TTĐT a.pdf)`, `prints the id`},
	}
	for _, tt := range tests {
		if cmd, comment := splitComment(tt.in); cmd != tt.cmd || comment != tt.comment {
			t.Errorf("splitComment(%q) = %q, %q; want %q, %q", tt.in, cmd, comment, tt.cmd, tt.comment)
		}
	}
}
