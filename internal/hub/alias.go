package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"

	"github.com/ndxp/ndxp/internal/store"
)

// Aliases. Real packets name agencies by codes outside the standard form
// (docs/domain.md, docs/edxml.md): "28.22.H17", "001.00.20.TT2", another
// hub's own system id "vxp.saas.03". An operator registers such a code as
// an alias of the registered agency it stands for, and ResolveCode then
// accepts it wherever the hub must identify an agency. An alias is one
// name, never a second agency: it cannot be a registered code, an agency
// cannot be registered under an alias, and an alias always names a
// registered code (agencies are never deleted, so it stays valid).

// MaxAliasLen bounds an alias, in characters. The longest seen in real
// packets is a hub system id of about 20.
const MaxAliasLen = 64

// Alias is a second name of a registered agency. It is stored as JSON in
// store.BucketAliases under the alias.
type Alias struct {
	Alias string `json:"alias"`
	Code  string `json:"code"`
	// AgencyName is the agency's current name, filled in when the alias
	// is read (a rename changes it); it is not stored.
	AgencyName string    `json:"-"`
	Created    time.Time `json:"created"`
	// CreatedBy is the admin who added it, as Principal.String.
	CreatedBy string `json:"created_by,omitempty"`
}

// checkAlias applies the text rules to an alias: 1..MaxAliasLen
// characters, none of them a space or one checkText refuses.
func checkAlias(alias string) error {
	if err := checkText("alias", alias, MaxAliasLen, true); err != nil {
		return err
	}
	for i, r := range []rune(alias) {
		if unicode.IsSpace(r) {
			return invalid("alias", "character %d (U+%04X) is a space, which an alias may not contain", i+1, r)
		}
	}
	return nil
}

func requireAdmin(p Principal, what string) error {
	if !p.Admin {
		return newErr(ErrPermission, "", "%s is not an admin; %s needs an admin credential", p, what)
	}
	return nil
}

