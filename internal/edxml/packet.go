// Package edxml reads and writes edXML packets (QCVN 102:2016), the
// national format of electronic official documents: document packets
// (a MessageHeader, a TraceHeaderList, a manifest and base64 attachments)
// and status packets (a MessageHeader with a StatusCode). docs/edxml.md
// maps every element to ndxp's model.
//
// Every value is kept as the text of its element: a packet's dates and
// numbers are often not what the standard says (2014/02/30, " 1"), and
// what the hub does not depend on is kept, not refused. Read and Write
// stream: attachments go to and come from a Sink or an Opener, so memory
// does not grow with the packet.
package edxml

import "io"

// Namespace is the QCVN 102:2016 namespace of every edXML element.
const Namespace = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

// Business document types (TraceHeaderList/Bussiness/BussinessDocType).
const (
	BusinessNew     = "0"
	BusinessRevoke  = "1"
	BusinessUpdate  = "2"
	BusinessReplace = "3"
)

// Packet is one edXML packet: a document (Status nil) or a status packet
// (Status set; then only From, ResponseFor and Status are used).
type Packet struct {
	Header      Header
	Trace       *Trace  // TraceHeaderList, nil when absent (always nil in a status packet)
	Status      *Status // set for a status packet
	Signature   *Signature
	Manifest    Manifest
	Attachments []Attachment
	// Extra holds elements the model does not know, in order, with the
	// path of their parent, so Write renders them again.
	Extra []Element
	// Warnings are the quirks found while reading (an invalid date, a
	// manifest entry without payload): kept as text, not refused.
	Warnings []Warning
}

// IsStatus reports whether p is a status packet.
func (p *Packet) IsStatus() bool { return p.Status != nil }

// Organization is a From or To element (and ResponseFor's OrganId).
type Organization struct {
	OrganID              string `json:"organ_id"`
	OrganizationInCharge string `json:"organization_in_charge,omitempty"`
	OrganName            string `json:"organ_name,omitempty"`
	OrganAdd             string `json:"organ_add,omitempty"`
	Email                string `json:"email,omitempty"`
	Telephone            string `json:"telephone,omitempty"`
	Fax                  string `json:"fax,omitempty"`
	Website              string `json:"website,omitempty"`
}

// Header is the MessageHeader of a document packet, every element as text.
type Header struct {
	From       Organization
	To         []Organization
	DocumentID string

	CodeNumber   string // Code/CodeNumber
	CodeNotation string // Code/CodeNotation

	Place            string // PromulgationInfo/Place
	PromulgationDate string // PromulgationInfo/PromulgationDate, yyyy/MM/dd

	Type       string // DocumentType/Type (int)
	TypeDetail string // DocumentType/TypeDetail (int)
	TypeName   string // DocumentType/TypeName

	Subject string
	Content string

	Competence string // SignerInfo/Competence
	Position   string // SignerInfo/Position
	FullName   string // SignerInfo/FullName

	DueDate string // yyyy/MM/dd

	OtherInfo OtherInfo

	ResponseFor  []ResponseFor
	SteeringType string
	ToPlaces     []string // ToPlaces/Place
}

// OtherInfo is MessageHeader/OtherInfo.
type OtherInfo struct {
	Priority             string   `json:"priority,omitempty"`
	SphereOfPromulgation string   `json:"sphere_of_promulgation,omitempty"`
	TyperNotation        string   `json:"typer_notation,omitempty"`
	PromulgationAmount   string   `json:"promulgation_amount,omitempty"`
	PageAmount           string   `json:"page_amount,omitempty"`
	Direction            string   `json:"direction,omitempty"`
	Appendixes           []string `json:"appendixes,omitempty"` // Appendixes/Appendix
}

// ResponseFor names another document: what a document answers or acts on,
// or, in a status packet, the document reported on.
type ResponseFor struct {
	OrganID          string `json:"organ_id"`
	Code             string `json:"code,omitempty"` // "number/notation"
	PromulgationDate string `json:"promulgation_date,omitempty"`
	DocumentID       string `json:"document_id"`
}

// Trace is the TraceHeaderList of a document packet.
type Trace struct {
	Attrs    []Attr        // attributes of TraceHeaderList, in order
	Headers  []TraceHeader // one per hub that relayed the packet
	Business *Business     // Bussiness (or Business), nil when absent
}

