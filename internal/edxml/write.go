package edxml

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Declaration is the first line Write emits.
const Declaration = `<?xml version="1.0" encoding="UTF-8"?>`

// px prefixes every element inside the envelope, as the builders most
// receivers were tested against do; elements outside it (the root,
// AttachmentEncoded and its children) are unprefixed, but for
// ContentTransferEncoded, which declares the prefix again since the
// envelope's declaration is out of scope there.
const px = "edXML:"

// wrap is the length of a base64 line.
const wrap = 76

// Write writes p as an edXML packet, reading the bytes of its i-th
// attachment from open(i). The output is deterministic: LF line ends, two
// spaces of indentation, base64 in lines of 76 characters; see doc.go for
// which empty elements are written. Write refuses a packet Read would
// refuse (a manifest entry without an attachment, a status code not in
// use) and an Extra whose Parent it does not write.
func Write(w io.Writer, p *Packet, open Opener) error {
	if err := check(p, open); err != nil {
		return err
	}
	extras := map[string][]string{}
	for _, x := range p.Extra {
		extras[x.Parent] = append(extras[x.Parent], x.XML)
	}
	// A dry run finds the elements written, so an Extra with nowhere to
	// go is refused before a byte is written.
	dry := &emitter{w: bufio.NewWriter(io.Discard), dry: true, extras: extras, seen: map[string]bool{}}
	if err := dry.packet(p); err != nil {
		return err
	}
	for _, x := range p.Extra {
		if !dry.seen[x.Parent] {
			return fmt.Errorf("edxml: write: Extra with parent %q, an element not written", x.Parent)
		}
	}
	e := &emitter{w: bufio.NewWriterSize(w, 64<<10), open: open, extras: extras, seen: map[string]bool{}}
	if err := e.packet(p); err != nil {
		return err
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("edxml: write: %w", err)
	}
	return nil
}

func check(p *Packet, open Opener) error {
	if p.Status != nil {
		if p.Trace != nil || len(p.Manifest.References) > 0 || len(p.Attachments) > 0 {
			return errors.New("edxml: write: a status packet with a trace, a manifest or attachments")
		}
		t := strings.TrimSpace(p.Status.Code)
		c, err := strconv.Atoi(t)
		if err != nil || len(t) > 2 || !statusCodes[c] {
			return fmt.Errorf("edxml: write: status code %q not in use", p.Status.Code)
		}
	}
	ids := map[string]bool{}
	for _, a := range p.Attachments {
		ids[contentID(a.ContentID)] = true
	}
	for _, r := range p.Manifest.References {
		if !ids[contentID(r.ContentID)] {
			return fmt.Errorf("edxml: write: manifest entry %q without an attachment", r.ContentID)
		}
	}
	if len(p.Attachments) > 0 && open == nil {
		return errors.New("edxml: write: attachments and no Opener")
	}
	if p.Signature != nil {
		if err := checkFragment(p.Signature.XML); err != nil {
			return fmt.Errorf("edxml: write: Signature.XML: %w", err)
		}
	}
	for i, x := range p.Extra {
		if err := checkFragment(x.XML); err != nil {
			return fmt.Errorf("edxml: write: Extra[%d].XML: %w", i, err)
		}
	}
	return nil
}

type emitter struct {
	w      *bufio.Writer
	dry    bool
	open   Opener
	depth  int
	extras map[string][]string
	seen   map[string]bool
	err    error
}

func (e *emitter) indent() {
	e.w.WriteByte('\n')
	for range e.depth {
		e.w.WriteString("  ")
	}
}

// start opens the element q at path.
func (e *emitter) start(q, path, attrs string) {
	e.seen[path] = true
	e.indent()
	e.w.WriteString("<" + q + attrs + ">")
	e.depth++
}

// end closes q after the Extra elements of path.
func (e *emitter) end(q, path string) {
	for _, x := range e.extras[path] {
		e.indent()
		e.w.WriteString(x)
	}
	e.depth--
	e.indent()
	e.w.WriteString("</" + q + ">")
}

// leaf writes a text element; its Extra elements follow the text, so
// Read finds the same text again.
func (e *emitter) leaf(q, path, text string) {
	e.seen[path] = true
	e.indent()
	e.w.WriteString("<" + q + ">")
	escapeText(e.w, text)
	for _, x := range e.extras[path] {
		e.w.WriteString(x)
	}
	e.w.WriteString("</" + q + ">")
}

// optional writes a leaf only when it has text or Extra elements.
func (e *emitter) optional(q, path, text string) {
	if text != "" || len(e.extras[path]) > 0 {
		e.leaf(q, path, text)
	}
}

