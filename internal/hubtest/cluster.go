package hubtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/store"
)

// FakeNode stands for a cluster node (server's clusterNode) in tests of
// the hub's cluster view, without Raft: its status, members and
// unreachable peers are what the test sets, and membership changes edit
// its member list.
type FakeNode struct {
	mu      sync.Mutex
	status  cluster.Status
	members []cluster.Member
	down    map[string]time.Time
}

// NewFakeNode returns the node st.ID of a cluster of members, in state
// st.State.
func NewFakeNode(st cluster.Status, members ...cluster.Member) *FakeNode {
	return &FakeNode{status: st, members: members, down: map[string]time.Time{}}
}

// Set changes the node's status.
func (f *FakeNode) Set(st cluster.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = st
}

// SetDown sets the peers it reports unreachable (as the leader).
func (f *FakeNode) SetDown(down map[string]time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = maps.Clone(down)
}

// Status implements clusterNode.
func (f *FakeNode) Status() cluster.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Members implements clusterNode.
func (f *FakeNode) Members() ([]cluster.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members), nil
}

// PeerDown implements clusterNode.
func (f *FakeNode) PeerDown() map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.down)
}

// AddVoter implements clusterNode: a leader adds (or moves) the member.
func (f *FakeNode) AddVoter(_ context.Context, id, raftAddr, grpcAddr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status.State != "Leader" {
		return fmt.Errorf("%w: the leader is %s", store.ErrNotLeader, f.status.LeaderID)
	}
	m := cluster.Member{ID: id, Raft: raftAddr, GRPC: grpcAddr, Voter: true}
	if i := slices.IndexFunc(f.members, func(m cluster.Member) bool { return m.ID == id }); i >= 0 {
		f.members[i] = m
	} else {
		f.members = append(f.members, m)
	}
	return nil
}

// RemoveServer implements clusterNode: a leader removes the member.
func (f *FakeNode) RemoveServer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status.State != "Leader" {
		return fmt.Errorf("%w: the leader is %s", store.ErrNotLeader, f.status.LeaderID)
	}
	i := slices.IndexFunc(f.members, func(m cluster.Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %q", cluster.ErrNoMember, id)
	}
	f.members = slices.Delete(f.members, i, i+1)
	return nil
}
