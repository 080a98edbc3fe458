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

func viewAgency(a *ndxpv1.Agency) agencyView {
	v := agencyView{
		Code:              a.GetCode(),
		Name:              a.GetName(),
		Parent:            a.GetParentCode(),
		Stage:             cli.StageName(a.GetStage()),
		Suspended:         a.GetSuspended(),
		Online:            a.GetPresence().GetOnline(),
		ActiveCredentials: a.GetActiveCredentials(),
		Created:           a.GetCreateTime().AsTime(),
		Updated:           a.GetUpdateTime().AsTime(),
	}
	if p := a.GetPresence(); p != nil {
		if p.GetConnectedSince() != nil {
			v.ConnectedSince = cli.OptTime(p.GetConnectedSince())
		}
		if p.GetLastSeen() != nil {
			v.LastSeen = cli.OptTime(p.GetLastSeen())
		}
	}
	if c := a.GetContact(); c != nil && (c.Person != "" || c.Email != "" || c.Phone != "" || c.Address != "") {
		v.Contact = &contactView{Person: c.Person, Email: c.Email, Phone: c.Phone, Address: c.Address}
	}
	return v
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return cli.Time(*t)
}

func agencyRow(v agencyView) []string {
	online := cli.YesNo(v.Online)
	if v.Online && v.ConnectedSince != nil {
		online = "yes, since " + cli.Time(*v.ConnectedSince)
	}
	return []string{v.Code, v.Name, v.Stage, cli.YesNo(v.Suspended), online, timeOrDash(v.LastSeen)}
}

var agencyHeader = []string{"CODE", "NAME", "STAGE", "SUSPENDED", "ONLINE", "LAST SEEN"}

func agencyFields(v agencyView) [][2]string {
	kv := [][2]string{
		{"Code", v.Code},
		{"Name", v.Name},
		{"Parent", cli.OrDash(v.Parent)},
		{"Stage", v.Stage},
		{"Suspended", cli.YesNo(v.Suspended)},
		{"Online", cli.YesNo(v.Online)},
		{"Connected since", timeOrDash(v.ConnectedSince)},
		{"Last seen", timeOrDash(v.LastSeen)},
		{"Active credentials", strconv.Itoa(int(v.ActiveCredentials))},
	}
	if c := v.Contact; c != nil {
		kv = append(kv, [2]string{"Contact", cli.OrDash(c.Person)}, [2]string{"E-mail", cli.OrDash(c.Email)},
			[2]string{"Phone", cli.OrDash(c.Phone)}, [2]string{"Address", cli.OrDash(c.Address)})
	}
	return append(kv, [2]string{"Registered", cli.Time(v.Created)}, [2]string{"Updated", cli.Time(v.Updated)})
}
