// Package leader is the wire contract by which a node of a hub cluster
// that cannot serve a call (a follower asked to change state) tells the
// client where the leader is: the call fails with UNAVAILABLE and carries
// a google.rpc.ErrorInfo detail
//
//	{reason: "NOT_LEADER", domain: "ndxp", metadata: {"leader_grpc": "host:port"}}
//
// server/ builds it, client/ reads it and retries the call at the leader
// at once; SDKs in other languages can do the same from this description.
package leader

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The ErrorInfo fields of the hint.
const (
	Reason  = "NOT_LEADER"  // ErrorInfo.reason
	Domain  = "ndxp"        // ErrorInfo.domain
	KeyGRPC = "leader_grpc" // ErrorInfo.metadata key: the leader's gRPC address, host:port
)

// Detail returns the ErrorInfo naming the leader at grpcAddr; "" says
// that the node does not lead and knows no leader (an election, or a
// node cut off from the others), so the client tries another node.
func Detail(grpcAddr string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: Reason, Domain: Domain, Metadata: map[string]string{KeyGRPC: grpcAddr}}
}

// Hint returns the leader's gRPC address that err names, if err is an
// UNAVAILABLE status carrying the hint with a non-empty address.
func Hint(err error) (grpcAddr string, ok bool) {
	if err == nil {
		return "", false
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == Reason && info.GetDomain() == Domain {
			if a := info.GetMetadata()[KeyGRPC]; a != "" {
				return a, true
			}
		}
	}
	return "", false
}

// NotLeader reports whether err is an UNAVAILABLE status carrying the
// hint, with or without the leader's address.
func NotLeader(err error) bool {
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != codes.Unavailable {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == Reason && info.GetDomain() == Domain {
			return true
		}
	}
	return false
}
