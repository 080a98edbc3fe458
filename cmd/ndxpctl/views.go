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
	Via               string       `json:"via,omitempty"` // "stream" or "polling" (VXP) while online
	ConnectedSince    *time.Time   `json:"connected_since,omitempty"`
	LastSeen          *time.Time   `json:"last_seen,omitempty"`
	LastPolled        *time.Time   `json:"last_polled,omitempty"`
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
		if p.GetLastPollTime() != nil {
			v.LastPolled = cli.OptTime(p.GetLastPollTime())
		}
		v.Via = viaName(p.GetVia())
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

// viaName names how an agency is connected, as the JSON output says it.
func viaName(v ndxpv1.ConnectionVia) string {
	switch v {
	case ndxpv1.ConnectionVia_CONNECTION_VIA_STREAM:
		return "stream"
	case ndxpv1.ConnectionVia_CONNECTION_VIA_POLLING:
		return "polling"
	}
	return ""
}

// onlineText is the ONLINE column: "no", or how and since when, e.g.
// "polling since 2026-03-01 08:00:00".
func onlineText(v agencyView) string {
	if !v.Online {
		return cli.YesNo(false)
	}
	how := v.Via
	if how == "" {
		how = cli.YesNo(true)
	}
	if v.ConnectedSince != nil {
		how += " since " + cli.Time(*v.ConnectedSince)
	}
	return how
}

// onlineHow is the Online field of agency show: "no", "yes, by polling".
func onlineHow(v agencyView) string {
	if !v.Online || v.Via == "" {
		return cli.YesNo(v.Online)
	}
	return cli.YesNo(true) + ", by " + v.Via
}

func agencyRow(v agencyView) []string {
	return []string{v.Code, v.Name, v.Stage, cli.YesNo(v.Suspended), onlineText(v), timeOrDash(v.LastSeen), timeOrDash(v.LastPolled)}
}

var agencyHeader = []string{"CODE", "NAME", "STAGE", "SUSPENDED", "ONLINE", "LAST SEEN", "LAST POLL"}

func agencyFields(v agencyView) [][2]string {
	kv := [][2]string{
		{"Code", v.Code},
		{"Name", v.Name},
		{"Parent", cli.OrDash(v.Parent)},
		{"Stage", v.Stage},
		{"Suspended", cli.YesNo(v.Suspended)},
		{"Online", onlineHow(v)},
		{"Connected since", timeOrDash(v.ConnectedSince)},
		{"Last seen", timeOrDash(v.LastSeen)},
		{"Last poll (VXP)", timeOrDash(v.LastPolled)},
		{"Active credentials", strconv.Itoa(int(v.ActiveCredentials))},
	}
	if c := v.Contact; c != nil {
		kv = append(kv, [2]string{"Contact", cli.OrDash(c.Person)}, [2]string{"E-mail", cli.OrDash(c.Email)},
			[2]string{"Phone", cli.OrDash(c.Phone)}, [2]string{"Address", cli.OrDash(c.Address)})
	}
	return append(kv, [2]string{"Registered", cli.Time(v.Created)}, [2]string{"Updated", cli.Time(v.Updated)})
}
