package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

// Membership: who is in the cluster, how each node is doing, and adding
// and removing nodes (docs/cluster.md, "Operating a cluster").

// Member is a server of the cluster's Raft configuration.
type Member struct {
	ID    string // node id
	Raft  string // Raft address, host:port
	GRPC  string // agency and admin gRPC address; "" when no node recorded it
	Voter bool
}

// Status is one node's own view of its Raft state.
type Status struct {
	ID         string
	State      string // Leader, Follower, Candidate or Shutdown
	LeaderID   string // "" while no leader is known
	LeaderRaft string
	// AppliedIndex, CommitIndex and LastLogIndex are Raft log indexes:
	// applied to the store here, known committed, and in the log here.
	AppliedIndex, CommitIndex, LastLogIndex uint64
	// LastContact is the time since the leader was last heard from: 0 on
	// the leader, -1 when never.
	LastContact time.Duration
}

// ErrNoMember: the node named is not in the cluster's configuration.
var ErrNoMember = errors.New("cluster: no such member")

// grpcKeyPrefix prefixes the store.BucketMeta keys that hold the gRPC
// address of each node added with AddVoter, so every node can name it.
// The value is "RAFT GRPC": a record applies only to the member at that
// Raft address, so that a store restored into another cluster reusing the
// ids does not name the old cluster's addresses.
const grpcKeyPrefix = "cluster_grpc/"

func grpcRecord(raftAddr, grpcAddr string) []byte { return []byte(raftAddr + " " + grpcAddr) }

// membershipTimeout bounds a membership change when ctx has no deadline.
const membershipTimeout = 30 * time.Second

// Members returns the servers of the latest Raft configuration, with the
// gRPC address recorded by AddVoter, else the one of Config.Peers.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster configuration: %w", err)
	}
	recorded := map[string]string{} // "id RAFT" -> gRPC address
	err := n.fsm.st.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(store.BucketMeta, []byte(grpcKeyPrefix), nil, func(k, v []byte) (bool, error) {
			if raftAddr, grpcAddr, ok := strings.Cut(string(v), " "); ok {
				recorded[strings.TrimPrefix(string(k), grpcKeyPrefix)+" "+raftAddr] = grpcAddr
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("recorded gRPC addresses: %w", err)
	}
	var ms []Member
	for _, s := range f.Configuration().Servers {
		m := Member{ID: string(s.ID), Raft: string(s.Address), GRPC: recorded[string(s.ID)+" "+string(s.Address)], Voter: s.Suffrage == raft.Voter}
		if m.GRPC == "" {
			if i := slices.IndexFunc(n.cfg.Peers, func(p Peer) bool { return p.ID == m.ID }); i >= 0 {
				m.GRPC = n.cfg.Peers[i].GRPC
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Status returns this node's view of its Raft state.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	s := Status{
		ID:           n.cfg.ID,
		State:        n.raft.State().String(),
		LeaderID:     string(id),
		LeaderRaft:   string(addr),
		AppliedIndex: n.raft.AppliedIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		LastLogIndex: n.raft.LastIndex(),
		LastContact:  -1,
	}
	switch last := n.raft.LastContact(); {
	case n.raft.State() == raft.Leader:
		s.LastContact = 0
	case !last.IsZero():
		s.LastContact = time.Since(last)
	}
	return s
}

// notLeader is the error of a change asked of a node that does not lead,
// naming the leader when one is known.
func (n *Node) notLeader() error {
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		return fmt.Errorf("%w: no leader is elected yet", store.ErrNotLeader)
	}
	return fmt.Errorf("%w: the leader is %s (%s)", store.ErrNotLeader, id, addr)
}

// AddVoter adds a voting member, or moves one to new addresses. Its gRPC
// address, and those of the members the store lacks, are committed to the
// replicated store first, so that once the node is a member every node,
// the new one included, can name every other. Only the leader changes the
// membership: elsewhere the error wraps store.ErrNotLeader.
func (n *Node) AddVoter(ctx context.Context, id, raftAddr, grpcAddr string) error {
	if err := pki.ValidateNodeID(id); err != nil {
		return err
	}
	for _, a := range []string{raftAddr, grpcAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("node %s: address %q: %w", id, a, err)
		}
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	members, err := n.Members()
	if err != nil {
		return err
	}
	err = n.fsm.st.Update(ctx, func(tx store.Tx) error {
		// The bootstrap members' addresses are in their own Config.Peers
		// only: record them too, for a node that joins without that list.
		for _, m := range members {
			if m.ID == id || m.GRPC == "" {
				continue
			}
			// Written again each time: a record restored from another
			// cluster's backup names other addresses.
			if err := tx.Put(store.BucketMeta, []byte(grpcKeyPrefix+m.ID), grpcRecord(m.Raft, m.GRPC)); err != nil {
				return err
			}
		}
		return tx.Put(store.BucketMeta, []byte(grpcKeyPrefix+id), grpcRecord(raftAddr, grpcAddr))
	})
	if err != nil {
		return fmt.Errorf("record the gRPC address of %s: %w", id, err)
	}
	return n.change(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout)
	})
}