func (e *emitter) packet(p *Packet) error {
	e.w.WriteString(Declaration)
	e.start("edXML", "", ` xmlns="`+Namespace+`"`)
	const env = "edXMLEnvelope"
	e.start(px+"edXMLEnvelope", env, ` xmlns:edXML="`+Namespace+`"`)
	hdr := env + "/edXMLHeader"
	e.start(px+"edXMLHeader", hdr, "")
	if p.Status != nil {
		e.statusHeader(p, hdr+"/MessageHeader")
	} else {
		e.messageHeader(&p.Header, hdr+"/MessageHeader")
		if p.Trace != nil {
			e.trace(p.Trace, hdr+"/TraceHeaderList")
		}
	}
	if p.Signature != nil {
		e.indent()
		e.w.WriteString(p.Signature.XML)
	}
	e.end(px+"edXMLHeader", hdr)
	if p.Status == nil {
		body := env + "/edXMLBody"
		e.start(px+"edXMLBody", body, "")
		e.manifest(&p.Manifest, body+"/edXMLManifest")
		e.end(px+"edXMLBody", body)
	}
	e.end(px+"edXMLEnvelope", env)
	if p.Status == nil {
		e.start("AttachmentEncoded", "AttachmentEncoded", "")
		for i := range p.Attachments {
			if err := e.attachment(p, i, "AttachmentEncoded/"+indexed("Attachment", i+1)); err != nil {
				return err
			}
		}
		e.end("AttachmentEncoded", "AttachmentEncoded")
	}
	e.end("edXML", "")
	e.w.WriteByte('\n')
	return e.err
}

func (e *emitter) org(q, path string, o *Organization) {
	e.start(px+q, path, "")
	e.leaf(px+"OrganId", path+"/OrganId", o.OrganID)
	e.leaf(px+"OrganizationInCharge", path+"/OrganizationInCharge", o.OrganizationInCharge)
	e.leaf(px+"OrganName", path+"/OrganName", o.OrganName)
	e.leaf(px+"OrganAdd", path+"/OrganAdd", o.OrganAdd)
	e.leaf(px+"Email", path+"/Email", o.Email)
	e.leaf(px+"Telephone", path+"/Telephone", o.Telephone)
	e.leaf(px+"Fax", path+"/Fax", o.Fax)
	e.leaf(px+"Website", path+"/Website", o.Website)
	e.end(px+q, path)
}

func (e *emitter) responseFor(h *Header, path string) {
	for i, r := range h.ResponseFor {
		p := path + "/" + indexed("ResponseFor", i+1)
		e.start(px+"ResponseFor", p, "")
		e.leaf(px+"OrganId", p+"/OrganId", r.OrganID)
		e.leaf(px+"Code", p+"/Code", r.Code)
		e.leaf(px+"PromulgationDate", p+"/PromulgationDate", r.PromulgationDate)
		e.leaf(px+"DocumentId", p+"/DocumentId", r.DocumentID)
		e.end(px+"ResponseFor", p)
	}
}

func (e *emitter) staff(s *StaffInfo, path string) {
	if s == nil {
		return
	}
	e.start(px+"StaffInfo", path, "")
	e.leaf(px+"Department", path+"/Department", s.Department)
	e.leaf(px+"Staff", path+"/Staff", s.Staff)
	e.leaf(px+"Email", path+"/Email", s.Email)
	e.leaf(px+"Mobile", path+"/Mobile", s.Mobile)
	e.end(px+"StaffInfo", path)
}

func (e *emitter) statusHeader(p *Packet, path string) {
	s := p.Status
	e.start(px+"MessageHeader", path, "")
	e.org("From", path+"/From", &p.Header.From)
	e.responseFor(&p.Header, path)
	e.staff(s.Staff, path+"/StaffInfo")
	e.leaf(px+"StatusCode", path+"/StatusCode", s.Code)
	e.optional(px+"Description", path+"/Description", s.Description)
	e.leaf(px+"Timestamp", path+"/Timestamp", s.Timestamp)
	e.end(px+"MessageHeader", path)
}

