package server

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/leader"
)

// leaderUnavailable is the answer of a node that is not the leader to a
// call only the leader serves: UNAVAILABLE, with the leader's gRPC address
// in an ErrorInfo detail (internal/leader) so that the SDK retries there at
// once instead of backing off. Without a known leader the detail has no
// address, and the SDK tries its next address after a backoff.
func leaderUnavailable(leaderGRPC string) error {
	msg := "this hub node is not the leader; the leader is at " + leaderGRPC
	if leaderGRPC == "" {
		// Still marked NOT_LEADER: this node may be cut off from the
		// others, which may have a leader, so the client tries them.
		msg = "this hub node is not the leader and knows no leader (an election, or this node is cut off from the others); retry"
	}
	st := status.New(codes.Unavailable, msg)
	if d, err := st.WithDetails(leader.Detail(leaderGRPC)); err == nil {
		st = d
	}
	return st.Err()
}

// leaderOnly, on a cluster node, answers a call to the hub's services
// that this node cannot serve (it does not lead) with leaderUnavailable:
// before the call (err nil) and after it, when the node stopped leading
// while it ran (its commit refused: UNAVAILABLE). Health, reflection and
// the cluster's own service are served by every node; and the hub's
// state lives on the leader only, so even reads go there.
func (s *Server) leaderOnly(method string, err error) error {
	if s.gate == nil || !strings.HasPrefix(method, "/ndxp.v1.") || strings.HasPrefix(method, "/ndxp.v1.ClusterService/") {
		return err
	}
	if err != nil && status.Code(err) != codes.Unavailable {
		return err
	}
	if ok, leader := s.gate(); !ok {
		return leaderUnavailable(leader)
	}
	return err
}
