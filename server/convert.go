package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func stageToProto(s hub.Stage) ndxpv1.Stage {
	switch s {
	case hub.StagePending:
		return ndxpv1.Stage_STAGE_PENDING
	case hub.StagePilot:
		return ndxpv1.Stage_STAGE_PILOT
	case hub.StageProduction:
		return ndxpv1.Stage_STAGE_PRODUCTION
	}
	return ndxpv1.Stage_STAGE_UNSPECIFIED
}

// stageFromProto maps an API stage; an out-of-range value becomes an
// invalid hub.Stage that the hub refuses with a message naming the field.
func stageFromProto(s ndxpv1.Stage) hub.Stage {
	switch s {
	case ndxpv1.Stage_STAGE_UNSPECIFIED:
		return hub.StageUnspecified
	case ndxpv1.Stage_STAGE_PENDING:
		return hub.StagePending
	case ndxpv1.Stage_STAGE_PILOT:
		return hub.StagePilot
	case ndxpv1.Stage_STAGE_PRODUCTION:
		return hub.StageProduction
	}
	return hub.Stage(s) // not a stage: the hub refuses it, naming the number
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func presenceToProto(p hub.Presence) *ndxpv1.Presence {
	return &ndxpv1.Presence{
		Online:         p.Online,
		ConnectedSince: timeToProto(p.ConnectedSince),
		LastSeen:       timeToProto(p.LastSeen),
		Via:            viaToProto(p.Via),
		LastPollTime:   timeToProto(p.LastPolled),
	}
}

func viaToProto(via string) ndxpv1.ConnectionVia {
	switch via {
	case hub.ViaStream:
		return ndxpv1.ConnectionVia_CONNECTION_VIA_STREAM
	case hub.ViaPolling:
		return ndxpv1.ConnectionVia_CONNECTION_VIA_POLLING
	}
	return ndxpv1.ConnectionVia_CONNECTION_VIA_UNSPECIFIED
}

func agencyToProto(a hub.Agency, p hub.Presence, activeCreds int) *ndxpv1.Agency {
	return &ndxpv1.Agency{
		Code:       a.Code,
		Name:       a.Name,
		ParentCode: a.Parent,
		Stage:      stageToProto(a.Stage),
		Suspended:  a.Suspended,
		Contact: &ndxpv1.Contact{
			Person:  a.Contact.Person,
			Email:   a.Contact.Email,
			Phone:   a.Contact.Phone,
			Address: a.Contact.Address,
		},
		CreateTime:        timeToProto(a.Created),
		UpdateTime:        timeToProto(a.Updated),
		Presence:          presenceToProto(p),
		ActiveCredentials: int32(activeCreds),
	}
}

func agencyFromProto(a *ndxpv1.Agency) hub.Agency {
	if a == nil {
		return hub.Agency{}
	}
	return hub.Agency{
		Code:    a.GetCode(),
		Name:    a.GetName(),
		Parent:  a.GetParentCode(),
		Stage:   stageFromProto(a.GetStage()),
		Contact: contactFromProto(a.GetContact()),
	}
}

func contactFromProto(c *ndxpv1.Contact) hub.Contact {
	return hub.Contact{Person: c.GetPerson(), Email: c.GetEmail(), Phone: c.GetPhone(), Address: c.GetAddress()}
}
