package hub

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/edxml"
)

// What an edXML packet (QCVN 102:2016, docs/edxml.md) says beyond the
// native header is kept beside it, as text, so a document that arrived as
// a packet renders the same packet again field by field; the packet's own
// bytes are kept too (PacketInfo) and served as they came.

// PacketHeader is what a document packet said that Header has no field
// for (proto PacketHeader).
type PacketHeader struct {
	From            edxml.Organization   `json:"from"`
	To              []edxml.Organization `json:"to,omitempty"`
	Type            string               `json:"type,omitempty"`
	TypeDetail      string               `json:"type_detail,omitempty"`
	OtherInfo       edxml.OtherInfo      `json:"other_info,omitzero"` // Priority is Header.Priority (or a text)
	ResponseFor     []edxml.ResponseFor  `json:"response_for,omitempty"`
	ToPlaces        []string             `json:"to_places,omitempty"` // as written, when Header.ToPlaces had to differ
	HasTrace        bool                 `json:"has_trace,omitempty"`
	TraceAttrs      []edxml.Attr         `json:"trace_attrs,omitempty"`
	TraceHeaders    []edxml.TraceHeader  `json:"trace_headers,omitempty"`
	Business        *edxml.Business      `json:"business,omitempty"`
	ManifestVersion string               `json:"manifest_version,omitempty"`
	// Texts keep, by element path, what a native field could not hold as
	// written: an invalid date, a number with spaces, an empty priority.
	Texts     map[string]string `json:"texts,omitempty"`
	Extra     []edxml.Element   `json:"extra,omitempty"`
	Signature *edxml.Signature  `json:"signature,omitempty"`
}

// PacketAttachment is what an edXML attachment said beyond AttachmentInfo.
type PacketAttachment struct {
	ContentID   string          `json:"content_id,omitempty"`
	Name        string          `json:"name,omitempty"` // AttachmentName as written, when Name had to differ
	HasManifest bool            `json:"has_manifest,omitempty"`
	Manifest    edxml.Reference `json:"manifest,omitzero"`
}

// PackedFile describes an attachment whose bytes are a ZIP of one file.
type PackedFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// PacketInfo is the packet a document arrived as: its bytes are a body
// like an attachment's, kept exactly as received.
type PacketInfo struct {
	Size      int64          `json:"size"`
	SHA256    []byte         `json:"sha256"`
	Signature SignatureCheck `json:"signature"`
}

// SignatureState is what the check of a packet's XML-DSig found.
type SignatureState string

// Signature states.
const (
	SignatureAbsent       SignatureState = "absent"
	SignatureValid        SignatureState = "valid"
	SignatureInvalid      SignatureState = "invalid"
	SignatureUnverifiable SignatureState = "unverifiable"
)

