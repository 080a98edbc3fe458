package edxml

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mapper turns the tree Read built into a Packet. It visits the known
// children of every element in the order Write emits them and keeps the
// unknown ones after them, so Packet.Extra and Packet.Warnings come out in
// the same order from a packet and from Write's rendering of it.
type mapper struct {
	p          *Packet
	extraBytes int
	maxExtra   int
	status     bool
}

// field is a known child of an element.
type field struct {
	name   string // canonical local name, used in paths
	alias  string // another accepted spelling
	repeat bool   // may occur more than once; paths carry [n]
	any    bool   // match the local name in any namespace (Signature)
	fn     func(n *node, path string) error
}

func (f *field) match(n *node) bool {
	if n.isText() {
		return false
	}
	if f.any && n.name.Local == f.name {
		return true
	}
	return n.name.Space == Namespace && (n.name.Local == f.name || f.alias != "" && n.name.Local == f.alias)
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

func indexed(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

func refuse(n *node, path, value, reason string) *Error {
	el := shortPath(path)
	if el == "" {
		el = "edXML"
	}
	return &Error{Line: n.line, Element: el, Value: value, Reason: reason}
}

// children maps the children of n (at path) by fields, keeps the unknown
// ones in Extra and refuses text between them.
func (m *mapper) children(n *node, path string, fields ...field) error {
	known := make([]bool, len(n.kids))
	for fi := range fields {
		f := &fields[fi]
		count := 0
		for ki, k := range n.kids {
			if known[ki] || !f.match(k) {
				continue
			}
			known[ki] = true
			count++
			p := join(path, f.name)
			if f.repeat {
				p = join(path, indexed(f.name, count))
			} else if count > 1 {
				return refuse(k, p, "", "element repeated")
			}
			if f.fn != nil {
				if err := f.fn(k, p); err != nil {
					return err
				}
			}
		}
	}
	for ki, k := range n.kids {
		switch {
		case known[ki]:
		case k.isText():
			if strings.TrimLeft(k.text, " \t\r\n") != "" {
				return refuse(k, path, clip(k.text), "text between elements")
			}
		default:
			if err := m.extra(k, path); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *mapper) extra(n *node, parent string) error {
	x := encodeNode(n)
	m.extraBytes += len(x)
	if m.extraBytes > m.maxExtra {
		return refuse(n, join(parent, n.name.Local), "", fmt.Sprintf("unknown elements larger than %d bytes in all", m.maxExtra))
	}
	m.p.Extra = append(m.p.Extra, Element{Parent: parent, XML: x})
	return nil
}

// text is the text of a leaf element; elements inside it are kept in
// Extra.
func (m *mapper) text(n *node, path string) (string, error) {
	var b strings.Builder
	for _, k := range n.kids {
		if k.isText() {
			b.WriteString(k.text)
		}
	}
	for _, k := range n.kids {
		if !k.isText() {
			if err := m.extra(k, path); err != nil {
				return "", err
			}
		}
	}
	return b.String(), nil
}

// leaf is a field whose text goes to *dst, checked by check if not nil.
func (m *mapper) leaf(name string, dst *string, check func(string) string) field {
	return field{name: name, fn: func(n *node, path string) error {
		s, err := m.text(n, path)
		if err != nil {
			return err
		}
		*dst = s
		if check != nil {
			if v := strings.TrimSpace(s); v != "" {
				if reason := check(v); reason != "" {
					m.warn(n, path, s, reason)
				}
			}
		}
		return nil
	}}
}

// list is a repeated leaf appended to *dst.
func (m *mapper) list(name string, dst *[]string) field {
	return field{name: name, repeat: true, fn: func(n *node, path string) error {
		s, err := m.text(n, path)
		*dst = append(*dst, s)
		return err
	}}
}

func (m *mapper) group(name string, fields ...field) field {
	return field{name: name, fn: func(n *node, path string) error {
		return m.children(n, path, fields...)
	}}
}

func (m *mapper) warn(n *node, path, value, reason string) {
	m.p.Warnings = append(m.p.Warnings, Warning{Line: n.line, Element: shortPath(path), Value: value, Reason: reason})
}

func checkDate(s string) string {
	if _, err := time.Parse("2006/01/02", s); err != nil {
		return "not a date yyyy/MM/dd"
	}
	return ""
}

func checkTimestamp(s string) string {
	if _, err := time.Parse("2006/01/02 15:04:05", s); err != nil {
		return "not a timestamp yyyy/MM/dd HH:mm:ss"
	}
	return ""
}

func checkInt(s string) string {
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return "not an integer"
	}
	return ""
}

func checkBool(s string) string {
	if _, err := strconv.ParseBool(s); err != nil {
		return "not a boolean"
	}
	return ""
}

func checkDocType(s string) string {
	switch s {
	case BusinessNew, BusinessRevoke, BusinessUpdate, BusinessReplace:
		return ""
	}
	return "not a business document type 0-3"
}

// Status codes in use; 07-12 and 14 are not.
var statusCodes = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 13: true, 15: true, 16: true}

func (m *mapper) packet(root *node) error {
	// Which kind of packet decides what MessageHeader may hold.
	var env, hdr, mh *node
	for _, k := range root.kids {
		if k.is("edXMLEnvelope") {
			env = k
		}
	}
	if env == nil {
		return refuse(root, "", "", "no edXMLEnvelope")
	}
	for _, k := range env.kids {
		if k.is("edXMLHeader") {
			hdr = k
		}
	}
	if hdr != nil {
		for _, k := range hdr.kids {
			if k.is("MessageHeader") {
				mh = k
			}
		}
	}
	if mh == nil {
		return refuse(env, "edXMLEnvelope", "", "no edXMLHeader/MessageHeader")
	}
	for _, k := range mh.kids {
		if k.is("StatusCode") {
			m.status = true
			m.p.Status = &Status{}
		}
	}

	att := field{name: "AttachmentEncoded", fn: m.attachments}
	if m.status {
		att.fn = m.ignored
	}
	err := m.children(root, "",
		field{name: "edXMLEnvelope", fn: func(n *node, path string) error {
			body := field{name: "edXMLBody", fn: func(n *node, path string) error {
				return m.children(n, path, field{name: "edXMLManifest", fn: m.manifest})
			}}
			if m.status {
				body.fn = m.ignored
			}
			return m.children(n, path,
				field{name: "edXMLHeader", fn: m.header},
				body,
			)
		}},
		att,
	)
	if err != nil {
		return err
	}
	if !m.status {
		if m.p.Manifest.Version == "" {
			m.p.Manifest.Version = "1.0"
		}
		return m.match(root)
	}
	return nil
}

// ignored drops what a status packet should not carry; attachments in a
// status packet are refused, since their bytes reached the sink.
func (m *mapper) ignored(n *node, path string) error {
	var refs func(n *node) *node
	refs = func(n *node) *node {
		if n.is("Reference") || n.is("Attachment") {
			return n
		}
		for _, k := range n.kids {
			if r := refs(k); r != nil {
				return r
			}
		}
		return nil
	}
	if r := refs(n); r != nil {
		return refuse(r, join(path, r.name.Local), "", "attachment in a status packet")
	}
	m.warn(n, path, "", "ignored in a status packet")
	return nil
}

func (m *mapper) header(n *node, path string) error {
	trace := field{name: "TraceHeaderList", fn: m.trace}
	if m.status {
		trace.fn = m.ignored
	}
	return m.children(n, path,
		field{name: "MessageHeader", fn: m.messageHeader},
		trace,
		field{name: "Signature", any: true, fn: m.signature},
		field{name: "DigitalSignature", fn: m.signature},
	)
}

func (m *mapper) signature(n *node, path string) error {
	if m.p.Signature != nil {
		return refuse(n, path, "", "a second signature")
	}
	x := encodeNode(n)
	if len(x) > m.maxExtra {
		return refuse(n, path, "", fmt.Sprintf("signature larger than %d bytes", m.maxExtra))
	}
	m.p.Signature = &Signature{Namespace: n.name.Space, Local: n.name.Local, XML: x}
	return nil
}

func (m *mapper) org(dst *Organization) []field {
	return []field{
		m.leaf("OrganId", &dst.OrganID, nil),
		m.leaf("OrganizationInCharge", &dst.OrganizationInCharge, nil),
		m.leaf("OrganName", &dst.OrganName, nil),
		m.leaf("OrganAdd", &dst.OrganAdd, nil),
		m.leaf("Email", &dst.Email, nil),
		m.leaf("Telephone", &dst.Telephone, nil),
		m.leaf("Fax", &dst.Fax, nil),
		m.leaf("Website", &dst.Website, nil),
	}
}

func (m *mapper) staff(dst **StaffInfo) field {
	return field{name: "StaffInfo", fn: func(n *node, path string) error {
		s := &StaffInfo{}
		*dst = s
		return m.children(n, path,
			m.leaf("Department", &s.Department, nil),
			m.leaf("Staff", &s.Staff, nil),
			m.leaf("Email", &s.Email, nil),
			m.leaf("Mobile", &s.Mobile, nil),
		)
	}}
}

func (m *mapper) messageHeader(n *node, path string) error {
	h := &m.p.Header
	from := field{name: "From", fn: func(n *node, path string) error {
		return m.children(n, path, m.org(&h.From)...)
	}}
	to := field{name: "To", repeat: true, fn: func(n *node, path string) error {
		h.To = append(h.To, Organization{})
		return m.children(n, path, m.org(&h.To[len(h.To)-1])...)
	}}
	responseFor := field{name: "ResponseFor", repeat: true, fn: func(n *node, path string) error {
		h.ResponseFor = append(h.ResponseFor, ResponseFor{})
		r := &h.ResponseFor[len(h.ResponseFor)-1]
		return m.children(n, path,
			m.leaf("OrganId", &r.OrganID, nil),
			m.leaf("Code", &r.Code, nil),
			m.leaf("PromulgationDate", &r.PromulgationDate, checkDate),
			m.leaf("DocumentId", &r.DocumentID, nil),
		)
	}}
	if m.status {
		s := m.p.Status
		code := field{name: "StatusCode", fn: func(n *node, path string) error {
			v, err := m.text(n, path)
			if err != nil {
				return err
			}
			s.Code = v
			t := strings.TrimSpace(v)
			c, err := strconv.Atoi(t)
			switch {
			case err != nil || len(t) > 2 || c < 1 || c > 16:
				return refuse(n, path, v, "unknown status code")
			case !statusCodes[c]:
				return refuse(n, path, v, "status code not in use (07-12 and 14 are not)")
			case len(t) != 2:
				m.warn(n, path, v, "status code not in the two-digit form")
			}
			return nil
		}}
		return m.children(n, path,
			from,
			responseFor,
			m.staff(&s.Staff),
			code,
			m.leaf("Description", &s.Description, nil),
			m.leaf("Timestamp", &s.Timestamp, checkTimestamp),
		)
	}
	o := &h.OtherInfo
	return m.children(n, path,
		from,
		to,
		m.leaf("DocumentId", &h.DocumentID, nil),
		m.group("Code",
			m.leaf("CodeNumber", &h.CodeNumber, nil),
			m.leaf("CodeNotation", &h.CodeNotation, nil)),
		m.group("PromulgationInfo",
			m.leaf("Place", &h.Place, nil),
			m.leaf("PromulgationDate", &h.PromulgationDate, checkDate)),
		m.group("DocumentType",
			m.leaf("Type", &h.Type, checkInt),
			m.leaf("TypeDetail", &h.TypeDetail, checkInt),
			m.leaf("TypeName", &h.TypeName, nil)),
		m.leaf("Subject", &h.Subject, nil),
		m.leaf("Content", &h.Content, nil),
		m.group("SignerInfo",
			m.leaf("Competence", &h.Competence, nil),
			m.leaf("Position", &h.Position, nil),
			m.leaf("FullName", &h.FullName, nil)),
		m.leaf("DueDate", &h.DueDate, checkDate),
		m.group("OtherInfo",
			m.leaf("Priority", &o.Priority, checkInt),
			m.leaf("SphereOfPromulgation", &o.SphereOfPromulgation, nil),
			m.leaf("TyperNotation", &o.TyperNotation, nil),
			m.leaf("PromulgationAmount", &o.PromulgationAmount, checkInt),
			m.leaf("PageAmount", &o.PageAmount, checkInt),
			m.leaf("Direction", &o.Direction, checkBool),
			m.group("Appendixes", m.list("Appendix", &o.Appendixes))),
		responseFor,
		m.leaf("SteeringType", &h.SteeringType, checkInt),
		m.group("ToPlaces", m.list("Place", &h.ToPlaces)),
	)
}

func (m *mapper) trace(n *node, path string) error {
	t := &Trace{Attrs: attrs(n.attrs)}
	m.p.Trace = t
	return m.children(n, path,
		field{name: "TraceHeader", repeat: true, fn: func(n *node, path string) error {
			t.Headers = append(t.Headers, TraceHeader{})
			h := &t.Headers[len(t.Headers)-1]
			return m.children(n, path,
				m.leaf("OrganId", &h.OrganID, nil),
				m.leaf("Timestamp", &h.Timestamp, checkTimestamp),
			)
		}},
		field{name: "Bussiness", alias: "Business", fn: m.business},
	)
}

func (m *mapper) business(n *node, path string) error {
	b := &Business{}
	m.p.Trace.Business = b
	return m.children(n, path,
		m.leaf("DocumentId", &b.DocumentID, nil),
		m.leaf("BussinessDocType", &b.DocType, checkDocType),
		m.leaf("BussinessDocReason", &b.Reason, nil),
		m.leaf("Paper", &b.Paper, nil),
		m.staff(&b.Staff),
		field{name: "BussinessDocumentInfo", fn: func(n *node, path string) error {
			d := &DocumentInfo{}
			b.DocumentInfo = d
			return m.children(n, path,
				m.leaf("DocumentInfo", &d.DocumentInfo, nil),
				m.leaf("DocumentReceiver", &d.DocumentReceiver, nil),
				m.group("ReceiverList", field{name: "Receiver", repeat: true, fn: func(n *node, path string) error {
					d.Receivers = append(d.Receivers, Receiver{})
					r := &d.Receivers[len(d.Receivers)-1]
					return m.children(n, path,
						m.leaf("OrganId", &r.OrganID, nil),
						m.leaf("ReceiverType", &r.ReceiverType, nil),
					)
				}}),
			)
		}},
		m.group("ReplacementInfoList", field{name: "ReplacementInfo", repeat: true, fn: func(n *node, path string) error {
			b.Replacements = append(b.Replacements, ReplacementInfo{})
			r := &b.Replacements[len(b.Replacements)-1]
			return m.children(n, path,
				m.leaf("DocumentId", &r.DocumentID, nil),
				m.group("OrganIdList", m.list("OrganId", &r.OrganIDs)),
			)
		}}),
	)
}

// attrs keeps the attributes of n but its namespace declarations.
func attrs(as []xml.Attr) []Attr {
	var out []Attr
	for _, a := range as {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		out = append(out, Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
	}
	return out
}

func (m *mapper) manifest(n *node, path string) error {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == "version" {
			m.p.Manifest.Version = a.Value
		}
	}
	return m.children(n, path, field{name: "Reference", repeat: true, fn: func(n *node, path string) error {
		m.p.Manifest.References = append(m.p.Manifest.References, Reference{Attrs: attrs(n.attrs)})
		r := &m.p.Manifest.References[len(m.p.Manifest.References)-1]
		return m.children(n, path,
			m.leaf("ContentId", &r.ContentID, nil),
			m.leaf("ContentType", &r.ContentType, nil),
			m.leaf("Description", &r.Description, nil),
			m.leaf("AttachmentName", &r.AttachmentName, nil),
		)
	}})
}

func (m *mapper) attachments(n *node, path string) error {
	return m.children(n, path, field{name: "Attachment", repeat: true, fn: func(n *node, path string) error {
		m.p.Attachments = append(m.p.Attachments, Attachment{})
		a := &m.p.Attachments[len(m.p.Attachments)-1]
		var data *node
		err := m.children(n, path,
			m.leaf("ContentId", &a.ContentID, nil),
			m.leaf("AttachmentName", &a.AttachmentName, nil),
			m.leaf("Description", &a.Description, nil),
			m.leaf("ContentType", &a.ContentType, nil),
			field{name: "ContentTransferEncoded", fn: func(n *node, _ string) error {
				data = n
				return nil
			}},
		)
		if err != nil {
			return err
		}
		if data == nil || data.payload == nil {
			return refuse(n, path, a.ContentID, "attachment without ContentTransferEncoded")
		}
		a.Size, a.SHA256 = data.payload.size, data.payload.sum
		return nil
	}})
}

// contentID is how manifest and payload entries are matched.
func contentID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "cid:") {
		s = s[4:]
	}
	return s
}

