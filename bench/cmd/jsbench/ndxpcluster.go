package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The binaries --ndxp-bin-dir holds (go build -o DIR ./cmd/ndxp-bench ./cmd/ndxpd ./cmd/ndxpctl).
const (
	ndxpBenchBin = "ndxp-bench"
	ndxpdBin     = "ndxpd"
	ndxpctlBin   = "ndxpctl"
)

// Settings jsbench adds to every node's ndxpd.json: the ones ndxp-bench's
// embedded hub raises (cmd/ndxp-bench/hub.go), so that the single node and
// the cluster run with the same limits. An agency's defaults (50
// documents/s per sender) would otherwise cap the load generator.
var nodeOverrides = map[string]any{
	"max_conns_per_host": 1 << 20,
	"limits":             map[string]any{"send_rate": 1e6, "send_burst": 1_000_000},
	"shutdown_timeout":   "5s",
}

// ndxpCluster is a cluster of ndxpd processes on loopback, made by
// ndxpctl cluster init in a temporary directory.
type ndxpCluster struct {
	binDir string
	dir    string // the temporary directory: cluster/ (init's --out) and the nodes' logs
	out    string // cluster init's --out
	keep   bool
	nodes  []*ndxpNode
}

type ndxpNode struct {
	ID     string
	GRPC   string
	HTTP   string
	config string
	log    string
	cmd    *exec.Cmd
	done   chan struct{}
	werr   error
}

// clusterStatus is ndxpctl cluster status -o json.
type clusterStatus struct {
	Leader  string `json:"leader"`
	Members []struct {
		ID            string `json:"id"`
		GRPC          string `json:"grpc"`
		State         string `json:"state"`
		AppliedIndex  uint64 `json:"applied_index"`
		LastContactMS int64  `json:"last_contact_ms"`
	} `json:"members"`
}

// clusterReport is what jsbench saw of the ndxpd processes around the
// ndxp-bench run.
type clusterReport struct {
	Nodes         int           `json:"nodes"`
	BasePort      int           `json:"base_port"`
	Dir           string        `json:"dir,omitempty"` // with --keep
	LeaderAtStart string        `json:"leader_at_start"`
	LeaderAtEnd   string        `json:"leader_at_end"`
	Failover      bool          `json:"failover"` // the leader changed during the run
	Processes     []nodeProcess `json:"processes"`
	Overrides     any           `json:"ndxpd_json_overrides"`
}

type nodeProcess struct {
	ID   string `json:"id"`
	GRPC string `json:"grpc"`
	HTTP string `json:"http"`
	PID  int    `json:"pid"`
	// CPUSeconds is the node's user + system CPU time while ndxp-bench
	// ran, its setup (registering agencies, issuing credentials) included;
	// -1 when /proc could not be read.
	CPUSeconds float64 `json:"cpu_seconds"`
	StateAtEnd string  `json:"state_at_end"`
	Exited     bool    `json:"exited"` // the process ended during the run
}

