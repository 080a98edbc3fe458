package edxml

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// ReadOptions bound what Read keeps in memory.
type ReadOptions struct {
	// MaxHeaderBytes bounds any one token outside attachment payloads (a
	// text, a start tag, a comment), the kept Signature, and the total of
	// the unknown elements kept in Packet.Extra. 0 means 1 MiB.
	MaxHeaderBytes int
	// MaxMarkupBytes bounds the whole packet outside attachment payloads
	// (every tag, text and comment, plus a fixed cost per element), which
	// Read holds as a small tree until the root ends. 0 means 16 MiB.
	MaxMarkupBytes int64
}

const (
	defaultMaxHeaderBytes = 1 << 20
	defaultMaxMarkupBytes = 16 << 20
	// nodeCost is charged against MaxMarkupBytes for every element, so a
	// packet of a million empty elements is refused like a large one.
	nodeCost = 64
	// attrCost is charged for every attribute: an attribute of five bytes
	// (a="") is held as an xml.Attr of 48 and more, so a packet of tags
	// full of them is refused before it holds many times its size.
	attrCost = 64
)

// Error is a packet Read refuses: the line and element where the packet
// stops being one, the offending value if any, and why.
type Error struct {
	Line    int
	Element string // path such as "MessageHeader/From/OrganId"
	Value   string
	Reason  string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d", e.Line)
	if e.Element != "" {
		b.WriteString(": ")
		b.WriteString(e.Element)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

var (
	errTokenTooLarge  = errors.New("token too large")
	errMarkupTooLarge = errors.New("markup too large")
)

// ioError marks an error of the caller's reader, so Read returns it as an
// I/O failure rather than as a refusal of the packet.
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }

type ioReader struct{ r io.Reader }

func (r ioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = ioError{err}
	}
	return n, err
}

type charsetError struct{ charset string }

func (e charsetError) Error() string { return "charset " + e.charset }

// byteReader is what the xml.Decoder reads from. Being an io.ByteReader,
// the Decoder uses it without a buffer of its own, so Read can take the
// base64 text of an attachment straight from br while the Decoder is
// between tokens. It also refuses a token that grows past a bound, which
// the Decoder would otherwise buffer whole.
type byteReader struct {
	br         *bufio.Reader
	n, max     int64 // bytes of the current token, and the bound
	total, cap int64 // bytes outside payloads, and the bound
	prev, last byte  // the last two bytes given to the Decoder
}

func (r *byteReader) ReadByte() (byte, error) {
	if r.n >= r.max {
		return 0, errTokenTooLarge
	}
	if r.total >= r.cap {
		return 0, errMarkupTooLarge
	}
	b, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.n++
	r.total++
	r.prev, r.last = r.last, b
	return b, nil
}

// Read is there for xml.NewDecoder's signature; the Decoder only calls
// ReadByte.
func (r *byteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// node is an element (or, with an empty name, a text) of the packet
// outside attachment payloads.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	kids  []*node
	text  string
	line  int
	idx   int // 1-based among the siblings of the same name

	att     int      // index of an Attachment in payload order
	payload *payload // of a ContentTransferEncoded

	seen map[xml.Name]int // the kids by name, once they are many (count)
}

type payload struct {
	size int64
	sum  []byte
}

// count counts a new kid named name and returns how many kids have that
// name with it: a walk of the few kids most elements have, a map kept for
// the others, so that a packet of many siblings is not quadratic.
func (n *node) count(name xml.Name) int {
	if n.seen == nil {
		c := 1
		for _, k := range n.kids {
			if k.name == name {
				c++
			}
		}
		if len(n.kids) < 16 {
			return c
		}
		n.seen = map[xml.Name]int{}
		for _, k := range n.kids {
			if !k.isText() {
				n.seen[k.name]++
			}
		}
	}
	n.seen[name]++
	return n.seen[name]
}

func (n *node) isText() bool { return n.name.Local == "" }

func (n *node) is(local string) bool { return n.name.Space == Namespace && n.name.Local == local }

type reader struct {
	opt        ReadOptions
	sink       Sink
	br         *bufio.Reader
	byteReader *byteReader
	dec        *xml.Decoder
	lines      int // newlines consumed outside the Decoder
	stack      []*node
	atts       int
}

func (rd *reader) line() int {
	l, _ := rd.dec.InputPos()
	return l + rd.lines
}

