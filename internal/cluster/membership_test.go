package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// grpcOf is the made-up gRPC address the tests give a node.
func grpcOf(id string) string { return "127.0.0.1:7" + strings.TrimPrefix(id, "node") + "00" }

// startNamedCluster starts n nodes whose peers carry gRPC addresses.
func startNamedCluster(t *testing.T, n int) []*member {
	t.Helper()
	return startClusterWith(t, n, func(c *Config) {
		peers := slices.Clone(c.Peers)
		for i := range peers {
			peers[i].GRPC = grpcOf(peers[i].ID)
		}
		c.Peers = peers
	})
}

// waitMembers waits until m lists want (ids, in any order) with their
// gRPC addresses.
func waitMembers(t *testing.T, m *member, want ...string) []Member {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	var got []Member
	for {
		var err error
		got, err = m.node.Members()
		if err != nil {
			t.Fatalf("%s: Members: %v", m.cfg.ID, err)
		}
		var ids []string
		ok := true
		for _, x := range got {
			ids = append(ids, x.ID)
			ok = ok && x.GRPC == grpcOf(x.ID) && x.Voter && x.Raft != ""
		}
		slices.Sort(ids)
		if ok && slices.Equal(ids, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: members %+v, want %v with their gRPC addresses", m.cfg.ID, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMembers(t *testing.T) {
	ms := startNamedCluster(t, 3)
	leader(t, ms)
	for _, m := range ms {
		got := waitMembers(t, m, "node1", "node2", "node3")
		for _, x := range got {
			if i := slices.IndexFunc(ms, func(o *member) bool { return o.cfg.ID == x.ID }); x.Raft != ms[i].cfg.Bind {
				t.Errorf("%s: member %s at %s, want %s", m.cfg.ID, x.ID, x.Raft, ms[i].cfg.Bind)
			}
		}
	}
}

// writer writes to the current leader until stopped, counting answers.
type writer struct {
	ms   []*member
	n    atomic.Int64
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func startWriter(t *testing.T, ms []*member, prefix string) *writer {
	w := &writer{ms: ms, stop: make(chan struct{})}
	// Stopped before the nodes are, should the test end early.
	t.Cleanup(w.halt)
	w.wg.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			i := slices.IndexFunc(ms, func(m *member) bool { return m.node.Leading() })
			if i < 0 {
				continue // an election, in theory: this test's changes keep the leader
			}
			if err := put(t.Context(), ms[i].st, fmt.Sprintf("%s-%05d", prefix, k)); err != nil {
				w.mu.Lock()
				w.errs = append(w.errs, err)
				w.mu.Unlock()
				continue
			}
			w.n.Add(1)
		}
	})
	return w
}

func (w *writer) halt() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

func (w *writer) end(t *testing.T) {
	t.Helper()
	w.halt()
	if w.n.Load() == 0 {
		t.Errorf("no write answered during the change; errors: %v", w.errs)
	}
	for _, err := range w.errs {
		if !errors.Is(err, store.ErrNotLeader) {
			t.Errorf("write during the change: %v", err)
		}
	}
}

// TestAddRemoveVoter: a fourth node joins under writes, gets every
// record, is listed with its gRPC address by every node, and leaves.
func TestAddRemoveVoter(t *testing.T) {
	ms := startNamedCluster(t, 3)
	l := leader(t, ms)
	putMany(t, l.st, "before", 30)

	// Started without peers, the new node waits to be added.
	dir := t.TempDir()
	n4 := &member{cfg: Config{ID: "node4", Dir: filepath.Join(dir, "raft"), Bind: freeAddr(t),
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond},
		path: filepath.Join(dir, "ndxp.db")}
	n4.start(t)
	t.Cleanup(n4.kill)

	// A follower refuses, naming the leader.
	for _, m := range ms {
		if m == l {
			continue
		}
		err := m.node.AddVoter(t.Context(), "node4", n4.cfg.Bind, grpcOf("node4"))
		if !errors.Is(err, store.ErrNotLeader) || !strings.Contains(err.Error(), l.cfg.ID) {
			t.Errorf("AddVoter on follower %s: %v; want ErrNotLeader naming %s", m.cfg.ID, err, l.cfg.ID)
		}
	}
	if err := l.node.AddVoter(t.Context(), "Node 4", n4.cfg.Bind, grpcOf("node4")); err == nil {
		t.Error("AddVoter accepted the id \"Node 4\"")
	}
	if err := l.node.AddVoter(t.Context(), "node4", "nowhere", grpcOf("node4")); err == nil {
		t.Error("AddVoter accepted the Raft address \"nowhere\"")
	}

	w := startWriter(t, ms, "during-add")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.node.AddVoter(ctx, "node4", n4.cfg.Bind, grpcOf("node4")); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	w.end(t)
	all := append(slices.Clone(ms), n4)
	for _, m := range all {
		waitMembers(t, m, "node1", "node2", "node3", "node4")
	}
	has(t, n4, l.st.Published(), "before", 30)

	w = startWriter(t, ms, "during-remove")
	if err := l.node.RemoveServer(ctx, "node4"); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	w.end(t)
	for _, m := range ms {
		waitMembers(t, m, "node1", "node2", "node3")
	}
	if err := l.node.RemoveServer(ctx, "node9"); !errors.Is(err, ErrNoMember) {
		t.Errorf("RemoveServer of a stranger: %v, want ErrNoMember", err)
	}
	n4.kill()
	putMany(t, leader(t, ms).st, "after", 20)
}

