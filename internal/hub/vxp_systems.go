package hub

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// VXP systems. An agency system that speaks the agencies' SDK's HTTP
// protocol (docs/vxp.md) signs every request with an HMAC keyed by
// a secret the hub gave it, under a system id. One system may serve
// several agencies (a hosted provider serves many), so a system is an id,
// a secret and the agencies it may act for. Admins add, rotate and
// remove systems; the HTTP adapter looks them up in memory on every
// request, so a removal or a rotation takes effect on the next one.
//
// The secret is an HMAC key, not a password: the hub needs it back to
// verify each request, so it is stored as given (in the store, so that a
// backup keeps it) rather than hashed. It is never logged, never listed,
// and shown to the operator only by the call that makes it.

// MaxVxpSystemIDLen bounds a system id, in characters. Real ones
// ("vxp.saas.03", "sys.a") are far shorter.
const MaxVxpSystemIDLen = 64

// MaxVxpSystemAgencies bounds how many agencies one system serves: a
// hosted provider's whole province fits with room to spare.
const MaxVxpSystemAgencies = 1000

// vxpSecretBytes is how much randomness a secret holds; base64 (standard,
// padded) makes it 44 characters.
const vxpSecretBytes = 32

// VxpSystem is an agency system allowed on the VXP HTTP API (docs/vxp.md):
// its id, the agencies it serves, and whether it may change the registry.
type VxpSystem struct {
	// ID is the system id the SDK sends (XroadVnpt-systemid), matched
	// exactly: 1..MaxVxpSystemIDLen ASCII letters, digits, '.', '-', '_'.
	ID string
	// Agencies are the registered codes the system may act for, in the
	// order the admin gave them, without duplicates.
	Agencies []string
	// AllowRegistry marks the system admin-approved for registerAgency and
	// deleteAgency (when the daemon allows those at all).
	AllowRegistry bool
	Created       time.Time
	// CreatedBy is the admin who added it, as Principal.String.
	CreatedBy string
	// Rotated is when the secret was last replaced; zero if never.
	Rotated time.Time
}

// vxpRecord is a system as stored in store.BucketVxpSystems under its id,
// JSON. It is the only type holding the secret; never log it.
type vxpRecord struct {
	ID            string    `json:"id"`
	Agencies      []string  `json:"agencies"`
	AllowRegistry bool      `json:"allow_registry,omitempty"`
	Secret        string    `json:"secret"`
	Created       time.Time `json:"created"`
	CreatedBy     string    `json:"created_by,omitempty"`
	Rotated       time.Time `json:"rotated,omitzero"`
	RotatedBy     string    `json:"rotated_by,omitempty"`
}

func (r vxpRecord) system() VxpSystem {
	return VxpSystem{
		ID: r.ID, Agencies: slices.Clone(r.Agencies), AllowRegistry: r.AllowRegistry,
		Created: r.Created, CreatedBy: r.CreatedBy, Rotated: r.Rotated,
	}
}

// vxpEntry is a system in memory, for LookupVxpSystem.
type vxpEntry struct {
	sys    VxpSystem
	secret []byte // the UTF-8 bytes of the base64 secret: the SDK's HMAC key
}

func (r vxpRecord) entry() vxpEntry {
	return vxpEntry{sys: r.system(), secret: []byte(r.Secret)}
}

// checkVxpSystemID applies the id rules. The id travels in an HTTP header
// and in log lines, hence ASCII and no spaces.
func checkVxpSystemID(id string) error {
	if id == "" {
		return invalid("system_id", "must not be empty")
	}
	if len(id) > MaxVxpSystemIDLen {
		return invalid("system_id", "is %d characters long, the limit is %d", len(id), MaxVxpSystemIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return invalid("system_id", "%q: character %d is not an ASCII letter, digit, '.', '-' or '_'", id, i+1)
		}
	}
	return nil
}

