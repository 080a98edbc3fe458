package server

import "google.golang.org/grpc"

// ServiceInfo is what the hub's gRPC server registered, so that
// TestAuthzMatrix covers every method the hub serves and fails for one
// added without its row. It lives in a _test file: the tests need it, the
// API does not.
func (d *Daemon) ServiceInfo() map[string]grpc.ServiceInfo { return d.srv.grpc.GetServiceInfo() }

// LeaderUnavailable is leaderUnavailable, for the tests of the hint.
var LeaderUnavailable = leaderUnavailable

// Leading reports whether the daemon serves the exchange: a cluster node
// that leads and has loaded its hub's state.
func (d *Daemon) Leading() bool { ok, _ := d.gate(); return ok }

// StorePublished is the last store record visible here: Raft's applied
// index says a node received the log, this that its store applied it.
func (d *Daemon) StorePublished() uint64 { return d.store.Published() }

// Partition cuts the node's Raft and body traffic to the peers at those
// Raft addresses (nil heals): a network partition, for tests.
func (d *Daemon) Partition(raftAddrs []string) { d.node.Partition(raftAddrs) }

// Unserve makes the daemon answer these streaming methods Unimplemented,
// as a hub from before them: for the SDK's fallbacks.
func (d *Daemon) Unserve(methods ...string) {
	m := map[string]bool{}
	for _, name := range methods {
		m[name] = true
	}
	d.srv.unserved.Store(&m)
}