// Read reads one edXML packet from r, streaming each attachment's decoded
// bytes to sink (nil discards them; Size and SHA256 are computed either
// way). A packet that is not one is refused with an *Error naming the line
// and element; an error of r itself is returned wrapped. A packet read
// without error has been read to the end of r (only white space and
// comments may follow the root), so a caller teeing r saw every byte.
func Read(r io.Reader, sink Sink, opt ReadOptions) (*Packet, error) {
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if opt.MaxMarkupBytes <= 0 {
		opt.MaxMarkupBytes = defaultMaxMarkupBytes
	}
	rd := &reader{opt: opt, sink: sink, br: bufio.NewReaderSize(ioReader{r}, 64<<10)}
	root, err := rd.tree()
	if err != nil {
		var ioe ioError
		if errors.As(err, &ioe) {
			return nil, fmt.Errorf("edxml: read: %w", ioe.err)
		}
		return nil, err
	}
	m := &mapper{p: &Packet{}, maxExtra: opt.MaxHeaderBytes}
	if err := m.packet(root); err != nil {
		return nil, err
	}
	return m.p, nil
}

// tree reads the packet into a tree of its markup, streaming payloads.
func (rd *reader) tree() (*node, error) {
	// A BOM may lead; then the file must start with markup: anything
	// before the declaration means the file was damaged on the way.
	if b, _ := rd.br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		rd.br.Discard(3)
	}
	b, err := rd.br.Peek(1)
	if err != nil {
		if err == io.EOF {
			return nil, &Error{Line: 1, Reason: "empty file"}
		}
		return nil, err
	}
	if b[0] != '<' {
		reason := "bytes before the XML declaration"
		if b[0] == 0xfe || b[0] == 0xff || b[0] == 0 {
			reason = "not UTF-8 (UTF-16 or other encoding)"
		}
		return nil, &Error{Line: 1, Value: string(b), Reason: reason}
	}
	rd.byteReader = &byteReader{br: rd.br, max: int64(rd.opt.MaxHeaderBytes), cap: rd.opt.MaxMarkupBytes}
	rd.dec = xml.NewDecoder(rd.byteReader)
	// Strict stays on: it checks well-formedness, not namespaces, so an
	// undeclared xlink: prefix is accepted and kept as the Space "xlink".
	rd.dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, charsetError{charset}
	}

	var root *node
	rootDone := false
	for tokens := 0; ; tokens++ {
		startLine := rd.line()
		rd.byteReader.n = 0
		tok, err := rd.dec.Token()
		if err == io.EOF {
			if root == nil {
				return nil, &Error{Line: rd.line(), Reason: "no root element"}
			}
			return root, nil
		}
		if err != nil {
			return nil, rd.tokenError(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && tokens > 0 {
				return nil, rd.errorf(startLine, "XML declaration not at the start of the file")
			}
		case xml.Directive:
			return nil, rd.errorf(startLine, "DOCTYPE and other directives are not accepted")
		case xml.Comment:
		case xml.CharData:
			if len(rd.stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, &Error{Line: startLine, Element: rootElement(root), Value: clip(string(t)), Reason: "text outside the root element"}
				}
				continue
			}
			top := rd.stack[len(rd.stack)-1]
			if top.payload != nil {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, rd.errorf(startLine, "text after the base64 of ContentTransferEncoded")
				}
				continue
			}
			top.kids = append(top.kids, &node{text: string(t), line: startLine})
		case xml.StartElement:
			rd.byteReader.total += nodeCost + attrCost*int64(len(t.Attr))
			n := &node{name: t.Name, attrs: t.Attr, line: startLine}
			if badName(t) {
				return nil, rd.errorf(startLine, "a name with more than one colon in <"+t.Name.Local+">")
			}
			if len(rd.stack) == 0 {
				if rootDone {
					return nil, &Error{Line: startLine, Element: t.Name.Local, Reason: "a second root element"}
				}
				if !n.is("edXML") {
					return nil, &Error{Line: startLine, Element: t.Name.Local, Value: t.Name.Space, Reason: "root is not edXML in namespace " + Namespace}
				}
				root = n
				rd.stack = append(rd.stack, n)
				continue
			}
			parent := rd.stack[len(rd.stack)-1]
			if parent.payload != nil {
				return nil, rd.errorf(startLine, "element <"+t.Name.Local+"> inside ContentTransferEncoded")
			}
			n.idx = parent.count(n.name)
			parent.kids = append(parent.kids, n)
			rd.stack = append(rd.stack, n)
			switch d := len(rd.stack); {
			case d == 3 && n.is("Attachment") && parent.is("AttachmentEncoded"):
				n.att = rd.atts
				rd.atts++
			case d == 4 && n.is("ContentTransferEncoded") && parent.is("Attachment") && rd.stack[1].is("AttachmentEncoded"):
				if err := rd.stream(parent, n); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			rd.stack = rd.stack[:len(rd.stack)-1]
			if len(rd.stack) == 0 {
				rootDone = true
			}
		}
	}
}

