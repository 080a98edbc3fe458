package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

// Principal is the authenticated caller of a request, taken only from its
// verified certificate.
type Principal struct {
	// Admin is true for operators (urn:ndxp:admin:NAME).
	Admin bool
	// Name is the admin name, or the agency's identifier code.
	Name string
	// Serial identifies the credential used.
	Serial string
}

func (p Principal) String() string {
	if p.Name == "" {
		return "anonymous"
	}
	if p.Admin {
		return "admin:" + p.Name
	}
	return "agency:" + p.Name
}

// Authenticate turns the credential of a verified client certificate
// into a Principal. It is called on every call, so suspension and
// revocation take effect at once; the certificate itself was read once,
// at the connection's handshake.
func (h *Hub) Authenticate(c pki.Credential) (Principal, error) {
	if c.Err != nil {
		return Principal{}, newErr(ErrUnauthenticated, "", "the certificate names no ndxp identity: %v", c.Err)
	}
	id, serial := c.Identity, c.Serial
	h.mu.RLock()
	revoked := h.revoked[serial]
	entry, registered := h.index[id.Name]
	h.mu.RUnlock()
	if revoked {
		return Principal{}, newErr(ErrUnauthenticated, "", "credential %s has been revoked", serial)
	}
	switch id.Kind {
	case pki.KindAdmin:
		return Principal{Admin: true, Name: id.Name, Serial: serial}, nil
	case pki.KindAgency:
		if !registered {
			return Principal{}, newErr(ErrUnauthenticated, "", "agency %s is not registered", id.Name)
		}
		if entry.suspended {
			return Principal{}, newErr(ErrPermission, "", "agency %s is suspended", id.Name)
		}
		return Principal{Name: id.Name, Serial: serial}, nil
	}
	return Principal{}, newErr(ErrUnauthenticated, "", "unknown identity kind in %s", id.URI())
}

// Seen records that an agency made an authorized call (its "last seen").
func (h *Hub) Seen(p Principal) {
	if !p.Admin && p.Name != "" {
		h.presence.seen(p.Name)
	}
}