// runNdxpCluster starts a cluster of n ndxpd, waits for a leader, runs
// ndxp-bench against it with argv (the workload) and stops the cluster.
func runNdxpCluster(ctx context.Context, binDir, parent string, n int, keep bool, argv []string, stderr io.Writer) (map[string]any, *clusterReport, error) {
	c, base, err := startNdxpCluster(ctx, binDir, parent, n, keep, stderr)
	if c != nil {
		defer c.stop(stderr)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := c.waitLeader(ctx, 60*time.Second)
	if err != nil {
		return nil, nil, err
	}
	leader := c.node(st.Leader)
	rep := &clusterReport{Nodes: n, BasePort: base, LeaderAtStart: st.Leader, Overrides: nodeOverrides}
	if keep {
		rep.Dir = c.dir
	}
	// The clients start at the leader and follow it should it change; the
	// other nodes are listed so that they can.
	addrs := []string{leader.GRPC}
	for _, nd := range c.nodes {
		if nd != leader {
			addrs = append(addrs, nd.GRPC)
		}
	}
	argv = append([]string{
		"--creds=" + filepath.Join(c.out, "admin.creds"),
		"--hub=" + strings.Join(addrs, ","),
		"--hub-http=" + leader.HTTP,
		"--hub-pid=" + strconv.Itoa(leader.cmd.Process.Pid),
	}, argv...)
	before := make([]float64, len(c.nodes))
	for i, nd := range c.nodes {
		before[i] = cpuSeconds(nd.cmd.Process.Pid)
	}
	data, err := execNdxp(ctx, filepath.Join(binDir, ndxpBenchBin), argv, stderr)
	if err != nil {
		return nil, nil, err
	}
	for i, nd := range c.nodes {
		p := nodeProcess{ID: nd.ID, GRPC: nd.GRPC, HTTP: nd.HTTP, PID: nd.cmd.Process.Pid, CPUSeconds: -1, StateAtEnd: "unknown"}
		if after := cpuSeconds(p.PID); before[i] >= 0 && after >= 0 {
			p.CPUSeconds = round3(after - before[i])
		}
		select {
		case <-nd.done:
			p.Exited = true
		default:
		}
		rep.Processes = append(rep.Processes, p)
	}
	if end, err := c.status(ctx); err == nil {
		rep.LeaderAtEnd = end.Leader
		for _, m := range end.Members {
			for i := range rep.Processes {
				if rep.Processes[i].ID == m.ID {
					rep.Processes[i].StateAtEnd = m.State
				}
			}
		}
	} else {
		fmt.Fprintf(stderr, "jsbench: cluster status after the run: %v\n", err)
	}
	rep.Failover = rep.LeaderAtEnd != rep.LeaderAtStart
	res, err := parseNdxp(data)
	if err != nil {
		return nil, nil, fmt.Errorf("ndxp-bench output (cluster): %w", err)
	}
	return res, rep, nil
}

// startNdxpCluster runs ndxpctl cluster init into a temporary directory
// under parent, on ports found free, and starts every node. It returns the
// cluster (to stop) even with an error once a process may have started.
func startNdxpCluster(ctx context.Context, binDir, parent string, n int, keep bool, stderr io.Writer) (*ndxpCluster, int, error) {
	for _, b := range []string{ndxpBenchBin, ndxpdBin, ndxpctlBin} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, 0, fmt.Errorf("--ndxp-bin-dir: %w (build with: go build -o %s ./cmd/ndxp-bench ./cmd/ndxpd ./cmd/ndxpctl)", err, binDir)
		}
	}
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "jsbench-ndxp-")
	if err != nil {
		return nil, 0, err
	}
	c := &ndxpCluster{binDir: binDir, dir: dir, out: filepath.Join(dir, "cluster"), keep: keep}
	base, err := freeBasePort(n)
	if err != nil {
		return c, 0, err
	}
	initCmd := exec.CommandContext(ctx, filepath.Join(binDir, ndxpctlBin), "cluster", "init",
		"--nodes", strconv.Itoa(n), "--out", c.out, "--base-port", strconv.Itoa(base))
	if out, err := initCmd.CombinedOutput(); err != nil {
		return c, base, fmt.Errorf("ndxpctl cluster init: %w\n%s", err, out)
	}
	for i := 1; i <= n; i++ {
		nd, err := prepareNode(filepath.Join(c.out, "node"+strconv.Itoa(i), "ndxpd.json"))
		if err != nil {
			return c, base, err
		}
		nd.log = filepath.Join(dir, "node"+strconv.Itoa(i)+".log")
		c.nodes = append(c.nodes, nd)
	}
	fmt.Fprintf(stderr, "jsbench: ndxp cluster: %d nodes from %s, base port %d, logs in %s\n", n, binDir, base, dir)
	for _, nd := range c.nodes {
		if err := nd.start(filepath.Join(binDir, ndxpdBin)); err != nil {
			return c, base, err
		}
	}
	return c, base, nil
}

// prepareNode adds nodeOverrides to a node's ndxpd.json and reads its id
// and addresses.
func prepareNode(path string) (*ndxpNode, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range nodeOverrides {
		// An object merges into the file's own, so that settings init
		// wrote beside ours stay.
		if sub, ok := v.(map[string]any); ok {
			if have, ok := cfg[k].(map[string]any); ok {
				maps.Copy(have, sub)
				continue
			}
		}
		cfg[k] = v
	}
	nd := &ndxpNode{config: path}
	nd.ID, _ = cfg["node_id"].(string)
	nd.GRPC, _ = cfg["listen"].(string)
	nd.HTTP, _ = cfg["http"].(string)
	if nd.ID == "" || nd.GRPC == "" || nd.HTTP == "" {
		return nil, fmt.Errorf("%s: no node_id, listen or http", path)
	}
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return nil, err
	}
	return nd, os.WriteFile(path, append(b, '\n'), 0o600)
}

