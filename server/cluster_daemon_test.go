package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/leader"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// testCluster is three ndxpd daemons in this process, each a node of one
// cluster as ndxpctl cluster init writes it, with Raft between them over
// mutual TLS on loopback.
type testCluster struct {
	t       *testing.T
	layout  *server.ClusterLayout
	cfgs    []server.Config
	daemons []*server.Daemon // nil while a node is stopped
}

// freeBasePort finds a base port whose cluster ports are all free now.
func freeBasePort(t *testing.T, nodes int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(400)*100
		free := true
		for p := base; p < base+10*nodes && free; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports for a cluster")
	return 0
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	l, err := server.InitCluster(t.TempDir(), 3, freeBasePort(t, 3), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return startLayout(t, l)
}

// startLayout starts every node of a layout InitCluster wrote.
func startLayout(t *testing.T, l *server.ClusterLayout) *testCluster {
	t.Helper()
	c := &testCluster{t: t, layout: l}
	for _, n := range l.Nodes {
		cfg := server.DefaultConfig()
		if err := server.LoadConfigFile(n.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg.LogLevel = "warn"
		c.cfgs = append(c.cfgs, cfg)
		c.daemons = append(c.daemons, nil)
	}
	for i := range c.cfgs {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.daemons {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	d, err := server.Start(context.Background(), c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	c.daemons[i] = d
}

func (c *testCluster) stop(i int) {
	if d := c.daemons[i]; d != nil {
		d.Close()
		c.daemons[i] = nil
	}
}

// leader waits for a node that serves, and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, d := range c.daemons {
			if d != nil && d.Leading() {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("no node leads")
	return -1
}

func (c *testCluster) admin() *client.Client {
	c.t.Helper()
	a, err := client.Dial(context.Background(), c.layout.AdminCreds)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { a.Close() })
	return a
}

// agency registers code and returns a client of its credential, which
// lists every node.
func (c *testCluster) agency(admin *client.Client, code string) *client.Client {
	c.t.Helper()
	if _, err := admin.Registry.CreateAgency(testCtx(c.t), &ndxpv1.CreateAgencyRequest{
		Agency: &ndxpv1.Agency{Code: code, Name: "Agency " + code, Stage: ndxpv1.Stage_STAGE_PRODUCTION},
	}); err != nil {
		c.t.Fatalf("add agency %s: %v", code, err)
	}
	path := hubtest.IssueCreds(c.t, admin, code, strings.Join(c.layout.Addresses, ","))
	a, err := client.Dial(context.Background(), path)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { a.Close() })
	return a
}

// TestClusterFollowerNamesTheLeader: a follower answers the hub's calls
// with UNAVAILABLE naming the leader's gRPC address, and the SDK, given
// every address, reaches the leader by itself.
func TestClusterFollowerNamesTheLeader(t *testing.T) {
	c := startCluster(t)
	lead := c.leader()
	admin := c.admin()
	if _, err := admin.Registry.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Fatalf("admin call through the SDK: %v", err)
	}
	follower := (lead + 1) % 3
	direct, err := client.Dial(context.Background(), c.layout.AdminCreds, client.WithAddress(c.layout.Nodes[follower].GRPC))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	_, err = ndxpv1.NewRegistryServiceClient(direct.Conn()).GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a follower answered %v, want UNAVAILABLE", err)
	}
	if hint, ok := leader.Hint(err); !ok || hint != c.layout.Nodes[lead].GRPC {
		t.Errorf("the follower's hint: %q (%v), want the leader's %s", hint, ok, c.layout.Nodes[lead].GRPC)
	}
}

// TestClusterFailover: under a steady load of sends, the leader stops; a
// new leader serves, every document that got a receipt is delivered to
// its recipient with its attachments (large ones are files, copied to a
// majority before the receipt, fetched by a node that lacks one), and the
// handler sees none twice.
func TestClusterFailover(t *testing.T) {
	c := startCluster(t)
	c.leader()
	admin := c.admin()
	sender := c.agency(admin, "000.00.00.G22")
	recipient := c.agency(admin, "000.00.00.H41")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var receipted []string
	send := func(n int) {
		t.Helper()
		for range n {
			// Every fourth over the hub's inline limit: a file, copied between nodes.
			id, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", len(receipted)+1)
			if err != nil {
				t.Fatalf("send %d: %v", len(receipted)+1, err)
			}
			receipted = append(receipted, id)
		}
	}
	send(20)
	old := c.leader()
	c.stop(old)
	// The recipient comes after the stop, so that what was sent before
	// is fetched from the new leader: every attachment, the large ones
	// from whichever node leads now, which may not have been given
	// their file.
	got := subscribe(ctx, recipient, true)
	send(20)
	c.start(old)
	send(5)
	got.wait(t, receipted)
	cancel()
	<-got.done
	got.once(t)
}

// TestClusterBodyCheck: a node down while large attachments were sent
// gets their files from its peers when it checks its files against its
// records, and drops old files no record names (a send abandoned after
// its push), leaving recent ones (a send that may still commit).
func TestClusterBodyCheck(t *testing.T) {
	c := startCluster(t)
	lead := c.leader()
	admin := c.admin()
	sender := c.agency(admin, "000.00.00.G22")
	c.agency(admin, "000.00.00.H41")
	down := (lead + 1) % 3
	c.stop(down)
	const n = 3
	var sums []string
	for i := range n {
		big := bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), 40<<10)
		d := sha256.Sum256(big)
		sums = append(sums, hex.EncodeToString(d[:]))
		if _, err := sender.Send(testCtx(t), &ndxpv1.DocumentHeader{
			Recipients: []string{"000.00.00.H41"}, Number: fmt.Sprint(i + 1), Notation: "VPCP-TTĐT", Subject: "body check",
		}, []client.Attachment{{Name: "big.bin", Body: bytes.NewReader(big)}}); err != nil {
			t.Fatal(err)
		}
	}
	c.start(down)
	waitSameStore(t, c.daemons[c.leader()], c.daemons[down])

	files, err := store.OpenFiles(filepath.Join(c.cfgs[down].DataDir, server.BlobDir))
	if err != nil {
		t.Fatal(err)
	}
	orphan := func(seed byte, age time.Duration) string {
		w, err := files.Create()
		if err != nil {
			t.Fatal(err)
		}
		w.Write(bytes.Repeat([]byte{seed}, 100<<10))
		sum, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(files.Dir(), sum[:2], sum), at, at); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	old, recent := orphan('o', 2*time.Hour), orphan('r', time.Minute)

	got, err := c.daemons[down].Hub().CheckBodies(testCtx(t), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The node's own periodic check may have run first: what counts is
	// what the node holds now.
	if len(got.Missing) != 0 {
		t.Errorf("CheckBodies: %+v, want none missing", got)
	}
	present := map[string]bool{old: false, recent: true}
	for _, sum := range sums {
		present[sum] = true
	}
	for sum, want := range present {
		f, err := files.Open(sum)
		if err == nil {
			f.Close()
		}
		if (err == nil) != want {
			t.Errorf("orphan %s… present %v, want %v", sum[:8], err == nil, want)
		}
	}
	again, err := c.daemons[down].Hub().CheckBodies(testCtx(t), time.Now().Add(-time.Hour))
	if err != nil || again.Fetched != 0 || again.Removed != 0 {
		t.Errorf("a second CheckBodies: %+v, %v; want nothing to do", again, err)
	}
}