// repeated are the elements that may occur more than once, whose paths
// carry [n].
func isRepeated(parent, name string) bool {
	switch name {
	case "To", "ResponseFor", "Appendix", "TraceHeader", "Receiver", "ReplacementInfo", "Reference", "Attachment":
		return true
	case "Place":
		return parent == "ToPlaces"
	case "OrganId":
		return parent == "OrganIdList"
	}
	return false
}

// badName reports a name that namespaces do not allow and that would not
// survive being written again (a:b:c).
func badName(t xml.StartElement) bool {
	if strings.Contains(t.Name.Local, ":") {
		return true
	}
	for _, a := range t.Attr {
		if strings.Contains(a.Name.Local, ":") {
			return true
		}
	}
	return false
}

func rootElement(root *node) string {
	if root == nil {
		return ""
	}
	return "edXML"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// path is where the reader is, for an error: the short path of the open
// elements.
func (rd *reader) path() string {
	var names []string
	for i, n := range rd.stack {
		if i > 0 && isRepeated(rd.stack[i-1].name.Local, n.name.Local) {
			names = append(names, indexed(n.name.Local, n.idx))
		} else {
			names = append(names, n.name.Local)
		}
	}
	if len(names) > 0 {
		names = names[1:] // the root
	}
	return shortPath(strings.Join(names, "/"))
}

func (rd *reader) errorf(line int, reason string) *Error {
	el := rd.path()
	if el == "" && len(rd.stack) > 0 {
		el = "edXML"
	}
	return &Error{Line: line, Element: el, Reason: reason}
}

func (rd *reader) tokenError(err error) error {
	var (
		se *xml.SyntaxError
		ce charsetError
		ie ioError
		e  *Error
	)
	switch {
	case errors.As(err, &ie):
		return err
	case errors.As(err, &e):
		return e
	case errors.As(err, &ce):
		return &Error{Line: rd.line(), Element: "xml declaration", Value: ce.charset, Reason: "encoding is not UTF-8"}
	case errors.Is(err, errTokenTooLarge):
		return rd.errorf(rd.line(), fmt.Sprintf("a text or tag longer than %d bytes outside an attachment", rd.opt.MaxHeaderBytes))
	case errors.Is(err, errMarkupTooLarge):
		return rd.errorf(rd.line(), fmt.Sprintf("more than %d bytes of markup outside attachments", rd.opt.MaxMarkupBytes))
	case errors.As(err, &se):
		return rd.errorf(se.Line+rd.lines, "not well-formed: "+se.Msg)
	}
	return rd.errorf(rd.line(), "not well-formed: "+strings.TrimPrefix(err.Error(), "xml: "))
}

// b64 classifies bytes of base64 text: 1 data, 2 padding, 3 space.
var b64 = func() (t [256]byte) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = 1
	}
	t['='] = 2
	t[' '], t['\t'], t['\r'], t['\n'] = 3, 3, 3, 3
	return t
}()

// stream decodes the base64 text of a ContentTransferEncoded from the
// bytes after its start tag to the '<' of the next markup, which it leaves
// for the Decoder, writing the bytes to the sink as it goes.
func (rd *reader) stream(att, n *node) error {
	for _, k := range att.kids {
		if k != n && k.is("ContentTransferEncoded") {
			return rd.errorf(n.line, "a second ContentTransferEncoded")
		}
	}
	var w io.WriteCloser
	if rd.sink != nil {
		var err error
		if w, err = rd.sink.Attachment(att.att); err != nil {
			return fmt.Errorf("edxml: attachment %d: %w", att.att, err)
		}
	}
	h := sha256.New()
	d := &b64decoder{h: h, w: w}
	err := rd.decode(d, rd.byteReader.prev == '/' && rd.byteReader.last == '>')
	if err == nil {
		if err = d.finish(); err != nil {
			err = rd.flushError(err)
		}
	}
	if w != nil {
		if a, ok := w.(interface{ Abort() }); ok && err != nil {
			a.Abort()
		} else if cerr := w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("edxml: attachment %d: %w", att.att, cerr)
		}
	}
	if err != nil {
		return err
	}
	n.payload = &payload{size: d.size, sum: h.Sum(nil)}
	return nil
}

type b64decoder struct {
	in   [64 << 10]byte // a multiple of 4
	out  [48 << 10]byte
	k    int
	pad  bool
	size int64
	h    hash.Hash
	w    io.Writer
}

