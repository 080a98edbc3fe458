package hubtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binaries builds ./cmd/... once per test process and returns the
// directory holding ndxpd, ndxpctl and ndxp.
func Binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ndxp-bin-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/...")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
			return
		}
		buildDir = dir
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildDir
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RemoveBinaries deletes what Binaries built; call it once tests are done.
func RemoveBinaries() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// MainWithCleanup wraps a TestMain's m so that its Run removes the built
// binaries afterwards: goleak.VerifyTestMain(hubtest.MainWithCleanup(m)).
func MainWithCleanup(m interface{ Run() int }) interface{ Run() int } { return cleanupM{m} }

type cleanupM struct{ m interface{ Run() int } }

func (c cleanupM) Run() int {
	code := c.m.Run()
	RemoveBinaries()
	return code
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is ndxpd running as a real subprocess.
type Process struct {
	tb       testing.TB
	Cmd      *exec.Cmd
	DataDir  string
	GRPCAddr string
	HTTPAddr string
	Log      string
	waitOnce sync.Once
	waitErr  error
}

// StartProcess runs `ndxpd --dev` from bin on dataDir with the given
// addresses ("" picks free ones) and waits until it answers an admin call.
func StartProcess(tb testing.TB, bin, dataDir, grpcAddr, httpAddr string, extra ...string) *Process {
	tb.Helper()
	if grpcAddr == "" {
		grpcAddr = FreeAddr(tb)
	}
	if httpAddr == "" {
		httpAddr = FreeAddr(tb)
	}
	logPath := filepath.Join(dataDir, fmt.Sprintf("ndxpd-%d.log", time.Now().UnixNano()))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"--dev", "--data", dataDir, "--listen", grpcAddr, "--http", httpAddr}, extra...)
	cmd := exec.Command(filepath.Join(bin, "ndxpd"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	logf.Close()
	p := &Process{tb: tb, Cmd: cmd, DataDir: dataDir, GRPCAddr: grpcAddr, HTTPAddr: httpAddr, Log: logPath}
	tb.Cleanup(func() { p.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := p.ping(); err == nil {
			return p
		}
		if p.Cmd.ProcessState != nil || time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			tb.Fatalf("ndxpd did not come up: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Process) ping() error {
	c, err := client.Dial(context.Background(), p.AdminCreds(), client.WithAddress(p.GRPCAddr))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Registry.GetOverview(ctx, &ndxpv1.GetOverviewRequest{})
	return err
}

// AdminCreds is the admin credentials file of the process.
func (p *Process) AdminCreds() string { return filepath.Join(p.DataDir, "admin.creds") }

// PID is the process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

func (p *Process) wait() error {
	p.waitOnce.Do(func() { p.waitErr = p.Cmd.Wait() })
	return p.waitErr
}

// Kill ends the process with SIGKILL (as a crash would) and waits for it.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	p.wait()
}

// Stop sends SIGTERM and waits up to timeout for a clean exit.
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- p.wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("ndxpd did not exit within %s of SIGTERM", timeout)
	}
}

// Memory reads the process's resident set size and its peak (VmRSS, VmHWM) in bytes.
func (p *Process) Memory() (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak, sc.Err()
}

// Admin dials the process with its admin credentials.
func (p *Process) Admin() *client.Client {
	p.tb.Helper()
	return p.Dial(p.AdminCreds())
}

// Dial connects to the process with a credentials file.
func (p *Process) Dial(creds string) *client.Client {
	p.tb.Helper()
	c, err := client.Dial(context.Background(), creds, client.WithAddress(p.GRPCAddr))
	if err != nil {
		p.tb.Fatal(err)
	}
	p.tb.Cleanup(func() { c.Close() })
	return c
}

// RepoRoot is the module's root directory (where go.mod is), for tests
// that run commands or read files of the repository.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// SyncBuffer is a bytes.Buffer that another goroutine (a process's output,
// a command run in the background) may write while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines written: enough to see why a step failed.
func (b *SyncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