// newVxpSecret returns a fresh secret: vxpSecretBytes from crypto/rand,
// base64 (standard, padded).
func newVxpSecret() (string, error) {
	b := make([]byte, vxpSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// vxpAgencies checks the agencies of a new system and returns them
// without duplicates, in the order given. Each must be a registered code;
// an alias is refused, so that a system's list names agencies the way the
// registry does.
func vxpAgencies(tx store.Tx, agencies []string) ([]string, error) {
	if len(agencies) == 0 {
		return nil, invalid("agencies", "name at least one agency the system serves")
	}
	// Duplicates out first, so that the limit counts agencies, not
	// repetitions; at[i] is out[i]'s index in the request, for messages.
	seen := make(map[string]bool, len(agencies))
	out := make([]string, 0, min(len(agencies), MaxVxpSystemAgencies+1))
	var at []int
	for i, code := range agencies {
		if seen[code] {
			continue
		}
		if len(out) == MaxVxpSystemAgencies {
			return nil, invalid("agencies", "more than %d different agencies; the limit is %d", MaxVxpSystemAgencies, MaxVxpSystemAgencies)
		}
		seen[code] = true
		out = append(out, code)
		at = append(at, i)
	}
	for j, code := range out {
		field := fmt.Sprintf("agencies[%d]", at[j])
		if err := checkText(field, code, MaxAliasLen, true); err != nil {
			return nil, err
		}
		ok, err := exists(tx, code)
		if err != nil {
			return nil, err
		}
		if !ok {
			var al Alias
			if getRecord(tx, store.BucketAliases, []byte(code), &al) == nil {
				return nil, newErr(ErrNotFound, field, "%s is an alias (of %s): name the registered agency", code, al.Code)
			}
			return nil, newErr(ErrNotFound, field, "agency %s is not registered", code)
		}
	}
	return out, nil
}

// AddVxpSystem creates a system serving agencies and returns it with its
// secret, which no other call shows. Admins only. It is refused when the
// id breaks the rules or an agency is blank or over-long (ErrInvalid),
// the id is taken (ErrExists), or an agency is not registered
// (ErrNotFound, naming it). allowRegistry marks the system
// admin-approved for registerAgency and deleteAgency.
func (h *Hub) AddVxpSystem(ctx context.Context, p Principal, id string, agencies []string, allowRegistry bool) (VxpSystem, string, error) {
	if err := requireAdmin(p, "adding a VXP system"); err != nil {
		return VxpSystem{}, "", err
	}
	if err := checkVxpSystemID(id); err != nil {
		return VxpSystem{}, "", err
	}
	secret, err := newVxpSecret()
	if err != nil {
		return VxpSystem{}, "", err
	}
	rec := vxpRecord{ID: id, AllowRegistry: allowRegistry, Secret: secret, Created: h.now(), CreatedBy: p.String()}
	// Under regMu, so that the in-memory map follows the store in commit
	// order (and agency writes cannot interleave with the check).
	h.regMu.Lock()
	defer h.regMu.Unlock()
	err = h.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(store.BucketVxpSystems, []byte(id)); err == nil {
			return newErr(ErrExists, "system_id", "VXP system %s exists already; rotate its secret or remove it first", id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var err error
		if rec.Agencies, err = vxpAgencies(tx, agencies); err != nil {
			return err
		}
		return putRecord(tx, store.BucketVxpSystems, []byte(id), rec)
	})
	if err != nil {
		return VxpSystem{}, "", fmt.Errorf("add VXP system: %w", err)
	}
	h.mu.Lock()
	h.vxp[id] = rec.entry()
	h.mu.Unlock()
	h.log.Info("vxp system added", "system", id, "agencies", rec.Agencies, "allow_registry", allowRegistry,
		"admin", p.String(), "credential", p.Serial)
	return rec.system(), secret, nil
}

// ListVxpSystems returns every system, sorted by id, without secrets.
// Admins only.
func (h *Hub) ListVxpSystems(ctx context.Context, p Principal) ([]VxpSystem, error) {
	if err := requireAdmin(p, "listing VXP systems"); err != nil {
		return nil, err
	}
	out := []VxpSystem{}
	err := h.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(store.BucketVxpSystems, nil, nil, func(k, v []byte) (bool, error) {
			var rec vxpRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return false, fmt.Errorf("decode VXP system %q: %w", k, err)
			}
			out = append(out, rec.system())
			return true, ctx.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b VxpSystem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RotateVxpSecret gives a system a new secret and returns it, shown
// once; the old one is refused from the moment this returns. Admins
// only; ErrNotFound when there is no such system.
func (h *Hub) RotateVxpSecret(ctx context.Context, p Principal, id string) (VxpSystem, string, error) {
	if err := requireAdmin(p, "rotating a VXP secret"); err != nil {
		return VxpSystem{}, "", err
	}
	if err := checkVxpSystemID(id); err != nil {
		return VxpSystem{}, "", err
	}
	secret, err := newVxpSecret()
	if err != nil {
		return VxpSystem{}, "", err
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	var rec vxpRecord
	err = h.st.Update(ctx, func(tx store.Tx) error {
		if err := getRecord(tx, store.BucketVxpSystems, []byte(id), &rec); errors.Is(err, store.ErrNotFound) {
			return newErr(ErrNotFound, "system_id", "there is no VXP system %s", id)
		} else if err != nil {
			return err
		}
		rec.Secret, rec.Rotated, rec.RotatedBy = secret, h.now(), p.String()
		return putRecord(tx, store.BucketVxpSystems, []byte(id), rec)
	})
	if err != nil {
		return VxpSystem{}, "", fmt.Errorf("rotate VXP secret: %w", err)
	}
	h.mu.Lock()
	h.vxp[id] = rec.entry()
	h.mu.Unlock()
	h.log.Info("vxp system rotated", "system", id, "agencies", rec.Agencies, "admin", p.String(), "credential", p.Serial)
	return rec.system(), secret, nil
}

// RemoveVxpSystem removes a system; its next request is refused. Admins
// only; ErrNotFound when there is no such system.
func (h *Hub) RemoveVxpSystem(ctx context.Context, p Principal, id string) error {
	if err := requireAdmin(p, "removing a VXP system"); err != nil {
		return err
	}
	if err := checkVxpSystemID(id); err != nil {
		return err
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	var rec vxpRecord
	err := h.st.Update(ctx, func(tx store.Tx) error {
		if err := getRecord(tx, store.BucketVxpSystems, []byte(id), &rec); errors.Is(err, store.ErrNotFound) {
			return newErr(ErrNotFound, "system_id", "there is no VXP system %s", id)
		} else if err != nil {
			return err
		}
		return tx.Delete(store.BucketVxpSystems, []byte(id))
	})
	if err != nil {
		return fmt.Errorf("remove VXP system: %w", err)
	}
	h.mu.Lock()
	delete(h.vxp, id)
	h.mu.Unlock()
	h.log.Info("vxp system removed", "system", id, "agencies", rec.Agencies, "admin", p.String(), "credential", p.Serial)
	return nil
}

// LookupVxpSystem returns a system and its secret (the UTF-8 bytes of the
// base64 text the operator was given, which the SDK uses as its HMAC
// key), for authenticating a request. It reads memory only, so it is
// cheap enough for every request; the caller gets its own copies. Compare
// with crypto/hmac.Equal, never bytes.Equal. Whether the agency a
// request acts for is suspended is the caller's check, per request.
func (h *Hub) LookupVxpSystem(id string) (VxpSystem, []byte, bool) {
	h.mu.RLock()
	e, ok := h.vxp[id]
	h.mu.RUnlock()
	if !ok {
		return VxpSystem{}, nil, false
	}
	sys := e.sys
	sys.Agencies = slices.Clone(sys.Agencies)
	return sys, slices.Clone(e.secret), true
}

// loadVxpSystems fills the in-memory map from the store at start.
func (h *Hub) loadVxpSystems(tx store.Tx) error {
	return tx.Scan(store.BucketVxpSystems, nil, nil, func(k, v []byte) (bool, error) {
		var rec vxpRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return false, fmt.Errorf("decode VXP system %q: %w", k, err)
		}
		h.vxp[string(k)] = rec.entry()
		return true, nil
	})
}
