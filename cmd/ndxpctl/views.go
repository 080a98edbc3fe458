package main

import (
	"strconv"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// agencyView is the JSON shape of an agency in ndxpctl's output.
type agencyView struct {
	Code              string       `json:"code"`
	Name              string       `json:"name"`
	Parent            string       `json:"parent,omitempty"`
	Stage             string       `json:"stage"`
	Suspended         bool         `json:"suspended"`
	Online            bool         `json:"online"`
	ConnectedSince    *time.Time   `json:"connected_since,omitempty"`
	LastSeen          *time.Time   `json:"last_seen,omitempty"`
	ActiveCredentials int32        `json:"active_credentials"`
	Contact           *contactView `json:"contact,omitempty"`
	Created           time.Time    `json:"created"`
	Updated           time.Time    `json:"updated"`
}

type contactView struct {
	Person  string `json:"person,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Address string `json:"address,omitempty"`
}

func stageName(s ndxpv1.Stage) string {
	switch s {
	case ndxpv1.Stage_STAGE_PENDING:
		return "pending"
	case ndxpv1.Stage_STAGE_PILOT:
		return "pilot"
	case ndxpv1.Stage_STAGE_PRODUCTION:
		return "production"
	}
	return "unspecified"
}

func optTime(t interface {
	IsValid() bool
	AsTime() time.Time
}) *time.Time {
	if t == nil || !t.IsValid() {
		return nil
	}
	v := t.AsTime()
	return &v
}

func viewAgency(a *ndxpv1.Agency) agencyView {
	v := agencyView{
		Code:              a.GetCode(),
		Name:              a.GetName(),
		Parent:            a.GetParentCode(),
		Stage:             stageName(a.GetStage()),
		Suspended:         a.GetSuspended(),
		Online:            a.GetPresence().GetOnline(),
		ActiveCredentials: a.GetActiveCredentials(),
		Created:           a.GetCreateTime().AsTime(),
		Updated:           a.GetUpdateTime().AsTime(),
	}
	if p := a.GetPresence(); p != nil {
		if p.GetConnectedSince() != nil {
			v.ConnectedSince = optTime(p.GetConnectedSince())
		}
		if p.GetLastSeen() != nil {
			v.LastSeen = optTime(p.GetLastSeen())
		}
	}
	if c := a.GetContact(); c != nil && (c.Person != "" || c.Email != "" || c.Phone != "" || c.Address != "") {
		v.Contact = &contactView{Person: c.Person, Email: c.Email, Phone: c.Phone, Address: c.Address}
	}
	return v
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return cli.Time(*t)
}

func agencyRow(v agencyView) []string {
	online := yesNo(v.Online)
	if v.Online && v.ConnectedSince != nil {
		online = "yes, since " + cli.Time(*v.ConnectedSince)
	}
	return []string{v.Code, v.Name, v.Stage, yesNo(v.Suspended), online, timeOrDash(v.LastSeen)}
}

var agencyHeader = []string{"CODE", "NAME", "STAGE", "SUSPENDED", "ONLINE", "LAST SEEN"}

func agencyFields(v agencyView) [][2]string {
	kv := [][2]string{
		{"Code", v.Code},
		{"Name", v.Name},
		{"Parent", orDash(v.Parent)},
		{"Stage", v.Stage},
		{"Suspended", yesNo(v.Suspended)},
		{"Online", yesNo(v.Online)},
		{"Connected since", timeOrDash(v.ConnectedSince)},
		{"Last seen", timeOrDash(v.LastSeen)},
		{"Active credentials", strconv.Itoa(int(v.ActiveCredentials))},
	}
	if c := v.Contact; c != nil {
		kv = append(kv, [2]string{"Contact", orDash(c.Person)}, [2]string{"E-mail", orDash(c.Email)},
			[2]string{"Phone", orDash(c.Phone)}, [2]string{"Address", orDash(c.Address)})
	}
	return append(kv, [2]string{"Registered", cli.Time(v.Created)}, [2]string{"Updated", cli.Time(v.Updated)})
}
