package server

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/leader"
)

// leaderUnavailable is the answer of a node that is not the leader to a
// call only the leader serves: UNAVAILABLE, with the leader's gRPC address
// in an ErrorInfo detail (internal/leader) so that the SDK retries there at
// once instead of backing off. Without a known leader (an election under
// way) it is a plain UNAVAILABLE, which clients retry with backoff.
func leaderUnavailable(leaderGRPC string) error {
	if leaderGRPC == "" {
		return status.Error(codes.Unavailable, "this hub node is not the leader and no leader is elected yet; retry")
	}
	st := status.New(codes.Unavailable, "this hub node is not the leader; the leader is at "+leaderGRPC)
	if d, err := st.WithDetails(leader.Detail(leaderGRPC)); err == nil {
		st = d
	}
	return st.Err()
}