// RemoveServer removes a member. Only the leader changes the membership;
// a leader removing itself steps down once the change is committed. The
// gRPC address it may have recorded stays: it is read only for members,
// and AddVoter records a new one.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster configuration: %w", err)
	}
	if !slices.ContainsFunc(f.Configuration().Servers, func(s raft.Server) bool { return string(s.ID) == id }) {
		return fmt.Errorf("%w: %q", ErrNoMember, id)
	}
	return n.change(ctx, func(timeout time.Duration) raft.IndexFuture {
		return n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}

// change runs a membership change and waits until it is committed or ctx
// ends; raft's futures do not take a context, so the wait is abandoned,
// not the change.
func (n *Node) change(ctx context.Context, start func(timeout time.Duration) raft.IndexFuture) error {
	timeout := membershipTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	err := n.await(ctx, start(timeout))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("membership change not confirmed (it may still be committed; check the status): %w", err)
	case notLeading(err):
		return fmt.Errorf("%w: %v", store.ErrNotLeader, err)
	}
	return fmt.Errorf("membership change: %w", err)
}

// peerHealth follows the leader's heartbeats to each peer, from Raft's
// observations, to tell which peers it cannot reach.
type peerHealth struct {
	obs  *raft.Observer
	ch   chan raft.Observation
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	down map[string]time.Time // peer id -> last contact, or first failure if never
}

// watchPeers registers the observer and follows it until stopPeers.
func (n *Node) watchPeers() {
	h := &peerHealth{ch: make(chan raft.Observation, 256), stop: make(chan struct{}), done: make(chan struct{}), down: map[string]time.Time{}}
	// Not blocking: Raft must never wait for us; the buffer is ample for
	// observations that come at most a few per heartbeat timeout and peer.
	h.obs = raft.NewObserver(h.ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(h.obs)
	n.health = h
	go h.run()
}

func (h *peerHealth) run() {
	defer close(h.done)
	for {
		select {
		case o := <-h.ch:
			h.mu.Lock()
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				if _, ok := h.down[string(d.PeerID)]; !ok {
					since := d.LastContact
					if since.IsZero() {
						since = time.Now()
					}
					h.down[string(d.PeerID)] = since
				}
			case raft.ResumedHeartbeatObservation:
				delete(h.down, string(d.PeerID))
			case raft.PeerObservation:
				if d.Removed {
					delete(h.down, string(d.Peer.ID))
				}
			case raft.RaftState:
				// Heartbeats are the leader's: a new term starts afresh.
				clear(h.down)
			}
			h.mu.Unlock()
		case <-h.stop:
			return
		}
	}
}

// stopPeers ends the observer; Shutdown calls it once Raft is stopped.
func (n *Node) stopPeers() {
	if n.health == nil {
		return
	}
	n.raft.DeregisterObserver(n.health.obs)
	close(n.health.stop)
	<-n.health.done
}

// PeerDown returns the peers the leader cannot reach, with the time each
// was last reached (or first failed, if never). It is empty on a node that
// does not lead, which sends no heartbeats.
func (n *Node) PeerDown() map[string]time.Time {
	out := map[string]time.Time{}
	if n.health == nil || n.raft.State() != raft.Leader {
		return out
	}
	n.health.mu.Lock()
	defer n.health.mu.Unlock()
	for id, t := range n.health.down {
		out[id] = t
	}
	return out
}