func TestStatus(t *testing.T) {
	ms := startCluster(t, 3)
	l := leader(t, ms)
	putMany(t, l.st, "s", 50)
	ls := l.node.Status()
	if ls.ID != l.cfg.ID || ls.State != "Leader" || ls.LeaderID != l.cfg.ID || ls.LeaderRaft != l.cfg.Bind || ls.LastContact != 0 {
		t.Errorf("leader's status %+v", ls)
	}
	if ls.AppliedIndex == 0 || ls.AppliedIndex > ls.CommitIndex || ls.CommitIndex > ls.LastLogIndex {
		t.Errorf("leader's indexes: applied %d, commit %d, last %d", ls.AppliedIndex, ls.CommitIndex, ls.LastLogIndex)
	}
	for _, m := range ms {
		if m == l {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := m.node.Status()
			ok := s.ID == m.cfg.ID && s.State == "Follower" && s.LeaderID == l.cfg.ID && s.LeaderRaft == l.cfg.Bind &&
				s.LastContact >= 0 && s.LastContact < 2*time.Second &&
				s.AppliedIndex >= ls.CommitIndex && s.AppliedIndex <= s.CommitIndex && s.CommitIndex <= s.LastLogIndex
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v; leader's %+v", m.cfg.ID, s, ls)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestPeerDown: the leader reports a stopped follower within seconds,
// and stops once it is back; followers report nothing.
func TestPeerDown(t *testing.T) {
	ms := startCluster(t, 3)
	l := leader(t, ms)
	if d := l.node.PeerDown(); len(d) != 0 {
		t.Errorf("peers down with every node up: %v", d)
	}
	var f *member
	for _, m := range ms {
		if m != l {
			f = m
			break
		}
	}
	stopped := time.Now()
	f.kill()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := l.node.PeerDown()
		if since, ok := d[f.cfg.ID]; ok {
			if len(d) != 1 || since.After(time.Now()) || since.Before(stopped.Add(-5*time.Second)) {
				t.Errorf("peers down %v; want %s alone, since about %v", d, f.cfg.ID, stopped)
			}
			t.Logf("%s reported down after %v", f.cfg.ID, time.Since(stopped))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stopped 5 s ago and the leader reports %v", f.cfg.ID, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range ms {
		if m != l && m != f {
			if d := m.node.PeerDown(); len(d) != 0 {
				t.Errorf("follower %s reports peers down: %v", m.cfg.ID, d)
			}
		}
	}
	f.start(t)
	deadline = time.Now().Add(10 * time.Second)
	for len(l.node.PeerDown()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s is back and the leader still reports %v", f.cfg.ID, l.node.PeerDown())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMembersIgnoreAnotherClustersRecords: a gRPC address recorded for a
// member id at another Raft address (a store restored from another
// cluster's backup) is not taken for the member of that id here.
func TestMembersIgnoreAnotherClustersRecords(t *testing.T) {
	ms := startNamedCluster(t, 3)
	l := leader(t, ms)
	err := l.st.Update(t.Context(), func(tx store.Tx) error {
		return tx.Put(store.BucketMeta, []byte(grpcKeyPrefix+"node1"), grpcRecord("10.9.9.9:7502", "10.9.9.9:7500"))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.node.Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		if m.ID == "node1" && m.GRPC != grpcOf("node1") {
			t.Errorf("node1's gRPC address %q, want its own %q", m.GRPC, grpcOf("node1"))
		}
	}
}
