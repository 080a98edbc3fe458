package killtest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/anishathalye/porcupine"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/server"
)

func TestMain(m *testing.M) { os.Exit(hubtest.MainWithCleanup(m).Run()) }

// defaultRuns is how many times the kill tests run without
// NDXP_KILL_RUNS: once in the normal suite, more with -tags clusterkill.
var defaultRuns = 1

// Shape of a run: the agencies, the pause between one sender's documents,
// and how many receipts to wait for between the steps of a run.
var (
	killCodes = []string{"000.00.00.K01", "000.00.00.K02", "000.00.00.K03"}
	killPace  = 10 * time.Millisecond
	killStep  = 60
)

func killRuns(t *testing.T) int {
	t.Helper()
	if s := os.Getenv("NDXP_KILL_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NDXP_KILL_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return defaultRuns
}

// runResult is one run's figures, for the summary of a looped test.
type runResult struct {
	failed    bool
	sum       Summary
	gap       time.Duration // last receipt before the kill to the first after
	elected   time.Duration // the kill to a node answering writes
	gapErr    error
	nodeDocs  []int
	gaps      storeGaps
	totalTime time.Duration
}

// TestKillLeader: under a steady load of sends, acknowledgements and
// status reports, SIGKILL the leader of a three-node cluster; another node
// serves, every receipted document reaches every recipient's handler
// exactly once, the history passes the checker, and the killed node
// restarts, catches up and holds what the others hold.
func TestKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: runs three ndxpd processes and kills one")
	}
	loopRuns(t, "kill-leader", killLeaderRun)
}

// TestKillFollowerThenLeader: with a follower killed, then the leader, the
// last node refuses writes (UNAVAILABLE, no receipt: no split brain);
// once a second node returns, the cluster serves again and nothing
// receipted is lost.
func TestKillFollowerThenLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test: runs three ndxpd processes and kills two")
	}
	loopRuns(t, "kill-follower-then-leader", killTwoRun)
}

// loopRuns runs run NDXP_KILL_RUNS times, each a subtest, and reports
// their figures together under name.
func loopRuns(t *testing.T, name string, run func(*testing.T, string) runResult) {
	bin := hubtest.Binaries(t)
	var results []runResult
	for r := range killRuns(t) {
		t.Run(fmt.Sprintf("run%d", r+1), func(t *testing.T) {
			var res runResult
			defer func() { res.failed = t.Failed(); results = append(results, res) }()
			res = run(t, bin)
		})
	}
	report(t, name, results)
}