// TestClusterPartition: the leader is cut off from the two other nodes
// (their Raft and body traffic, not the agencies' gRPC). It commits
// nothing more; the agency's SDK, which may be connected to it, fails over
// to the majority's leader and keeps getting receipts; once healed, every
// receipted document is delivered once.
func TestClusterPartition(t *testing.T) {
	c := startCluster(t)
	old := c.leader()
	admin := c.admin()
	sender := c.agency(admin, "000.00.00.G22")
	recipient := c.agency(admin, "000.00.00.H41")
	var receipted []string
	send := func(n int) {
		t.Helper()
		for range n {
			r, err := sender.Send(testCtx(t), &ndxpv1.DocumentHeader{
				Recipients: []string{"000.00.00.H41"}, Number: fmt.Sprint(len(receipted) + 1), Notation: "VPCP-TTĐT", Subject: "partition",
			}, []client.Attachment{{Name: "a.txt", Body: bytes.NewReader([]byte("nội dung"))}})
			if err != nil {
				t.Fatalf("send %d: %v", len(receipted)+1, err)
			}
			receipted = append(receipted, r.GetDocumentId())
		}
	}
	send(5)

	isolate := func(on bool) {
		var others []string
		for i, n := range c.layout.Nodes {
			if i == old {
				continue
			}
			others = append(others, n.Raft)
			var cut []string
			if on {
				cut = []string{c.layout.Nodes[old].Raft}
			}
			c.daemons[i].Partition(cut)
		}
		if !on {
			others = nil
		}
		c.daemons[old].Partition(others)
	}
	isolate(true)
	// The minority accepts no writes: asked directly, the old leader
	// refuses once its lease has run out.
	direct, err := client.Dial(context.Background(), c.layout.AdminCreds, client.WithAddress(c.layout.Nodes[old].GRPC))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	reg := ndxpv1.NewRegistryServiceClient(direct.Conn())
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := reg.CreateAgency(testCtx(t), &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: "000.00.00.M01", Name: "minority"}})
		if status.Code(err) == codes.Unavailable {
			break
		}
		if err == nil || time.Now().After(deadline) {
			t.Fatalf("the cut-off leader answered a write with %v, want UNAVAILABLE", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	send(10) // through the SDK: to the majority's leader
	isolate(false)
	send(5)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := subscribe(ctx, recipient, false)
	got.wait(t, receipted)
	cancel()
	<-got.done
	got.once(t)
	// Healed, the old leader's higher term may call an election: wait it out.
	deadline = time.Now().Add(15 * time.Second)
	for {
		_, err := admin.Registry.GetAgency(testCtx(t), &ndxpv1.GetAgencyRequest{Code: "000.00.00.M01"})
		if status.Code(err) == codes.Unavailable && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if status.Code(err) != codes.NotFound {
			t.Errorf("the write the cut-off leader refused: GetAgency = %v, want NOT_FOUND", err)
		}
		break
	}
}

// TestClusterVXPOnAFollower: a follower's VXP API, whose SDK has one
// endpoint, answers 503 in the envelope, naming the leader, and the
// leader's answers as usual (here: the unsigned request refused, 401).
func TestClusterVXPOnAFollower(t *testing.T) {
	c := startCluster(t)
	lead := c.leader()
	pem, err := os.ReadFile(c.layout.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code := func(d *server.Daemon) (string, string) {
		t.Helper()
		resp, err := hc.Post(d.VXPURL()+"/getAgenciesList", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct{ Status, ErrorCode, ErrorDesc string }
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			t.Fatal(err)
		}
		return env.ErrorCode, env.ErrorDesc
	}
	got, desc := code(c.daemons[(lead+1)%3])
	if got != "503" || !strings.Contains(desc, c.layout.Nodes[lead].GRPC) {
		t.Errorf("a follower's VXP answer: %s %q, want 503 naming the leader %s", got, desc, c.layout.Nodes[lead].GRPC)
	}
	if got, _ := code(c.daemons[lead]); got != "401" {
		t.Errorf("the leader's VXP answer to an unsigned request: %s, want 401", got)
	}
}
