package hub

import (
	"errors"
	"fmt"
)

// Error kinds. Every error the hub returns for a caller's mistake wraps one
// of these; server/ maps them to gRPC codes in one table. Anything else is
// an internal fault.
var (
	// ErrInvalid: the request is malformed (a field breaks a rule).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: the thing named does not exist or the caller may not see it.
	ErrNotFound = errors.New("not found")
	// ErrExists: the thing to create exists already.
	ErrExists = errors.New("already exists")
	// ErrPermission: the caller is known but may not do this.
	ErrPermission = errors.New("permission denied")
	// ErrUnauthenticated: the caller's credential is not (or no longer) valid.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPrecondition: the request is valid but the current state forbids it.
	ErrPrecondition = errors.New("failed precondition")
	// ErrUnavailable: the hub cannot serve now (shutting down); retry later.
	ErrUnavailable = errors.New("unavailable")
	// ErrExhausted: a resource (disk, quota) is used up.
	ErrExhausted = errors.New("resource exhausted")
)

// Error is a caller-facing error: a kind, the field it concerns (if any)
// and a message meant to be shown to the person who made the request.
type Error struct {
	Kind  error
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func newErr(kind error, field, format string, args ...any) error {
	return &Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return newErr(ErrInvalid, field, format, args...)
}
