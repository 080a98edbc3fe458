package server

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/dashboard"
	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// clusterNode is what the cluster's status and membership need of a
// node (*cluster.Node), an interface so that tests can fake one.
type clusterNode interface {
	Status() cluster.Status
	Members() ([]cluster.Member, error)
	AddVoter(ctx context.Context, id, raftAddr, grpcAddr string) error
	RemoveServer(ctx context.Context, id string) error
	PeerDown() map[string]time.Time
}

// SetClusterNode makes the hub one node of a cluster: ClusterService, the
// metrics and the dashboard then report n. Without it the hub is a single
// node.
func (s *Server) SetClusterNode(n clusterNode) {
	s.nodeMu.Lock()
	s.node = n
	s.nodeMu.Unlock()
	if n != nil && s.metrics != nil {
		s.nodeMetrics.Do(func() { s.metrics.reg.MustRegister(newClusterCollector(s.clusterNode)) })
	}
}

// SetClusterNode is Server.SetClusterNode on the daemon's server.
func (d *Daemon) SetClusterNode(n clusterNode) { d.srv.SetClusterNode(n) }

// clusterNode returns the node, nil for a single-node hub.
func (s *Server) clusterNode() clusterNode {
	s.nodeMu.RLock()
	defer s.nodeMu.RUnlock()
	return s.node
}

// errSingleNode answers cluster calls on a hub that is not a cluster.
var errSingleNode = status.Error(codes.FailedPrecondition, "this hub is a single node, not a cluster")

// stateLeader is cluster.Status.State on the leader.
const stateLeader = "Leader"

// clusterService implements ndxpv1.ClusterServiceServer for admins.
type clusterService struct {
	ndxpv1.UnimplementedClusterServiceServer
	s *Server
}

func (c *clusterService) GetClusterStatus(context.Context, *ndxpv1.GetClusterStatusRequest) (*ndxpv1.GetClusterStatusResponse, error) {
	n := c.s.clusterNode()
	if n == nil {
		return nil, errSingleNode
	}
	st := n.Status()
	members, err := n.Members()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "this node cannot read the cluster's configuration: %v", err)
	}
	resp := &ndxpv1.GetClusterStatusResponse{
		LeaderId:   st.LeaderID,
		LeaderGrpc: memberGRPC(members, st.LeaderID),
		Members:    membersProto(members),
		Node: &ndxpv1.ClusterNodeState{
			Id: st.ID, State: st.State, AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex,
			LastLogIndex: st.LastLogIndex, LastContactMs: lastContactMs(st.LastContact),
		},
	}
	if st.State == stateLeader {
		for id, since := range n.PeerDown() {
			resp.PeersDown = append(resp.PeersDown, &ndxpv1.ClusterPeerDown{Id: id, SinceUnixMs: since.UnixMilli()})
		}
		slices.SortFunc(resp.PeersDown, func(a, b *ndxpv1.ClusterPeerDown) int { return cmp.Compare(a.Id, b.Id) })
	}
	return resp, nil
}

func (c *clusterService) AddClusterNode(ctx context.Context, req *ndxpv1.AddClusterNodeRequest) (*ndxpv1.AddClusterNodeResponse, error) {
	n := c.s.clusterNode()
	if n == nil {
		return nil, errSingleNode
	}
	if err := pki.ValidateNodeID(req.GetId()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "id: %v", err)
	}
	for _, a := range []struct{ field, addr string }{{"raft", req.GetRaft()}, {"grpc", req.GetGrpc()}} {
		if h, p, err := net.SplitHostPort(a.addr); err != nil || h == "" || p == "" {
			return nil, status.Errorf(codes.InvalidArgument, "%s: %q is not a host:port address", a.field, a.addr)
		}
	}
	if err := c.leaderOnly(n); err != nil {
		return nil, err
	}
	if err := n.AddVoter(ctx, req.GetId(), req.GetRaft(), req.GetGrpc()); err != nil {
		return nil, c.changeError(n, "add node "+req.GetId(), err)
	}
	members, err := n.Members()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "node %s added; the configuration cannot be read back: %v", req.GetId(), err)
	}
	return &ndxpv1.AddClusterNodeResponse{Members: membersProto(members)}, nil
}

func (c *clusterService) RemoveClusterNode(ctx context.Context, req *ndxpv1.RemoveClusterNodeRequest) (*ndxpv1.RemoveClusterNodeResponse, error) {
	n := c.s.clusterNode()
	if n == nil {
		return nil, errSingleNode
	}
	if err := pki.ValidateNodeID(req.GetId()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "id: %v", err)
	}
	if err := c.leaderOnly(n); err != nil {
		return nil, err
	}
	if err := n.RemoveServer(ctx, req.GetId()); err != nil {
		return nil, c.changeError(n, "remove node "+req.GetId(), err)
	}
	members, err := n.Members()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "node %s removed; the configuration cannot be read back: %v", req.GetId(), err)
	}
	return &ndxpv1.RemoveClusterNodeResponse{Members: membersProto(members)}, nil
}