// TraceHeader is one hand-over recorded in the packet.
type TraceHeader struct {
	OrganID   string `json:"organ_id"`
	Timestamp string `json:"timestamp"`
}

// Business is TraceHeaderList/Bussiness: what the document does.
type Business struct {
	DocumentID   string
	DocType      string // BussinessDocType: BusinessNew, BusinessRevoke, …
	Reason       string // BussinessDocReason
	Paper        string // 0/1
	Staff        *StaffInfo
	DocumentInfo *DocumentInfo     // BussinessDocumentInfo, for an update
	Replacements []ReplacementInfo // ReplacementInfoList/ReplacementInfo, for a replace
}

// StaffInfo is who handled a document or a status.
type StaffInfo struct {
	Department string `json:"department,omitempty"`
	Staff      string `json:"staff,omitempty"`
	Email      string `json:"email,omitempty"`
	Mobile     string `json:"mobile,omitempty"`
}

// DocumentInfo is Bussiness/BussinessDocumentInfo: what an update changed.
type DocumentInfo struct {
	DocumentInfo     string     `json:"document_info,omitempty"`     // 0/1
	DocumentReceiver string     `json:"document_receiver,omitempty"` // 0/1
	Receivers        []Receiver `json:"receivers,omitempty"`         // ReceiverList/Receiver
}

// Receiver is one ReceiverList/Receiver.
type Receiver struct {
	OrganID      string `json:"organ_id"`
	ReceiverType string `json:"receiver_type,omitempty"`
}

// ReplacementInfo names a document a replace packet replaces.
type ReplacementInfo struct {
	DocumentID string   `json:"document_id"`
	OrganIDs   []string `json:"organ_ids,omitempty"` // OrganIdList/OrganId
}

// Status is what a status packet adds to From and ResponseFor.
type Status struct {
	Staff       *StaffInfo
	Code        string // StatusCode, "01".."16"
	Description string
	Timestamp   string // yyyy/MM/dd HH:mm:ss, UTC+7
}

// Manifest is edXMLBody/edXMLManifest.
type Manifest struct {
	Version    string      // the version attribute; "1.0" when written from the model
	References []Reference // one per attachment, in order
}

// Reference is one manifest entry.
type Reference struct {
	ContentID      string // as written, "cid:…" usually
	ContentType    string
	Description    string
	AttachmentName string
	Attrs          []Attr // attributes such as xlink:href, kept as text
}

// Attachment is one AttachmentEncoded/Attachment. Its bytes went to the
// Sink given to Read (Write reads them from an Opener).
type Attachment struct {
	ContentID      string // as written in the payload
	AttachmentName string
	Description    string
	ContentType    string
	Size           int64  // decoded bytes
	SHA256         []byte // of the decoded bytes
}

// Signature is the Signature element of edXMLHeader (or an empty
// edXML:DigitalSignature): kept for what it says, verified elsewhere
// against the packet's original bytes.
type Signature struct {
	Namespace string // xmldsig's, or "" / edXML's in packets that copy fixed values
	Local     string // Signature or DigitalSignature
	XML       string // the element as read, re-encoded
}

// Element is an element the model does not know, kept to be rendered
// again where it was.
type Element struct {
	Parent string // path of the parent from the root, e.g. "edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo"
	XML    string // the element, re-encoded with unprefixed names
}

// Attr is an attribute kept as text.
type Attr struct {
	Space string // namespace URI, or an undeclared prefix as written
	Local string
	Value string
}

// Warning is a quirk kept as text.
type Warning struct {
	Line    int    // line of the element in the packet
	Element string // its path, e.g. "MessageHeader/PromulgationInfo/PromulgationDate"
	Value   string
	Reason  string
}

// Sink receives the decoded bytes of a packet's attachments.
type Sink interface {
	// Attachment is called when the payload of the i-th Attachment
	// element (in payload order) starts; its decoded bytes are written to
	// the writer returned, which is closed at the element's end. When the
	// payload is broken, a writer with an Abort method is aborted instead
	// of closed. An error ends the read.
	Attachment(i int) (io.WriteCloser, error)
}

// Opener opens the bytes of the i-th attachment of a packet being written.
type Opener func(i int) (io.ReadCloser, error)