// credential is one issued certificate, stored in BucketCredentials under
// code NUL serial.
type credential struct {
	Serial  string     `json:"serial"`
	Code    string     `json:"code"`
	Issued  time.Time  `json:"issued"`
	Expires time.Time  `json:"expires"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// MaxCredentialDays bounds a credential's lifetime (ten years).
const MaxCredentialDays = 3650

// IssuedCredential is what a credentials file needs from the hub.
type IssuedCredential struct {
	CertPEM    []byte
	CAPEM      []byte
	HubAddress string
	Serial     string
	Expires    time.Time
}

// IssueCredential signs a client certificate for a registered agency from a
// certificate signing request, so the private key never leaves the caller.
func (h *Hub) IssueCredential(ctx context.Context, code string, csrDER []byte, validDays int) (IssuedCredential, error) {
	if _, err := parseCode("code", code); err != nil {
		return IssuedCredential{}, err
	}
	if len(csrDER) == 0 {
		return IssuedCredential{}, invalid("csr", "a certificate signing request is required")
	}
	switch {
	case validDays < 0 || validDays > MaxCredentialDays:
		return IssuedCredential{}, invalid("valid_days", "must be between 1 and %d", MaxCredentialDays)
	case validDays == 0:
		validDays = h.cfg.DefaultCredentialDays
	}
	if !h.CanIssueCredentials() {
		return IssuedCredential{}, newErr(ErrPrecondition, "", "this hub trusts an external CA and holds no CA key: issue agency certificates with that CA")
	}
	if _, err := h.GetAgency(ctx, code); err != nil {
		return IssuedCredential{}, err
	}
	now := h.now()
	validity := time.Duration(validDays) * 24 * time.Hour
	certPEM, serial, err := h.cfg.CA.SignCSR(csrDER, pki.AgencyIdentity(code), now, validity)
	if err != nil {
		return IssuedCredential{}, invalid("csr", "%v", err)
	}
	c := credential{Serial: serial, Code: code, Issued: now, Expires: now.Add(validity)}
	err = h.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getAgency(tx, code); err != nil {
			return err
		}
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		return tx.Put(store.BucketCredentials, credKey(code, serial), v)
	})
	if err != nil {
		return IssuedCredential{}, fmt.Errorf("record credential: %w", err)
	}
	h.log.Info("credential issued", "code", code, "serial", serial, "expires", c.Expires)
	return IssuedCredential{CertPEM: certPEM, CAPEM: h.cfg.CA.CertPEM(), HubAddress: h.hubAddress(), Serial: serial, Expires: c.Expires}, nil
}

// RevokeCredential revokes one credential (serial given) or every
// credential of an agency (serial empty). It returns how many it revoked.
func (h *Hub) RevokeCredential(ctx context.Context, code, serial string) (int, error) {
	if code == "" && serial != "" {
		return h.revokeSerial(ctx, serial)
	}
	if _, err := parseCode("code", code); err != nil {
		return 0, err
	}
	now := h.now()
	var revoked []string
	err := h.st.Update(ctx, func(tx store.Tx) error {
		revoked = revoked[:0]
		if _, err := getAgency(tx, code); err != nil {
			return err
		}
		var todo []credential
		err := tx.Scan(store.BucketCredentials, []byte(code+"\x00"), nil, func(_, v []byte) (bool, error) {
			var c credential
			if err := json.Unmarshal(v, &c); err != nil {
				return false, err
			}
			if c.Revoked == nil && (serial == "" || c.Serial == serial) {
				todo = append(todo, c)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if serial != "" && len(todo) == 0 {
			return newErr(ErrNotFound, "credential_id", "agency %s has no active credential %s", code, serial)
		}
		for _, c := range todo {
			c.Revoked = &now
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := tx.Put(store.BucketCredentials, credKey(code, c.Serial), v); err != nil {
				return err
			}
			revoked = append(revoked, c.Serial)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("revoke credential: %w", err)
	}
	h.mu.Lock()
	for _, s := range revoked {
		h.revoked[s] = true
	}
	h.mu.Unlock()
	h.endRevoked(revoked...)
	h.log.Info("credentials revoked", "code", code, "count", len(revoked))
	return len(revoked), nil
}

// revokeSerial revokes one certificate by its serial, whoever it names:
// the way to revoke an admin's credential, or one issued by an external CA.
func (h *Hub) revokeSerial(ctx context.Context, serial string) (int, error) {
	serial = strings.TrimLeft(strings.ToLower(strings.ReplaceAll(serial, ":", "")), "0")
	if serial == "" || len(serial) > 40 || strings.Trim(serial, "0123456789abcdef") != "" {
		return 0, invalid("credential_id", "%q is not a certificate serial number (hex)", serial)
	}
	h.mu.RLock()
	already := h.revoked[serial]
	h.mu.RUnlock()
	if already {
		return 0, nil
	}
	now := h.now()
	c := credential{Serial: serial, Issued: now, Revoked: &now}
	err := h.st.Update(ctx, func(tx store.Tx) error {
		return putRecord(tx, store.BucketCredentials, credKey("", serial), c)
	})
	if err != nil {
		return 0, fmt.Errorf("revoke credential: %w", err)
	}
	h.mu.Lock()
	h.revoked[serial] = true
	h.mu.Unlock()
	h.endRevoked(serial)
	h.log.Info("credential revoked by serial", "serial", serial)
	return 1, nil
}

// endRevoked ends every open stream of the revoked credentials, admins'
// included: a revocation takes effect on calls in progress, not only on
// the next one.
func (h *Hub) endRevoked(serials ...string) {
	for _, s := range serials {
		h.endStreams(func(p Principal) bool { return p.Serial == s },
			newErr(ErrUnauthenticated, "", "credential %s has been revoked", s))
	}
}

// ActiveCredentials counts an agency's unrevoked, unexpired credentials.
func (h *Hub) ActiveCredentials(ctx context.Context, code string) (int, error) {
	n, err := h.ActiveCredentialCounts(ctx, []string{code})
	return n[code], err
}

// ActiveCredentialCounts counts the unrevoked, unexpired credentials of
// several agencies in one read, for a page of a listing.
func (h *Hub) ActiveCredentialCounts(ctx context.Context, codes []string) (map[string]int, error) {
	now := h.now()
	out := make(map[string]int, len(codes))
	err := h.st.View(ctx, func(tx store.Tx) error {
		for _, code := range codes {
			err := tx.Scan(store.BucketCredentials, []byte(code+"\x00"), nil, func(_, v []byte) (bool, error) {
				var c credential
				if err := json.Unmarshal(v, &c); err != nil {
					return false, err
				}
				if c.Revoked == nil && c.Expires.After(now) {
					out[code]++
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// hubAddress is the address written into a credential issued now.
func (h *Hub) hubAddress() string {
	if h.cfg.HubAddresses != nil {
		if a := h.cfg.HubAddresses(); a != "" {
			return a
		}
	}
	return h.cfg.HubAddress
}
