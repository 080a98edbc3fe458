package hub

import (
	"context"
	"errors"
	"time"
)

// Stand-ins for the VXP systems registry (replaced by its implementation).

// VxpSystem is an agency system allowed on the VXP HTTP API (docs/vxp.md):
// its id, the agencies it serves, and whether it may change the registry.
type VxpSystem struct {
	ID            string
	Agencies      []string
	AllowRegistry bool
	Created       time.Time
	CreatedBy     string
	Rotated       time.Time
}

var errNotYet = errors.New("not implemented yet")

// AddVxpSystem creates a system and returns its secret, shown once.
func (h *Hub) AddVxpSystem(ctx context.Context, p Principal, id string, agencies []string, allowRegistry bool) (VxpSystem, string, error) {
	return VxpSystem{}, "", errNotYet
}

// ListVxpSystems lists the systems, sorted by id.
func (h *Hub) ListVxpSystems(ctx context.Context, p Principal) ([]VxpSystem, error) {
	return nil, errNotYet
}

// RotateVxpSecret gives a system a new secret; the old one is refused at once.
func (h *Hub) RotateVxpSecret(ctx context.Context, p Principal, id string) (VxpSystem, string, error) {
	return VxpSystem{}, "", errNotYet
}

// RemoveVxpSystem removes a system; its next request is refused.
func (h *Hub) RemoveVxpSystem(ctx context.Context, p Principal, id string) error { return errNotYet }

// LookupVxpSystem returns a system and its secret for authenticating a
// request, from memory.
func (h *Hub) LookupVxpSystem(id string) (VxpSystem, []byte, bool) { return VxpSystem{}, nil, false }
