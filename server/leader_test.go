package server_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/leader"
	"github.com/ndxp/ndxp/server"
)

func TestLeaderUnavailable(t *testing.T) {
	tests := []struct {
		leader   string
		wantHint string
		wantOK   bool
	}{
		{"10.0.0.2:7443", "10.0.0.2:7443", true},
		{"", "", false}, // no leader yet: plain UNAVAILABLE, retried with backoff
	}
	for _, tt := range tests {
		err := server.LeaderUnavailable(tt.leader)
		if got := status.Code(err); got != codes.Unavailable {
			t.Errorf("LeaderUnavailable(%q): code %v, want Unavailable", tt.leader, got)
		}
		got, ok := leader.Hint(err)
		if got != tt.wantHint || ok != tt.wantOK {
			t.Errorf("leader.Hint(LeaderUnavailable(%q)) = %q, %v; want %q, %v", tt.leader, got, ok, tt.wantHint, tt.wantOK)
		}
	}
	// Only UNAVAILABLE carries the hint: another code with the same
	// detail is not a reason to switch nodes.
	st, _ := status.New(codes.PermissionDenied, "no").WithDetails(leader.Detail("10.0.0.2:7443"))
	if got, ok := leader.Hint(st.Err()); ok {
		t.Errorf("leader.Hint(PermissionDenied with detail) = %q, true; want false", got)
	}
}
