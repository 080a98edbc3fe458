// Package cluster makes a hub's store one node of a replicated store on
// github.com/hashicorp/raft (docs/cluster.md): leader election, log
// replication and membership come from the library; this package is the
// state machine (applying committed records to the node's bbolt store, as
// store.Bolt's own committer does), its snapshots, and the wiring.
//
// A commit on the leader goes through Node.Commit (store.Replicator): it
// returns once the record is in the logs of a majority, fsynced
// (raft-boltdb syncs every append). Every node's state machine hands each
// committed record to its store (store.Bolt.Follow), the leader's own
// included, which its store skips.
package cluster

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// Peer is a member of the cluster.
type Peer struct {
	ID   string // node id, e.g. "node1"
	Raft string // its Raft address, host:port
	GRPC string // its agency and admin gRPC address, host:port
}

// Config is one node's configuration.
type Config struct {
	// ID is this node's id, one of Peers.
	ID string
	// Dir holds the Raft log, its stable state and snapshots.
	Dir string
	// Bind is the Raft address to listen on; Advertise the one peers dial
	// (default: Bind).
	Bind, Advertise string
	// Peers are the members a new cluster bootstraps with (every node is
	// given the same list); ignored once the node has state. Empty: the
	// node joins a running cluster, waiting for its leader to add it
	// (AddVoter).
	Peers []Peer
	// Join: the node never bootstraps; without state it waits for the
	// leader to add it, and Peers only name the members it knew of.
	Join bool
	// Logger receives the library's warnings; nil discards them.
	Logger *slog.Logger
	// ServerTLS and ClientTLS secure Raft's connections between nodes
	// (pki.NodeTLS: node certificates only). Both nil: plain TCP, for
	// tests on loopback. The node port carries attachment bodies too.
	ServerTLS, ClientTLS *tls.Config
	// Files holds the attachment bodies this node serves to and fetches
	// from its peers (bodies.go); nil disables bodies.
	Files *store.Files
	// OnLeading is called, from one goroutine in order, when the node
	// starts leading (true: its store accepts commits, every record
	// committed before is applied) and when it stops (false). It may block:
	// the next change waits for it.
	OnLeading func(bool)
	// OnInstall is called when this node must install the leader's
	// snapshot of the store (it fell behind the leader's log): the
	// snapshot is kept, and the node installs it when it is next started,
	// so its owner stops it and starts it again (installSnapshot).
	OnInstall func()
	// OnStoreFailed is called once if the store cannot apply a committed
	// record (records missing before it: a store not seeded like the
	// others). The node must stop: its store no longer follows.
	OnStoreFailed func(error)
	// SnapshotThreshold and TrailingLogs, for tests: zero keeps the
	// library's defaults (a snapshot every 8192 entries; 10240 kept after it).
	SnapshotThreshold, TrailingLogs uint64
	// Timeouts, for tests: zero keeps hashicorp/raft's defaults (1 s
	// heartbeat and election timeouts).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
}

