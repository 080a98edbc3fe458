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

	"github.com/spf13/cobra"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/edxml"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// edXML packets (docs/edxml.md) through the CLI: send and status take a
// packet file as it is (--edxml), fetch and receive write packets.

// packetExt is the extension of the packet files ndxp writes.
const packetExt = ".edxml"

// excludeFlags refuses, as a usage error, any of names set together with
// flag: the native header flags have no meaning beside a packet, which
// carries its own header.
func excludeFlags(cmd *cobra.Command, flag string, names ...string) error {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return usageErrorf("--%s excludes --%s: the packet carries its own header", flag, n)
		}
	}
	return nil
}

// openPacket opens a packet file for SendPacket; *os.File is an
// io.Seeker, so the SDK can read it again from the start on a retry.
func openPacket(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}

// warningView is the JSON shape of a packet warning.
type warningView struct {
	Line    int32  `json:"line"`
	Element string `json:"element"`
	Value   string `json:"value"`
	Reason  string `json:"reason"`
}

func viewWarnings(ws []*ndxpv1.PacketWarning) []warningView {
	out := make([]warningView, 0, len(ws))
	for _, w := range ws {
		out = append(out, warningView{Line: w.GetLine(), Element: w.GetElement(), Value: w.GetValue(), Reason: w.GetReason()})
	}
	return out
}

// warningText is one warning as a line: `line 12: PromulgationInfo/PromulgationDate "2014/02/30": not a date`,
// the shape of an *edxml.Error.
func warningText(w warningView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d", w.Line)
	if w.Element != "" {
		b.WriteString(": " + w.Element)
	}
	if w.Value != "" {
		fmt.Fprintf(&b, " %q", w.Value)
	}
	b.WriteString(": " + w.Reason)
	return cli.Cell(b.String())
}

