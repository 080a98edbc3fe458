package killtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/leader"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// Cluster is a hub cluster of ndxpd processes on loopback, laid out by
// server.InitCluster (what `ndxpctl cluster init` writes).
type Cluster struct {
	tb     testing.TB
	bin    string
	Layout *server.ClusterLayout
	Nodes  []*Node
}

// Node is one node of a Cluster; its process may be running or not.
type Node struct {
	ID   string
	Info server.ClusterNode

	mu       sync.Mutex
	cmd      *exec.Cmd
	waitErr  error
	exited   chan struct{}
	starts   int
	started  time.Time // of the last start
	LogPaths []string
}

// Started is when the node was last started.
func (nd *Node) Started() time.Time {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.started
}

// NewCluster writes a cluster of n nodes into a temporary directory, on
// ports free when it looks, and starts none of them.
func NewCluster(tb testing.TB, bin string, n int) *Cluster {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "cluster")
	var l *server.ClusterLayout
	var err error
	for try := 0; ; try++ {
		base := freeBase(n)
		if l, err = server.InitCluster(dir, n, base, time.Now()); err == nil {
			break
		}
		os.RemoveAll(dir)
		if try == 5 {
			tb.Fatalf("cluster init: %v", err)
		}
	}
	c := &Cluster{tb: tb, bin: bin, Layout: l}
	for _, info := range l.Nodes {
		c.Nodes = append(c.Nodes, &Node{ID: info.ID, Info: info})
	}
	tb.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Kill()
		}
	})
	return c
}

// freeBase returns a base port whose n nodes' ports (InitCluster's layout)
// are all free now; ports taken between now and the start fail the start.
func freeBase(n int) int {
	for {
		base := 20000 + 10*rand.IntN(3000)
		ok := true
		var ls []net.Listener
		for i := range n {
			for off := range 4 {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+10*i+off)))
				if err != nil {
					ok = false
					break
				}
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
}

// Addresses is every node's gRPC address, comma-separated, as the SDK's
// WithAddress takes them.
func (c *Cluster) Addresses() string { return strings.Join(c.Layout.Addresses, ",") }

// Start starts node i (from 0) and waits until its gRPC port accepts
// connections.
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	nd := c.Nodes[i]
	nd.mu.Lock()
	if nd.cmd != nil {
		nd.mu.Unlock()
		c.tb.Fatalf("node %s is already running", nd.ID)
	}
	nd.starts++
	nd.started = time.Now()
	logPath := filepath.Join(filepath.Dir(nd.Info.Config), fmt.Sprintf("ndxpd-%d.log", nd.starts))
	logf, err := os.Create(logPath)
	if err != nil {
		nd.mu.Unlock()
		c.tb.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(c.bin, "ndxpd"), "--config", nd.Info.Config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		nd.mu.Unlock()
		c.tb.Fatal(err)
	}
	logf.Close()
	nd.cmd, nd.exited, nd.waitErr = cmd, make(chan struct{}), nil
	nd.LogPaths = append(nd.LogPaths, logPath)
	exited := nd.exited
	go func() {
		err := cmd.Wait()
		nd.mu.Lock()
		nd.waitErr = err
		nd.mu.Unlock()
		close(exited)
	}()
	nd.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", nd.Info.GRPC, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			c.tb.Fatalf("node %s exited at start: %v\n%s", nd.ID, nd.exitErr(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			c.tb.Fatalf("node %s did not listen on %s within 30 s:\n%s", nd.ID, nd.Info.GRPC, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartAll starts every node, concurrently as an operator's would.
func (c *Cluster) StartAll() {
	c.tb.Helper()
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Go(func() { c.Start(i) })
	}
	wg.Wait()
}

func (nd *Node) exitErr() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.waitErr
}

// Running reports whether the node's process is up.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// PID is the process id of the running node (0 if none).
func (nd *Node) PID() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

// Kill ends the node with SIGKILL, as a power cut would, and waits for it.
func (nd *Node) Kill() {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Stop ends the node with SIGTERM and waits up to timeout for a clean exit
// (then kills it); it returns the exit error.
func (nd *Node) Stop(timeout time.Duration) error {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nd.exitErr()
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("node %s did not exit within %s of SIGTERM", nd.ID, timeout)
	}
}

// Log returns the node's log of every start, concatenated.
func (nd *Node) Log() string {
	var b strings.Builder
	for _, p := range nd.LogPaths {
		raw, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "--- %s\n%s", p, raw)
	}
	return b.String()
}

// ErrNoLeader is returned by Leader when no running node leads.
var ErrNoLeader = errors.New("no node leads")

// ProbeCode is the agency whose re-creation Leader uses as a write that
// changes nothing: the leader answers AlreadyExists, a follower
// UNAVAILABLE naming the leader.
const ProbeCode = "000.00.00.K99"

// Leader returns the index of the node that serves writes now: it asks
// each running node in turn for a write that changes nothing, which is
// what serving means (StatusLeader asks the cluster's own report).
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	var errs []error
	for i, nd := range c.Nodes {
		if !nd.Running() {
			continue
		}
		err := c.probe(ctx, nd.Info.GRPC)
		if err == nil || status.Code(err) == codes.AlreadyExists {
			return i, nil
		}
		if addr, ok := leader.Hint(err); ok {
			for j, other := range c.Nodes {
				if other.Info.GRPC == addr && other.Running() {
					return j, nil
				}
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", nd.ID, err))
	}
	return -1, fmt.Errorf("%w: %w", ErrNoLeader, errors.Join(errs...))
}

// probe makes the write that changes nothing at one node only (a stub on
// Conn, not the Client's, which would follow the node's leader hint).
func (c *Cluster) probe(ctx context.Context, addr string) error {
	cl, err := client.Dial(ctx, c.Layout.AdminCreds, client.WithAddress(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = ndxpv1.NewRegistryServiceClient(cl.Conn()).CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{
		Agency: &ndxpv1.Agency{Code: ProbeCode, Name: "Thăm dò nút dẫn đầu", Stage: ndxpv1.Stage_STAGE_PILOT},
	})
	return err
}

// StatusLeader reads `ndxpctl cluster status -o json` ({"leader": ID}).
func (c *Cluster) StatusLeader(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(c.bin, "ndxpctl"), "--creds", c.Layout.AdminCreds, "cluster", "status", "-o", "json").Output()
	if err != nil {
		return -1, err
	}
	var st struct {
		Leader string `json:"leader"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return -1, err
	}
	for i, nd := range c.Nodes {
		if nd.ID == st.Leader && nd.Running() {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: cluster status says %q", ErrNoLeader, st.Leader)
}

// WaitLeader waits up to timeout for a running node to lead and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		i, err := c.Leader(ctx)
		if err == nil || time.Now().After(deadline) {
			return i, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Serving returns the running nodes that answer a write themselves; a
// healthy cluster has exactly one.
func (c *Cluster) Serving(ctx context.Context) []string {
	var ids []string
	for _, nd := range c.Nodes {
		if !nd.Running() {
			continue
		}
		if err := c.probe(ctx, nd.Info.GRPC); err == nil || status.Code(err) == codes.AlreadyExists {
			ids = append(ids, nd.ID)
		}
	}
	return ids
}