func (e *emitter) messageHeader(h *Header, path string) {
	e.start(px+"MessageHeader", path, "")
	e.org("From", path+"/From", &h.From)
	for i := range h.To {
		e.org("To", path+"/"+indexed("To", i+1), &h.To[i])
	}
	e.leaf(px+"DocumentId", path+"/DocumentId", h.DocumentID)

	p := path + "/Code"
	e.start(px+"Code", p, "")
	e.leaf(px+"CodeNumber", p+"/CodeNumber", h.CodeNumber)
	e.leaf(px+"CodeNotation", p+"/CodeNotation", h.CodeNotation)
	e.end(px+"Code", p)

	p = path + "/PromulgationInfo"
	e.start(px+"PromulgationInfo", p, "")
	e.leaf(px+"Place", p+"/Place", h.Place)
	e.leaf(px+"PromulgationDate", p+"/PromulgationDate", h.PromulgationDate)
	e.end(px+"PromulgationInfo", p)

	p = path + "/DocumentType"
	e.start(px+"DocumentType", p, "")
	e.leaf(px+"Type", p+"/Type", h.Type)
	e.leaf(px+"TypeDetail", p+"/TypeDetail", h.TypeDetail)
	e.leaf(px+"TypeName", p+"/TypeName", h.TypeName)
	e.end(px+"DocumentType", p)

	e.leaf(px+"Subject", path+"/Subject", h.Subject)
	e.leaf(px+"Content", path+"/Content", h.Content)

	p = path + "/SignerInfo"
	e.start(px+"SignerInfo", p, "")
	e.leaf(px+"Competence", p+"/Competence", h.Competence)
	e.leaf(px+"Position", p+"/Position", h.Position)
	e.leaf(px+"FullName", p+"/FullName", h.FullName)
	e.end(px+"SignerInfo", p)

	e.optional(px+"DueDate", path+"/DueDate", h.DueDate)

	p = path + "/OtherInfo"
	o := &h.OtherInfo
	e.start(px+"OtherInfo", p, "")
	e.leaf(px+"Priority", p+"/Priority", o.Priority)
	e.leaf(px+"SphereOfPromulgation", p+"/SphereOfPromulgation", o.SphereOfPromulgation)
	e.leaf(px+"TyperNotation", p+"/TyperNotation", o.TyperNotation)
	e.leaf(px+"PromulgationAmount", p+"/PromulgationAmount", o.PromulgationAmount)
	e.leaf(px+"PageAmount", p+"/PageAmount", o.PageAmount)
	e.leaf(px+"Direction", p+"/Direction", o.Direction)
	a := p + "/Appendixes"
	e.start(px+"Appendixes", a, "")
	for i, s := range o.Appendixes {
		e.leaf(px+"Appendix", a+"/"+indexed("Appendix", i+1), s)
	}
	e.end(px+"Appendixes", a)
	e.end(px+"OtherInfo", p)

	e.responseFor(h, path)
	e.leaf(px+"SteeringType", path+"/SteeringType", h.SteeringType)

	p = path + "/ToPlaces"
	e.start(px+"ToPlaces", p, "")
	for i, s := range h.ToPlaces {
		e.leaf(px+"Place", p+"/"+indexed("Place", i+1), s)
	}
	e.end(px+"ToPlaces", p)
	e.end(px+"MessageHeader", path)
}

func (e *emitter) attrs(as []Attr) string {
	var b strings.Builder
	avoid := map[string]bool{}
	for _, a := range as {
		if isPrefix(a.Space) {
			avoid[a.Space] = true
		}
	}
	writeAttrs(&b, as, avoid)
	return b.String()
}

func (e *emitter) trace(t *Trace, path string) {
	e.start(px+"TraceHeaderList", path, e.attrs(t.Attrs))
	for i, h := range t.Headers {
		p := path + "/" + indexed("TraceHeader", i+1)
		e.start(px+"TraceHeader", p, "")
		e.leaf(px+"OrganId", p+"/OrganId", h.OrganID)
		e.leaf(px+"Timestamp", p+"/Timestamp", h.Timestamp)
		e.end(px+"TraceHeader", p)
	}
	if b := t.Business; b != nil {
		p := path + "/Bussiness"
		e.start(px+"Bussiness", p, "")
		e.leaf(px+"DocumentId", p+"/DocumentId", b.DocumentID)
		e.leaf(px+"BussinessDocType", p+"/BussinessDocType", b.DocType)
		e.leaf(px+"BussinessDocReason", p+"/BussinessDocReason", b.Reason)
		e.leaf(px+"Paper", p+"/Paper", b.Paper)
		e.staff(b.Staff, p+"/StaffInfo")
		if d := b.DocumentInfo; d != nil {
			q := p + "/BussinessDocumentInfo"
			e.start(px+"BussinessDocumentInfo", q, "")
			e.leaf(px+"DocumentInfo", q+"/DocumentInfo", d.DocumentInfo)
			e.leaf(px+"DocumentReceiver", q+"/DocumentReceiver", d.DocumentReceiver)
			l := q + "/ReceiverList"
			e.start(px+"ReceiverList", l, "")
			for i, r := range d.Receivers {
				rp := l + "/" + indexed("Receiver", i+1)
				e.start(px+"Receiver", rp, "")
				e.leaf(px+"OrganId", rp+"/OrganId", r.OrganID)
				e.leaf(px+"ReceiverType", rp+"/ReceiverType", r.ReceiverType)
				e.end(px+"Receiver", rp)
			}
			e.end(px+"ReceiverList", l)
			e.end(px+"BussinessDocumentInfo", q)
		}
		if q := p + "/ReplacementInfoList"; len(b.Replacements) > 0 || len(e.extras[q]) > 0 {
			e.start(px+"ReplacementInfoList", q, "")
			for i, r := range b.Replacements {
				rp := q + "/" + indexed("ReplacementInfo", i+1)
				e.start(px+"ReplacementInfo", rp, "")
				e.leaf(px+"DocumentId", rp+"/DocumentId", r.DocumentID)
				l := rp + "/OrganIdList"
				e.start(px+"OrganIdList", l, "")
				for j, id := range r.OrganIDs {
					e.leaf(px+"OrganId", l+"/"+indexed("OrganId", j+1), id)
				}
				e.end(px+"OrganIdList", l)
				e.end(px+"ReplacementInfo", rp)
			}
			e.end(px+"ReplacementInfoList", q)
		}
		e.end(px+"Bussiness", p)
	}
	e.end(px+"TraceHeaderList", path)
}

