package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
)

// Kind is the kind of principal an [Identity] names.
type Kind int

// Identity kinds. The zero value KindUnknown is not a valid kind.
const (
	KindUnknown Kind = iota // invalid
	KindAgency              // an agency, named by its identifier code
	KindAdmin               // a hub administrator
	KindNode                // a node of a hub cluster, named by its node id
)

// String returns the kind as it appears in an identity URI ("agency",
// "admin", "node"), or "unknown".
func (k Kind) String() string {
	switch k {
	case KindAgency:
		return "agency"
	case KindAdmin:
		return "admin"
	case KindNode:
		return "node"
	default:
		return "unknown"
	}
}

// MaxNameLen is the maximum length of an identity name (agency code or
// admin name).
const MaxNameLen = 64

// MaxNodeIDLen is the maximum length of a node id.
const MaxNodeIDLen = 32

const identityPrefix = "urn:ndxp:"

// Identity is a principal known to the hub: an agency, an administrator or
// a node of the hub's cluster. It is encoded in certificates as a URI SAN,
// see [Identity.URI].
type Identity struct {
	Kind Kind
	Name string // agency identifier code, admin name or node id
}

// AgencyIdentity returns the identity of the agency with the given
// identifier code. It does not validate the code; see [Identity.Validate].
func AgencyIdentity(code string) Identity {
	return Identity{Kind: KindAgency, Name: code}
}

// AdminIdentity returns the identity of the administrator with the given
// name. It does not validate the name; see [Identity.Validate].
func AdminIdentity(name string) Identity {
	return Identity{Kind: KindAdmin, Name: name}
}

// NodeIdentity returns the identity of the cluster node with the given id.
// It does not validate the id; see [Identity.Validate].
func NodeIdentity(id string) Identity {
	return Identity{Kind: KindNode, Name: id}
}

// URI returns the identity as a URI, e.g. "urn:ndxp:agency:000.00.00.G22".
// It returns "" if the kind is not valid.
func (id Identity) URI() string {
	if !id.Kind.valid() {
		return ""
	}
	return identityPrefix + id.Kind.String() + ":" + id.Name
}

// String returns the same as [Identity.URI].
func (id Identity) String() string { return id.URI() }

func (k Kind) valid() bool { return k == KindAgency || k == KindAdmin || k == KindNode }

// Validate reports whether id has a known kind and a valid name: 1 to
// [MaxNameLen] characters from [A-Za-z0-9._-] for an agency or an admin,
// 1 to [MaxNodeIDLen] from [a-z0-9-] for a node (see [ValidateNodeID]).
// The error wraps [ErrInvalidIdentity].
func (id Identity) Validate() error {
	switch id.Kind {
	case KindAgency, KindAdmin:
		return validateName(id.Name)
	case KindNode:
		return ValidateNodeID(id.Name)
	}
	return fmt.Errorf("%w: unknown kind %d", ErrInvalidIdentity, int(id.Kind))
}

// ValidateNodeID reports whether id is a valid node id: 1 to
// [MaxNodeIDLen] characters from [a-z0-9-]. Node ids are narrower than
// agency codes because they also name Raft servers, directories and
// host-like labels, where case and dots would confuse. The error wraps
// [ErrInvalidIdentity].
func ValidateNodeID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty node id", ErrInvalidIdentity)
	}
	if len(id) > MaxNodeIDLen {
		return fmt.Errorf("%w: node id is %d characters, limit is %d", ErrInvalidIdentity, len(id), MaxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: node id %q contains invalid character %q (allowed: a-z, 0-9, -)", ErrInvalidIdentity, id, c)
		}
	}
	return nil
}

func validateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidIdentity)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: name is %d characters, limit is %d", ErrInvalidIdentity, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: name %q contains invalid character %q", ErrInvalidIdentity, name, c)
		}
	}
	return nil
}

// ParseIdentity parses an identity URI of the form urn:ndxp:<kind>:<name>.
// Parsing is strict and case-sensitive: the scheme must be "urn", the
// namespace "ndxp", the kind "agency", "admin" or "node", and the name
// valid for its kind (see [Identity.Validate]). The error wraps
// [ErrInvalidIdentity].
func ParseIdentity(uri string) (Identity, error) {
	parts := strings.Split(uri, ":")
	if len(parts) != 4 {
		return Identity{}, fmt.Errorf("%w: %q is not of the form urn:ndxp:<kind>:<name>", ErrInvalidIdentity, uri)
	}
	if parts[0] != "urn" {
		return Identity{}, fmt.Errorf("%w: %q: scheme is not urn", ErrInvalidIdentity, uri)
	}
	if parts[1] != "ndxp" {
		return Identity{}, fmt.Errorf("%w: %q: namespace is not ndxp", ErrInvalidIdentity, uri)
	}
	var id Identity
	switch parts[2] {
	case "agency":
		id.Kind = KindAgency
	case "admin":
		id.Kind = KindAdmin
	case "node":
		id.Kind = KindNode
	default:
		return Identity{}, fmt.Errorf("%w: %q: unknown kind %q", ErrInvalidIdentity, uri, parts[2])
	}
	id.Name = parts[3]
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("%q: %w", uri, err)
	}
	return id, nil
}

// IdentityFromCert returns the identity named by cert. The certificate must
// carry exactly one URI SAN that starts with "urn:ndxp:" (compared
// case-insensitively, so that a differently cased second identity cannot hide)
// and that URI must be a valid identity. The subject common name is ignored.
// Every error wraps [ErrNoIdentity]; a malformed URI also wraps
// [ErrInvalidIdentity].
//
// IdentityFromCert does not verify the certificate: call it only on a
// certificate from a verified chain.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrNoIdentity)
	}
	var found []string
	for _, u := range cert.URIs {
		s := uriString(u)
		if len(s) >= len(identityPrefix) && strings.EqualFold(s[:len(identityPrefix)], identityPrefix) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("%w: certificate %q has no %s URI SAN", ErrNoIdentity, cert.Subject.CommonName, identityPrefix)
	case 1:
	default:
		return Identity{}, fmt.Errorf("%w: certificate %q has %d %s URI SANs %q, want exactly one",
			ErrNoIdentity, cert.Subject.CommonName, len(found), identityPrefix, found)
	}
	id, err := ParseIdentity(found[0])
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrNoIdentity, err)
	}
	return id, nil
}

func uriString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// url returns id as a *url.URL for certificate templates. id must be valid.
func (id Identity) url() *url.URL {
	return &url.URL{Scheme: "urn", Opaque: strings.TrimPrefix(id.URI(), "urn:")}
}

// Credential is what a verified client certificate tells the hub: the
// identity it names and its serial (the credential id used to revoke it).
// Err says why a certificate from the trusted CA names no identity.
type Credential struct {
	Identity Identity
	Serial   string
	Err      error
}

// CredentialOf reads a certificate from a verified chain once, at the
// connection's handshake: every call on the connection is authorized from
// the result.
func CredentialOf(cert *x509.Certificate) Credential {
	id, err := IdentityFromCert(cert)
	return Credential{Identity: id, Serial: SerialString(cert), Err: err}
}
