package edxml

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// encodeNode renders an element Read does not model (an unknown element, a
// Signature) so that Write can put it back where it was: local names, an
// xmlns attribute where the namespace differs from its parent's (edXML's at
// the top), attributes and escaped text; comments are dropped. Rendering
// what it renders gives the same text again.
func encodeNode(n *node) string {
	var b strings.Builder
	avoid := map[string]bool{}
	collectPrefixes(n, avoid)
	encodeInto(&b, n, Namespace, avoid)
	return b.String()
}

func collectPrefixes(n *node, into map[string]bool) {
	for _, a := range n.attrs {
		if isPrefix(a.Name.Space) {
			into[a.Name.Space] = true
		}
	}
	for _, k := range n.kids {
		collectPrefixes(k, into)
	}
}

func encodeInto(b *strings.Builder, n *node, ns string, avoid map[string]bool) {
	if n.isText() {
		escapeText(b, n.text)
		return
	}
	b.WriteByte('<')
	b.WriteString(n.name.Local)
	if n.name.Space != ns {
		b.WriteString(` xmlns="`)
		xml.EscapeText(b, []byte(n.name.Space))
		b.WriteByte('"')
	}
	writeAttrs(b, attrs(n.attrs), avoid)
	if len(n.kids) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, k := range n.kids {
		encodeInto(b, k, n.name.Space, avoid)
	}
	b.WriteString("</")
	b.WriteString(n.name.Local)
	b.WriteByte('>')
}

// writeAttrs renders attributes as Read found them. An attribute whose
// prefix was not declared (xlink:href in some builders) has that prefix
// as its Space and is written with it, still undeclared; one in a declared
// namespace gets a prefix declared on the element. avoid holds prefixes
// not to declare, since an undeclared use of them is in scope.
func writeAttrs(w interface {
	io.Writer
	io.StringWriter
}, as []Attr, avoid map[string]bool) {
	var declared map[string]string
	for _, a := range as {
		w.WriteString(" ")
		switch {
		case a.Space == "":
		case a.Space == xmlNamespace:
			w.WriteString("xml:")
		case isPrefix(a.Space):
			w.WriteString(a.Space + ":")
		default:
			if declared == nil {
				declared = map[string]string{}
			}
			p, ok := declared[a.Space]
			if !ok {
				for i := len(declared) + 1; ; i++ {
					p = "ns" + strconv.Itoa(i)
					if !avoid[p] {
						break
					}
				}
				declared[a.Space] = p
				w.WriteString("xmlns:" + p + `="`)
				xml.EscapeText(w, []byte(a.Space))
				w.WriteString(`" `)
			}
			w.WriteString(p + ":")
		}
		w.WriteString(a.Local + `="`)
		xml.EscapeText(w, []byte(a.Value))
		w.WriteString(`"`)
	}
}

// isPrefix reports whether space is what the Decoder leaves for an
// undeclared prefix (a name, not a URI) and one that Write may write as is:
// not one Write declares itself, nor a reserved one.
func isPrefix(space string) bool {
	return space != "" && !strings.ContainsAny(space, ":/ \t\r\n\"'<>&=") && space != "edXML" &&
		!strings.HasPrefix(strings.ToLower(space), "xml")
}

// escapeText escapes text for an element's content. Unlike
// xml.EscapeText it leaves line feeds and tabs as they are, which the
// Decoder gives back unchanged, so multi-line text stays readable; a
// carriage return is escaped since the Decoder turns a literal one into a
// line feed.
func escapeText(w io.StringWriter, s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		case '\t', '\n':
			continue
		default:
			if s[i] >= 0x20 {
				continue
			}
			esc = "\uFFFD" // not a character XML allows
		}
		w.WriteString(s[last:i])
		w.WriteString(esc)
		last = i + 1
	}
	w.WriteString(s[last:])
}

// checkFragment reports whether s is one well-formed element, as Write
// re-emits Signature.XML and Element.XML verbatim.
func checkFragment(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	depth, elements := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				elements++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && strings.TrimSpace(string(t)) != "" {
				return errors.New("text outside the element")
			}
		case xml.ProcInst, xml.Directive:
			return errors.New("declaration or directive in an element")
		}
	}
	if elements != 1 {
		return errors.New("not exactly one element")
	}
	return nil
}