// match checks the manifest against the payload: a manifest entry must
// have its bytes; a payload without an entry, or one whose ContentType
// differs from its entry's, is only a warning.
func (m *mapper) match(root *node) error {
	// Lines for the warnings and the error: find the elements again.
	var refs, atts []*node
	for _, env := range root.kids {
		if env.is("edXMLEnvelope") {
			for _, body := range env.kids {
				if body.is("edXMLBody") {
					for _, man := range body.kids {
						if man.is("edXMLManifest") {
							for _, r := range man.kids {
								if r.is("Reference") {
									refs = append(refs, r)
								}
							}
						}
					}
				}
			}
		}
		if env.is("AttachmentEncoded") {
			for _, a := range env.kids {
				if a.is("Attachment") {
					atts = append(atts, a)
				}
			}
		}
	}
	byID := make(map[string]int, len(m.p.Attachments))
	for i, a := range m.p.Attachments {
		if _, dup := byID[contentID(a.ContentID)]; !dup {
			byID[contentID(a.ContentID)] = i
		}
	}
	used := make([]bool, len(m.p.Attachments))
	for i, r := range m.p.Manifest.References {
		path := "edXMLEnvelope/edXMLBody/edXMLManifest/" + indexed("Reference", i+1) + "/ContentId"
		ai, ok := byID[contentID(r.ContentID)]
		if !ok {
			return refuse(refs[i], path, r.ContentID, "manifest entry without a payload Attachment")
		}
		used[ai] = true
		if a := m.p.Attachments[ai]; strings.TrimSpace(a.ContentType) != strings.TrimSpace(r.ContentType) {
			m.warn(atts[ai], "AttachmentEncoded/"+indexed("Attachment", ai+1)+"/ContentType", a.ContentType,
				fmt.Sprintf("differs from the manifest's %q", r.ContentType))
		}
	}
	for i, a := range m.p.Attachments {
		if !used[i] {
			m.warn(atts[i], "AttachmentEncoded/"+indexed("Attachment", i+1)+"/ContentId", a.ContentID, "payload Attachment without a manifest entry")
		}
	}
	return nil
}