// startCluster starts a three-node cluster, waits for its leader, checks
// that the others refuse writes, and starts a load on it.
func startCluster(t *testing.T, bin string) (*Cluster, *Load, int) {
	t.Helper()
	c := NewCluster(t, bin, 3)
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.Nodes {
				t.Logf("log of %s (errors and warnings):\n%s", nd.ID, grepLog(nd.Log(), "level=ERROR", "level=WARN", "panic", "fatal"))
			}
		}
	})
	c.StartAll()
	ctx := context.Background()
	lead, err := c.WaitLeader(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("no leader 30 s after the start: %v", err)
	}
	admin, err := client.Dial(ctx, c.Layout.AdminCreds, client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	agencies, err := RegisterAgencies(ctx, admin, t.TempDir(), c.Addresses(), killCodes, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if serving := c.Serving(ctx); len(serving) != 1 {
		t.Fatalf("nodes %v answer writes: want exactly one leader", serving)
	}
	seed := hubtest.Seed(t, "NDXP_KILL_SEED")
	t.Logf("seed %d (replay recipients with NDXP_KILL_SEED=%d)", seed, seed)
	l, err := NewLoad(ctx, LoadConfig{Agencies: agencies, Address: c.Addresses(), Tag: "k", Pace: killPace, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	l.Start(ctx)
	t.Cleanup(l.Stop)
	return c, l, lead
}

func grepLog(log string, words ...string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) || strings.HasPrefix(line, "---") {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out[max(0, len(out)-60):], "\n")
}

// waitReceipts waits up to timeout for the load to hold n receipts.
func waitReceipts(t *testing.T, l *Load, n int, timeout time.Duration, when string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for l.Receipts() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d receipts after %s, want %d; send failures by code: %v", when, l.Receipts(), timeout, n, l.failuresByCode())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *Load) failuresByCode() map[codes.Code]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.failures)
}

func killLeaderRun(t *testing.T, bin string) runResult {
	start := time.Now()
	c, l, lead := startCluster(t, bin)
	ctx := context.Background()
	waitReceipts(t, l, killStep, 30*time.Second, "before the kill")

	killed := c.Nodes[lead]
	killAt := time.Now()
	pid := killed.PID()
	killed.Kill()
	t.Logf("SIGKILL leader %s (pid %d) at %d receipts", killed.ID, pid, l.Receipts())
	next, err := c.WaitLeader(ctx, 20*time.Second)
	if err != nil {
		t.Fatalf("no node leads 20 s after the leader's kill: %v", err)
	}
	elected := time.Since(killAt)
	t.Logf("%s leads %s after the kill", c.Nodes[next].ID, elected.Round(time.Millisecond))
	waitReceipts(t, l, l.Receipts()+killStep, 30*time.Second, "after the kill")

	c.Start(lead)
	waitReceipts(t, l, l.Receipts()+killStep, 30*time.Second, "after the restart")
	if serving := c.Serving(ctx); len(serving) != 1 {
		t.Errorf("after the restart nodes %v answer writes: want exactly one leader", serving)
	}
	return finishRun(t, c, l, start, killAt, elected)
}

func killTwoRun(t *testing.T, bin string) runResult {
	start := time.Now()
	c, l, lead := startCluster(t, bin)
	ctx := context.Background()
	follower, last := (lead+1)%3, (lead+2)%3
	waitReceipts(t, l, killStep/2, 30*time.Second, "before the kills")

	c.Nodes[follower].Kill()
	t.Logf("SIGKILL follower %s at %d receipts", c.Nodes[follower].ID, l.Receipts())
	waitReceipts(t, l, l.Receipts()+killStep/2, 30*time.Second, "with a follower down")

	killAt := time.Now()
	c.Nodes[lead].Kill()
	after := l.H.Now() // no attempt called from now on can reach a node that may commit
	t.Logf("SIGKILL leader %s at %d receipts; %s is alone", c.Nodes[lead].ID, l.Receipts(), c.Nodes[last].ID)

	// The last node must refuse every write while it is alone, whatever
	// it believed a moment ago.
	answers := map[codes.Code]int{}
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		err := c.probe(ctx, c.Nodes[last].Info.GRPC)
		answers[status.Code(err)]++
		if code := status.Code(err); code != codes.Unavailable {
			t.Errorf("the last node, alone, answered a write with %v (%v); want UNAVAILABLE", code, err)
			break
		}
	}
	t.Logf("the last node, alone, answered writes with %v", answers)
	if n := l.ReceiptsCalledAfter(after); n > 0 {
		t.Errorf("split brain: %d sends called after the second kill were receipted by the last node alone", n)
	}

	c.Start(follower)
	t.Logf("restarted %s", c.Nodes[follower].ID)
	next, err := c.WaitLeader(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("no leader 30 s after a second node returned: %v", err)
	}
	elected := time.Since(killAt)
	t.Logf("%s leads %s after the second kill", c.Nodes[next].ID, elected.Round(time.Millisecond))
	waitReceipts(t, l, l.Receipts()+killStep/2, 30*time.Second, "after the follower's return")
	c.Start(lead)
	waitReceipts(t, l, l.Receipts()+killStep/2, 30*time.Second, "after the leader's return")
	return finishRun(t, c, l, start, killAt, elected)
}

// finishRun stops the load, checks what it saw, and compares the nodes.
func finishRun(t *testing.T, c *Cluster, l *Load, start, killAt time.Time, elected time.Duration) runResult {
	t.Helper()
	l.StopSends()
	if err := l.Drain(60 * time.Second); err != nil {
		t.Error(err)
	}
	l.Stop()
	s := l.Finish(time.Minute)
	res := runResult{sum: s, elected: elected}
	res.gap, res.gapErr = l.FailoverGap(killAt)

	for _, v := range s.Check.Violations[:min(len(s.Check.Violations), 10)] {
		t.Errorf("history checker: %s", v)
	}
	if len(s.Check.Violations) > 0 {
		t.Errorf("history checker: %d of %d documents have impossible histories", len(s.Check.Violations), s.Check.Documents)
	}
	if len(s.Check.Inconclusive) > 0 {
		t.Errorf("history checker ran out of time on %d documents: %v", len(s.Check.Inconclusive), s.Check.Inconclusive[:min(10, len(s.Check.Inconclusive))])
	}
	checkCatches(t, l.H.Operations())
	if len(s.Missing) > 0 {
		t.Errorf("%d receipted deliveries never reached the handler, e.g. %v", len(s.Missing), s.Missing[:min(10, len(s.Missing))])
	}
	if s.Duplicates > 0 {
		t.Errorf("%d handler calls for documents the recipient had already handled", s.Duplicates)
	}
	for _, p := range s.Problems {
		t.Errorf("load: %s", p)
	}

	// The cluster's own report should name the node that serves.
	if lead, err := c.Leader(context.Background()); err != nil {
		t.Errorf("no leader at the end of the run: %v", err)
	} else if st, err := c.StatusLeader(context.Background()); err != nil {
		t.Logf("ndxpctl cluster status: %v", err)
	} else if st != lead {
		t.Errorf("ndxpctl cluster status names %s the leader; %s answers writes", c.Nodes[st].ID, c.Nodes[lead].ID)
	}

	// `ndxpctl check` against the cluster: it reaches the leader.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(c.bin, "ndxpctl"), "--creds", c.Layout.AdminCreds, "check").CombinedOutput(); err != nil {
		t.Errorf("ndxpctl check: %v\n%s", err, out)
	}
	res.nodeDocs, res.gaps = compareNodes(t, c)
	res.totalTime = time.Since(start)
	fmt.Printf("kill run: planned=%d receipted=%d gave_up=%d attempts=%d failed=%d %v fetch_errors=%v expected_deliveries=%d delivered=%d missing=%d duplicates=%d "+
		"status_events=%d reconnects=%d history_ops=%d violations=%d failover_gap=%s (%v) elected_in=%s node_docs=%v bodies_missing_on_a_node=%d leaked_files=%d took=%s\n",
		s.Planned, s.Receipted, s.GaveUp, s.Attempts, s.FailedAttempts, s.FailuresByCode, s.FetchErrors, s.Expected, s.Delivered, len(s.Missing), s.Duplicates,
		s.StatusEvents, s.Reconnects, s.Check.Operations, len(s.Check.Violations), res.gap.Round(time.Millisecond), res.gapErr,
		elected.Round(time.Millisecond), res.nodeDocs, res.gaps.missingBodies, res.gaps.leakedFiles, res.totalTime.Round(time.Millisecond))
	return res
}

