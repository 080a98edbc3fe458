package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/server"
)

func edxmlCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "edxml",
		Short: "Look into edXML packet files, offline",
		Long: `Tools for edXML packet files (QCVN 102:2016, docs/edxml.md) that need no
hub and no credentials. ndxp send --edxml, status --edxml, fetch --edxml
and receive --format edxml exchange them with the hub.`,
		Example: `  ndxp edxml inspect 7816-VPCP-TTDT.edxml`,
		Args:    usage(cobra.NoArgs),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(inspectCmd(a))
	return cmd
}

// inspectView is the output of `ndxp edxml inspect`.
type inspectView struct {
	Kind        string              `json:"kind"` // "document" or "status"
	Header      json.RawMessage     `json:"header,omitempty"`
	Status      json.RawMessage     `json:"status,omitempty"`
	Packet      inspectPacket       `json:"packet"`
	Attachments []inspectAttachment `json:"attachments"`
	Warnings    []warningView       `json:"warnings"`
}

type inspectPacket struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type inspectAttachment struct {
	Name      string      `json:"name"`
	MediaType string      `json:"media_type"`
	Size      int64       `json:"size"`
	SHA256    string      `json:"sha256"`
	Packed    *packedView `json:"packed,omitempty"`
}

type packedView struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

func inspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Read an edXML packet and show what the hub would make of it",
		Long: `Reads an edXML packet file as the hub does and prints, as JSON whatever
-o says (it is an inspection tool; pipe it to jq), what the hub would
store:
  kind         "document" or "status"
  header       a document packet's header, in the shape of ndxp show -o json
               (header), with the packet's own fields under header.packet
  status       a status packet's report, in the shape of ndxp status -o json
  packet       the file's size and SHA-256
  attachments  name, media_type, size and sha256 of each decoded attachment,
               and packed {name, size} when it is a ZIP of one file under
               another name (ndxp receive saves those unpacked)
  warnings     every quirk the hub would keep as written rather than
               refuse: line, element, value, reason
Agency codes are shown as written: the registry, which resolves aliases
and refuses unknown codes, is the hub's; so are the documents an update,
replace, revoke or status packet names. A packet the hub would refuse
outright (not XML, bytes before the XML declaration, no MessageHeader…)
ends with exit 1 and one line naming the line, the element and why.
Needs no hub and no credentials.`,
		Example: `  ndxp edxml inspect 7816-VPCP-TTDT.edxml
  ndxp edxml inspect 7816-VPCP-TTDT.edxml | jq '.header.subject, .warnings'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			v, err := inspectFile(args[0])
			if err != nil {
				return err
			}
			return cli.JSON(a.stdout, v)
		},
	}
}

// inspectFile reads the packet at path and maps it as the hub would.
func inspectFile(path string) (*inspectView, error) {
	f, err := openPacket(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := sha256.New()
	cr := &countReader{r: io.TeeReader(f, sum)}
	sink := &zipSink{}
	defer sink.remove()
	pk, err := edxml.Read(cr, sink, edxml.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, cr); err != nil { // whatever follows the root, for the digest
		return nil, err
	}
	v := &inspectView{Kind: "document", Packet: inspectPacket{Size: cr.n, SHA256: hex.EncodeToString(sum.Sum(nil))},
		Attachments: []inspectAttachment{}, Warnings: []warningView{}}
	for _, w := range pk.Warnings {
		v.Warnings = append(v.Warnings, warningView{Line: int32(w.Line), Element: w.Element, Value: w.Value, Reason: w.Reason})
	}
	packed := make([]*hub.PackedFile, len(pk.Attachments))
	for i, at := range pk.Attachments {
		av := inspectAttachment{Name: at.AttachmentName, MediaType: at.ContentType, Size: at.Size, SHA256: hex.EncodeToString(at.SHA256)}
		if name, size, ok := sink.packed(i, at); ok {
			packed[i] = &hub.PackedFile{Name: name, Size: size}
			av.Packed = &packedView{Name: name, Size: size}
		}
		v.Attachments = append(v.Attachments, av)
	}
	in := hub.InspectPacket(pk)
	var m proto.Message
	if in.Status != nil {
		v.Kind = "status"
		st := server.StatusProto(*in.Status)
		st.Time = nil // recorded by the hub when it takes the packet
		m = st
	} else {
		for i := range in.Header.Attachments {
			in.Header.Attachments[i].Packed = packed[i]
		}
		m = server.HeaderProto(*in.Header)
	}
	var b bytes.Buffer
	if err := cli.ProtoJSON(&b, m); err != nil {
		return nil, err
	}
	if in.Status != nil {
		v.Status = b.Bytes()
	} else {
		v.Header = b.Bytes()
	}
	return v, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// zipSink takes a packet's decoded attachments for inspect: each one that
// starts like a ZIP is kept in a temporary file, to tell whether it is
// packed (edxml.Packed reads a ZIP from its end); the others are only
// counted and hashed, which edxml.Read does itself.
type zipSink struct {
	files []*zipSniffer
}

func (s *zipSink) Attachment(i int) (io.WriteCloser, error) {
	for len(s.files) <= i {
		s.files = append(s.files, nil)
	}
	w := &zipSniffer{}
	s.files[i] = w
	return w, nil
}

// packed reports whether attachment i is a ZIP of one file (edxml.Packed).
func (s *zipSink) packed(i int, a edxml.Attachment) (string, int64, bool) {
	if i >= len(s.files) || s.files[i] == nil || s.files[i].f == nil {
		return "", 0, false
	}
	return edxml.Packed(s.files[i].f, a.Size, a.AttachmentName)
}

func (s *zipSink) remove() {
	for _, w := range s.files {
		if w != nil && w.f != nil {
			w.f.Close()
			os.Remove(w.f.Name())
		}
	}
}

// zipMagic starts a ZIP's first local file header.
const zipMagic = "PK\x03\x04"

// zipSniffer keeps an attachment in a temporary file if it starts with
// zipMagic, and discards it otherwise.
type zipSniffer struct {
	head []byte
	f    *os.File
	skip bool
}

func (w *zipSniffer) Write(p []byte) (int, error) {
	n := len(p)
	if w.skip {
		return n, nil
	}
	if w.f == nil {
		need := len(zipMagic) - len(w.head)
		if len(p) < need {
			w.head = append(w.head, p...)
			return n, nil
		}
		w.head, p = append(w.head, p[:need]...), p[need:]
		if string(w.head) != zipMagic {
			w.skip = true
			return n, nil
		}
		f, err := os.CreateTemp("", "ndxp-inspect-*.zip")
		if err != nil {
			return 0, err
		}
		w.f = f
		if _, err := f.Write(w.head); err != nil {
			return 0, err
		}
	}
	if _, err := w.f.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// Close keeps the file open for packed; zipSink.remove removes it.
func (w *zipSniffer) Close() error { return nil }
