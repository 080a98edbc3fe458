package hub

import (
	"strings"

	"github.com/ndxp/ndxp/internal/edxml"
)

// Inspection is what the hub would store for a packet, read offline
// without a registry: a document's native header, or a status packet's
// report. Exactly one of Header and Status is set.
type Inspection struct {
	Header *Header
	Status *StatusReport
}

// InspectPacket maps pk as SendPacket does, up to where the registry is
// needed: agency codes stay as written (a document's recipients are its
// To codes, a status report's recipient its From code, or for a recall
// (13) the ResponseFor code) and no document is looked up, so an
// update or replace has no Original and a status report no DocID.
func InspectPacket(pk *edxml.Packet) Inspection {
	if pk.IsStatus() {
		st := pk.Status
		var ref edxml.ResponseFor
		if len(pk.Header.ResponseFor) > 0 {
			ref = pk.Header.ResponseFor[0]
		}
		code := Status(strings.TrimSpace(st.Code))
		r := &StatusReport{
			Recipient: strings.TrimSpace(pk.Header.From.OrganID),
			Code:      code,
			Reason:    strings.TrimSpace(st.Description),
			Packet: &StatusPacket{From: pk.Header.From, Staff: st.Staff, Timestamp: st.Timestamp,
				ResponseFor: ref, Description: st.Description},
		}
		if code == StatusRecall {
			// The sender asks the recipient ResponseFor names.
			r.Recipient = strings.TrimSpace(ref.OrganID)
		}
		if st.Staff != nil {
			r.Staff = strings.TrimSpace(st.Staff.Staff)
		}
		return Inspection{Status: r}
	}
	h := headerFromPacket(pk)
	for _, to := range pk.Header.To {
		if c := strings.TrimSpace(to.OrganID); c != "" {
			h.Recipients = append(h.Recipients, c)
		}
	}
	return Inspection{Header: &h}
}