// leaderOnly refuses a membership change on a follower, naming the leader
// so that clients repeat it there.
func (c *clusterService) leaderOnly(n clusterNode) error {
	if st := n.Status(); st.State != stateLeader {
		return c.notLeader(n, st)
	}
	return nil
}

func (c *clusterService) notLeader(n clusterNode, st cluster.Status) error {
	members, _ := n.Members() // without them the answer is a plain UNAVAILABLE, still right
	return leaderUnavailable(memberGRPC(members, st.LeaderID))
}

// changeError maps the error of a membership change.
func (c *clusterService) changeError(n clusterNode, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotLeader):
		return c.notLeader(n, n.Status())
	case errors.Is(err, cluster.ErrNoMember):
		return status.Errorf(codes.NotFound, "%s: not a member of the cluster", what)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	}
	// Raft's own refusals (e.g. a change already under way) say what to
	// do better than a generic error; admins alone see them.
	return status.Errorf(codes.Aborted, "%s: %v", what, err)
}

func memberGRPC(members []cluster.Member, id string) string {
	if id == "" {
		return ""
	}
	for _, m := range members {
		if m.ID == id {
			return m.GRPC
		}
	}
	return ""
}

func membersProto(members []cluster.Member) []*ndxpv1.ClusterMember {
	out := make([]*ndxpv1.ClusterMember, len(members))
	for i, m := range members {
		out[i] = &ndxpv1.ClusterMember{Id: m.ID, Grpc: m.GRPC, Raft: m.Raft, Voter: m.Voter}
	}
	return out
}

// lastContactMs is cluster.Status.LastContact in milliseconds, -1 for
// never.
func lastContactMs(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// dashboardCluster is the dashboard's cluster panel, nil for a
// single-node hub.
func (s *Server) dashboardCluster() *dashboard.Cluster {
	n := s.clusterNode()
	if n == nil {
		return nil
	}
	st := n.Status()
	c := &dashboard.Cluster{
		Node: st.ID, State: st.State, Leader: st.LeaderID,
		AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex, LastContactMs: lastContactMs(st.LastContact),
	}
	if st.CommitIndex > st.AppliedIndex {
		c.Lag = st.CommitIndex - st.AppliedIndex
	}
	members, err := n.Members()
	if err != nil {
		c.Error = "this node cannot read the cluster's configuration: " + err.Error()
	}
	down := map[string]time.Time{}
	if st.State == stateLeader {
		down = n.PeerDown()
	}
	for _, m := range members {
		cm := dashboard.ClusterMember{ID: m.ID, GRPC: m.GRPC, Raft: m.Raft, Voter: m.Voter, Leader: m.ID == st.LeaderID}
		if since, ok := down[m.ID]; ok {
			cm.Down, cm.DownSince = true, since
		}
		c.Members = append(c.Members, cm)
	}
	c.LeaderGRPC = memberGRPC(members, st.LeaderID)
	return c
}

// clusterCollector reads the node's state at scrape time; it reports
// nothing while the hub has no node.
type clusterCollector struct {
	node                                             func() clusterNode
	leader, applied, commit, contact, members, peers *prometheus.Desc
}

func newClusterCollector(node func() clusterNode) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &clusterCollector{
		node:    node,
		leader:  d("ndxp_cluster_leader", "1 on the cluster's leader, 0 on other nodes."),
		applied: d("ndxp_cluster_applied_index", "Last Raft log index applied to this node's store."),
		commit:  d("ndxp_cluster_commit_index", "Last Raft log index this node knows committed; minus the applied index, its lag."),
		contact: d("ndxp_cluster_last_contact_seconds", "Time since this node last heard from the leader: 0 on the leader, -1 if never."),
		members: d("ndxp_cluster_members", "Servers in the cluster's configuration."),
		peers:   d("ndxp_cluster_peer_down", "1 for each peer the leader cannot reach (reported by the leader only).", "peer"),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.applied, c.commit, c.contact, c.members, c.peers} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.node()
	if n == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	st := n.Status()
	lead := 0.0
	if st.State == stateLeader {
		lead = 1
	}
	gauge(c.leader, lead)
	gauge(c.applied, float64(st.AppliedIndex))
	gauge(c.commit, float64(st.CommitIndex))
	contact := st.LastContact.Seconds()
	if st.LastContact < 0 {
		contact = -1
	}
	gauge(c.contact, contact)
	if members, err := n.Members(); err == nil {
		gauge(c.members, float64(len(members)))
	}
	if st.State == stateLeader {
		for id := range n.PeerDown() {
			gauge(c.peers, 1, id)
		}
	}
}
