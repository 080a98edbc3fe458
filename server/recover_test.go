package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestPanicBecomesInternal: a handler's panic is one log line with its
// stack and an Internal answer to its caller, not the end of the hub.
func TestPanicBecomesInternal(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	info := &grpc.UnaryServerInfo{FullMethod: "/ndxp.v1.ExchangeService/GetDocument"}
	_, err := s.runUnary(context.Background(), nil, info, func(context.Context, any) (any, error) {
		panic("index 3 out of range [3] with length 3 (internal detail)")
	})
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "internal detail") {
		t.Errorf("panicking handler answered %v, want Internal without the panic's text", err)
	}
	if !strings.Contains(logs.String(), "panic in handler") || !strings.Contains(logs.String(), "recover_test.go") {
		t.Errorf("the log does not carry the panic and its stack:\n%s", logs.String())
	}
}