// AddAlias registers alias as another name of the agency registered under
// code. Admins only. It is refused when the alias breaks the text rules
// or holds a space (ErrInvalid), is a registered code or already an alias
// (ErrExists), or when code is not registered (ErrNotFound).
func (h *Hub) AddAlias(ctx context.Context, p Principal, alias, code string) (Alias, error) {
	if err := requireAdmin(p, "adding an alias"); err != nil {
		return Alias{}, err
	}
	if err := checkAlias(alias); err != nil {
		return Alias{}, err
	}
	if _, err := parseCode("code", code); err != nil {
		return Alias{}, err
	}
	// Under regMu, so that no agency is registered under the alias between
	// the check and the commit, nor an alias added under a new code.
	h.regMu.Lock()
	defer h.regMu.Unlock()
	al := Alias{Alias: alias, Code: code, Created: h.now(), CreatedBy: p.String()}
	err := h.st.Update(ctx, func(tx store.Tx) error {
		if ok, err := exists(tx, alias); err != nil {
			return err
		} else if ok {
			return newErr(ErrExists, "alias", "%s is a registered agency code; an alias must be a code the registry does not hold", alias)
		}
		var prev Alias
		switch err := getRecord(tx, store.BucketAliases, []byte(alias), &prev); {
		case err == nil:
			return newErr(ErrExists, "alias", "%s is already an alias of %s", alias, prev.Code)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if ok, err := exists(tx, code); err != nil {
			return err
		} else if !ok {
			var target Alias
			if getRecord(tx, store.BucketAliases, []byte(code), &target) == nil {
				return newErr(ErrNotFound, "code", "%s is itself an alias (of %s): name the registered agency", code, target.Code)
			}
			return newErr(ErrNotFound, "code", "agency %s is not registered", code)
		}
		return putRecord(tx, store.BucketAliases, []byte(alias), al)
	})
	if err != nil {
		return Alias{}, fmt.Errorf("add alias: %w", err)
	}
	h.mu.Lock()
	h.aliases[alias] = code
	al.AgencyName = h.index[code].name
	h.mu.Unlock()
	h.log.Info("alias added", "alias", alias, "code", code, "admin", p.String(), "credential", p.Serial)
	return al, nil
}

// RemoveAlias removes an alias. Admins only; ErrNotFound when it is not
// one. Packets that name it are refused from then on.
func (h *Hub) RemoveAlias(ctx context.Context, p Principal, alias string) error {
	if err := requireAdmin(p, "removing an alias"); err != nil {
		return err
	}
	if err := checkText("alias", alias, MaxAliasLen, true); err != nil {
		return err
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	var al Alias
	err := h.st.Update(ctx, func(tx store.Tx) error {
		if err := getRecord(tx, store.BucketAliases, []byte(alias), &al); errors.Is(err, store.ErrNotFound) {
			return newErr(ErrNotFound, "alias", "%s is not an alias", alias)
		} else if err != nil {
			return err
		}
		return tx.Delete(store.BucketAliases, []byte(alias))
	})
	if err != nil {
		return fmt.Errorf("remove alias: %w", err)
	}
	h.mu.Lock()
	delete(h.aliases, alias)
	h.mu.Unlock()
	h.log.Info("alias removed", "alias", alias, "code", al.Code, "admin", p.String(), "credential", p.Serial)
	return nil
}

// ListAliases returns every alias, sorted by alias, with its agency's
// current name. Admins only.
func (h *Hub) ListAliases(ctx context.Context, p Principal) ([]Alias, error) {
	if err := requireAdmin(p, "listing aliases"); err != nil {
		return nil, err
	}
	out := []Alias{}
	err := h.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(store.BucketAliases, nil, nil, func(k, v []byte) (bool, error) {
			var al Alias
			if err := json.Unmarshal(v, &al); err != nil {
				return false, fmt.Errorf("decode alias %q: %w", k, err)
			}
			out = append(out, al)
			return true, ctx.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	h.mu.RLock()
	for i := range out {
		out[i].AgencyName = h.index[out[i].Code].name
	}
	h.mu.RUnlock()
	// The store scans in key order already; sorting says so here rather
	// than relying on it.
	slices.SortFunc(out, func(a, b Alias) int { return cmp.Compare(a.Alias, b.Alias) })
	return out, nil
}

// ResolveCode returns the registered agency code that code names: code
// itself when it is registered, the agency it stands for when it is an
// alias. Otherwise it returns an ErrInvalid error whose whole message is
// `<element> "<code>" is not a registered agency or alias`, element being
// where the caller found the code (for example "To/OrganId"). It reads
// the in-memory registry only, so it is cheap, and may be called inside
// or outside a store transaction.
func (h *Hub) ResolveCode(ctx context.Context, element, code string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h.mu.RLock()
	_, registered := h.index[code]
	target, aliased := h.aliases[code]
	h.mu.RUnlock()
	switch {
	case registered:
		return code, nil
	case aliased:
		return target, nil
	}
	return "", newErr(ErrInvalid, "", "%s %q is not a registered agency or alias", element, code)
}

// refuseAliasCode refuses to register an agency under a code that is an
// alias: one name, one agency.
func refuseAliasCode(tx store.Tx, code string) error {
	var al Alias
	err := getRecord(tx, store.BucketAliases, []byte(code), &al)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return newErr(ErrExists, "code", "%s is an alias of agency %s; remove the alias first (ndxpctl agency alias remove %s)", code, al.Code, code)
}

// AliasesByCode maps each agency that has aliases to one of them (the
// first in order): the "old code" directories show beside a code.
func (h *Hub) AliasesByCode() map[string]string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[string]string, len(h.aliases))
	for alias, code := range h.aliases {
		if prev, ok := out[code]; !ok || alias < prev {
			out[code] = alias
		}
	}
	return out
}
