package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// nodeStatus asks the node at addr for its own status, on its own
// connection (the SDK's stubs would follow a hint to the leader).
func nodeStatus(t *testing.T, creds, addr string) (*ndxpv1.GetClusterStatusResponse, error) {
	t.Helper()
	c, err := client.Dial(context.Background(), creds, client.WithAddress(addr))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return ndxpv1.NewClusterServiceClient(c.Conn()).GetClusterStatus(testCtx(t), &ndxpv1.GetClusterStatusRequest{})
}

// delivery counts, per document id, the arrivals a recipient's handler
// sees.
type delivery struct {
	mu   sync.Mutex
	seen map[string]int
	done chan error
}

// subscribe counts recipient's arrivals until ctx ends; with fetch, the
// handler first fetches every attachment and checks its size, so an
// arrival counts only once its bodies could be read from the node that
// leads.
func subscribe(ctx context.Context, recipient *client.Client, fetch bool) *delivery {
	d := &delivery{seen: map[string]int{}, done: make(chan error, 1)}
	go func() {
		d.done <- recipient.Subscribe(ctx, func(ctx context.Context, ev *ndxpv1.Event) error {
			if ev.GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
				return nil
			}
			for i, a := range ev.GetDocument().GetHeader().GetAttachments() {
				if !fetch {
					break // counted as it arrives
				}
				var b bytes.Buffer
				if _, err := recipient.FetchAttachment(ctx, ev.GetDocument(), i, &b); err != nil {
					return fmt.Errorf("fetch %s/%d: %w", ev.GetDocumentId(), i, err)
				}
				if int64(b.Len()) != a.GetSize() {
					return fmt.Errorf("fetch %s/%d: %d bytes, want %d", ev.GetDocumentId(), i, b.Len(), a.GetSize())
				}
			}
			d.mu.Lock()
			d.seen[ev.GetDocumentId()]++
			d.mu.Unlock()
			return nil
		})
	}()
	return d
}