// Node is a running member of the cluster.
type Node struct {
	cfg     Config
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	port    *mux
	bodies  *bodies
	logs    *raftboltdb.BoltStore
	fsm     *fsm
	health  *peerHealth // the leader's view of its peers (membership.go)
	leading atomic.Bool
	told    bool // what OnLeading was last told; watchLeadership's own
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New prepares a node whose store is opened by open with the node as its
// replicator, then starts Raft: a new cluster bootstraps from cfg.Peers,
// a node with state rejoins. The store belongs to the caller, who closes
// it after Shutdown.
func New(cfg Config, open func(store.Replicator) (*store.Bolt, error)) (*Node, *store.Bolt, error) {
	if cfg.Advertise == "" {
		cfg.Advertise = cfg.Bind
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, nil, err
	}
	n := &Node{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	st, err := open(n)
	if err != nil {
		return nil, nil, err
	}
	if st, err = n.installSnapshot(st, open); err != nil {
		return nil, nil, err
	}
	n.fsm = &fsm{st: st, onInstall: cfg.OnInstall, onFailed: cfg.OnStoreFailed}
	n.fsm.last.Store(st.Published())
	if err := n.start(); err != nil {
		st.Close()
		return nil, nil, err
	}
	return n, st, nil
}

func (n *Node) start() error {
	cfg := n.cfg
	out := io.Discard
	if cfg.Logger != nil {
		out = slogWriter{cfg.Logger}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: out})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = logger
	// The store's file holds every record up to its own snapshot's index
	// (Persist flushes it first), so a restart replays the log after it
	// instead of reloading a copy of what the file has.
	rc.NoSnapshotRestoreOnStart = true
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	logs, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("raft log: %w", err)
	}
	n.logs = logs
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsKept, logger)
	if err != nil {
		logs.Close()
		return fmt.Errorf("raft snapshots: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
	if err != nil {
		logs.Close()
		return fmt.Errorf("raft advertise address: %w", err)
	}
	port, err := listenMux(cfg.Bind, adv, cfg.ServerTLS, cfg.ClientTLS, n.logger())
	if err != nil {
		logs.Close()
		return fmt.Errorf("raft listen: %w", err)
	}
	n.port = port
	n.trans = raft.NewNetworkTransportWithLogger(port.raftLayer(), 3, 10*time.Second, logger)
	existing, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		n.trans.Close()
		logs.Close()
		return err
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, logs, snaps, n.trans)
	if err != nil {
		n.trans.Close()
		logs.Close()
		return err
	}
	if !existing && len(cfg.Peers) > 0 && !cfg.Join {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Raft)})
		}
		if err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.raft.Shutdown()
			n.trans.Close()
			logs.Close()
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	n.bodies = newBodies(cfg.Files, port, n.logger())
	n.watchPeers()
	go n.watchLeadership()
	return nil
}

// watchLeadership lets the store commit only once this node leads and has
// applied every record committed before: a new leader's Barrier commits
// an entry of its term, so every earlier one is in its state machine.
func (n *Node) watchLeadership() {
	defer close(n.done)
	ch := n.raft.LeaderCh()
	for {
		select {
		case lead := <-ch:
			if !lead {
				n.setLeading(false)
				continue
			}
			if !n.barrier() {
				continue // lost it again, or stopping; the channel says so next
			}
			n.setLeading(n.raft.State() == raft.Leader)
		case <-n.stop:
			return
		}
	}
}

// barrier waits for a Barrier of this term, or for Shutdown.
func (n *Node) barrier() bool {
	return n.await(context.Background(), n.raft.Barrier(0)) == nil
}

// await waits for f, for Shutdown, or for ctx: the library never answers
// the futures (Barrier, Apply) still queued for its state machine when it
// shuts down.
func (n *Node) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.stop:
		return raft.ErrRaftShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setLeading records a change of leadership and tells OnLeading.
func (n *Node) setLeading(lead bool) {
	n.leading.Store(lead)
	if lead != n.told && n.cfg.OnLeading != nil {
		n.told = lead
		n.cfg.OnLeading(lead)
	}
}

// Commit implements store.Replicator: one log entry per group commit,
// the store's record number in front.
func (n *Node) Commit(lsn uint64, payload []byte) error {
	data := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint64(data, lsn)
	copy(data[8:], payload)
	err := n.await(context.Background(), n.raft.Apply(data, 0))
	if notLeading(err) {
		n.leading.Store(false)
		return fmt.Errorf("%w: %v", store.ErrNotLeader, err)
	}
	return err
}