// signatureView is the JSON shape of a packet's signature check.
type signatureView struct {
	State   string `json:"state"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
	Trusted bool   `json:"trusted"`
}

func viewSignature(s *ndxpv1.SignatureCheck) signatureView {
	return signatureView{State: cli.SignatureState(s.GetState()), Subject: s.GetSubject(), Reason: s.GetReason(), Trusted: s.GetTrusted()}
}

// packetReceiptView is the JSON shape of `ndxp send --edxml -o json` for
// a document packet: the receipt of `ndxp send`, with what the hub found
// in the packet.
type packetReceiptView struct {
	receiptView
	Warnings  []warningView `json:"warnings"`
	Signature signatureView `json:"signature"`
}

// printPacketResult prints what a packet did as the native command would
// have: a document's receipt as `ndxp send`, a report as `ndxp status`, a
// recall (a revoke packet, a status packet 13) as `ndxp recall`. Warnings
// go to stderr, except in the JSON receipt, which holds them.
func printPacketResult(a *app, resp *ndxpv1.SendPacketResponse) error {
	warnings := viewWarnings(resp.GetWarnings())
	doc := resp.GetDocument()
	if doc == nil || !a.json() {
		for _, w := range warnings {
			fmt.Fprintf(a.stderr, "ndxp: warning: %s\n", warningText(w))
		}
	}
	switch {
	case doc != nil:
		if doc.GetDuplicate() {
			fmt.Fprintf(a.stderr, "ndxp: already accepted as %s; nothing sent again\n", cli.Cell(doc.GetDocumentId()))
		}
		if a.json() {
			return cli.JSON(a.stdout, packetReceiptView{
				receiptView: receiptView{DocumentID: doc.GetDocumentId(), Reference: doc.GetReference(),
					Accepted: doc.GetAcceptTime().AsTime(), Recipients: nonNil(doc.GetRecipients()), Duplicate: doc.GetDuplicate()},
				Warnings: warnings, Signature: viewSignature(resp.GetSignature()),
			})
		}
		if doc.GetDocumentId() == "" {
			return errors.New("the hub accepted the packet but returned no id")
		}
		_, err := fmt.Fprintln(a.stdout, cli.Cell(doc.GetDocumentId()))
		return err
	case resp.GetStatus() != nil:
		return printStatus(a, resp.GetStatus())
	case resp.GetRecall() != nil:
		return printRecall(a, resp.GetDocumentId(), resp.GetRecall())
	}
	return fmt.Errorf("the hub took the packet for document %s but said nothing of what it did", cli.Cell(resp.GetDocumentId()))
}

// sendPacketFile sends the packet at path and prints the result.
func sendPacketFile(ctx context.Context, a *app, path string, recipients []string) error {
	f, err := openPacket(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	resp, err := c.SendPacket(ctx, f, recipients)
	if err != nil {
		return err
	}
	return printPacketResult(a, resp)
}

// sendStatusPacket sends a status packet file. It reads the packet first
// (a status packet is small): a document packet given by mistake would be
// sent as a document, and a broken one is named here, line and element,
// before any connection.
func sendStatusPacket(ctx context.Context, a *app, path string) error {
	f, err := openPacket(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pk, err := edxml.Read(f, nil, edxml.ReadOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !pk.IsStatus() {
		return fmt.Errorf("%s is a document packet, not a status packet (no StatusCode); send it with ndxp send --edxml", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	resp, err := c.SendPacket(ctx, f, nil)
	if err != nil {
		return err
	}
	return printPacketResult(a, resp)
}

// fetchPacketView is the JSON shape of `ndxp fetch --edxml -o json`.
type fetchPacketView struct {
	DocumentID string `json:"document_id"`
	Path       string `json:"path"`
	Bytes      int64  `json:"bytes"`
	Original   bool   `json:"original"`
}

// fetchPacketFile writes document id's packet to path.
func fetchPacketFile(ctx context.Context, a *app, id, path string, force bool) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	var original bool
	var n int64
	err = writeStreamAtomic(path, force, func(w io.Writer) error {
		var err error
		original, n, err = c.FetchPacket(ctx, id, w)
		return err
	})
	if errors.Is(err, errAlreadySaved) {
		return fmt.Errorf("%s exists; pass --force to replace it", path)
	}
	if err != nil {
		return err
	}
	if a.json() {
		return cli.JSON(a.stdout, fetchPacketView{DocumentID: id, Path: path, Bytes: n, Original: original})
	}
	_, err = fmt.Fprintln(a.stdout, cli.Safe(path))
	return err
}

// writeStreamAtomic writes path from fn: a temporary file in the same
// directory under a random name created exclusively, synced, then moved
// to path and the directory synced, so path appears complete or not at
// all. Unless replace is set an existing path is kept and the error is
// errAlreadySaved; the temporary file is then hard-linked, which fails
// rather than replace a file that appeared meanwhile (a file system
// without hard links gets a rename after a check).
func writeStreamAtomic(path string, replace bool, fn func(io.Writer) error) error {
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return errAlreadySaved
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = f.Chmod(fileMode)
	if err == nil {
		err = fn(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return errAlreadySaved
	} else if err != nil {
		if _, serr := os.Lstat(path); serr == nil {
			return errAlreadySaved
		}
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// packetHub is what receive --format edxml needs from the hub besides
// docHub. *client.Client has these methods.
type packetHub interface {
	FetchPacket(ctx context.Context, documentID string, w io.Writer) (original bool, n int64, err error)
	FetchStatusPacket(ctx context.Context, documentID, recipient, code string, w io.Writer) (int64, error)
}

// savePacket writes a packet file DIR/<name>.edxml with fetch, once: an
// existing file was saved before a crash that kept the event from being
// acknowledged, and is kept. name must be usable as a file name.
func (r *receiver) savePacket(name string, fetch func(io.Writer) error) (string, error) {
	if err := checkDocumentID(name); err != nil {
		return "", err
	}
	path := filepath.Join(r.dir, name+packetExt)
	err := writeStreamAtomic(path, false, fetch)
	if errors.Is(err, errAlreadySaved) {
		fmt.Fprintf(r.errw, "ndxp: %s already saved\n", cli.Safe(path))
		return path, nil
	}
	return path, err
}

// documentPacket saves a document as DIR/<id>.edxml.
func (r *receiver) documentPacket(ctx context.Context, id string) (string, error) {
	path, err := r.savePacket(id, func(w io.Writer) error {
		_, _, err := r.packets.FetchPacket(ctx, id, w)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("save packet of document %s: %w", id, err)
	}
	return path, nil
}

// statusPacket saves recipient's report code on document id as
// DIR/<id>.<recipient>.<code>.edxml.
func (r *receiver) statusPacket(ctx context.Context, id, recipient, code string) (string, error) {
	path, err := r.savePacket(id+"."+recipient+"."+code, func(w io.Writer) error {
		_, err := r.packets.FetchStatusPacket(ctx, id, recipient, code, w)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("save status packet %s of %s on document %s: %w", code, recipient, id, err)
	}
	return path, nil
}
