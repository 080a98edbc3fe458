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
		code, ref, staff, sp := statusOf(pk)
		r := &StatusReport{
			Recipient: strings.TrimSpace(pk.Header.From.OrganID),
			Code:      code,
			Reason:    strings.TrimSpace(pk.Status.Description),
			Staff:     staff,
			Packet:    sp,
		}
		if code == StatusRecall {
			// The sender asks the recipient ResponseFor names.
			r.Recipient = strings.TrimSpace(ref.OrganID)
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