// notLeading reports the library's errors that mean this node cannot
// commit because it does not, or no longer, lead.
func notLeading(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// Leading implements store.Replicator.
func (n *Node) Leading() bool { return n.leading.Load() }

// Leader returns the leader's id and Raft address, "" when none is known.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// State is the node's Raft state: Leader, Follower, Candidate or Shutdown.
func (n *Node) State() string { return n.raft.State().String() }

// AppliedIndex is the index of the last log entry applied here.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// Shutdown stops Raft: the node leaves the cluster's quorum until it is
// started again. The store stays open for its owner to close.
func (n *Node) Shutdown() error {
	var err error
	n.once.Do(func() {
		n.leading.Store(false)
		err = n.raft.Shutdown().Error()
		n.stopPeers()
		close(n.stop)
		<-n.done
		n.trans.Close()
		n.bodies.close()
		if cerr := n.logs.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// fsm is the state machine: the node's store.
type fsm struct {
	st        *store.Bolt
	onInstall func()
	onFailed  func(error)
	failed    bool          // onFailed was called
	last      atomic.Uint64 // the last record handed to the store
	// snapshotting, when set, runs first in Snapshot: a test holds the
	// library's state machine goroutine there.
	snapshotting func()
}

// Apply hands a committed record to the store without waiting, since the
// leader's committer may itself be waiting in Commit for this very entry.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || len(l.Data) < 8 {
		return nil
	}
	lsn := binary.BigEndian.Uint64(l.Data)
	f.st.Follow(lsn, l.Data[8:])
	// The store applies records on its own goroutine: a failure shows at
	// a later entry.
	if err := f.st.FollowErr(); err != nil && !f.failed {
		f.failed = true
		if f.onFailed != nil {
			go f.onFailed(err)
		}
	}
	if lsn > f.last.Load() {
		f.last.Store(lsn)
	}
	return nil
}

// Snapshot notes the last record handed over; Persist waits until the
// store's file holds it, then copies the file.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.snapshotting != nil {
		f.snapshotting()
	}
	return &snapshot{st: f.st, lsn: f.last.Load()}, nil
}

// Restore is asked of a node too far behind the leader's log to catch up
// from it. The library has already kept the leader's snapshot in this
// node's snapshot store; replacing the store's file under a running hub
// is not done, so the node installs it when it next starts
// (installSnapshot) and asks its owner for that restart (OnInstall).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	lsn, err := readSnapshotHeader(rc)
	if err != nil {
		return err
	}
	if lsn <= f.st.Published() {
		return nil // this store holds all of it already
	}
	if f.onInstall != nil {
		go f.onInstall()
	}
	return fmt.Errorf("cluster: this node is behind the leader's log (at record %d, the leader's snapshot at %d): it installs the snapshot when it starts again", f.st.Published(), lsn)
}

type snapshot struct {
	st  *store.Bolt
	lsn uint64
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	ctx := context.Background()
	err := s.st.WaitPublished(ctx, s.lsn)
	if err == nil {
		err = s.st.Flush(ctx)
	}
	if err == nil {
		_, err = sink.Write(snapshotHeader(s.lsn))
	}
	if err == nil {
		err = s.st.Snapshot(ctx, func(_ store.Tx, _ int64, write func(io.Writer) (int64, error)) error {
			_, err := write(sink)
			return err
		})
	}
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// slogWriter passes the library's log lines to slog.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("raft", "line", string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// GRPCOf returns the agency and admin gRPC address of member id, or ""
// when unknown.
func (n *Node) GRPCOf(id string) string {
	ms, _ := n.Members()
	for _, m := range ms {
		if m.ID == id {
			return m.GRPC
		}
	}
	return ""
}

// Partition cuts this node's node-port traffic (Raft and bodies) to and
// from the peers at the given Raft addresses, or restores it (nil): fault
// injection, for tests of a network partition. The peers must cut this
// node too, for the partition to hold both ways.
func (n *Node) Partition(raftAddrs []string) { n.port.partition(raftAddrs) }

// TransferLeadership asks another member to lead, for a leader that cannot
// serve.
func (n *Node) TransferLeadership() {
	if err := n.raft.LeadershipTransfer().Error(); err != nil && n.cfg.Logger != nil {
		n.cfg.Logger.Warn("leadership transfer failed", "err", err)
	}
}
