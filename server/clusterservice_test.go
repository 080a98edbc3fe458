package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/leader"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// threeMembers is the membership of the fake cluster.
var threeMembers = []cluster.Member{
	{ID: "n1", Raft: "10.0.0.1:7502", GRPC: "10.0.0.1:7500", Voter: true},
	{ID: "n2", Raft: "10.0.0.2:7502", GRPC: "10.0.0.2:7500", Voter: true},
	{ID: "n3", Raft: "10.0.0.3:7502", GRPC: "10.0.0.3:7500", Voter: true},
}

// fakeLeader is node n1, leading a cluster of threeMembers.
func fakeLeader() *hubtest.FakeNode {
	return hubtest.NewFakeNode(cluster.Status{ID: "n1", State: "Leader", LeaderID: "n1", LeaderRaft: "10.0.0.1:7502",
		AppliedIndex: 41, CommitIndex: 42, LastLogIndex: 43}, threeMembers...)
}

func TestClusterSingleNode(t *testing.T) {
	h := hubtest.Start(t)
	cl := h.Admin().Cluster
	ctx := testCtx(t)
	_, err1 := cl.GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
	_, err2 := cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: "10.0.0.4:7502", Grpc: "10.0.0.4:7500"})
	_, err3 := cl.RemoveClusterNode(ctx, &ndxpv1.RemoveClusterNodeRequest{Id: "n2"})
	for _, err := range []error{err1, err2, err3} {
		if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "this hub is a single node, not a cluster" {
			t.Errorf("single node: %v; want FAILED_PRECONDITION saying it is a single node", err)
		}
	}
	for name := range scrape(t, h) {
		if strings.HasPrefix(name, "ndxp_cluster_") {
			t.Errorf("a single-node hub reports %s", name)
		}
	}
}

func TestClusterStatusOnLeader(t *testing.T) {
	h := hubtest.Start(t)
	node := fakeLeader()
	since := time.UnixMilli(1_700_000_000_000)
	node.SetDown(map[string]time.Time{"n3": since})
	h.Daemon.SetClusterNode(node)
	ctx := testCtx(t)
	cl := h.Admin().Cluster

	got, err := cl.GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &ndxpv1.GetClusterStatusResponse{
		LeaderId: "n1", LeaderGrpc: "10.0.0.1:7500",
		Members: []*ndxpv1.ClusterMember{
			{Id: "n1", Grpc: "10.0.0.1:7500", Raft: "10.0.0.1:7502", Voter: true},
			{Id: "n2", Grpc: "10.0.0.2:7500", Raft: "10.0.0.2:7502", Voter: true},
			{Id: "n3", Grpc: "10.0.0.3:7500", Raft: "10.0.0.3:7502", Voter: true},
		},
		Node:      &ndxpv1.ClusterNodeState{Id: "n1", State: "Leader", AppliedIndex: 41, CommitIndex: 42, LastLogIndex: 43, LastContactMs: 0},
		PeersDown: []*ndxpv1.ClusterPeerDown{{Id: "n3", SinceUnixMs: since.UnixMilli()}},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	checkSamples(t, scrape(t, h), map[string]float64{
		"ndxp_cluster_leader": 1, "ndxp_cluster_applied_index": 41, "ndxp_cluster_commit_index": 42,
		"ndxp_cluster_last_contact_seconds": 0, "ndxp_cluster_members": 3, `ndxp_cluster_peer_down{peer="n3"}`: 1,
	})

	added, err := cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: "10.0.0.4:7502", Grpc: "10.0.0.4:7500"})
	if err != nil {
		t.Fatalf("AddClusterNode: %v", err)
	}
	if n := len(added.GetMembers()); n != 4 || added.GetMembers()[3].GetGrpc() != "10.0.0.4:7500" {
		t.Errorf("members after the addition: %v", added.GetMembers())
	}
	removed, err := cl.RemoveClusterNode(ctx, &ndxpv1.RemoveClusterNodeRequest{Id: "n2"})
	if err != nil {
		t.Fatalf("RemoveClusterNode: %v", err)
	}
	if n := len(removed.GetMembers()); n != 3 {
		t.Errorf("members after the removal: %v", removed.GetMembers())
	}

	for _, tt := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"bad id", errOf(cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "Node 5", Raft: "10.0.0.5:7502", Grpc: "10.0.0.5:7500"})), codes.InvalidArgument},
		{"no raft", errOf(cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n5", Grpc: "10.0.0.5:7500"})), codes.InvalidArgument},
		{"bad grpc", errOf(cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n5", Raft: "10.0.0.5:7502", Grpc: "10.0.0.5"})), codes.InvalidArgument},
		{"remove a stranger", errOf(cl.RemoveClusterNode(ctx, &ndxpv1.RemoveClusterNodeRequest{Id: "n9"})), codes.NotFound},
		{"remove no id", errOf(cl.RemoveClusterNode(ctx, &ndxpv1.RemoveClusterNodeRequest{})), codes.InvalidArgument},
	} {
		if got := status.Code(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestClusterOnFollower: a follower answers its own status, and refuses
// membership changes with UNAVAILABLE naming the leader's gRPC address.
func TestClusterOnFollower(t *testing.T) {
	h := hubtest.Start(t)
	node := hubtest.NewFakeNode(cluster.Status{ID: "n2", State: "Follower", LeaderID: "n1", LeaderRaft: "10.0.0.1:7502",
		AppliedIndex: 40, CommitIndex: 42, LastLogIndex: 42, LastContact: 1500 * time.Millisecond}, threeMembers...)
	node.SetDown(map[string]time.Time{"n3": time.Now()}) // a follower's own idea: not reported
	h.Daemon.SetClusterNode(node)
	ctx := testCtx(t)
	// On the node's own connection: the SDK's stubs would follow the hint.
	cl := ndxpv1.NewClusterServiceClient(h.Admin().Conn())

	got, err := cl.GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLeaderGrpc() != "10.0.0.1:7500" || got.GetNode().GetState() != "Follower" || got.GetNode().GetLastContactMs() != 1500 || len(got.GetPeersDown()) != 0 {
		t.Errorf("follower's status %v", got)
	}
	checkSamples(t, scrape(t, h), map[string]float64{
		"ndxp_cluster_leader": 0, "ndxp_cluster_applied_index": 40, "ndxp_cluster_last_contact_seconds": 1.5,
	})

	_, errAdd := cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: "10.0.0.4:7502", Grpc: "10.0.0.4:7500"})
	_, errRemove := cl.RemoveClusterNode(ctx, &ndxpv1.RemoveClusterNodeRequest{Id: "n3"})
	for _, err := range []error{errAdd, errRemove} {
		if hint, ok := leader.Hint(err); status.Code(err) != codes.Unavailable || !ok || hint != "10.0.0.1:7500" {
			t.Errorf("change on a follower: %v (hint %q); want UNAVAILABLE naming 10.0.0.1:7500", err, hint)
		}
	}

	// Never contacted by a leader: -1.
	node.Set(cluster.Status{ID: "n2", State: "Candidate", LastContact: -1})
	got, err = cl.GetClusterStatus(ctx, &ndxpv1.GetClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLeaderId() != "" || got.GetLeaderGrpc() != "" || got.GetNode().GetLastContactMs() != -1 {
		t.Errorf("status with no leader: %v", got)
	}
	_, err = cl.AddClusterNode(ctx, &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: "10.0.0.4:7502", Grpc: "10.0.0.4:7500"})
	if _, ok := leader.Hint(err); status.Code(err) != codes.Unavailable || ok {
		t.Errorf("change with no leader: %v; want a plain UNAVAILABLE", err)
	}
}
