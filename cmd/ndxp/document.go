package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// reportable are the status codes a recipient reports itself (docs/domain.md):
// 01 is recorded when it acknowledges arrival, 13 by the sender's recall.
var reportable = map[string]string{
	"02": "refused", "03": "accepted", "04": "assigned", "05": "being processed", "06": "completed",
	"15": "recall accepted", "16": "recall refused",
}

// checkStatus validates a status report locally, for a clear usage error
// before any connection; the hub checks the order of statuses.
func checkStatus(code, reason string) error {
	switch code {
	case "":
		return usageErrorf("--code is required: 02-06, 15 or 16")
	case "01":
		return usageErrorf("--code 01: arrival is recorded when ndxp receive saves the document")
	case "13":
		return usageErrorf("--code 13: the sender recalls with ndxp recall")
	}
	if _, ok := reportable[code]; !ok {
		return usageErrorf("--code %q: want 02 (refused), 03 (accepted), 04 (assigned), 05 (processing), 06 (completed), 15 or 16 (answer a recall)", code)
	}
	if (code == "02" || code == "16") && strings.TrimSpace(reason) == "" {
		return usageErrorf("--code %s needs --reason", code)
	}
	return nil
}

func statusCmd(a *app) *cobra.Command {
	var code, reason, staff, packet string
	cmd := &cobra.Command{
		Use:   "status (DOCID --code CODE [--reason TEXT] [--staff NAME] | --edxml FILE)",
		Short: "Report this agency's processing status of a received document",
		Long: `Records this agency's processing status of a document it received, and the
hub pushes it to the sender. Codes (docs/domain.md):
  02 refused (needs --reason)   03 accepted/registered   04 assigned
  05 being processed            06 completed
  15 recall accepted            16 recall refused (needs --reason)
The hub refuses a status out of order (e.g. 04 before 03, anything after
06) and names the current one. Prints the status as recorded:
<id> TAB <recipient> TAB <code> TAB <reason> TAB <time>.

--edxml FILE sends an edXML status packet (docs/edxml.md) as it is
instead: its ResponseFor names the document (by its sender and edXML
DocumentId), its StatusCode and Description the status. ndxp reads the
file first and refuses a document packet or a broken one (naming the
line and element). The output is the same; for code 13, which the
document's sender sends to recall it, it is that of ndxp recall. Quirks
the hub kept as written are printed on stderr:
  ndxp: warning: line N: ELEMENT "VALUE": REASON`,
		Example: `  ndxp status 01J9Z3Q8M4K2V7X5W6T1R0S9PA --code 03
  ndxp status 01J9Z3Q8M4K2V7X5W6T1R0S9PA --code 02 --reason "Sai thẩm quyền"
  ndxp status 01J9Z3Q8M4K2V7X5W6T1R0S9PA --code 06 --staff "Trần Thị B"
  ndxp status --edxml tiep-nhan.edxml`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if packet != "" {
				if err := excludeFlags(cmd, "edxml", "code", "reason", "staff"); err != nil {
					return err
				}
				if len(args) > 0 {
					return usageErrorf("--edxml takes no DOCID: the packet's ResponseFor names the document")
				}
				return sendStatusPacket(cmd.Context(), a, packet)
			}
			if len(args) != 1 {
				return usageErrorf("accepts 1 arg(s), received %d", len(args))
			}
			if err := checkStatus(code, reason); err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			// The SDK's Report has no staff parameter; call the API directly.
			resp, err := c.Exchange.ReportStatus(cmd.Context(), &ndxpv1.ReportStatusRequest{
				DocumentId: args[0], Code: code, Reason: reason, Staff: staff})
			if err != nil {
				return err
			}
			return printStatus(a, resp.GetStatus())
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "status code: 02-06, 15 or 16 (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "reason (required with 02 and 16)")
	cmd.Flags().StringVar(&staff, "staff", "", "who handled it (edXML StaffInfo)")
	cmd.Flags().StringVar(&packet, "edxml", "", "send this edXML status packet file instead (no DOCID, --code, --reason, --staff)")
	return cmd
}

// printStatus prints a status report as recorded:
// <id> TAB <recipient> TAB <code> TAB <reason> TAB <time>.
func printStatus(a *app, st *ndxpv1.StatusReport) error {
	if a.json() {
		return cli.ProtoJSON(a.stdout, st)
	}
	_, err := fmt.Fprintln(a.stdout, strings.Join([]string{cli.Cell(st.GetDocumentId()), cli.Cell(st.GetRecipientCode()),
		cli.Cell(st.GetCode()), cli.Cell(st.GetReason()), cli.Timestamp(st.GetTime())}, "\t"))
	return err
}

func recallCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "recall DOCID --reason TEXT",
		Short: "Recall a document this agency sent (status 13)",
		Long: `Recalls a document this agency sent. The hub withdraws it from recipients
that have not received it yet, and asks those that have to answer with
status 15 (recall accepted) or 16 (refused); their answers arrive through
ndxp receive and show in ndxp trace.`,
		Example: `  ndxp recall 01J9Z3Q8M4K2V7X5W6T1R0S9PA --reason "Ban hành nhầm, sẽ gửi văn bản thay thế"`,
		Args:    usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageErrorf("--reason is required: why the document is recalled")
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := c.Recall(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return printRecall(a, args[0], resp)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the document is recalled (required)")
	return cmd
}

// printRecall prints what a recall of document id did.
func printRecall(a *app, id string, resp *ndxpv1.RecallDocumentResponse) error {
	if a.json() {
		return cli.JSON(a.stdout, map[string]any{
			"document_id": id, "withdrawn": nonNil(resp.GetWithdrawn()), "asked": nonNil(resp.GetAsked()),
		})
	}
	return cli.Fields(a.stdout, [][2]string{
		{"Document", id},
		{"Withdrawn", cli.OrDash(strings.Join(resp.GetWithdrawn(), ", "))},
		{"Asked to answer", cli.OrDash(strings.Join(resp.GetAsked(), ", "))},
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func traceCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "trace DOCID",
		Short: "Show every hand-over and status of a document",
		Long: `Shows a document and, for each recipient this agency may see (all of them
for the sender, its own line for a recipient), its status, recall state
and every step in order: queued, delivered, each status with its reason.
A document that arrived as an edXML packet shows it and its signature
check, as ndxp show does (json: document.packet).
-o json prints the hub's GetTraceResponse (proto field names, in the
CLIs' JSON style: see the README).`,
		Example: `  ndxp trace 01J9Z3Q8M4K2V7X5W6T1R0S9PA
  ndxp trace 01J9Z3Q8M4K2V7X5W6T1R0S9PA -o json | jq '.recipients[] | {recipient_code, status}'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			tr, err := c.Trace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return cli.ProtoJSON(a.stdout, tr)
			}
			return cli.PrintTrace(a.stdout, tr)
		},
	}
}

func showCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show DOCID",
		Short: "Show a document's header and attachments",
		Long: `Shows a document's header (sender, recipients, number, subject, signer,
dates, priority, what it answers or updates) and its attachments.
A document that arrived as an edXML packet shows it (size, SHA-256) and
what the hub's check of the packet's signature found: absent, valid,
invalid or unverifiable with the reason, the signer's certificate
subject, and whether it chains to the hub's edXML trust store (json:
packet.signature).
-o json prints the document with the proto field names, in the CLIs' JSON
style (header.json, which receive and fetch write, is the proto3 JSON
mapping instead, for protobuf libraries).`,
		Example: `  ndxp show 01J9Z3Q8M4K2V7X5W6T1R0S9PA
  ndxp show 01J9Z3Q8M4K2V7X5W6T1R0S9PA -o json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.Document(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return cli.ProtoJSON(a.stdout, d)
			}
			return printDocument(a, d)
		},
	}
}

