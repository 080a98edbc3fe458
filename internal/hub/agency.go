package hub

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/ndxp/ndxp/internal/agencycode"
)

// Stage is an agency's administrative connection stage.
type Stage int

// Stages, in the order an agency usually moves through them. They are set
// by operators only; connecting never changes an agency's stage.
const (
	StageUnspecified Stage = iota
	StagePending           // code issued, not yet exchanging
	StagePilot             // trial connection
	StageProduction        // in official use
)

var stageNames = map[Stage]string{StagePending: "pending", StagePilot: "pilot", StageProduction: "production"}

func (s Stage) String() string {
	if n, ok := stageNames[s]; ok {
		return n
	}
	return fmt.Sprintf("stage(%d)", int(s))
}

// Valid reports whether s is one of the three stages.
func (s Stage) Valid() bool { _, ok := stageNames[s]; return ok }

// ParseStage reads a stage name (pending, pilot, production).
func ParseStage(name string) (Stage, error) {
	for s, n := range stageNames {
		if strings.EqualFold(n, name) {
			return s, nil
		}
	}
	return StageUnspecified, invalid("stage", "unknown stage %q (want pending, pilot or production)", name)
}

// MarshalText writes the stage name, so records read well in JSON.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a stage name.
func (s *Stage) UnmarshalText(b []byte) error {
	v, err := ParseStage(string(b))
	*s = v
	return err
}

// Contact holds how operators reach an agency's system team.
type Contact struct {
	Person  string `json:"person,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Address string `json:"address,omitempty"`
}

// Agency is a registered unit. It is stored as JSON in BucketAgencies under its code.
type Agency struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Parent    string    `json:"parent,omitempty"`
	Stage     Stage     `json:"stage"`
	Suspended bool      `json:"suspended,omitempty"`
	Contact   Contact   `json:"contact,omitzero"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// Limits on agency fields. Names of Vietnamese bodies run to about 120
// characters ("Ủy ban nhân dân ..."), so 300 leaves room without letting a
// record grow without bound.
const (
	MaxNameLen    = 300
	MaxContactLen = 200
)

// parseCode validates an identifier code; field names the request field.
func parseCode(field, s string) (agencycode.Code, error) {
	if s == "" {
		return agencycode.Code{}, invalid(field, "identifier code is required")
	}
	c, err := agencycode.Parse(s)
	if err != nil {
		return agencycode.Code{}, invalid(field, "%v", err)
	}
	return c, nil
}

// normalize validates a (new or changed) agency record's own fields and
// trims its texts. Cross-record rules (parent exists, unique code) are
// checked in the transaction.
func (a *Agency) normalize() error {
	if _, err := parseCode("code", a.Code); err != nil {
		return err
	}
	// NFC, so that a name typed with combining marks (macOS, some
	// Vietnamese keyboards) is stored, compared and searched like one typed
	// with precomposed letters.
	a.Name = norm.NFC.String(strings.TrimSpace(a.Name))
	if err := checkText("name", a.Name, MaxNameLen, true); err != nil {
		return err
	}
	if a.Parent != "" {
		if _, err := parseCode("parent_code", a.Parent); err != nil {
			return err
		}
		if a.Parent == a.Code {
			return invalid("parent_code", "an agency cannot be its own parent")
		}
	}
	if a.Stage == StageUnspecified {
		a.Stage = StagePending
	}
	if !a.Stage.Valid() {
		return invalid("stage", "unknown stage %d (want pending, pilot or production)", int(a.Stage))
	}
	c := &a.Contact
	for _, f := range []struct {
		name string
		v    *string
	}{{"contact.person", &c.Person}, {"contact.email", &c.Email}, {"contact.phone", &c.Phone}, {"contact.address", &c.Address}} {
		*f.v = strings.TrimSpace(*f.v)
		if err := checkText(f.name, *f.v, MaxContactLen, false); err != nil {
			return err
		}
	}
	if c.Email != "" {
		addr, err := mail.ParseAddress(c.Email)
		if err != nil || addr.Name != "" {
			return invalid("contact.email", "%q is not a plain e-mail address (name@example.gov.vn)", c.Email)
		}
	}
	return nil
}
