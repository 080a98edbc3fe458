package main

import (
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// splitNumber splits "7816/VPCP-TTĐT" at the first '/' into the number
// (số) and the notation (ký hiệu); the notation itself may contain '/'.
// A value without '/' is a bare number.
func splitNumber(s string) (number, notation string) {
	s = strings.TrimSpace(s)
	number, notation, _ = strings.Cut(s, "/")
	return strings.TrimSpace(number), strings.TrimSpace(notation)
}

// splitCodes reads --to values: each may hold several codes separated by
// commas; blanks are dropped.
func splitCodes(vals []string) []string {
	var codes []string
	for _, v := range vals {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				codes = append(codes, c)
			}
		}
	}
	return codes
}

// checkDate accepts "" or a calendar date YYYY-MM-DD.
func checkDate(flag, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return usageErrorf("--%s %q: want a date YYYY-MM-DD", flag, v)
	}
	return nil
}

// mediaType guesses a file's MIME type from its extension.
func mediaType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// sendFlags are the flags of `ndxp send`.
type sendFlags struct {
	to                             []string
	subject, number, docType       string
	priority                       int
	due, ref, content, place, date string
	signer, position, competence   string
	responseFor, update, replace   string
}

// header checks the flags and builds the document header; errors are usage
// errors. today is the promulgation date when --number is given without --date.
func (f *sendFlags) header(today time.Time) (*ndxpv1.DocumentHeader, error) {
	to := splitCodes(f.to)
	if len(to) == 0 {
		return nil, usageErrorf("--to is required: the recipient agency codes")
	}
	if strings.TrimSpace(f.subject) == "" {
		return nil, usageErrorf("--subject is required: the summary (trích yếu)")
	}
	if f.priority < 0 || f.priority > 3 {
		return nil, usageErrorf("--priority %d: want 0 (normal), 1 (urgent), 2 (very urgent) or 3 (flash)", f.priority)
	}
	if err := checkDate("due", f.due); err != nil {
		return nil, err
	}
	if err := checkDate("date", f.date); err != nil {
		return nil, err
	}
	if f.update != "" && f.replace != "" {
		return nil, usageErrorf("--update and --replace exclude each other")
	}
	number, notation := splitNumber(f.number)
	if f.number != "" && number == "" {
		return nil, usageErrorf("--number %q: want NUMBER or NUMBER/NOTATION, e.g. 7816/VPCP-TTĐT", f.number)
	}
	h := &ndxpv1.DocumentHeader{
		Reference:         f.ref,
		Recipients:        to,
		Number:            number,
		Notation:          notation,
		DocumentType:      f.docType,
		Subject:           f.subject,
		Content:           f.content,
		PromulgationPlace: f.place,
		PromulgationDate:  f.date,
		Priority:          int32(f.priority),
		DueDate:           f.due,
		ResponseFor:       f.responseFor,
		BusinessType:      ndxpv1.BusinessType_BUSINESS_TYPE_NEW,
	}
	if h.Number != "" && h.PromulgationDate == "" && h.Reference == "" {
		// The hub derives the reference (the idempotency key) from number,
		// notation and date, the date defaulting to the day it receives the
		// send. Fixing the date here keeps the reference the same for every
		// retry of this send, even one that crosses midnight, and makes it
		// the signer's local date rather than the hub's.
		h.PromulgationDate = today.Format(time.DateOnly)
	}
	if f.signer != "" || f.position != "" || f.competence != "" {
		h.Signer = &ndxpv1.Signer{FullName: f.signer, Position: f.position, Competence: f.competence}
	}
	switch {
	case f.update != "":
		h.BusinessType, h.OriginalDocumentId = ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE, f.update
	case f.replace != "":
		h.BusinessType, h.OriginalDocumentId = ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE, f.replace
	}
	return h, nil
}

// openAttachments opens each file for upload. The files stay open (the
// SDK reads each twice: digest, then upload); closeAll closes them.
func openAttachments(paths []string) (atts []client.Attachment, closeAll func(), err error) {
	var files []*os.File
	closeAll = func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		files = append(files, f)
		fi, err := f.Stat()
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if !fi.Mode().IsRegular() {
			closeAll()
			return nil, nil, fmt.Errorf("%s: not a regular file", p)
		}
		name := filepath.Base(p)
		atts = append(atts, client.Attachment{Name: name, MediaType: mediaType(name), Body: f})
	}
	return atts, closeAll, nil
}

// receiptView is the JSON shape of `ndxp send -o json`.
type receiptView struct {
	DocumentID string    `json:"document_id"`
	Reference  string    `json:"reference"`
	Accepted   time.Time `json:"accepted"`
	Recipients []string  `json:"recipients"`
	Duplicate  bool      `json:"duplicate"`
}

// headerFlags are the flags of `ndxp send` that build the native header:
// a packet (--edxml) carries its own.
var headerFlags = []string{"subject", "number", "type", "priority", "due", "ref", "content", "place", "date",
	"signer", "position", "competence", "response-for", "update", "replace"}

