package hub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/ndxp/ndxp/internal/agencycode"
	"github.com/ndxp/ndxp/internal/store"
)

func getAgency(tx store.Tx, code string) (Agency, error) {
	v, err := tx.Get(store.BucketAgencies, []byte(code))
	if errors.Is(err, store.ErrNotFound) {
		return Agency{}, newErr(ErrNotFound, "code", "agency %s is not registered", code)
	}
	if err != nil {
		return Agency{}, err
	}
	var a Agency
	if err := json.Unmarshal(v, &a); err != nil {
		return Agency{}, fmt.Errorf("decode agency %s: %w", code, err)
	}
	return a, nil
}

func putAgency(tx store.Tx, a Agency) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Put(store.BucketAgencies, []byte(a.Code), v)
}

func exists(tx store.Tx, code string) (bool, error) {
	_, err := tx.Get(store.BucketAgencies, []byte(code))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// resolveParent checks a given parent exists, or derives one from the code
// (docs/domain.md: a unit's parent is its code with the deepest non-zero level
// zeroed) when none is given and that parent is registered. pending holds
// agencies of the same import that count as registered.
func resolveParent(tx store.Tx, a *Agency, field string, pending map[string]bool) error {
	if a.Parent != "" {
		ok := pending[a.Parent]
		if !ok {
			var err error
			if ok, err = exists(tx, a.Parent); err != nil {
				return err
			}
		}
		if !ok {
			return newErr(ErrNotFound, field, "parent agency %s is not registered", a.Parent)
		}
		return nil
	}
	for p, ok := agencycode.MustParse(a.Code).Parent(); ok; p, ok = p.Parent() {
		found := pending[p.String()]
		if !found {
			var err error
			if found, err = exists(tx, p.String()); err != nil {
				return err
			}
		}
		if found {
			a.Parent = p.String()
			return nil
		}
	}
	return nil
}

// checkNoCycle refuses a parent whose own ancestry leads back to code.
// pending holds parents of agencies not yet stored (an import).
func checkNoCycle(tx store.Tx, code, parent string, pending map[string]string) error {
	for p, steps := parent, 0; p != ""; steps++ {
		if p == code {
			return invalid("parent_code", "%s would become its own ancestor", code)
		}
		if steps > 16 { // deeper than any real hierarchy: treat as a loop
			return invalid("parent_code", "the chain of parents above %s does not end", code)
		}
		if next, ok := pending[p]; ok {
			p = next
			continue
		}
		a, err := getAgency(tx, p)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		p = a.Parent
	}
	return nil
}

// CreateAgency registers an agency. See normalize for the field rules.
func (h *Hub) CreateAgency(ctx context.Context, a Agency) (Agency, error) {
	if err := a.normalize(); err != nil {
		return Agency{}, err
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	now := h.now()
	a.Suspended = false
	a.Created, a.Updated = now, now
	in := a
	err := h.st.Update(ctx, func(tx store.Tx) error {
		a = in // the function may run again: start from the input each time
		if ok, err := exists(tx, a.Code); err != nil {
			return err
		} else if ok {
			return newErr(ErrExists, "code", "agency %s is already registered", a.Code)
		}
		if err := refuseAliasCode(tx, a.Code); err != nil {
			return err
		}
		if err := resolveParent(tx, &a, "parent_code", nil); err != nil {
			return err
		}
		return putAgency(tx, a)
	})
	if err != nil {
		return Agency{}, fmt.Errorf("create agency: %w", err)
	}
	h.indexPut(a)
	h.log.Info("agency registered", "code", a.Code, "stage", a.Stage.String())
	return a, nil
}

// ImportAgencies registers many agencies in one transaction, all or none.
// A failing agency's error names it by its index: "agencies[3].name".
func (h *Hub) ImportAgencies(ctx context.Context, list []Agency) (int, error) {
	if len(list) == 0 {
		return 0, invalid("agencies", "nothing to import")
	}
	im := newAgencyImport(len(list))
	if err := im.add(list); err != nil {
		return 0, err
	}
	return h.commitImport(ctx, im)
}

// AgencySource yields the agencies of a streamed import a batch at a time.
// Next returns io.EOF after the last batch; any other error ends the
// import with nothing stored.
type AgencySource interface {
	Next() ([]Agency, error)
}

// ImportAgencyStream is ImportAgencies for an import too large for one
// message: it takes the agencies from src a batch at a time, checks each
// batch as it comes and stores them all in one transaction once src is
// done, all or none. A refusal comes as soon as it is known (a bad agency,
// MaxImport or MaxImportBytes passed), before the rest is read, so the hub
// never holds more than the limits allow. Errors name an agency by its
// index in the whole import, as ImportAgencies does.
func (h *Hub) ImportAgencyStream(ctx context.Context, src AgencySource) (int, error) {
	im := newAgencyImport(0)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		batch, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := im.add(batch); err != nil {
			return 0, err
		}
	}
	if len(im.list) == 0 {
		return 0, invalid("agencies", "nothing to import")
	}
	return h.commitImport(ctx, im)
}

// Import limits. One import is one transaction, and a streamed import is
// held in memory until it is complete.
const (
	// MaxImport bounds the agencies of one import.
	MaxImport = 200_000
	// MaxImportBytes bounds the text of one import (codes, names, parents
	// and contacts). A real register runs to about 300 bytes an agency,
	// 60 MB at MaxImport; the field limits alone would let 200,000
	// agencies carry 900 MB.
	MaxImportBytes = 128 << 20
)

// agencyImport gathers the agencies of one import, each checked on its
// own as it is added; the checks against the register come at commit.
type agencyImport struct {
	list     []Agency
	seen     map[string]int // code -> index in list
	bytes    int
	maxBytes int // MaxImportBytes; smaller in tests
}

func newAgencyImport(n int) *agencyImport {
	return &agencyImport{list: make([]Agency, 0, n), seen: make(map[string]int, n), maxBytes: MaxImportBytes}
}

// indexed names the agency at index i in an error about one of its fields.
func indexed(i int, err error) error {
	var he *Error
	if errors.As(err, &he) {
		return &Error{Kind: he.Kind, Field: fmt.Sprintf("agencies[%d].%s", i, he.Field), Msg: he.Msg}
	}
	return err
}

// add checks and appends a batch; the caller's slice is not changed.
func (im *agencyImport) add(batch []Agency) error {
	if n := len(im.list) + len(batch); n > MaxImport {
		return invalid("agencies", "more than %d agencies in one import, the limit", MaxImport)
	}
	for _, a := range batch {
		i := len(im.list)
		if err := a.normalize(); err != nil {
			return indexed(i, err)
		}
		if j, dup := im.seen[a.Code]; dup {
			return indexed(i, newErr(ErrExists, "code", "agency %s appears twice (also agencies[%d])", a.Code, j))
		}
		c := a.Contact
		im.bytes += len(a.Code) + len(a.Name) + len(a.Parent) + len(c.Person) + len(c.Email) + len(c.Phone) + len(c.Address)
		if im.bytes > im.maxBytes {
			limit := fmt.Sprintf("%d MiB", im.maxBytes>>20)
			if im.maxBytes%(1<<20) != 0 {
				limit = fmt.Sprintf("%d bytes", im.maxBytes)
			}
			return invalid("agencies", "more than %s of text in one import (at agencies[%d]), the limit", limit, i)
		}
		im.seen[a.Code] = i
		im.list = append(im.list, a)
	}
	return nil
}

// commitImport stores the gathered agencies in one transaction after
// checking them against the register: codes not taken, parents known,
// no cycles.
func (h *Hub) commitImport(ctx context.Context, im *agencyImport) (int, error) {
	list := im.list
	h.regMu.Lock()
	defer h.regMu.Unlock()
	now := h.now()
	err := h.st.Update(ctx, func(tx store.Tx) error {
		pending := make(map[string]bool, len(list))
		parents := make(map[string]string, len(list))
		for _, a := range list {
			pending[a.Code] = true
			parents[a.Code] = a.Parent
		}
		for i := range list {
			a := list[i] // a copy: a retried transaction starts from the input again
			if ok, err := exists(tx, a.Code); err != nil {
				return err
			} else if ok {
				return indexed(i, newErr(ErrExists, "code", "agency %s is already registered", a.Code))
			}
			if err := refuseAliasCode(tx, a.Code); err != nil {
				return indexed(i, err)
			}
			if err := resolveParent(tx, &a, "parent_code", pending); err != nil {
				return indexed(i, err)
			}
			parents[a.Code] = a.Parent
			if err := checkNoCycle(tx, a.Code, a.Parent, parents); err != nil {
				return indexed(i, err)
			}
			a.Suspended = false
			a.Created, a.Updated = now, now
			if err := putAgency(tx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("import agencies: %w", err)
	}
	for _, a := range list {
		h.indexPut(a)
	}
	h.log.Info("agencies imported", "count", len(list))
	return len(list), nil
}

// AgencyUpdate names the fields UpdateAgency changes; nil means unchanged.
type AgencyUpdate struct {
	Name    *string
	Parent  *string
	Contact *Contact
}

// UpdateAgency changes the name, parent or contact of an agency.
func (h *Hub) UpdateAgency(ctx context.Context, code string, u AgencyUpdate) (Agency, error) {
	if _, err := parseCode("code", code); err != nil {
		return Agency{}, err
	}
	if u.Name == nil && u.Parent == nil && u.Contact == nil {
		return Agency{}, invalid("update_mask", "names no field to change (name, parent_code, contact)")
	}
	return h.modify(ctx, code, func(tx store.Tx, a *Agency) error {
		if u.Name != nil {
			a.Name = *u.Name
		}
		if u.Contact != nil {
			a.Contact = *u.Contact
		}
		if u.Parent != nil {
			a.Parent = *u.Parent
		}
		if err := a.normalize(); err != nil {
			return err
		}
		if u.Parent != nil && a.Parent != "" {
			if err := resolveParent(tx, a, "parent_code", nil); err != nil {
				return err
			}
			return checkNoCycle(tx, a.Code, a.Parent, nil)
		}
		return nil // an explicitly empty parent clears it
	})
}

// SetStage moves an agency to another stage.
func (h *Hub) SetStage(ctx context.Context, code string, s Stage) (Agency, error) {
	if !s.Valid() {
		return Agency{}, invalid("stage", "unknown stage (want pending, pilot or production)")
	}
	a, err := h.modify(ctx, code, func(_ store.Tx, a *Agency) error { a.Stage = s; return nil })
	if err == nil {
		h.log.Info("agency stage set", "code", code, "stage", s.String())
	}
	return a, err
}

// SetSuspended suspends or resumes an agency. A suspended agency is refused
// on its next call, and documents cannot be addressed to it.
func (h *Hub) SetSuspended(ctx context.Context, code string, suspended bool, reason string) (Agency, error) {
	if err := checkText("reason", reason, MaxContactLen, false); err != nil {
		return Agency{}, err
	}
	a, err := h.modify(ctx, code, func(_ store.Tx, a *Agency) error { a.Suspended = suspended; return nil })
	if err == nil {
		h.log.Info("agency suspension set", "code", code, "suspended", suspended, "reason", reason)
		if suspended {
			h.endStreams(func(p Principal) bool { return !p.Admin && p.Name == code },
				newErr(ErrPermission, "", "agency %s was suspended", code))
		}
	}
	return a, err
}

// modify reads, changes and writes one agency in one transaction.
func (h *Hub) modify(ctx context.Context, code string, change func(store.Tx, *Agency) error) (Agency, error) {
	if _, err := parseCode("code", code); err != nil {
		return Agency{}, err
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	var out Agency
	err := h.st.Update(ctx, func(tx store.Tx) error {
		a, err := getAgency(tx, code)
		if err != nil {
			return err
		}
		if err := change(tx, &a); err != nil {
			return err
		}
		a.Updated = h.now()
		out = a
		return putAgency(tx, a)
	})
	if err != nil {
		return Agency{}, err
	}
	h.indexPut(out)
	return out, nil
}

func (h *Hub) indexPut(a Agency) {
	h.mu.Lock()
	if _, ok := h.index[a.Code]; !ok {
		h.codes = nil
	}
	h.index[a.Code] = indexEntry{name: a.Name, stage: a.Stage, suspended: a.Suspended}
	h.mu.Unlock()
	h.watch.notify()
}

// sortedCodes returns every registered code in order. The list is sorted
// once after codes are added and then shared (never changed, only
// replaced): sorting 100,000 agency lines took most of a snapshot.
func (h *Hub) sortedCodes() []string {
	h.mu.RLock()
	codes := h.codes
	h.mu.RUnlock()
	if codes != nil {
		return codes
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.codes == nil {
		h.codes = slices.Sorted(maps.Keys(h.index))
	}
	return h.codes
}

// GetAgency returns one agency.
func (h *Hub) GetAgency(ctx context.Context, code string) (Agency, error) {
	if _, err := parseCode("code", code); err != nil {
		return Agency{}, err
	}
	var a Agency
	err := h.st.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = getAgency(tx, code)
		return err
	})
	return a, err
}

// AgencyFilter selects agencies in ListAgencies. Zero values match all.
type AgencyFilter struct {
	Stage      Stage
	Parent     string
	Query      string // code or name substring, case-insensitive
	Suspended  *bool
	OnlineOnly bool
}

func (f AgencyFilter) match(a Agency, online bool) bool {
	if f.Stage != StageUnspecified && a.Stage != f.Stage {
		return false
	}
	if f.Parent != "" && a.Parent != f.Parent {
		return false
	}
	if f.Suspended != nil && a.Suspended != *f.Suspended {
		return false
	}
	if f.OnlineOnly && !online {
		return false
	}
	if f.Query != "" {
		q := strings.ToLower(norm.NFC.String(f.Query))
		if !strings.Contains(strings.ToLower(a.Code), q) && !strings.Contains(strings.ToLower(a.Name), q) {
			return false
		}
	}
	return true
}

// pageSizeOf applies a listing's default (for 0) and maximum page size.
func pageSizeOf(n, def, max int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size", "must not be negative")
	case n == 0:
		return def, nil
	}
	return min(n, max), nil
}

// Page limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ListAgencies returns a page of agencies in code order and the token of
// the next page ("" on the last). The token is opaque to callers.
func (h *Hub) ListAgencies(ctx context.Context, f AgencyFilter, pageSize int, pageToken string) ([]Agency, string, error) {
	pageSize, err := pageSizeOf(pageSize, DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	if f.Stage != StageUnspecified && !f.Stage.Valid() {
		return nil, "", invalid("stage", "unknown stage")
	}
	if f.Parent != "" {
		if _, err := parseCode("parent_code", f.Parent); err != nil {
			return nil, "", err
		}
	}
	var start []byte
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || len(b) == 0 {
			return nil, "", invalid("page_token", "is not a token this hub issued")
		}
		start = b
	}
	var out []Agency
	next := ""
	err = h.st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(store.BucketAgencies, nil, start, func(k, v []byte) (bool, error) {
			if len(out) == pageSize {
				next = base64.RawURLEncoding.EncodeToString(k)
				return false, nil
			}
			var a Agency
			if err := json.Unmarshal(v, &a); err != nil {
				return false, fmt.Errorf("decode agency %s: %w", k, err)
			}
			if f.match(a, h.presence.online(a.Code)) {
				out = append(out, a)
			}
			return true, ctx.Err()
		})
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Overview counts agencies at a glance.
type Overview struct {
	Total      int `json:"total"`
	Pending    int `json:"pending"`
	Pilot      int `json:"pilot"`
	Production int `json:"production"`
	Suspended  int `json:"suspended"`
	Online     int `json:"online"`
}

// Overview returns the registry counts.
func (h *Hub) Overview() Overview {
	h.mu.RLock()
	defer h.mu.RUnlock()
	o := Overview{Total: len(h.index)}
	for code, e := range h.index {
		switch e.stage {
		case StagePending:
			o.Pending++
		case StagePilot:
			o.Pilot++
		case StageProduction:
			o.Production++
		}
		if e.suspended {
			o.Suspended++
		}
		if h.presence.online(code) {
			o.Online++
		}
	}
	return o
}

// Presence returns the live connection state of an agency.
func (h *Hub) Presence(code string) Presence { return h.presence.get(code) }
