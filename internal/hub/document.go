package hub

import (
	"crypto/sha256"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// BusinessType says what a document does (edXML BusinessDocType, docs/domain.md).
type BusinessType int

// Business types. Revoke is done by Recall, not by sending a document.
const (
	BusinessNew BusinessType = iota
	BusinessRevoke
	BusinessUpdate
	BusinessReplace
)

// Signer is who signed the document (edXML SignerInfo).
type Signer struct {
	Competence string `json:"competence,omitempty"`
	Position   string `json:"position,omitempty"`
	FullName   string `json:"full_name,omitempty"`
}

// AttachmentInfo describes an attachment; its bytes are stored by digest.
type AttachmentInfo struct {
	Name        string `json:"name"`
	MediaType   string `json:"media_type"`
	Size        int64  `json:"size"`
	SHA256      []byte `json:"sha256"`
	Description string `json:"description,omitempty"`
	// Packet and Packed are set on attachments of a document that
	// arrived as an edXML packet (packet.go).
	Packet *PacketAttachment `json:"packet,omitempty"`
	Packed *PackedFile       `json:"packed,omitempty"`
}

// Header is a document's metadata (the edXML header), docs/domain.md.
type Header struct {
	Reference    string           `json:"reference"`
	Recipients   []string         `json:"recipients"`
	Number       string           `json:"number,omitempty"`
	Notation     string           `json:"notation,omitempty"`
	Type         string           `json:"type,omitempty"`
	Subject      string           `json:"subject"`
	Content      string           `json:"content,omitempty"`
	Place        string           `json:"place,omitempty"`
	Date         string           `json:"date"`
	Signer       Signer           `json:"signer,omitzero"`
	Priority     int              `json:"priority,omitempty"`
	DueDate      string           `json:"due_date,omitempty"`
	SteeringType int              `json:"steering_type,omitempty"`
	ToPlaces     []string         `json:"to_places,omitempty"`
	ResponseFor  string           `json:"response_for,omitempty"`
	Business     BusinessType     `json:"business,omitempty"`
	Original     string           `json:"original,omitempty"`
	Attachments  []AttachmentInfo `json:"attachments,omitempty"`
	// Packet is what an edXML packet said beyond these fields (packet.go).
	Packet *PacketHeader `json:"packet,omitempty"`
}

// Document is a stored document, in BucketDocuments under its id.
type Document struct {
	ID           string     `json:"id"`
	Sender       string     `json:"sender"`
	Header       Header     `json:"header"`
	Created      time.Time  `json:"created"`
	Recalled     *time.Time `json:"recalled,omitempty"`
	RecallReason string     `json:"recall_reason,omitempty"`
	// Purged is when the retention purge removed the attachment bodies;
	// the header and the trace stay.
	Purged *time.Time `json:"purged,omitempty"`
	// Packet is the edXML packet the document arrived as, kept as a body
	// beside its attachments; nil for a document sent natively.
	Packet *PacketInfo `json:"packet,omitempty"`
}

// bodies are the document's stored bodies: its attachments', then the
// packet it arrived as, if any, which is kept like one more attachment.
func (d *Document) bodies() []AttachmentInfo {
	if d.Packet == nil {
		return d.Header.Attachments
	}
	return append(slices.Clip(d.Header.Attachments), AttachmentInfo{Name: "packet.edxml", Size: d.Packet.Size, SHA256: d.Packet.SHA256})
}

// emptySHA256 is the digest of no bytes.
var emptySHA256 = sha256.Sum256(nil)

// Limits on a document header. The whole header must also fit the
// server's header size limit.
const (
	MaxRecipients    = 1000
	MaxAttachments   = 100
	MaxSubjectLen    = 2000
	MaxContentLen    = 32 << 10
	MaxShortFieldLen = 200
	MaxNameFieldLen  = 255
)

const dateLayout = "2006-01-02"

func checkDate(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(dateLayout, v); err != nil {
		return invalid(field, "%q is not a date in the form YYYY-MM-DD", v)
	}
	return nil
}

// checkFileName accepts a plain file name: one line of text (checkText),
// no directories. Names a recipient's file system cannot hold as they are
// (Windows device names, case-insensitive twins) are the saving client's
// to rename; the hub keeps the sender's name.
func checkFileName(field, name string) error {
	if err := checkText(field, name, MaxNameFieldLen, true); err != nil {
		return err
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\\") || path.Base(name) != name {
		return invalid(field, "%q must be a plain file name without directories", name)
	}
	return nil
}

// normalizeHeader validates a header sent by sender and fills in the
// defaults: the promulgation date (today) and the reference (edXML
// DocumentId "{sender},{yyyy/MM/dd},{number}/{notation}", docs/domain.md).
func normalizeHeader(sender string, h *Header, now time.Time) error {
	for _, step := range []func() error{
		h.normalizeTexts,
		func() error { return h.normalizeDates(now) },
		h.checkCodes,
		func() error { return h.normalizeRecipients(sender) },
		h.normalizeAttachments,
		func() error { return h.normalizeReference(sender) },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// normalizeTexts trims and checks the header's free texts.
func (h *Header) normalizeTexts() error {
	h.Subject = strings.TrimSpace(h.Subject)
	if err := checkText("subject", h.Subject, MaxSubjectLen, true); err != nil {
		return err
	}
	// Content is the one field of several lines (text.go).
	h.Content = normalizeLines(h.Content)
	if err := checkLines("content", h.Content, MaxContentLen, false); err != nil {
		return err
	}
	// Trimmed like the subject: a number of " " is no number (the
	// reference is derived from it), and what is stored must be what a
	// second normalization leaves as it is (FuzzNormalizeHeader).
	for _, f := range []struct {
		name string
		v    *string
	}{{"number", &h.Number}, {"notation", &h.Notation}, {"document_type", &h.Type}, {"promulgation_place", &h.Place},
		{"signer.competence", &h.Signer.Competence}, {"signer.position", &h.Signer.Position}, {"signer.full_name", &h.Signer.FullName},
		{"response_for", &h.ResponseFor}, {"original_document_id", &h.Original}} {
		*f.v = strings.TrimSpace(*f.v)
		if err := checkText(f.name, *f.v, MaxShortFieldLen, false); err != nil {
			return err
		}
	}
	if len(h.ToPlaces) > MaxRecipients {
		return invalid("to_places", "more than %d places", MaxRecipients)
	}
	for i, p := range h.ToPlaces {
		if err := checkText(fmt.Sprintf("to_places[%d]", i), p, MaxNameFieldLen, true); err != nil {
			return err
		}
	}
	return nil
}

// normalizeDates checks the dates and makes today the promulgation date
// when none is given.
func (h *Header) normalizeDates(now time.Time) error {
	if err := checkDate("promulgation_date", h.Date); err != nil {
		return err
	}
	if err := checkDate("due_date", h.DueDate); err != nil {
		return err
	}
	if h.Date == "" {
		h.Date = now.Format(dateLayout)
	}
	return nil
}

// checkCodes checks the priority, the steering type and the business type
// with the original document it needs.
func (h *Header) checkCodes() error {
	if h.Priority < 0 || h.Priority > 3 {
		return invalid("priority", "%d is not 0 (normal), 1 (urgent), 2 (very urgent) or 3 (flash)", h.Priority)
	}
	if h.SteeringType < 0 || h.SteeringType > 99 {
		return invalid("steering_type", "%d is out of range", h.SteeringType)
	}
	switch h.Business {
	case BusinessNew:
		if h.Original != "" {
			return invalid("original_document_id", "only an update or a replacement refers to an original document")
		}
	case BusinessUpdate, BusinessReplace:
		if h.Original == "" {
			return invalid("original_document_id", "an update or a replacement must name the original document")
		}
	case BusinessRevoke:
		return invalid("business_type", "a revocation is made with RecallDocument, not by sending a document")
	default:
		return invalid("business_type", "unknown business type %d", h.Business)
	}
	return nil
}

// normalizeRecipients wants at least one recipient, not the sender, each
// a valid code; duplicates are dropped.
func (h *Header) normalizeRecipients(sender string) error {
	if len(h.Recipients) == 0 {
		return invalid("recipients", "at least one recipient is required")
	}
	if len(h.Recipients) > MaxRecipients {
		return invalid("recipients", "%d recipients, the limit is %d", len(h.Recipients), MaxRecipients)
	}
	seen := map[string]bool{}
	out := h.Recipients[:0]
	for _, r := range h.Recipients {
		r = strings.TrimSpace(r)
		if _, err := parseCode("recipients", r); err != nil {
			return err
		}
		if r == sender {
			return invalid("recipients", "%s is the sender; a document cannot be sent to its own agency", r)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	h.Recipients = out
	return nil
}

// normalizeAttachments checks each attachment's description and names
// them in NFC, each name once.
func (h *Header) normalizeAttachments() error {
	if len(h.Attachments) > MaxAttachments {
		return invalid("attachments", "%d attachments, the limit is %d", len(h.Attachments), MaxAttachments)
	}
	type seenName struct {
		index int
		raw   string // as sent
	}
	names := make(map[string]seenName, len(h.Attachments))
	for i := range h.Attachments {
		a := &h.Attachments[i]
		field := fmt.Sprintf("attachments[%d]", i)
		// NFC, as agency names: "hồ sơ.pdf" typed on macOS (decomposed)
		// and on Windows (precomposed) is one name, so a document cannot
		// hold both, and recipients save it under one spelling. Checked
		// after normalizing: NFC may lengthen a name (composition
		// exclusions), and what is stored must pass the check again.
		nfc := norm.NFC.String(a.Name)
		if err := checkFileName(field+".name", nfc); err != nil {
			return err
		}
		if prev, dup := names[nfc]; dup {
			also := ""
			if prev.raw != a.Name {
				also = " (written in another Unicode normalization form)"
			}
			return invalid(field+".name", "%q is also the name of attachments[%d]%s", nfc, prev.index, also)
		}
		names[nfc] = seenName{i, a.Name}
		a.Name = nfc
		if err := a.normalize(field); err != nil {
			return err
		}
	}
	return nil
}

// normalize checks an attachment's description of its body.
func (a *AttachmentInfo) normalize(field string) error {
	if a.MediaType == "" {
		a.MediaType = "application/octet-stream"
	}
	if err := checkText(field+".media_type", a.MediaType, MaxShortFieldLen, true); err != nil {
		return err
	}
	if err := checkText(field+".description", a.Description, MaxSubjectLen, false); err != nil {
		return err
	}
	if a.Size < 0 {
		return invalid(field+".size", "must not be negative")
	}
	switch {
	case len(a.SHA256) == 0 && a.Size == 0:
		a.SHA256 = emptySHA256[:] // nothing to hash, nothing to wait for
	case len(a.SHA256) == 0:
		// The digest follows the attachment's last chunk (Chunk.Digest).
	case len(a.SHA256) != 32:
		return invalid(field+".sha256", "must be the 32-byte SHA-256 digest of the attachment, or empty when the digest follows the attachment's chunks")
	}
	return nil
}

// normalizeReference keeps the reference given, or derives it from
// number, notation and date; either way it starts with the sender's code.
func (h *Header) normalizeReference(sender string) error {
	h.Reference = strings.TrimSpace(h.Reference)
	if h.Reference == "" {
		if h.Number == "" {
			return invalid("reference", "a reference (edXML DocumentId) or a document number is required")
		}
		d, _ := time.Parse(dateLayout, h.Date)
		num := h.Number
		if h.Notation != "" {
			num += "/" + h.Notation
		}
		h.Reference = sender + "," + d.Format("2006/01/02") + "," + num
	}
	if err := checkText("reference", h.Reference, MaxShortFieldLen, true); err != nil {
		return err
	}
	// A packet's DocumentId is the sender's own reference, kept as given
	// even where it breaks the convention (docs/edxml.md).
	if h.Packet == nil && !strings.HasPrefix(h.Reference, sender+",") {
		return invalid("reference", "%q must start with the sender's code and a comma (%s,yyyy/MM/dd,number/notation)", h.Reference, sender)
	}
	return nil
}
