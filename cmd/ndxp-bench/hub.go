package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/server"
)

// childEnv marks the re-executed hub process. The bench binary does not
// need it (it dispatches on the "hub" argument), but a test binary does:
// its TestMain sees the variable and runs the command instead of tests.
const childEnv = "NDXP_BENCH_CHILD"

// readyInfo is what the hub child writes to its ready file once serving.
type readyInfo struct {
	GRPC       string `json:"grpc"`
	HTTP       string `json:"http"`
	AdminCreds string `json:"admin_creds"`
	PID        int    `json:"pid"`
}

// benchHubReserve is the descriptors the embedded hub keeps beyond its
// connections.
const benchHubReserve = 256

// Control lines the parent writes to the child's stdin. EOF on stdin
// stops the hub, so a parent that dies never leaves a hub behind.
const (
	ctlProfileStart = "profile-start"
	ctlProfileStop  = "profile-stop"
	ctlHeapProfile  = "heap-profile"
)

// hubCmd is the hidden subcommand the parent re-executes: a hub in its
// own process, so /proc/<pid> holds its CPU time and memory alone.
func hubCmd() *cobra.Command {
	var data, listen, http, ready, level, profile, memProfile string
	cmd := &cobra.Command{
		Use:    "hub",
		Short:  "Run the embedded hub (internal: started by ndxp-bench itself)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHub(cmd.Context(), data, listen, http, ready, level, profile, memProfile)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "gRPC address")
	f.StringVar(&http, "http", "127.0.0.1:0", "HTTP address (metrics)")
	f.StringVar(&ready, "ready-file", "", "file to write the addresses to once serving")
	f.StringVar(&level, "log-level", "info", "log level")
	f.StringVar(&profile, "cpuprofile", "", "CPU profile file, written between profile-start and profile-stop on stdin")
	f.StringVar(&memProfile, "memprofile", "", "heap profile file, written on heap-profile on stdin")
	return cmd
}

func runHub(ctx context.Context, data, listen, http, ready, level, profile, memProfile string) error {
	if data == "" || ready == "" {
		return errors.New("hub: --data and --ready-file are required")
	}
	cfg := server.DefaultConfig()
	cfg.Dev = true
	cfg.DataDir = data
	cfg.Listen = listen
	cfg.HTTP = http
	cfg.LogLevel = level
	cfg.ShutdownTimeout = server.Duration(5 * time.Second)
	// The load generator is one address sending as fast as the hub takes
	// it: the limits stay in force (their cost is part of what is
	// measured) at values it cannot reach, while an agency's defaults are
	// sized for an agency (docs/security.md).
	cfg.MaxConnsPerHost = 1 << 20
	// ndxpd keeps a tenth of its descriptors for other uses; this hub
	// needs only a few (its store, log and listeners), so that the idle
	// subscriptions can take nearly every one the process may open.
	if n, _ := raiseOpenFiles(0); n > 2*benchHubReserve {
		cfg.MaxConns = int(n) - benchHubReserve
	}
	cfg.Limits.SendRate, cfg.Limits.SendBurst = 1e6, 1e6
	d, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	b, _ := json.Marshal(readyInfo{GRPC: d.GRPCAddr(), HTTP: d.HTTPAddr(), AdminCreds: d.AdminCredsPath(), PID: os.Getpid()})
	tmp := ready + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, ready); err != nil {
		return err
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var prof *os.File
	stopProfile := func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
			prof = nil
		}
	}
	defer stopProfile()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-d.Err():
			return err
		case l, ok := <-lines:
			if !ok {
				return nil
			}
			switch l {
			case ctlProfileStart:
				if profile == "" || prof != nil {
					continue
				}
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return err
				}
				prof = f
			case ctlProfileStop:
				stopProfile()
			case ctlHeapProfile:
				if memProfile != "" {
					if err := writeHeapProfile(memProfile); err != nil {
						return err
					}
				}
			}
		}
	}
}

// hubProc is the parent's handle on the hub child.
type hubProc struct {
	readyInfo
	cmd   *exec.Cmd
	ctl   *os.File // write end of the child's stdin
	log   string
	done  chan struct{}
	werr  error
	stopd bool
}

// startHub re-executes this binary as "hub" on dataDir and waits until it
// serves. The child's log goes to workDir/hub.log.
// env adds to the child's environment (a later entry wins).
func startHub(ctx context.Context, workDir, dataDir, level, profile, memProfile string, env []string) (*hubProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ready := filepath.Join(workDir, "hub.ready")
	os.Remove(ready)
	args := []string{"hub", "--data", dataDir, "--ready-file", ready, "--log-level", level}
	if profile != "" {
		if profile, err = filepath.Abs(profile); err != nil {
			return nil, err
		}
		args = append(args, "--cpuprofile", profile)
	}
	if memProfile != "" {
		if memProfile, err = filepath.Abs(memProfile); err != nil {
			return nil, err
		}
		args = append(args, "--memprofile", memProfile)
	}
	logPath := filepath.Join(workDir, "hub.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, logf, logf
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start hub: %w", err)
	}
	r.Close()
	h := &hubProc{cmd: cmd, ctl: w, log: logPath, done: make(chan struct{})}
	go func() { h.werr = cmd.Wait(); close(h.done) }()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(ready); err == nil {
			if err := json.Unmarshal(b, &h.readyInfo); err != nil {
				h.stop()
				return nil, fmt.Errorf("hub ready file: %w", err)
			}
			return h, nil
		}
		select {
		case <-h.done:
			return nil, fmt.Errorf("hub exited before serving (%v): %s", h.werr, tail(logPath))
		case <-ctx.Done():
			h.stop()
			return nil, ctx.Err()
		case <-deadline.C:
			h.stop()
			return nil, fmt.Errorf("hub did not serve within 60s: %s", tail(logPath))
		case <-tick.C:
		}
	}
}

// control sends a control line; errors are ignored because a missing
// profile must not fail a benchmark that has already run.
func (h *hubProc) control(line string) {
	if h != nil && !h.stopd {
		fmt.Fprintln(h.ctl, line)
	}
}

// stop asks the hub to shut down (EOF on its stdin), waits for it, and
// kills it if it does not exit within 30 s. Safe to call twice.
func (h *hubProc) stop() error {
	if h == nil || h.stopd {
		return nil
	}
	h.stopd = true
	h.ctl.Close()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		return errors.New("hub did not stop within 30s; killed")
	}
	if h.werr != nil {
		return fmt.Errorf("hub: %v: %s", h.werr, tail(h.log))
	}
	return nil
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// writeHeapProfile writes the live heap after a collection, and logs the
// goroutines alive, whose stacks the heap profile does not show.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "heap profile: %d goroutines, heap in use %d, stacks in use %d, sys %d\n",
		runtime.NumGoroutine(), ms.HeapInuse, ms.StackInuse, ms.Sys)
	return pprof.Lookup("heap").WriteTo(f, 0)
}
