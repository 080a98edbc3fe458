package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// The idle-load child holds a share of the idle subscriptions, so that
// together they can hold more connections than one process may open
// descriptors. It reports on stdout: "up <local addresses>" once all its
// subscriptions are connected, then "d <nanoseconds>" for each probe document handled.
// EOF on its stdin ends it, as for the hub child.
const (
	idleUp       = "up "
	idleDelivery = "d "
)

func idleLoadCmd() *cobra.Command {
	var addr, list, sources string
	var run uint64
	var fetch bool
	var atOnce int
	cmd := &cobra.Command{
		Use:    "idle-load",
		Short:  "Hold idle subscriptions (internal: started by ndxp-bench --idle-procs)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIdleLoad(cmd.Context(), addr, list, sources, run, fetch, atOnce)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "hub", "", "hub gRPC address")
	f.StringVar(&list, "creds-list", "", "file naming one credentials file a line")
	f.StringVar(&sources, "source-addrs", "", "comma-separated local addresses to connect from, in turn")
	f.Uint64Var(&run, "run", 0, "the run whose probe documents to report")
	f.BoolVar(&fetch, "fetch", true, "fetch the probe documents' attachments")
	f.IntVar(&atOnce, "at-once", connectAtOnce, "subscriptions connecting at the same time")
	return cmd
}

func runIdleLoad(ctx context.Context, addr, list, sources string, run uint64, fetch bool, atOnce int) error {
	b, err := os.ReadFile(list)
	if err != nil {
		return err
	}
	paths := strings.Fields(string(b))
	var srcList []string
	if sources != "" {
		srcList = strings.Split(sources, ",")
	}
	src, err := sourceAddrs(srcList)
	if err != nil {
		return err
	}
	if _, err := raiseOpenFiles(len(paths)); err != nil {
		return err
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		out.WriteString(line + "\n")
		out.Flush()
	}
	h := idleHandler(run, fetch, func(d time.Duration) { say(idleDelivery + strconv.FormatInt(int64(d), 10)) })
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		// EOF (or any read error) on stdin: the parent is done or gone.
		bufio.NewReader(os.Stdin).ReadString(0)
		stop()
	}()
	local := &localAddrs{}
	clients, subs, cancel, err := holdIdle(ctx, paths, addr, src, atOnce, h, local, nil)
	if err != nil {
		return err
	}
	say(idleUp + strings.Join(local.list(), ","))
	<-ctx.Done()
	cancel()
	subs.wait()
	closeAll(clients)
	return nil
}

// idleProc is the parent's handle on an idle-load child.
type idleProc struct {
	cmd  *exec.Cmd
	ctl  *os.File
	log  string
	up   chan struct{}
	done chan struct{}
	werr error
}

// startIdleProcs splits paths over --idle-procs children (and the source
// addresses over them in turn), starts them and waits until each reports
// its subscriptions connected. delivered gets every probe document's
// latency any child reports.
func (r *runner) startIdleProcs(ctx context.Context, paths []string, delivered func(time.Duration), local *localAddrs) ([]*idleProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	k := r.o.IdleProcs
	dir := r.issuer.dir
	var procs []*idleProc
	stopAll := func() {
		for _, p := range procs {
			p.stop()
		}
	}
	for i := range k {
		var mine []string
		for j := i; j < len(paths); j += k {
			mine = append(mine, paths[j])
		}
		// Child i connects from addresses i, i+k, …, or all of them if
		// there are fewer addresses than children.
		var src []string
		for j := i; j < len(r.o.IdleSources); j += k {
			src = append(src, r.o.IdleSources[j])
		}
		if len(src) == 0 && len(r.o.IdleSources) > 0 {
			src = []string{r.o.IdleSources[i%len(r.o.IdleSources)]}
		}
		list := filepath.Join(dir, fmt.Sprintf("idle-%d.list", i))
		if err := os.WriteFile(list, []byte(strings.Join(mine, "\n")), 0o600); err != nil {
			stopAll()
			return nil, err
		}
		args := []string{"idle-load", "--hub", r.addr, "--creds-list", list, "--run", strconv.FormatUint(r.run, 10),
			"--fetch=" + strconv.FormatBool(r.o.Fetch), "--at-once", strconv.Itoa(max(connectAtOnce/k, 8))}
		if len(src) > 0 {
			args = append(args, "--source-addrs", strings.Join(src, ","))
		}
		p, err := startIdleProc(exe, args, filepath.Join(dir, fmt.Sprintf("idle-%d.log", i)), delivered, local)
		if err != nil {
			stopAll()
			return nil, err
		}
		procs = append(procs, p)
	}
	deadline := time.NewTimer(10 * time.Minute)
	defer deadline.Stop()
	for _, p := range procs {
		select {
		case <-p.up:
		case <-p.done:
			stopAll()
			return nil, fmt.Errorf("idle-load child exited before subscribing (%v): %s", p.werr, tail(p.log))
		case <-deadline.C:
			stopAll()
			return nil, fmt.Errorf("%w within 10m: %s", errNotAll, tail(p.log))
		case <-ctx.Done():
			stopAll()
			return nil, ctx.Err()
		}
	}
	return procs, nil
}

func startIdleProc(exe string, args []string, logPath string, delivered func(time.Duration), local *localAddrs) (*idleProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	in, ctl, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin, cmd.Stderr = in, logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		in.Close()
		ctl.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		in.Close()
		ctl.Close()
		return nil, fmt.Errorf("start idle-load: %w", err)
	}
	in.Close()
	p := &idleProc{cmd: cmd, ctl: ctl, log: logPath, up: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, idleUp):
				for _, a := range strings.Split(l[len(idleUp):], ",") {
					if a != "" {
						local.add(a)
					}
				}
				close(p.up)
			case strings.HasPrefix(l, idleDelivery):
				if ns, err := strconv.ParseInt(l[len(idleDelivery):], 10, 64); err == nil {
					delivered(time.Duration(ns))
				}
			}
		}
		p.werr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop closes the child's stdin and waits for it, killing it after 30 s.
func (p *idleProc) stop() {
	if p.ctl == nil {
		return
	}
	p.ctl.Close()
	p.ctl = nil
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

var errIdleProcs = errors.New("--idle-procs needs --idle-subscribers")