// SignatureCheck is the result of checking a packet's signature.
type SignatureCheck struct {
	State   SignatureState `json:"state"`
	Subject string         `json:"subject,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Trusted bool           `json:"trusted,omitempty"`
}

// StatusPacket is what a status packet said beyond StatusReport.
type StatusPacket struct {
	From        edxml.Organization `json:"from"`
	Staff       *edxml.StaffInfo   `json:"staff,omitempty"`
	Timestamp   string             `json:"timestamp,omitempty"`
	ResponseFor edxml.ResponseFor  `json:"response_for"`
	Description string             `json:"description,omitempty"` // as written; the report's reason is trimmed
}

// Element paths under MessageHeader whose text a native field holds.
const (
	elDocumentID = "DocumentId"
	elNumber     = "Code/CodeNumber"
	elNotation   = "Code/CodeNotation"
	elPlace      = "PromulgationInfo/Place"
	elDate       = "PromulgationInfo/PromulgationDate"
	elTypeName   = "DocumentType/TypeName"
	elSubject    = "Subject"
	elContent    = "Content"
	elCompetence = "SignerInfo/Competence"
	elPosition   = "SignerInfo/Position"
	elFullName   = "SignerInfo/FullName"
	elDueDate    = "DueDate"
	elPriority   = "OtherInfo/Priority"
	elSteering   = "SteeringType"
)

// packetDate is the layout of edXML dates; packetTime of its timestamps,
// in Vietnam's local time without a zone.
const (
	packetDate = "2006/01/02"
	packetTime = "2006/01/02 15:04:05"
)

// vietnam is UTC+7, the zone of every edXML date and timestamp.
var vietnam = time.FixedZone("ICT", 7*3600)

// texts collects the Texts of a packet read into native fields: a field
// holds a value only where rendering it gives back the text as written.
type texts map[string]string

func (t texts) keep(el, written, native string) string {
	if native != written {
		t[el] = written
	}
	return native
}

func (t texts) trimmed(el, v string) string { return t.keep(el, v, strings.TrimSpace(v)) }

func (t texts) lines(el, v string) string { return t.keep(el, v, normalizeLines(v)) }

// date reads a yyyy/MM/dd date into the native YYYY-MM-DD.
func (t texts) date(el, v string) string {
	d, err := time.Parse(packetDate, strings.TrimSpace(v))
	if err != nil {
		t[el] = v
		return ""
	}
	return t.keep(el, v, d.Format(dateLayout))
}

func (t texts) number(el, v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		t[el] = v
		return 0
	}
	t.keep(el, v, strconv.Itoa(n))
	return n
}

// text is what to render for element el: the text kept, or the native value.
func (t texts) text(el, native string) string {
	if v, ok := t[el]; ok {
		return v
	}
	return native
}

// headerFromPacket maps a document packet's header to the native one.
// Recipients, the sender and the original document are for the caller to
// resolve: they need the registry.
func headerFromPacket(pk *edxml.Packet) Header {
	m := pk.Header
	t := texts{}
	h := Header{
		Reference: t.trimmed(elDocumentID, m.DocumentID),
		Number:    t.trimmed(elNumber, m.CodeNumber),
		Notation:  t.trimmed(elNotation, m.CodeNotation),
		Type:      t.trimmed(elTypeName, m.TypeName),
		Subject:   t.trimmed(elSubject, m.Subject),
		Content:   t.lines(elContent, m.Content),
		Place:     t.trimmed(elPlace, m.Place),
		Date:      t.date(elDate, m.PromulgationDate),
		Signer: Signer{
			Competence: t.trimmed(elCompetence, m.Competence),
			Position:   t.trimmed(elPosition, m.Position),
			FullName:   t.trimmed(elFullName, m.FullName),
		},
		Priority:     t.number(elPriority, m.OtherInfo.Priority),
		DueDate:      t.date(elDueDate, m.DueDate),
		SteeringType: t.number(elSteering, m.SteeringType),
	}
	ph := &PacketHeader{
		From:            m.From,
		To:              m.To,
		Type:            m.Type,
		TypeDetail:      m.TypeDetail,
		OtherInfo:       m.OtherInfo,
		ResponseFor:     m.ResponseFor,
		ManifestVersion: pk.Manifest.Version,
		Extra:           pk.Extra,
		Signature:       pk.Signature,
	}
	ph.OtherInfo.Priority = ""
	for _, p := range m.ToPlaces {
		if p = strings.TrimSpace(p); p != "" {
			h.ToPlaces = append(h.ToPlaces, p)
		}
	}
	if !equalStrings(h.ToPlaces, m.ToPlaces) {
		ph.ToPlaces = m.ToPlaces
	}
	if tr := pk.Trace; tr != nil {
		ph.HasTrace = true
		ph.TraceAttrs, ph.TraceHeaders, ph.Business = tr.Attrs, tr.Headers, tr.Business
		if b := tr.Business; b != nil {
			switch strings.TrimSpace(b.DocType) {
			case edxml.BusinessRevoke:
				h.Business = BusinessRevoke
			case edxml.BusinessUpdate:
				h.Business = BusinessUpdate
			case edxml.BusinessReplace:
				h.Business = BusinessReplace
			}
		}
	}
	if len(t) > 0 {
		ph.Texts = t
	}
	h.Packet = ph
	h.Attachments = attachmentsFromPacket(pk)
	return h
}

// attachmentsFromPacket describes the payload attachments, in payload
// order, each with its manifest entry (matched by ContentId without "cid:").
func attachmentsFromPacket(pk *edxml.Packet) []AttachmentInfo {
	refs := map[string]edxml.Reference{}
	for _, r := range pk.Manifest.References {
		id := contentID(r.ContentID)
		if _, dup := refs[id]; !dup {
			refs[id] = r
		}
	}
	out := make([]AttachmentInfo, len(pk.Attachments))
	for i, a := range pk.Attachments {
		pa := &PacketAttachment{ContentID: a.ContentID}
		if r, ok := refs[contentID(a.ContentID)]; ok {
			pa.HasManifest, pa.Manifest = true, r
		}
		out[i] = AttachmentInfo{
			Name:        a.AttachmentName,
			MediaType:   a.ContentType,
			Size:        a.Size,
			SHA256:      a.SHA256,
			Description: a.Description,
			Packet:      pa,
		}
	}
	fixNames(out)
	return out
}

// fixNames makes every attachment name one the hub can keep (a plain file
// name, once per document), keeping a name it had to change as written.
func fixNames(atts []AttachmentInfo) {
	seen := map[string]bool{}
	for i := range atts {
		a := &atts[i]
		name := strings.TrimSpace(strings.NewReplacer("/", "_", "\\", "_").Replace(a.Name))
		if name == "" || name == "." || name == ".." || checkFileName("name", name) != nil {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		base := name
		for n := 2; seen[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s (%d)", base, n)
		}
		seen[strings.ToLower(name)] = true
		if name != a.Name {
			a.Packet.Name = a.Name
			a.Name = name
		}
	}
}

func contentID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "cid:") {
		return s[4:]
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// linked is what a rendered packet says about the documents a document
// refers to: the original an update or replacement acts on, and the one
// it answers.
type linked struct {
	original, responseFor *Document
}

// packetOf renders a stored document as a packet. A document that arrived
// as a packet renders what it said; one sent natively renders its header,
// with the sender's own trace header and business block. The result
// depends only on the stored records, so the same document always renders
// the same bytes.
func packetOf(d Document, l linked) *edxml.Packet {
	h := d.Header
	ph := h.Packet
	if ph == nil {
		ph = nativePacketHeader(d, l)
	}
	t := texts(ph.Texts)
	m := edxml.Header{
		From:             ph.From,
		To:               ph.To,
		DocumentID:       t.text(elDocumentID, h.Reference),
		CodeNumber:       t.text(elNumber, h.Number),
		CodeNotation:     t.text(elNotation, h.Notation),
		Place:            t.text(elPlace, h.Place),
		PromulgationDate: t.text(elDate, packetDay(h.Date)),
		Type:             ph.Type,
		TypeDetail:       ph.TypeDetail,
		TypeName:         t.text(elTypeName, h.Type),
		Subject:          t.text(elSubject, h.Subject),
		Content:          t.text(elContent, h.Content),
		Competence:       t.text(elCompetence, h.Signer.Competence),
		Position:         t.text(elPosition, h.Signer.Position),
		FullName:         t.text(elFullName, h.Signer.FullName),
		DueDate:          t.text(elDueDate, packetDay(h.DueDate)),
		OtherInfo:        ph.OtherInfo,
		ResponseFor:      ph.ResponseFor,
		SteeringType:     t.text(elSteering, strconv.Itoa(h.SteeringType)),
		ToPlaces:         h.ToPlaces,
	}
	m.OtherInfo.Priority = t.text(elPriority, strconv.Itoa(h.Priority))
	if ph.ToPlaces != nil {
		m.ToPlaces = ph.ToPlaces
	}
	pk := &edxml.Packet{
		Header:    m,
		Signature: ph.Signature,
		Manifest:  edxml.Manifest{Version: ph.ManifestVersion},
		Extra:     ph.Extra,
	}
	if ph.HasTrace {
		pk.Trace = &edxml.Trace{Attrs: ph.TraceAttrs, Headers: ph.TraceHeaders, Business: ph.Business}
	}
	for i, a := range h.Attachments {
		pa := a.Packet
		if pa == nil {
			pa = &PacketAttachment{ContentID: fmt.Sprintf("cid:%d", i+1), HasManifest: true,
				Manifest: edxml.Reference{ContentID: fmt.Sprintf("cid:%d", i+1), ContentType: a.MediaType, Description: a.Description, AttachmentName: a.Name}}
		}
		name := a.Name
		if pa.Name != "" {
			name = pa.Name
		}
		if pa.HasManifest {
			pk.Manifest.References = append(pk.Manifest.References, pa.Manifest)
		}
		pk.Attachments = append(pk.Attachments, edxml.Attachment{
			ContentID: pa.ContentID, AttachmentName: name, Description: a.Description,
			ContentType: a.MediaType, Size: a.Size, SHA256: a.SHA256,
		})
	}
	return pk
}

// nativePacketHeader is the packet header of a document sent natively:
// codes for From and To, the sender's trace header at the acceptance time,
// and the business block with the document an update or replacement acts
// on.
func nativePacketHeader(d Document, l linked) *PacketHeader {
	h := d.Header
	ph := &PacketHeader{From: edxml.Organization{OrganID: d.Sender}, ManifestVersion: "1.0", HasTrace: true}
	for _, r := range h.Recipients {
		ph.To = append(ph.To, edxml.Organization{OrganID: r})
	}
	ref := func(o *Document) edxml.ResponseFor {
		return edxml.ResponseFor{OrganID: o.Sender, Code: codeOf(o.Header), PromulgationDate: packetDay(o.Header.Date), DocumentID: o.Header.Reference}
	}
	if l.responseFor != nil {
		ph.ResponseFor = append(ph.ResponseFor, ref(l.responseFor))
	}
	b := &edxml.Business{DocumentID: h.Reference, DocType: edxml.BusinessNew, Paper: "0"}
	switch h.Business {
	case BusinessUpdate:
		b.DocType = edxml.BusinessUpdate
		b.DocumentInfo = &edxml.DocumentInfo{DocumentInfo: "1", DocumentReceiver: "0"}
		if l.original != nil {
			ph.ResponseFor = append(ph.ResponseFor, ref(l.original))
		}
	case BusinessReplace:
		b.DocType = edxml.BusinessReplace
		if l.original != nil {
			b.Replacements = []edxml.ReplacementInfo{{DocumentID: l.original.Header.Reference, OrganIDs: l.original.Header.Recipients}}
		}
	}
	ph.Business = b
	ph.TraceHeaders = []edxml.TraceHeader{{OrganID: d.Sender, Timestamp: d.Created.In(vietnam).Format(packetTime)}}
	return ph
}

// codeOf is a header's edXML Code, "number/notation".
func codeOf(h Header) string {
	if h.Notation == "" {
		return h.Number
	}
	return h.Number + "/" + h.Notation
}

// packetDay writes a native YYYY-MM-DD date as edXML's yyyy/MM/dd.
func packetDay(d string) string {
	t, err := time.Parse(dateLayout, d)
	if err != nil {
		return d
	}
	return t.Format(packetDate)
}

// statusPacketOf renders a status report on document d as a status packet.
func statusPacketOf(d Document, r StatusReport) *edxml.Packet {
	sp := r.Packet
	if sp == nil {
		sp = &StatusPacket{
			From:        edxml.Organization{OrganID: r.Recipient},
			Staff:       &edxml.StaffInfo{Staff: r.Staff},
			Timestamp:   r.Time.In(vietnam).Format(packetTime),
			ResponseFor: edxml.ResponseFor{OrganID: d.Sender, Code: codeOf(d.Header), PromulgationDate: packetDay(d.Header.Date), DocumentID: d.Header.Reference},
		}
		if r.Code == StatusRecall {
			// The sender asks: From is the sender, ResponseFor names the
			// recipient asked (docs/edxml.md).
			sp.From.OrganID, sp.ResponseFor.OrganID = d.Sender, r.Recipient
		}
	}
	desc := r.Reason
	switch {
	case r.Packet != nil:
		desc = sp.Description
	case desc == "":
		desc = r.Code.Text()
	}
	return &edxml.Packet{
		Header: edxml.Header{From: sp.From, ResponseFor: []edxml.ResponseFor{sp.ResponseFor}},
		Status: &edxml.Status{Staff: sp.Staff, Code: string(r.Code), Description: desc, Timestamp: sp.Timestamp},
	}
}