func (nd *ndxpNode) start(ndxpd string) error {
	logf, err := os.Create(nd.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	nd.cmd = exec.Command(ndxpd, "--config", nd.config)
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
	nd.cmd.SysProcAttr = childAttr()
	if err := nd.cmd.Start(); err != nil {
		return fmt.Errorf("start ndxpd %s: %w", nd.ID, err)
	}
	nd.done = make(chan struct{})
	go func() { nd.werr = nd.cmd.Wait(); close(nd.done) }()
	return nil
}

func (c *ndxpCluster) node(id string) *ndxpNode {
	for _, nd := range c.nodes {
		if nd.ID == id {
			return nd
		}
	}
	return nil
}

// status asks ndxpctl for the cluster's status.
func (c *ndxpCluster) status(ctx context.Context) (*clusterStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, ndxpctlBin),
		"--creds", filepath.Join(c.out, "admin.creds"), "cluster", "status", "-o", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ndxpctl cluster status: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var st clusterStatus
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("ndxpctl cluster status: %w", err)
	}
	return &st, nil
}

// waitLeader polls the status until a node leads and every node answers
// as leader or follower.
func (c *ndxpCluster) waitLeader(ctx context.Context, limit time.Duration) (*clusterStatus, error) {
	deadline := time.Now().Add(limit)
	var last error
	for {
		for _, nd := range c.nodes {
			select {
			case <-nd.done:
				return nil, fmt.Errorf("ndxpd %s exited before the cluster had a leader: %v (log: %s)", nd.ID, nd.werr, nd.log)
			default:
			}
		}
		st, err := c.status(ctx)
		if err == nil {
			last = fmt.Errorf("leader %q, members %+v", st.Leader, st.Members)
			ready := st.Leader != "" && c.node(st.Leader) != nil && len(st.Members) == len(c.nodes)
			for _, m := range st.Members {
				ready = ready && (m.State == "Leader" || m.State == "Follower")
			}
			if ready {
				return st, nil
			}
		} else {
			last = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no cluster leader after %s: %w", limit, errors.Join(last, ctx.Err()))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stop ends every node (SIGTERM, then SIGKILL after 15 s) and removes the
// directory unless kept.
func (c *ndxpCluster) stop(stderr io.Writer) {
	for _, nd := range c.nodes {
		if nd.cmd != nil && nd.cmd.Process != nil {
			nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, nd := range c.nodes {
		if nd.done == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-time.After(15 * time.Second):
			fmt.Fprintf(stderr, "jsbench: ndxpd %s (pid %d) still running 15s after SIGTERM; killing it\n", nd.ID, nd.cmd.Process.Pid)
			nd.cmd.Process.Kill()
			<-nd.done
		}
	}
	if c.keep {
		fmt.Fprintf(stderr, "jsbench: kept the ndxp cluster's directory %s\n", c.dir)
		return
	}
	os.RemoveAll(c.dir)
}

// freeBasePort finds a base port P for ndxpctl cluster init --base-port
// whose n nodes' ports (P+10(N-1) to P+10(N-1)+3) are free now. It looks
// below 32768, where Linux's outgoing connections take no ports.
func freeBasePort(n int) (int, error) {
	for range 100 {
		base := 20000 + rand.IntN(12000)
		if portsFree(base, n) {
			return base, nil
		}
	}
	return 0, errors.New("no free range of ports for the ndxp cluster after 100 tries")
}

func portsFree(base, n int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range n {
		for off := range 4 {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+10*i+off)))
			if err != nil {
				return false
			}
			ls = append(ls, l)
		}
	}
	return true
}

// cpuSeconds is process pid's user + system CPU time from /proc, or -1.
// USER_HZ is 100 on every Linux architecture Go supports but alpha and
// ia64, which it does not.
func cpuSeconds(pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces; the fields after its ')' are
	// fixed: utime is field 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (u + s) / 100
}