func (e *emitter) manifest(m *Manifest, path string) {
	v := m.Version
	if v == "" {
		v = "1.0"
	}
	var b strings.Builder
	xml.EscapeText(&b, []byte(v))
	e.start(px+"edXMLManifest", path, ` version="`+b.String()+`"`)
	for i, r := range m.References {
		p := path + "/" + indexed("Reference", i+1)
		e.start(px+"Reference", p, e.attrs(r.Attrs))
		e.leaf(px+"ContentId", p+"/ContentId", r.ContentID)
		e.leaf(px+"ContentType", p+"/ContentType", r.ContentType)
		e.leaf(px+"Description", p+"/Description", r.Description)
		e.leaf(px+"AttachmentName", p+"/AttachmentName", r.AttachmentName)
		e.end(px+"Reference", p)
	}
	e.end(px+"edXMLManifest", path)
}

func (e *emitter) attachment(p *Packet, i int, path string) error {
	a := &p.Attachments[i]
	e.start("Attachment", path, "")
	e.leaf("ContentId", path+"/ContentId", a.ContentID)
	e.leaf("AttachmentName", path+"/AttachmentName", a.AttachmentName)
	e.leaf("Description", path+"/Description", a.Description)
	e.leaf("ContentType", path+"/ContentType", a.ContentType)
	e.indent()
	e.w.WriteString(`<edXML:ContentTransferEncoded xmlns:edXML="` + Namespace + `">`)
	if !e.dry {
		if err := e.payload(a, i); err != nil {
			return err
		}
	}
	e.w.WriteString("</edXML:ContentTransferEncoded>")
	e.end("Attachment", path)
	return nil
}

// payload streams the i-th attachment as base64 in lines of wrap
// characters separated by LF, through fixed buffers.
func (e *emitter) payload(a *Attachment, i int) error {
	rc, err := e.open(i)
	if err != nil {
		return fmt.Errorf("edxml: write: attachment %d: %w", i, err)
	}
	err = e.encode(rc, a, i)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("edxml: write: attachment %d: %w", i, cerr)
	}
	return err
}

func (e *emitter) encode(r io.Reader, a *Attachment, i int) error {
	const lines = 1024
	in := make([]byte, wrap/4*3*lines)
	out := make([]byte, wrap*lines)
	h := sha256.New()
	var size int64
	first := true
	for {
		n, rerr := io.ReadFull(r, in)
		if n > 0 {
			h.Write(in[:n])
			size += int64(n)
			enc := out[:base64.StdEncoding.EncodedLen(n)]
			base64.StdEncoding.Encode(enc, in[:n])
			for len(enc) > 0 {
				l := min(wrap, len(enc))
				if !first {
					e.w.WriteByte('\n')
				}
				first = false
				if _, err := e.w.Write(enc[:l]); err != nil {
					return fmt.Errorf("edxml: write: %w", err)
				}
				enc = enc[l:]
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("edxml: write: attachment %d: %w", i, rerr)
		}
	}
	if a.SHA256 != nil && (size != a.Size || !bytes.Equal(h.Sum(nil), a.SHA256)) {
		return fmt.Errorf("edxml: write: attachment %d: %d bytes opened do not match its Size %d and SHA256", i, size, a.Size)
	}
	return nil
}
