package server

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/internal/hub"
)

// errorCodes is the one table from domain errors to gRPC codes. Clients
// branch on these codes, never on message text.
var errorCodes = []struct {
	err  error
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
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// indexedField turns "agencies[3].name" into a BadRequest field path as is.
var indexedField = regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_.]+)?$`)

// toStatus maps an error from internal/ to a gRPC status. Caller-facing
// hub errors keep their message (it names the field and the rule); an
// invalid field is also reported as a BadRequest detail so programs can
// find it without reading the text. Anything unknown is logged once here
// and answered with a generic Internal error.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorCodes {
		if !errors.Is(err, e.err) {
			continue
		}
		var he *hub.Error
		if !errors.As(err, &he) {
			switch e.code {
			case codes.Canceled, codes.DeadlineExceeded:
				return status.Error(e.code, e.err.Error())
			case codes.Unavailable:
				return status.Error(e.code, "the hub is shutting down; retry")
			}
			return status.Error(e.code, err.Error())
		}
		st := status.New(e.code, he.Error())
		if he.Field != "" && indexedField.MatchString(he.Field) && e.code != codes.Unauthenticated {
			if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: he.Field, Description: strings.TrimSpace(he.Msg)},
			}}); derr == nil {
				st = d
			}
		}
		return st.Err()
	}
	log.Error("internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error in the hub; the operators have it in the log")
}
