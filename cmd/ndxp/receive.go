package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// maxConnectFailures is how many connection failures in a row `ndxp
// receive` without --follow tolerates before it gives up; a one-shot run
// (from cron, say) should fail, not wait forever for a hub that is down.
const maxConnectFailures = 5

// receiver handles the events of a subscription: it saves documents into
// a directory and prints one line per event.
type receiver struct {
	saver
	out    io.Writer // one line per event
	errw   io.Writer // notes
	asJSON bool
	// packets is set for --format edxml: each document and status is
	// saved as a packet file DIR/<name>.edxml.
	packets packetHub
	own     string // the receiving agency's code, to name a recall's packet
}

// eventLine is the JSON shape of one line of `ndxp receive -o json`.
type eventLine struct {
	Event              string     `json:"event"`
	DocumentID         string     `json:"document_id"`
	From               string     `json:"from,omitempty"`
	FromName           string     `json:"from_name,omitempty"`
	Subject            string     `json:"subject,omitempty"`
	Reference          string     `json:"reference,omitempty"`
	OriginalDocumentID string     `json:"original_document_id,omitempty"`
	Path               string     `json:"path,omitempty"`
	Recipient          string     `json:"recipient,omitempty"`
	Code               string     `json:"code,omitempty"`
	Reason             string     `json:"reason,omitempty"`
	Staff              string     `json:"staff,omitempty"`
	Time               *time.Time `json:"time,omitempty"`
}

// documentEvents name the kinds that carry a document to save.
var documentEvents = map[ndxpv1.EventKind]string{
	ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED:  "arrived",
	ndxpv1.EventKind_EVENT_KIND_DOCUMENT_UPDATED:  "updated",
	ndxpv1.EventKind_EVENT_KIND_DOCUMENT_REPLACED: "replaced",
}

// handle processes one event. It returns nil only once what the event
// carries is on disk (or printed, for statuses), since nil acknowledges it.
func (r *receiver) handle(ctx context.Context, ev *ndxpv1.Event) error {
	switch ev.GetKind() {
	case ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, ndxpv1.EventKind_EVENT_KIND_DOCUMENT_UPDATED,
		ndxpv1.EventKind_EVENT_KIND_DOCUMENT_REPLACED:
		return r.document(ctx, ev)
	case ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED:
		st := ev.GetStatus()
		id := firstNonEmpty(ev.GetDocumentId(), st.GetDocumentId())
		path := ""
		if r.packets != nil {
			var err error
			if path, err = r.statusPacket(ctx, id, st.GetRecipientCode(), st.GetCode()); err != nil {
				return err
			}
		}
		if r.asJSON {
			return r.jsonLine(eventLine{Event: "status", DocumentID: id, Recipient: st.GetRecipientCode(),
				Code: st.GetCode(), Reason: st.GetReason(), Staff: st.GetStaff(), Path: path, Time: cli.OptTime(st.GetTime())})
		}
		return r.line(id, "status", st.GetRecipientCode(), st.GetCode(), st.GetReason())
	case ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED:
		return r.recalled(ctx, ev)
	default:
		// An event kind newer than this tool: say so, and acknowledge it,
		// or it would block the queue forever.
		fmt.Fprintf(r.errw, "ndxp: event %d (%s) for document %s not understood; skipped\n",
			ev.GetSequence(), ev.GetKind(), cli.Cell(ev.GetDocumentId()))
		return nil
	}
}

