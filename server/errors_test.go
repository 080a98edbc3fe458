package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/store"
)

// wantStatus builds the status proto toStatus should produce; field, when
// set, adds the BadRequest detail naming it.
func wantStatus(t *testing.T, code codes.Code, msg, field, desc string) *spb.Status {
	t.Helper()
	st := status.New(code, msg)
	if field != "" {
		var err error
		st, err = st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: desc}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return st.Proto()
}

func TestToStatus(t *testing.T) {
	kinds := []struct {
		kind error
		code codes.Code
	}{
		{hub.ErrInvalid, codes.InvalidArgument},
		{hub.ErrNotFound, codes.NotFound},
		{hub.ErrExists, codes.AlreadyExists},
		{hub.ErrPermission, codes.PermissionDenied},
		{hub.ErrUnauthenticated, codes.Unauthenticated},
		{hub.ErrPrecondition, codes.FailedPrecondition},
		{hub.ErrUnavailable, codes.Unavailable},
		{hub.ErrExhausted, codes.ResourceExhausted},
	}
	type test struct {
		name string
		err  error
		want *spb.Status
	}
	var tests []test
	for _, k := range kinds {
		tests = append(tests,
			test{
				name: fmt.Sprintf("%v without field", k.kind),
				err:  &hub.Error{Kind: k.kind, Msg: "agency 000.00.00.H41 is suspended"},
				want: wantStatus(t, k.code, "agency 000.00.00.H41 is suspended", "", ""),
			},
			test{
				name: fmt.Sprintf("%v wrapped, without field", k.kind),
				err:  fmt.Errorf("create agency: %w", &hub.Error{Kind: k.kind, Msg: "tên đơn vị"}),
				want: wantStatus(t, k.code, "tên đơn vị", "", ""),
			},
		)
		if k.code == codes.Unauthenticated {
			// A refused credential gets no field detail: there is no
			// request field to fix.
			tests = append(tests, test{
				name: "Unauthenticated with field",
				err:  &hub.Error{Kind: k.kind, Field: "code", Msg: "not registered"},
				want: wantStatus(t, k.code, "code: not registered", "", ""),
			})
			continue
		}
		tests = append(tests, test{
			name: fmt.Sprintf("%v with field", k.kind),
			err:  fmt.Errorf("import agencies: %w", &hub.Error{Kind: k.kind, Field: "agencies[3].contact.email", Msg: `"x" is not an e-mail address`}),
			want: wantStatus(t, k.code, `agencies[3].contact.email: "x" is not an e-mail address`, "agencies[3].contact.email", `"x" is not an e-mail address`),
		})
	}

	existing := status.New(codes.NotFound, "already a status")
	existing, _ = existing.WithDetails(&errdetails.ErrorInfo{Reason: "KEEP_ME"})
	tests = append(tests, []test{
		{
			name: "plain sentinel keeps its text",
			err:  fmt.Errorf("agency 000.00.00.H14: %w", hub.ErrNotFound),
			want: wantStatus(t, codes.NotFound, "agency 000.00.00.H14: not found", "", ""),
		},
		{
			name: "field the detail pattern refuses",
			err:  &hub.Error{Kind: hub.ErrInvalid, Field: "Agencies[x]", Msg: "bad"},
			want: wantStatus(t, codes.InvalidArgument, "Agencies[x]: bad", "", ""),
		},
		{
			name: "description is trimmed",
			err:  &hub.Error{Kind: hub.ErrInvalid, Field: "name", Msg: " must not be empty \n"},
			want: wantStatus(t, codes.InvalidArgument, "name:  must not be empty \n", "name", "must not be empty"),
		},
		{
			name: "context canceled",
			err:  context.Canceled,
			want: wantStatus(t, codes.Canceled, "context canceled", "", ""),
		},
		{
			name: "context canceled, wrapped",
			err:  fmt.Errorf("list agencies: %w", context.Canceled),
			want: wantStatus(t, codes.Canceled, "context canceled", "", ""),
		},
		{
			name: "deadline exceeded, wrapped",
			err:  fmt.Errorf("import: %w", context.DeadlineExceeded),
			want: wantStatus(t, codes.DeadlineExceeded, "context deadline exceeded", "", ""),
		},
		{
			name: "existing status",
			err:  existing.Err(),
			want: existing.Proto(),
		},
	}...)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			got := toStatus(log, "/ndxp.v1.RegistryService/CreateAgency", tt.err)
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("toStatus(%v) = %v, not a status error", tt.err, got)
			}
			if diff := cmp.Diff(tt.want, st.Proto(), protocmp.Transform()); diff != "" {
				t.Errorf("toStatus(%v) (-want +got):\n%s", tt.err, diff)
			}
			if logBuf.Len() != 0 {
				t.Errorf("toStatus(%v) logged %q; a caller's error is not the hub's fault", tt.err, logBuf.String())
			}
		})
	}
}

func TestToStatusPassesStatusThrough(t *testing.T) {
	err := status.Error(codes.PermissionDenied, "admins only")
	if got := toStatus(slog.New(slog.DiscardHandler), "/m", err); got != err {
		t.Errorf("toStatus(status error) = %v (%T), want the same error value", got, got)
	}
}

func TestToStatusNil(t *testing.T) {
	if got := toStatus(slog.New(slog.DiscardHandler), "/m", nil); got != nil {
		t.Errorf("toStatus(nil) = %v, want nil", got)
	}
}

func TestToStatusUnknownIsInternal(t *testing.T) {
	secret := "open /var/lib/ndxp/ndxp.db: input/output error"
	tests := []struct {
		name string
		err  error
	}{
		{"plain", errors.New(secret)},
		{"wrapped", fmt.Errorf("create agency: %w", errors.New(secret))},
		{"store not found leaking up", fmt.Errorf("%s: %w", secret, store.ErrNotFound)},
		{"hub error of an unknown kind", &hub.Error{Kind: errors.New("weird"), Field: "code", Msg: secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			got := toStatus(log, "/ndxp.v1.RegistryService/GetAgency", tt.err)
			st := status.Convert(got)
			if st.Code() != codes.Internal {
				t.Errorf("code = %v, want Internal", st.Code())
			}
			if strings.Contains(st.Message(), "/var/lib") || strings.Contains(st.Message(), "input/output") {
				t.Errorf("message %q leaks the internal error %q", st.Message(), secret)
			}
			if st.Message() == "" {
				t.Error("message is empty, want a generic explanation")
			}
			if len(st.Details()) != 0 {
				t.Errorf("details = %v, want none", st.Details())
			}
			// One log line, with the original error, for the operators.
			lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "input/output error") || !strings.Contains(lines[0], "GetAgency") {
				t.Errorf("log = %q, want one line naming the method and the error", logBuf.String())
			}
		})
	}
}