// compareNodes waits a moment for the followers to apply the last
// entries, stops every node cleanly, and compares their stores: each
// whole by the hub's own checker, and all holding the same documents and
// queues. It returns each node's document count.
//
// A node that was down while a body file was pushed lacks it until its
// periodic check of its files against its records (hub.CheckBodies, 5 s
// after it starts) fetches it: compareNodes waits for that check, and a
// body still missing then fails the run. Body files no record names, and
// temporary uploads, are removed by that check only once an hour old (a
// send may still be about to name them), so a run leaves them: they are
// counted and logged, and fail only with NDXP_KILL_STRICT=1.
func compareNodes(t *testing.T, c *Cluster) (counts []int, gaps storeGaps) {
	t.Helper()
	strict := os.Getenv("NDXP_KILL_STRICT") == "1"
	time.Sleep(2 * time.Second) // replication of the last acknowledgements; a bound, not a measure
	// Each node's first check of its files, 5 s after its start, and a
	// margin for its fetches: a bound, not a measure.
	for _, nd := range c.Nodes {
		if wait := time.Until(nd.Started().Add(8 * time.Second)); wait > 0 {
			time.Sleep(wait)
		}
	}
	for _, nd := range c.Nodes {
		if err := nd.Stop(20 * time.Second); err != nil {
			t.Errorf("stop %s: %v", nd.ID, err)
		}
	}
	var first *hubtest.StoreContents
	for _, nd := range c.Nodes {
		sc := hubtest.VerifyStore(t, nd.Info.DataDir)
		counts = append(counts, len(sc.Documents))
		for _, p := range sc.Problems {
			known := true
			switch {
			case strings.Contains(p, "body file missing"):
				gaps.missingBodies++
				if holders := c.bodyHolders(blobOf(p)); len(holders) == 0 {
					t.Errorf("store of %s: %s; and no node holds the body: lost", nd.ID, p)
				} else {
					t.Errorf("store of %s: %s; held by %v, not fetched by the node's check of its files", nd.ID, p, holders)
				}
				known = false
			case strings.Contains(p, "temporary uploads left behind"), strings.Contains(p, "body files have no record"):
				gaps.leakedFiles++
			default:
				t.Errorf("store of %s: %s", nd.ID, p)
				known = false
			}
			if known && strict {
				t.Errorf("store of %s: %s", nd.ID, p)
			} else if known {
				t.Logf("store of %s (known gap, NDXP_KILL_STRICT=1 fails it): %s", nd.ID, p)
			}
		}
		if first == nil {
			first = &sc
			continue
		}
		if !maps.EqualFunc(first.Documents, sc.Documents, func(a, b hubtest.StoredDocument) bool {
			return a.ID == b.ID && a.Reference == b.Reference && slices.Equal(a.Recipients, b.Recipients)
		}) {
			var only []string
			for id := range first.Documents {
				if _, ok := sc.Documents[id]; !ok {
					only = append(only, c.Nodes[0].ID+":"+id)
				}
			}
			for id := range sc.Documents {
				if _, ok := first.Documents[id]; !ok {
					only = append(only, nd.ID+":"+id)
				}
			}
			sort.Strings(only)
			t.Errorf("%s holds %d documents, %s %d; held by one only: %v", c.Nodes[0].ID, len(first.Documents), nd.ID, len(sc.Documents), only[:min(10, len(only))])
		}
		if first.Queued != sc.Queued {
			t.Errorf("%s has %d events queued, %s %d", c.Nodes[0].ID, first.Queued, nd.ID, sc.Queued)
		}
	}
	return counts, gaps
}