func (r *receiver) document(ctx context.Context, ev *ndxpv1.Event) error {
	doc := ev.GetDocument()
	if doc == nil {
		var err error
		if doc, err = r.hub.Document(ctx, ev.GetDocumentId()); err != nil {
			return err
		}
	}
	if r.packets != nil {
		path, err := r.documentPacket(ctx, doc.GetId())
		if err != nil {
			return err
		}
		return r.documentLine(ev, doc, path)
	}
	path, err := r.save(ctx, doc, false)
	if errors.Is(err, errAlreadySaved) {
		// Saved before a crash but not acknowledged: nothing to do.
		fmt.Fprintf(r.errw, "ndxp: %s already saved in %s\n", doc.GetId(), path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("save document %s: %w", doc.GetId(), err)
	}
	return r.documentLine(ev, doc, path)
}

// documentLine prints the line of a document saved at path.
func (r *receiver) documentLine(ev *ndxpv1.Event, doc *ndxpv1.Document, path string) error {
	h := doc.GetHeader()
	if r.asJSON {
		return r.jsonLine(eventLine{Event: documentEvents[ev.GetKind()], DocumentID: doc.GetId(),
			From: doc.GetSenderCode(), FromName: doc.GetSenderName(), Subject: h.GetSubject(),
			Reference: h.GetReference(), OriginalDocumentID: h.GetOriginalDocumentId(), Path: path,
			Time: cli.OptTime(doc.GetCreateTime())})
	}
	return r.line(doc.GetId(), doc.GetSenderCode(), h.GetSubject())
}

func (r *receiver) recalled(ctx context.Context, ev *ndxpv1.Event) error {
	id := ev.GetDocumentId()
	path := ""
	if r.packets != nil {
		var err error
		if path, err = r.statusPacket(ctx, id, r.own, recallCode); err != nil {
			return err
		}
	} else if checkDocumentID(id) == nil {
		dir := filepath.Join(r.dir, id)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			data, err := marshalProto(ev)
			if err != nil {
				return err
			}
			path = filepath.Join(dir, recallFile)
			if err := writeFileAtomic(path, data); err != nil {
				return fmt.Errorf("record recall of %s: %w", id, err)
			}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if r.asJSON {
		return r.jsonLine(eventLine{Event: "recalled", DocumentID: id, Reason: ev.GetReason(), Path: path, Time: cli.OptTime(ev.GetTime())})
	}
	return r.line(id, "recalled", ev.GetReason())
}

// line prints tab-separated fields; tabs and line breaks inside a field
// become spaces so that each event stays one line, and what a terminal
// would act on is escaped (cli.Cell).
func (r *receiver) line(fields ...string) error {
	for i, f := range fields {
		fields[i] = cli.Cell(f)
	}
	_, err := fmt.Fprintln(r.out, strings.Join(fields, "\t"))
	return err
}

func (r *receiver) jsonLine(v eventLine) error { return cli.JSONLine(r.out, v) }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// recallCode is the status code of a recall (docs/domain.md).
const recallCode = "13"

// Formats of `ndxp receive --format`.
const (
	formatDir   = "dir"
	formatEdxml = "edxml"
)

func receiveCmd(a *app) *cobra.Command {
	var out, format string
	var follow, keepPacked bool
	cmd := &cobra.Command{
		Use:   "receive --out DIR [--format dir|edxml] [--follow]",
		Short: "Save incoming documents into a directory and print incoming statuses",
		Long: `Takes the agency's queued events from the hub. Each document that arrives
(or an update or replacement of one) is saved as DIR/<document id>/ with
header.json (the document as the hub holds it, proto field names) and
each attachment under its own name. An attachment is saved as
attachment-<index> instead when its name is not a plain file name (a
path, a control, bidi or invisible character, a Windows device name
such as CON or nul.txt, a trailing dot or space; on Windows also any of
< > : " | ? *), is a name ndxp writes there itself (header.json,
recall.json, or either with .tmp), or is the name of an earlier
attachment ignoring case and Unicode normalization.
The directory appears complete or not at all (it is written as
DIR/<id>.partial, synced, then renamed), and only then is the event
acknowledged; the hub records status 01 (arrived) for the sender.

A packed attachment (edXML builders often zip each file: the bytes are a
ZIP of one file while the name says .pdf; show -o json marks it
"packed") is saved unpacked under the attachment's file name: its one
entry, checked against the size and the ZIP's checksum. --keep-packed
saves the ZIP as it came instead (the bytes a signature may cover;
ndxp fetch --edxml gives the whole packet as sent).

--format edxml saves each document as one edXML packet file instead
(docs/edxml.md): DIR/<id>.edxml, the bytes it arrived as for a packet,
else a packet the hub renders. A status a recipient reports (to the
sender) is saved as DIR/<id>.<recipient code>.<status code>.edxml, a
recall (to a recipient) as DIR/<id>.<own code>.13.edxml. Each file
appears complete or not at all, and one already there (saved before a
crash) is kept.

One line per event goes to stdout:
  <id> TAB <sender code> TAB <subject>                   a document
  <id> TAB status TAB <recipient> TAB <code> TAB <reason>  a recipient's status (to senders)
  <id> TAB recalled TAB <reason>                           a recall (DIR/<id>/recall.json is written)
With -o json each line is a JSON object instead, with "path": the
directory or packet file written.

Without --follow it takes what is queued and exits 0. With --follow it
keeps waiting for new events, across hub restarts, until interrupted
(SIGINT or SIGTERM), then exits 0. While the agency is suspended it keeps
trying (backing off to one attempt in 30 s) and goes on once an operator
resumes it; a revoked credential stops it with exit 1. It says each change
(connected, connection lost, suspended) on stderr once, not per attempt.
Running it again after a crash is safe.`,
		Example: `  ndxp receive --out ./inbox
  ndxp receive --out /var/lib/ndxp/inbox --follow -o json | my-document-system-import
  ndxp receive --out /var/lib/ndxp/edxml --format edxml --follow`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErrorf("--out is required: the directory to save documents in")
			}
			switch format {
			case formatDir:
			case formatEdxml:
				if keepPacked {
					return usageErrorf("--keep-packed is for --format dir: a packet holds its attachments as they came")
				}
			default:
				return usageErrorf("--format %q: want dir or edxml", format)
			}
			if err := mkdirAll(out); err != nil {
				return err
			}
			parent := cmd.Context()
			c, err := a.client(parent)
			if err != nil {
				return err
			}
			r := &receiver{saver: saver{dir: out, hub: c, bar: cli.NewProgress(a.stderr), keepPacked: keepPacked},
				out: a.stdout, errw: a.stderr, asJSON: a.json()}
			if format == formatEdxml {
				r.packets, r.own = c, c.Code()
			}
			return a.receive(parent, c, r, follow)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to save documents in (required; made if missing)")
	cmd.Flags().StringVar(&format, "format", formatDir, "dir: a directory per document; edxml: a packet file per document and status")
	cmd.Flags().BoolVar(&keepPacked, "keep-packed", false, "save packed (zipped) attachments as they came, not unpacked")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep running and receive new events until interrupted")
	return cmd
}

// connState is what receive reports of its connection, one line per
// change (not per attempt): connected, lost (reconnecting) or suspended
// (waiting for an operator).
type connState int

const (
	stateNone connState = iota
	stateConnected
	stateLost
	stateSuspended
)

// receive runs the subscription. Without follow, a handler failure, a hub
// that stays unreachable or a suspension ends it with that error; with
// follow, the first two are reported on stderr and the events come again
// later, and a suspension is waited out. A revoked credential ends both.
func (a *app) receive(parent context.Context, c *client.Client, r *receiver, follow bool) error {
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	failures := 0
	state := stateNone
	report := func(s connState, err error) {
		if s == state {
			return
		}
		state = s
		switch s {
		case stateConnected:
			if follow {
				fmt.Fprintln(a.stderr, "ndxp: connected")
			}
		case stateLost:
			fmt.Fprintf(a.stderr, "ndxp: connection lost: %s, reconnecting\n", cli.ErrorLine(err))
		case stateSuspended:
			fmt.Fprintf(a.stderr, "ndxp: refused: %s; waiting until an operator resumes the agency\n", cli.ErrorLine(err))
		}
	}
	onConn := func(connected bool, err error) {
		if connected {
			failures = 0
			report(stateConnected, nil)
			return
		}
		switch status.Code(err) {
		case codes.Unauthenticated:
			return // Subscribe ends; receive says why
		case codes.PermissionDenied:
			if follow {
				report(stateSuspended, err)
			}
			return // without follow, Subscribe ends with it
		}
		failures++
		if !follow && failures >= maxConnectFailures {
			stop(err)
			return
		}
		report(stateLost, err)
	}
	handler := func(hctx context.Context, ev *ndxpv1.Event) error {
		err := r.handle(hctx, ev)
		if err == nil || hctx.Err() != nil {
			return err
		}
		if !follow {
			stop(err)
			return err
		}
		fmt.Fprintf(a.stderr, "ndxp: %s; left queued, the hub will deliver it again\n", cli.ErrorLine(err))
		return err
	}
	opts := []client.SubscribeOption{client.OnConnection(onConn)}
	if follow {
		opts = append(opts, client.WaitSuspended(0))
	} else {
		opts = append(opts, client.UntilCaughtUp())
	}
	err := c.Subscribe(ctx, handler, opts...)
	if parent.Err() != nil {
		if follow {
			return nil // interrupted: the normal way to stop following
		}
		return errors.New("interrupted")
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		return cause
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unauthenticated {
		return fmt.Errorf("stopped: the hub no longer accepts this credential (%s); ask the hub's operator for a new one",
			strings.TrimSuffix(st.Message(), "."))
	}
	return err
}