func (d *b64decoder) flush(final bool) error {
	in := d.in[:d.k]
	if final && !d.pad && len(in)%4 != 0 {
		// Accept unpadded base64: pad the last quantum.
		switch len(in) % 4 {
		case 2:
			in = append(in, '=', '=')
		case 3:
			in = append(in, '=')
		}
	}
	n, err := base64.StdEncoding.Decode(d.out[:], in)
	if err != nil {
		return err
	}
	d.k = 0
	d.size += int64(n)
	d.h.Write(d.out[:n])
	if d.w != nil && n > 0 {
		if _, err := d.w.Write(d.out[:n]); err != nil {
			return sinkError{err}
		}
	}
	return nil
}

type sinkError struct{ err error }

func (e sinkError) Error() string { return e.err.Error() }

func (d *b64decoder) finish() error {
	if d.k%4 == 1 {
		return errors.New("a base64 quantum of one character")
	}
	if d.pad && d.k%4 != 0 {
		return errors.New("padding does not end a quantum")
	}
	return d.flush(true)
}

func (rd *reader) decode(d *b64decoder, empty bool) error {
	if empty {
		return nil
	}
	cdata := false
	fail := func(reason string) error { return rd.errorf(rd.line(), reason) }
	for {
		if _, err := rd.br.Peek(1); err != nil {
			if err == io.EOF {
				return fail("unexpected end of file in base64")
			}
			return err
		}
		buf, _ := rd.br.Peek(rd.br.Buffered())
		i := 0
	scan:
		for ; i < len(buf); i++ {
			c := buf[i]
			switch b64[c] {
			case 1, 2:
				if b64[c] == 1 && d.pad {
					rd.br.Discard(i)
					return fail("broken base64: data after padding")
				}
				d.pad = d.pad || b64[c] == 2
				d.in[d.k] = c
				d.k++
				if d.k == len(d.in) {
					if err := d.flush(false); err != nil {
						rd.br.Discard(i)
						return rd.flushError(err)
					}
				}
				continue
			case 3:
				if c == '\n' {
					rd.lines++
				}
				continue
			}
			switch {
			case c == '<' && !cdata:
				break scan
			case c == ']' && cdata:
				break scan
			case c == '&' && !cdata:
				break scan
			}
			rd.br.Discard(i)
			return fail(fmt.Sprintf("broken base64: byte %q", c))
		}
		rd.br.Discard(i)
		if i < len(buf) {
			switch buf[i] {
			case '<':
				p, _ := rd.br.Peek(9)
				if string(p) != "<![CDATA[" {
					return nil // the end tag, or markup the Decoder judges
				}
				rd.br.Discard(9)
				cdata = true
			case ']':
				p, _ := rd.br.Peek(3)
				if string(p) != "]]>" {
					return fail("broken base64: byte ']'")
				}
				rd.br.Discard(3)
				cdata = false
			case '&':
				p, _ := rd.br.Peek(10)
				end := bytes.IndexByte(p, ';')
				if end < 0 || !spaceRef(string(p[1:end])) {
					if end < 0 {
						end = len(p) - 1
					}
					return fail(fmt.Sprintf("broken base64: reference %q", p[:end+1]))
				}
				rd.br.Discard(end + 1)
			}
		}
	}
}

func (rd *reader) flushError(err error) error {
	if se, ok := err.(sinkError); ok {
		return fmt.Errorf("edxml: attachment sink: %w", se.err)
	}
	return rd.errorf(rd.line(), "broken base64: "+err.Error())
}

// spaceRef reports whether "#13", "#xA"… names a white space character,
// which some builders write into base64 instead of a line break.
func spaceRef(ref string) bool {
	if !strings.HasPrefix(ref, "#") {
		return false
	}
	ref = ref[1:]
	base := 10
	if strings.HasPrefix(ref, "x") || strings.HasPrefix(ref, "X") {
		ref, base = ref[1:], 16
	}
	v, err := strconv.ParseUint(ref, base, 8)
	return err == nil && (v == 9 || v == 10 || v == 13 || v == 32)
}

// shortPath drops the envelope wrappers from a full path, for errors and
// warnings: "edXMLEnvelope/edXMLHeader/MessageHeader/From" is
// "MessageHeader/From".
func shortPath(full string) string {
	for _, w := range []string{"edXMLEnvelope/edXMLHeader/", "edXMLEnvelope/edXMLBody/"} {
		if s, ok := strings.CutPrefix(full, w); ok {
			return s
		}
	}
	return full
}