func sendCmd(a *app) *cobra.Command {
	var f sendFlags
	var packet string
	cmd := &cobra.Command{
		Use:   "send (--to CODE[,CODE...] --subject TEXT [flags] [FILE...] | --edxml FILE [--to CODE...])",
		Short: "Send a document with its attachments to one or more agencies",
		Long: `Sends a document (văn bản) to the agencies named by --to, with each FILE as
an attachment (a document may have none). The hub answers only once the
document and every recipient's queue entry are on disk; ndxp then prints
the hub's document id alone on one line (-o json: the whole receipt).

The reference (edXML DocumentId) is the idempotency key: sending the same
document again (same --ref, or same number, notation and date) delivers
nothing twice; ndxp prints the first id and says so on stderr. The SDK
retries by itself while the hub is unavailable.

--number takes NUMBER/NOTATION (số/ký hiệu) and splits at the first '/'.
--update or --replace send a new version of a document sent before.
Priority: 0 normal, 1 urgent (khẩn), 2 very urgent (thượng khẩn), 3 flash (hỏa tốc).

--edxml FILE sends an edXML packet (QCVN 102:2016, docs/edxml.md) as it
is, instead of a header built from flags: the hub keeps its bytes exactly
and takes the header, the attachments and what the packet does from it
(BussinessDocType: new, update, replace, or revoke, which recalls the
document it names and prints what ndxp recall prints). The recipients
are the packet's To unless --to is given; the other header flags and
FILE arguments are refused with it. The packet's DocumentId is the
reference: sending the same packet again prints the first id. Quirks the
hub kept as written rather than refused (an invalid date, say) go to
stderr, one per line:
  ndxp: warning: line N: ELEMENT "VALUE": REASON
With -o json the receipt holds them ("warnings") and the check of the
packet's signature ("signature": state, subject, reason, trusted).`,
		Example: `  ndxp send --to 000.00.00.H41,000.00.00.H14 --subject "Về việc triển khai Trục liên thông" \
      --number 7816/VPCP-TTĐT --type "Công văn" --signer "Nguyễn Văn A" --position "Chánh Văn phòng" \
      --priority 1 --due 2025-10-15 cong-van.pdf phu-luc.xlsx
  id=$(ndxp send --to 000.00.00.G22 --subject "Báo cáo tháng 9" --response-for 01J9Z3Q8M4K2V7X5W6T1R0S9PA bao-cao.pdf)
  ndxp send --to 000.00.00.H41 --subject "Đính chính" --replace "$id" bao-cao-sua.pdf
  ndxp send --edxml 7816-VPCP-TTDT.edxml
  ndxp send --edxml 7816-VPCP-TTDT.edxml --to 000.00.00.H41 -o json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, files []string) error {
			if packet != "" {
				if err := excludeFlags(cmd, "edxml", headerFlags...); err != nil {
					return err
				}
				if len(files) > 0 {
					return usageErrorf("--edxml takes no FILE arguments: the packet carries its attachments")
				}
				return sendPacketFile(cmd.Context(), a, packet, splitCodes(f.to))
			}
			h, err := f.header(time.Now())
			if err != nil {
				return err
			}
			atts, closeAll, err := openAttachments(files)
			if err != nil {
				return err
			}
			defer closeAll()
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			bar := cli.NewProgress(a.stderr)
			resp, err := c.Send(cmd.Context(), h, atts, client.WithProgress(bar.Update))
			bar.Clear()
			if err != nil {
				return err
			}
			if resp.GetDuplicate() {
				fmt.Fprintf(a.stderr, "ndxp: already accepted as %s; nothing sent again\n", cli.Cell(resp.GetDocumentId()))
			}
			if a.json() {
				rcpts := resp.GetRecipients()
				if rcpts == nil {
					rcpts = []string{}
				}
				return cli.JSON(a.stdout, receiptView{
					DocumentID: resp.GetDocumentId(), Reference: resp.GetReference(),
					Accepted: resp.GetAcceptTime().AsTime(), Recipients: rcpts, Duplicate: resp.GetDuplicate(),
				})
			}
			if resp.GetDocumentId() == "" {
				return errors.New("the hub accepted the document but returned no id")
			}
			_, err = fmt.Fprintln(a.stdout, cli.Cell(resp.GetDocumentId()))
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.to, "to", nil, "recipient agency codes, comma-separated or repeated (required; with --edxml: instead of the packet's To)")
	fl.StringVar(&packet, "edxml", "", "send this edXML packet file as it is (no header flags, no FILE)")
	fl.StringVar(&f.subject, "subject", "", "summary (trích yếu) (required)")
	fl.StringVar(&f.number, "number", "", "number and notation (số/ký hiệu), e.g. 7816/VPCP-TTĐT")
	fl.StringVar(&f.docType, "type", "", `document type, e.g. "Công văn", "Quyết định"`)
	fl.IntVar(&f.priority, "priority", 0, "0 normal, 1 urgent, 2 very urgent, 3 flash")
	fl.StringVar(&f.due, "due", "", "handling due date YYYY-MM-DD")
	fl.StringVar(&f.ref, "ref", "", "reference (edXML DocumentId) (default: derived by the hub from sender, date, number)")
	fl.StringVar(&f.content, "content", "", "body text")
	fl.StringVar(&f.place, "place", "", "place of promulgation")
	fl.StringVar(&f.date, "date", "", "promulgation (signing) date YYYY-MM-DD (default: today)")
	fl.StringVar(&f.signer, "signer", "", "signer's full name")
	fl.StringVar(&f.position, "position", "", "signer's position (chức vụ)")
	fl.StringVar(&f.competence, "competence", "", `signing authority (thẩm quyền), e.g. "TM. Chính phủ"`)
	fl.StringVar(&f.responseFor, "response-for", "", "hub id of the document this one answers")
	fl.StringVar(&f.update, "update", "", "send as an update of this earlier document (hub id)")
	fl.StringVar(&f.replace, "replace", "", "send as a replacement of this earlier document (hub id)")
	return cmd
}