// storeGaps counts the known gaps compareNodes found.
type storeGaps struct {
	missingBodies int // body files a node lacks that another holds
	leakedFiles   int // problems naming unswept temporary or unreferenced files
}

// blobOf is the body sum a checker problem names: "(blob SUM: ...)".
func blobOf(problem string) string {
	_, rest, ok := strings.Cut(problem, "(blob ")
	if !ok {
		return ""
	}
	sum, _, _ := strings.Cut(rest, ":")
	return sum
}

// bodyHolders lists the nodes whose blob directory holds the body sum.
func (c *Cluster) bodyHolders(sum string) []string {
	var ids []string
	if len(sum) < 3 {
		return nil
	}
	for _, nd := range c.Nodes {
		if _, err := os.Stat(filepath.Join(nd.Info.DataDir, server.BlobDir, sum[:2], sum)); err == nil {
			ids = append(ids, nd.ID)
		}
	}
	return ids
}

// report prints the figures of every run and their sum.
func report(t *testing.T, name string, results []runResult) {
	var failures, receipted, expected, delivered, missing, dups, violations, gaveUp, bodyGaps, leaks, gapRuns int
	var gaps, elected []time.Duration
	for _, r := range results {
		if r.failed {
			failures++
		}
		receipted += r.sum.Receipted
		expected += r.sum.Expected
		delivered += r.sum.Delivered
		missing += len(r.sum.Missing)
		dups += r.sum.Duplicates
		violations += len(r.sum.Check.Violations)
		gaveUp += r.sum.GaveUp
		bodyGaps += r.gaps.missingBodies
		leaks += r.gaps.leakedFiles
		if r.gaps != (storeGaps{}) {
			gapRuns++
		}
		if r.gapErr == nil && r.gap > 0 {
			gaps = append(gaps, r.gap)
		}
		if r.elected > 0 {
			elected = append(elected, r.elected)
		}
	}
	line := fmt.Sprintf("%s: runs=%d failures=%d receipted=%d expected_deliveries=%d delivered=%d missing=%d duplicates=%d violations=%d gave_up=%d "+
		"failover_gap median=%s max=%s; leader_answering median=%s max=%s; known gaps: runs=%d bodies_missing_on_a_node=%d leaked_files=%d",
		name, len(results), failures, receipted, expected, delivered, missing, dups, violations, gaveUp,
		median(gaps), maxOf(gaps), median(elected), maxOf(elected), gapRuns, bodyGaps, leaks)
	t.Log(line)
	fmt.Println(line)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2].Round(time.Millisecond)
}

func maxOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds).Round(time.Millisecond)
}

// checkCatches replays the run's own history with one delivery repeated
// and with a receipted document lost (its deliveries and statuses gone,
// the end counting none): the checker must refuse both, so a pass above
// is not a checker that passes everything.
func checkCatches(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	receipted := map[string]bool{}
	for _, op := range ops {
		if in := op.Input.(Input); in.Kind == Send && op.Output.(Output).Outcome == OK {
			receipted[in.Ref] = true
		}
	}
	var deliver *porcupine.Operation
	for i := range ops {
		if in := ops[i].Input.(Input); in.Kind == Deliver && receipted[in.Ref] {
			deliver = &ops[i]
			break
		}
	}
	if deliver == nil {
		t.Error("the run's history has no delivery of a receipted document")
		return
	}
	dup := *deliver
	dup.Call, dup.Return = deliver.Return+1, deliver.Return+2
	if r := Check(append(slices.Clone(ops), dup), time.Minute); len(r.Violations) == 0 {
		t.Error("the checker accepts the run's history with a delivery repeated")
	}
	ref, id := deliver.Input.(Input).Ref, deliver.Input.(Input).ID
	var lost []porcupine.Operation
	for _, op := range ops {
		in := op.Input.(Input)
		switch {
		case in.Ref == ref && (in.Kind == Deliver || in.Kind == Ack || in.Kind == Report):
			continue
		case in.Kind == Status && in.ID == id:
			continue
		case in.Ref == ref && (in.Kind == Final || in.Kind == FinalStatus):
			op.Output = Output{N: 0}
		}
		lost = append(lost, op)
	}
	if r := Check(lost, time.Minute); len(r.Violations) == 0 {
		t.Error("the checker accepts the run's history with a receipted document lost")
	}
}