func printDocument(a *app, d *ndxpv1.Document) error {
	h := d.GetHeader()
	signer := strings.Join(nonEmpty(h.GetSigner().GetCompetence(), h.GetSigner().GetPosition(), h.GetSigner().GetFullName()), ", ")
	promulgated := strings.Join(nonEmpty(h.GetPromulgationPlace(), h.GetPromulgationDate()), ", ")
	kv := [][2]string{
		{"Document", d.GetId()},
		{"Reference", cli.OrDash(h.GetReference())},
		{"From", strings.TrimSpace(d.GetSenderCode() + " " + d.GetSenderName())},
		{"To", cli.OrDash(strings.Join(h.GetRecipients(), ", "))},
		{"Number", numberText(h)},
		{"Type", cli.OrDash(h.GetDocumentType())},
		{"Subject", cli.OneLine(h.GetSubject())},
		{"Promulgated", cli.OrDash(promulgated)},
		{"Signer", cli.OrDash(signer)},
		{"Priority", priorityText(h.GetPriority())},
		{"Due", cli.OrDash(h.GetDueDate())},
		{"Business type", businessText(h.GetBusinessType())},
	}
	if h.GetOriginalDocumentId() != "" {
		kv = append(kv, [2]string{"Original", h.GetOriginalDocumentId()})
	}
	if h.GetResponseFor() != "" {
		kv = append(kv, [2]string{"In response to", h.GetResponseFor()})
	}
	kv = append(kv, [2]string{"Created", cli.Timestamp(d.GetCreateTime())}, [2]string{"Recalled", cli.YesNo(d.GetRecalled())})
	kv = append(kv, cli.PacketFields(d.GetPacket())...)
	if err := cli.Fields(a.stdout, kv); err != nil {
		return err
	}
	if c := h.GetContent(); c != "" {
		// Several lines, as written; nothing a terminal would act on.
		fmt.Fprintf(a.stdout, "\n%s\n", cli.Safe(c))
	}
	atts := h.GetAttachments()
	if len(atts) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	rows := make([][]string, len(atts))
	for i, at := range atts {
		sum := fmt.Sprintf("%x", at.GetSha256())
		if len(sum) > 16 {
			sum = sum[:16] + "…"
		}
		rows[i] = []string{strconv.Itoa(i), at.GetName(), cli.OrDash(at.GetMediaType()), cli.FormatBytes(at.GetSize()), cli.OrDash(sum)}
	}
	return cli.Table(a.stdout, []string{"#", "NAME", "TYPE", "SIZE", "SHA-256"}, rows)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// fetchView is the JSON shape of `ndxp fetch -o json`.
type fetchView struct {
	DocumentID string      `json:"document_id"`
	Path       string      `json:"path"`
	Files      []fetchFile `json:"files"`
}

// fetchFile is one attachment saved; Size is that of the file written,
// the unpacked one when Unpacked.
type fetchFile struct {
	Index    int    `json:"index"`
	Name     string `json:"name"`
	File     string `json:"file"`
	Size     int64  `json:"size"`
	Unpacked bool   `json:"unpacked"`
}

func fetchCmd(a *app) *cobra.Command {
	var out, packet string
	var force, keepPacked bool
	cmd := &cobra.Command{
		Use:   "fetch DOCID (--out DIR | --edxml FILE) [--force]",
		Short: "Download a document and its attachments without acknowledging anything",
		Long: `Downloads a document into DIR/<document id>/ (header.json and the
attachments, laid out as ndxp receive does, packed attachments unpacked
unless --keep-packed: see ndxp receive --help) and prints that path. It
acknowledges nothing and records no status: use it to look at a document
again, or for a sender to look at its own. The digest of every attachment
is checked. An existing DIR/<document id> is kept unless --force.

--edxml FILE writes the document as one edXML packet (docs/edxml.md)
instead: the bytes it arrived as, byte for byte, for a document sent as
a packet, else a packet the hub renders from it. FILE appears complete
or not at all; an existing FILE is kept unless --force. -o json prints
{"document_id", "path", "bytes", "original"}, original saying which.`,
		Example: `  ndxp fetch 01J9Z3Q8M4K2V7X5W6T1R0S9PA --out ./copies
  ndxp fetch 01J9Z3Q8M4K2V7X5W6T1R0S9PA --out ./inbox --force
  ndxp fetch 01J9Z3Q8M4K2V7X5W6T1R0S9PA --edxml ./cong-van.edxml`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkDocumentID(args[0]); err != nil {
				return &cli.UsageError{Err: err}
			}
			if packet != "" {
				if err := excludeFlags(cmd, "edxml", "out", "keep-packed"); err != nil {
					return err
				}
				return fetchPacketFile(cmd.Context(), a, args[0], packet, force)
			}
			if out == "" {
				return usageErrorf("--out is required: the directory to save the document in (or --edxml FILE)")
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.Document(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := mkdirAll(out); err != nil {
				return err
			}
			s := &saver{dir: out, hub: c, bar: cli.NewProgress(a.stderr), keepPacked: keepPacked}
			path, err := s.save(cmd.Context(), d, force)
			if errors.Is(err, errAlreadySaved) {
				return fmt.Errorf("%s exists; pass --force to download it again", path)
			}
			if err != nil {
				return err
			}
			if a.json() {
				v := fetchView{DocumentID: d.GetId(), Path: path, Files: []fetchFile{}}
				atts := d.GetHeader().GetAttachments()
				for i, name := range attachmentFileNames(atts) {
					f := fetchFile{Index: i, Name: atts[i].GetName(), File: name, Size: atts[i].GetSize()}
					if p := atts[i].GetPacked(); p != nil && !keepPacked {
						f.Size, f.Unpacked = p.GetSize(), true
					}
					v.Files = append(v.Files, f)
				}
				return cli.JSON(a.stdout, v)
			}
			_, err = fmt.Fprintln(a.stdout, cli.Safe(path))
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to save the document in (required unless --edxml; made if missing)")
	cmd.Flags().StringVar(&packet, "edxml", "", "write the document as an edXML packet to this file instead")
	cmd.Flags().BoolVar(&force, "force", false, "replace DIR/<document id> (or the --edxml FILE) if it exists")
	cmd.Flags().BoolVar(&keepPacked, "keep-packed", false, "save packed (zipped) attachments as they came, not unpacked")
	return cmd
}
