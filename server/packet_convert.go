package server

import (
	"maps"
	"slices"

	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// What an edXML packet said beyond the native model (hub/packet.go), in
// the API's messages (edxml.proto).

func organizationToProto(o edxml.Organization) *ndxpv1.Organization {
	return &ndxpv1.Organization{
		OrganId: o.OrganID, OrganizationInCharge: o.OrganizationInCharge, OrganName: o.OrganName,
		OrganAdd: o.OrganAdd, Email: o.Email, Telephone: o.Telephone, Fax: o.Fax, Website: o.Website,
	}
}

func referenceToProto(r edxml.ResponseFor) *ndxpv1.PacketReference {
	return &ndxpv1.PacketReference{OrganId: r.OrganID, Code: r.Code, PromulgationDate: r.PromulgationDate, DocumentId: r.DocumentID}
}

func staffToProto(s *edxml.StaffInfo) *ndxpv1.StaffInfo {
	if s == nil {
		return nil
	}
	return &ndxpv1.StaffInfo{Department: s.Department, Staff: s.Staff, Email: s.Email, Mobile: s.Mobile}
}

func attrsToProto(as []edxml.Attr) []*ndxpv1.PacketAttr {
	var out []*ndxpv1.PacketAttr
	for _, a := range as {
		out = append(out, &ndxpv1.PacketAttr{Space: a.Space, Local: a.Local, Value: a.Value})
	}
	return out
}

func businessBlockToProto(b *edxml.Business) *ndxpv1.PacketBusiness {
	if b == nil {
		return nil
	}
	out := &ndxpv1.PacketBusiness{
		DocumentId: b.DocumentID, DocType: b.DocType, Reason: b.Reason, Paper: b.Paper, Staff: staffToProto(b.Staff),
	}
	if di := b.DocumentInfo; di != nil {
		out.HasDocumentInfo, out.DocumentInfo, out.DocumentReceiver = true, di.DocumentInfo, di.DocumentReceiver
		for _, r := range di.Receivers {
			out.Receivers = append(out.Receivers, &ndxpv1.PacketReceiver{OrganId: r.OrganID, ReceiverType: r.ReceiverType})
		}
	}
	for _, r := range b.Replacements {
		out.Replacements = append(out.Replacements, &ndxpv1.PacketReplacement{DocumentId: r.DocumentID, OrganIds: r.OrganIDs})
	}
	return out
}

func packetHeaderToProto(ph *hub.PacketHeader) *ndxpv1.PacketHeader {
	if ph == nil {
		return nil
	}
	o := ph.OtherInfo
	out := &ndxpv1.PacketHeader{
		From:                 organizationToProto(ph.From),
		Type:                 ph.Type,
		TypeDetail:           ph.TypeDetail,
		SphereOfPromulgation: o.SphereOfPromulgation,
		TyperNotation:        o.TyperNotation,
		PromulgationAmount:   o.PromulgationAmount,
		PageAmount:           o.PageAmount,
		Direction:            o.Direction,
		Appendixes:           o.Appendixes,
		HasTrace:             ph.HasTrace,
		TraceAttrs:           attrsToProto(ph.TraceAttrs),
		Business:             businessBlockToProto(ph.Business),
		ManifestVersion:      ph.ManifestVersion,
		ToPlaces:             ph.ToPlaces,
	}
	for _, t := range ph.To {
		out.To = append(out.To, organizationToProto(t))
	}
	for _, r := range ph.ResponseFor {
		out.ResponseFor = append(out.ResponseFor, referenceToProto(r))
	}
	for _, t := range ph.TraceHeaders {
		out.TraceHeaders = append(out.TraceHeaders, &ndxpv1.PacketTraceHeader{OrganId: t.OrganID, Timestamp: t.Timestamp})
	}
	for _, el := range slices.Sorted(maps.Keys(ph.Texts)) {
		out.Texts = append(out.Texts, &ndxpv1.PacketText{Element: el, Text: ph.Texts[el]})
	}
	for _, e := range ph.Extra {
		out.Extra = append(out.Extra, &ndxpv1.PacketElement{Parent: e.Parent, Xml: e.XML})
	}
	if s := ph.Signature; s != nil {
		out.SignatureXml, out.SignatureNamespace, out.SignatureLocal = s.XML, s.Namespace, s.Local
	}
	return out
}

func packetAttachmentToProto(pa *hub.PacketAttachment) *ndxpv1.PacketAttachment {
	if pa == nil {
		return nil
	}
	m := pa.Manifest
	return &ndxpv1.PacketAttachment{
		ContentId: pa.ContentID, Name: pa.Name, HasManifest: pa.HasManifest,
		ManifestContentId: m.ContentID, ManifestContentType: m.ContentType, ManifestDescription: m.Description,
		ManifestName: m.AttachmentName, ManifestAttrs: attrsToProto(m.Attrs),
	}
}

func packedToProto(p *hub.PackedFile) *ndxpv1.PackedFile {
	if p == nil {
		return nil
	}
	return &ndxpv1.PackedFile{Name: p.Name, Size: p.Size}
}

var signatureStates = map[hub.SignatureState]ndxpv1.SignatureState{
	hub.SignatureAbsent:       ndxpv1.SignatureState_SIGNATURE_STATE_ABSENT,
	hub.SignatureValid:        ndxpv1.SignatureState_SIGNATURE_STATE_VALID,
	hub.SignatureInvalid:      ndxpv1.SignatureState_SIGNATURE_STATE_INVALID,
	hub.SignatureUnverifiable: ndxpv1.SignatureState_SIGNATURE_STATE_UNVERIFIABLE,
}

func signatureToProto(s hub.SignatureCheck) *ndxpv1.SignatureCheck {
	if s.State == "" {
		return nil
	}
	return &ndxpv1.SignatureCheck{State: signatureStates[s.State], Subject: s.Subject, Reason: s.Reason, Trusted: s.Trusted}
}

func packetInfoToProto(p *hub.PacketInfo) *ndxpv1.PacketInfo {
	if p == nil {
		return nil
	}
	return &ndxpv1.PacketInfo{Size: p.Size, Sha256: p.SHA256, Signature: signatureToProto(p.Signature)}
}

func statusPacketToProto(sp *hub.StatusPacket) *ndxpv1.StatusPacketInfo {
	if sp == nil {
		return nil
	}
	return &ndxpv1.StatusPacketInfo{
		From: organizationToProto(sp.From), Staff: staffToProto(sp.Staff), Timestamp: sp.Timestamp,
		ResponseFor: referenceToProto(sp.ResponseFor), Description: sp.Description,
	}
}

func warningsToProto(ws []edxml.Warning) []*ndxpv1.PacketWarning {
	var out []*ndxpv1.PacketWarning
	for _, w := range ws {
		out = append(out, &ndxpv1.PacketWarning{Line: int32(w.Line), Element: w.Element, Value: w.Value, Reason: w.Reason})
	}
	return out
}