// wait waits until every id was seen.
func (d *delivery) wait(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d.mu.Lock()
		missing := 0
		for _, id := range ids {
			if d.seen[id] == 0 {
				missing++
			}
		}
		d.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipted documents not delivered", missing, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// once fails for any document the handler saw twice.
func (d *delivery) once(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, n := range d.seen {
		if n > 1 {
			t.Errorf("the handler saw %s %d times", id, n)
		}
	}
}

// startNewNode writes the files of a node to add to the cluster laid out
// in dir, as ndxpctl cluster node --from does, on fresh addresses; lets
// prepare act on them (nil: nothing); and starts the node, which waits to
// be added.
func startNewNode(t *testing.T, dir, id string, prepare func(*server.NodeFiles)) (*server.Daemon, *server.NodeFiles) {
	t.Helper()
	spec, err := server.NodeSpecFromLayout(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	spec.GRPC, spec.HTTP, spec.Raft = hubtest.FreeAddr(t), hubtest.FreeAddr(t), hubtest.FreeAddr(t)
	nf, err := server.WriteClusterNode(spec, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(nf)
	}
	cfg := server.DefaultConfig()
	if err := server.LoadConfigFile(nf.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.LogLevel = "warn"
	d, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { d.Close() })
	return d, nf
}

// sendDoc sends one document, a large attachment (a file copied between
// nodes) every fourth, and returns its id.
func sendDoc(ctx context.Context, sender *client.Client, from, to string, n int) (string, error) {
	atts := []client.Attachment{{Name: "a.txt", MediaType: "text/plain", Body: bytes.NewReader([]byte("nội dung"))}}
	if n%4 == 0 {
		big := bytes.Repeat(fmt.Appendf(nil, "%08d", n), 40<<10)
		atts = append(atts, client.Attachment{Name: "big.bin", Body: bytes.NewReader(big)})
	}
	r, err := sender.Send(ctx, &ndxpv1.DocumentHeader{
		Recipients: []string{to}, Number: fmt.Sprint(n), Notation: "VPCP-TTĐT",
		Subject: "cluster", Reference: client.NewReference(from, time.Now()),
	}, atts)
	return r.GetDocumentId(), err
}

// waitSameStore waits until node's store has applied every record the
// leader's has.
func waitSameStore(t *testing.T, leader, node *server.Daemon) {
	t.Helper()
	want := leader.StorePublished()
	deadline := time.Now().Add(30 * time.Second)
	for node.StorePublished() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the node's store is at record %d, the leader's at %d", node.StorePublished(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backup takes a backup as ndxpctl backup does: through the Maintenance
// API, which the leader answers.
func backup(t *testing.T, admin *client.Client) []byte {
	t.Helper()
	stream, err := admin.Maintenance.Backup(testCtx(t), &ndxpv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return archive.Bytes()
		}
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		archive.Write(msg.GetData())
	}
}

// TestClusterReplaceNode: under a steady load of sends, a fourth node is
// made with WriteClusterNode, started, added through the admin API and
// catches up; then an original follower is stopped for good and removed.
// Every send succeeds, and every receipted document is delivered once.
func TestClusterReplaceNode(t *testing.T) {
	c := startCluster(t)
	c.leader()
	admin := c.admin()
	sender := c.agency(admin, "000.00.00.G22")
	recipient := c.agency(admin, "000.00.00.H41")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := subscribe(ctx, recipient, false)

	// The load: one sender, back to back, until stopped.
	var mu sync.Mutex
	var receipted []string
	var sendErr error
	stopSends := make(chan struct{})
	sendsDone := make(chan struct{})
	go func() {
		defer close(sendsDone)
		for n := 1; ; n++ {
			select {
			case <-stopSends:
				return
			default:
			}
			id, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", n)
			mu.Lock()
			if err != nil {
				sendErr = fmt.Errorf("send %d: %w", n, err)
			} else {
				receipted = append(receipted, id)
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		if sendErr != nil {
			t.Fatal(sendErr)
		}
		return len(receipted)
	}
	waitSends := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for start := sent(); sent() < start+n; {
			if time.Now().After(deadline) {
				t.Fatalf("sends stalled at %d", sent())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSends(10)

	// The fourth node's files, as ndxpctl cluster node --from writes them.
	n4, nf := startNewNode(t, c.layout.Dir, "n4", nil)
	// Not added yet, it waits: it neither leads nor starts a cluster.
	if st, err := nodeStatus(t, c.layout.AdminCreds, nf.GRPC); err != nil || st.GetNode().GetState() == "Leader" {
		t.Fatalf("n4 before it is added: %v, %v", st.GetNode(), err)
	}
	waitSends(5)

	if _, err := admin.Cluster.AddClusterNode(testCtx(t), &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: nf.Raft, Grpc: nf.GRPC}); err != nil {
		t.Fatalf("add n4: %v", err)
	}
	// It catches up: its applied index reaches what the leader had
	// applied once it was added.
	lead := c.leader()
	ls, err := nodeStatus(t, c.layout.AdminCreds, c.layout.Nodes[lead].GRPC)
	if err != nil {
		t.Fatal(err)
	}
	target := ls.GetNode().GetAppliedIndex()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := nodeStatus(t, c.layout.AdminCreds, nf.GRPC)
		if err == nil && st.GetNode().GetAppliedIndex() >= target {
			if st.GetNode().GetState() != "Follower" {
				t.Errorf("n4 caught up as %s, want Follower", st.GetNode().GetState())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n4 has not caught up with the leader's applied index %d: %v, %v", target, st.GetNode(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitSends(5)

	// An original follower dies for good and is removed.
	dead := (lead + 1) % 3
	deadID := c.layout.Nodes[dead].ID
	c.stop(dead)
	waitSends(5)
	r, err := admin.Cluster.RemoveClusterNode(testCtx(t), &ndxpv1.RemoveClusterNodeRequest{Id: deadID})
	if err != nil {
		t.Fatalf("remove %s: %v", deadID, err)
	}
	var ids []string
	for _, m := range r.GetMembers() {
		ids = append(ids, m.GetId())
	}
	slices.Sort(ids)
	want := []string{"n1", "n2", "n3", "n4"}
	want = slices.DeleteFunc(want, func(id string) bool { return id == deadID })
	if !slices.Equal(ids, want) {
		t.Errorf("members after the removal: %v, want %v", ids, want)
	}
	// n4 names every member, itself included, by its gRPC address.
	st, err := nodeStatus(t, c.layout.AdminCreds, nf.GRPC)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.GetMembers() {
		if m.GetGrpc() == "" {
			t.Errorf("n4 knows no gRPC address of %s", m.GetId())
		}
	}
	// A credential issued now names the members now: n4, not the dead node.
	csr, _, err := pki.NewCSR(pki.AgencyIdentity("000.00.00.G22"))
	if err != nil {
		t.Fatal(err)
	}
	issued, err := admin.Registry.IssueCredential(testCtx(t), &ndxpv1.IssueCredentialRequest{Code: "000.00.00.G22", Csr: csr})
	if err != nil {
		t.Fatal(err)
	}
	if addrs := issued.GetHubAddress(); !strings.Contains(addrs, nf.GRPC) || strings.Contains(addrs, c.layout.Nodes[dead].GRPC) {
		t.Errorf("a credential issued after the change names %s; want %s in, %s out", addrs, nf.GRPC, c.layout.Nodes[dead].GRPC)
	}
	waitSends(10)
	close(stopSends)
	<-sendsDone
	n := sent()
	// Its store holds every record, not only its Raft log.
	waitSameStore(t, c.daemons[c.leader()], n4)

	mu.Lock()
	ids = slices.Clone(receipted)
	mu.Unlock()
	got.wait(t, ids)
	got.once(t)
	cancel()
	<-got.done
	t.Logf("%d documents sent and delivered across the change", n)
}

// TestClusterSeededFromBackup: a backup of a cluster's leader, restored
// into every node's data directory of a new cluster before its first
// start, seeds it: the agencies and documents are there, and new sends
// are delivered.
func TestClusterSeededFromBackup(t *testing.T) {
	old := startCluster(t)
	old.leader()
	admin := old.admin()
	sender := old.agency(admin, "000.00.00.G22")
	old.agency(admin, "000.00.00.H41")
	var before []string
	for n := 1; n <= 12; n++ {
		id, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", n)
		if err != nil {
			t.Fatalf("send %d: %v", n, err)
		}
		before = append(before, id)
	}
	archive := backup(t, admin)
	for i := range old.daemons {
		old.stop(i)
	}

	// A new cluster, with its own CA and ports: ndxpd restore into each
	// node's data directory, then the first start.
	l, err := server.InitCluster(t.TempDir(), 3, freeBasePort(t, 3), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		rep, err := server.Restore(testCtx(t), bytes.NewReader(archive), n.DataDir, false)
		if err != nil {
			t.Fatalf("restore into %s: %v", n.ID, err)
		}
		if rep.Documents != int64(len(before)) {
			t.Errorf("restored into %s: %d documents, want %d", n.ID, rep.Documents, len(before))
		}
	}
	c := startLayout(t, l)
	c.leader()
	admin = c.admin()
	for _, code := range []string{"000.00.00.G22", "000.00.00.H41"} {
		if _, err := admin.Registry.GetAgency(testCtx(t), &ndxpv1.GetAgencyRequest{Code: code}); err != nil {
			t.Errorf("agency %s after the restore: %v", code, err)
		}
	}
	// The agencies are registered already; the new CA issues them new
	// credentials.
	dial := func(code string) *client.Client {
		a, err := client.Dial(context.Background(), hubtest.IssueCreds(t, admin, code, strings.Join(l.Addresses, ",")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	sender, recipient := dial("000.00.00.G22"), dial("000.00.00.H41")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := subscribe(ctx, recipient, false)
	all := slices.Clone(before)
	for n := 13; n <= 20; n++ {
		id, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", n)
		if err != nil {
			t.Fatalf("send %d to the seeded cluster: %v", n, err)
		}
		all = append(all, id)
	}
	got.wait(t, all)
	got.once(t)
	cancel()
	<-got.done

	// A node added later cannot catch up from the log alone, which starts
	// after the seed: it is seeded too, with a fresh backup.
	n4, nf := startNewNode(t, l.Dir, "n4", func(nf *server.NodeFiles) {
		if _, err := server.Restore(testCtx(t), bytes.NewReader(backup(t, admin)), nf.DataDir, false); err != nil {
			t.Fatalf("restore into n4: %v", err)
		}
	})
	if _, err := admin.Cluster.AddClusterNode(testCtx(t), &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: nf.Raft, Grpc: nf.GRPC}); err != nil {
		t.Fatalf("add n4: %v", err)
	}
	if _, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", 21); err != nil {
		t.Fatal(err)
	}
	waitSameStore(t, c.daemons[c.leader()], n4)

	// Every node holds the same records: a new leader serves them too.
	lead := c.leader()
	c.stop(lead)
	c.leader()
	if _, err := sendDoc(testCtx(t), sender, "000.00.00.G22", "000.00.00.H41", 22); err != nil {
		t.Fatalf("send after the seeded cluster's failover: %v", err)
	}
}
