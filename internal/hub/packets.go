package hub

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/store"
)

// PacketOptions are a packet upload's options.
type PacketOptions struct {
	// Recipients, when given, replace the packet's To codes.
	Recipients []string
	// Fallback recipients are used only when the packet names none (the
	// VXP API's "to" header, which its SDK may carry over from an earlier
	// call, so it never overrides the packet's own To).
	Fallback []string
	// Expect, when set, refuses a packet of the other kind before it acts.
	Expect PacketKind
}

// PacketKind is a document packet or a status packet.
type PacketKind int

// Packet kinds for PacketOptions.Expect.
const (
	ExpectAny PacketKind = iota
	ExpectDocument
	ExpectStatus
)

// ReaderSource is a ChunkSource over a reader, for packets that come as a
// byte stream (a file, an HTTP body).
func ReaderSource(r io.Reader) ChunkSource { return readerSource{r} }

type readerSource struct{ r io.Reader }

func (s readerSource) Next() (Chunk, error) {
	b := make([]byte, 256<<10) // each chunk belongs to the hub (ChunkSource)
	n, err := io.ReadFull(s.r, b)
	if n > 0 {
		return Chunk{Data: b[:n]}, nil
	}
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return Chunk{}, err
}

// PacketResult is what a packet did: exactly one of Receipt, Status and
// Recall is set.
type PacketResult struct {
	Receipt   *Receipt
	Status    *StatusReport
	Recall    *RecallResult
	DocID     string // the document made or acted on
	Signature SignatureCheck
	Warnings  []edxml.Warning
}

// RecallResult is what a recall did.
type RecallResult struct {
	Withdrawn, Asked []string
}

// SendPacket takes an edXML packet from an agency (docs/edxml.md): it reads
// the packet as it streams in, keeping its bytes in a body file and its
// attachments' decoded bytes in theirs, then acts on it as the native
// calls do. A document packet is a Send (an update or replace links the
// original it names; a revoke is a Recall); a status packet is a
// ReportStatus, or with code 13 from the document's sender a Recall.
// Nothing is stored unless the whole packet is well formed.
func (h *Hub) SendPacket(ctx context.Context, p Principal, src ChunkSource, opt PacketOptions) (PacketResult, error) {
	if err := requireAgency(p, "sending"); err != nil {
		return PacketResult{}, err
	}
	if err := h.requireExchanging(p, "send packets"); err != nil {
		return PacketResult{}, err
	}
	if err := h.draining(); err != nil {
		return PacketResult{}, err
	}
	src, stop := h.watchIdle(ctx, src)
	defer stop()
	in, err := h.readPacket(ctx, src)
	if err != nil {
		return PacketResult{}, err
	}
	defer in.abort()
	res := PacketResult{Warnings: in.pk.Warnings}
	switch {
	case opt.Expect == ExpectDocument && in.pk.IsStatus():
		return res, invalid("messagetype", "the packet is a status packet (it has a StatusCode); send it as a status")
	case opt.Expect == ExpectStatus && !in.pk.IsStatus():
		return res, invalid("messagetype", "the packet is a document, not a status packet (it has no StatusCode)")
	}
	if err := h.checkFrom(ctx, p, "From/OrganId", in.pk.Header.From.OrganID); err != nil {
		return res, err
	}
	if in.pk.IsStatus() {
		err = h.statusPacket(ctx, p, in.pk, &res)
		return res, err
	}
	if err := checkBusiness(in.pk); err != nil {
		return res, err
	}
	hdr := headerFromPacket(in.pk)
	if hdr.Business != BusinessRevoke {
		// A retry (the SDK's, a CLI's) is answered from the first send,
		// without checking its signature again: a DOM of up to 64 MiB.
		if dup, ok, err := h.packetReceipt(ctx, p.Name, hdr.Reference); err != nil || ok {
			res.Signature = dup.signature
			if ok {
				res.Receipt, res.DocID = &dup.receipt, dup.receipt.ID
			}
			return res, err
		}
	}
	res.Signature = h.checkSignature(in.body.sum, in.size)
	if h.cfg.PacketRequireValidSignature && res.Signature.State != SignatureValid {
		return res, invalid("Signature", "the hub accepts only packets with a valid signature; this one is %s: %s", res.Signature.State, res.Signature.Reason)
	}
	switch hdr.Business {
	case BusinessRevoke:
		err = h.revokePacket(ctx, p, in.pk, hdr, &res)
		return res, err
	case BusinessUpdate, BusinessReplace:
		if hdr.Original, err = h.packetOriginal(ctx, p, in.pk, hdr.Business); err != nil {
			return res, err
		}
	}
	given := opt.Recipients
	if len(given) == 0 && len(in.pk.Header.To) == 0 {
		given = opt.Fallback
	}
	if hdr.Recipients, err = h.packetRecipients(ctx, in.pk, given); err != nil {
		return res, err
	}
	for i := range hdr.Attachments {
		hdr.Attachments[i].Packed = in.packed[i]
	}
	s := &sending{h: h, sender: p.Name, hdr: hdr, now: h.now(),
		packet: &PacketInfo{Size: in.size, SHA256: in.sha, Signature: res.Signature}}
	in.handed = true // s.finish releases the bodies from here on
	r, err := s.sendReceived(ctx, p, append(in.atts, in.body))
	if err != nil {
		return res, packetErr(err)
	}
	res.Receipt, res.DocID = &r, r.ID
	return res, nil
}

// firstSend is the receipt of an accepted packet and its signature check.
type firstSend struct {
	receipt   Receipt
	signature SignatureCheck
}

// packetReceipt finds the first send of a packet with this sender and
// DocumentId, if there was one.
func (h *Hub) packetReceipt(ctx context.Context, sender, reference string) (first firstSend, found bool, err error) {
	if reference == "" {
		return first, false, nil
	}
	err = h.st.View(ctx, func(tx store.Tx) error {
		id, err := tx.Get(store.BucketRefs, pairKey(sender, reference))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var d Document
		if err := getRecord(tx, store.BucketDocuments, id, &d); err != nil {
			return err
		}
		first.receipt, found = receiptOf(d, true), true
		if d.Packet != nil {
			first.signature = d.Packet.Signature
		}
		return nil
	})
	return first, found, err
}

// checkBusiness refuses a business type the hub cannot act on.
func checkBusiness(pk *edxml.Packet) error {
	if pk.Trace == nil || pk.Trace.Business == nil {
		return nil
	}
	switch v := strings.TrimSpace(pk.Trace.Business.DocType); v {
	case "", edxml.BusinessNew, edxml.BusinessRevoke, edxml.BusinessUpdate, edxml.BusinessReplace:
		return nil
	default:
		return invalid("TraceHeaderList/Bussiness/BussinessDocType", "%q is not 0 (new), 1 (revoke), 2 (update) or 3 (replace)", pk.Trace.Business.DocType)
	}
}

// packetIn is a packet read into body files, not yet stored.
type packetIn struct {
	h      *Hub
	pk     *edxml.Packet
	file   *store.FileWriter // the packet's bytes
	atts   []received        // the attachments' bodies, in payload order
	packed []*PackedFile
	sink   *packetSink
	body   received // the packet's own body file, placed
	size   int64
	sha    []byte
	handed bool // the bodies belong to a sending
	done   bool
}

// readPacket reads a whole packet from src into body files.
func (h *Hub) readPacket(ctx context.Context, src ChunkSource) (*packetIn, error) {
	fw, err := h.bodies.create()
	if err != nil {
		return nil, h.storeErr(err)
	}
	in := &packetIn{h: h, file: fw, sink: &packetSink{ctx: ctx, h: h}}
	r := &chunkReader{ctx: ctx, h: h, src: src, tee: fw, max: h.maxPacketSize()}
	pk, err := edxml.Read(r, in.sink, edxml.ReadOptions{MaxHeaderBytes: h.cfg.Limits.HeaderBytes})
	if err != nil {
		in.abort()
		var pe *edxml.Error
		if errors.As(err, &pe) {
			return nil, invalid("packet", "%s", pe.Error())
		}
		if r.err != nil { // the transport's or a limit's, not the packet's
			return nil, r.err
		}
		return nil, err
	}
	in.pk = pk
	in.atts = in.sink.out
	if len(in.atts) != len(pk.Attachments) {
		in.abort()
		return nil, fmt.Errorf("packet: %d attachments read, %d bodies kept", len(pk.Attachments), len(in.atts))
	}
	in.size = fw.Size()
	if in.sha, err = fw.Sum(); err != nil {
		in.abort()
		return nil, h.storeErr(err)
	}
	sum, err := h.bodies.commit(ctx, fw)
	if err != nil {
		in.abort()
		return nil, h.storeErr(err)
	}
	in.body = received{sum: sum, file: true}
	in.packed = make([]*PackedFile, len(in.atts))
	for i, a := range pk.Attachments {
		in.packed[i] = in.sink.packed(i, a)
	}
	return in, nil
}

// abort removes what a packet that was not stored wrote.
func (in *packetIn) abort() {
	if in.done {
		return
	}
	in.done = true
	in.sink.abort()
	if in.handed {
		return
	}
	if in.body.file {
		in.h.bodies.release(in.body.sum)
	} else {
		in.file.Abort()
	}
	in.h.bodies.release(in.sink.placed...)
}

// maxPacketSize bounds a packet: its attachments in base64 with room for
// the header.
func (h *Hub) maxPacketSize() int64 {
	return h.cfg.MaxAttachmentSize/3*4*2 + 64<<20
}

// chunkReader reads an upload's chunks as one byte stream, handing each
// chunk to tee (the packet's body file) as it goes.
type chunkReader struct {
	ctx context.Context
	h   *Hub
	src ChunkSource
	tee *store.FileWriter
	max int64
	n   int64
	buf []byte
	eof bool
	err error // the source's error, not the packet's
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return 0, err
		}
		c, err := r.src.Next()
		if err == io.EOF {
			r.eof = true
			continue
		}
		if err != nil {
			r.err = err
			return 0, err
		}
		if r.n += int64(len(c.Data)); r.n > r.max {
			r.err = invalid("packet", "more than %d bytes, the limit for a packet", r.max)
			return 0, r.err
		}
		// The chunk belongs to the hub (ChunkSource); the file writer only
		// reads it, as this reader does.
		if err := r.tee.Give(c.Data); err != nil {
			r.err = r.h.storeErr(err)
			return 0, r.err
		}
		r.buf = c.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// packetSink receives a packet's attachments: small ones in memory, the
// others in body files, as an upload keeps them (upload.go).
type packetSink struct {
	ctx    context.Context // the send's, for copying bodies to a cluster's nodes
	h      *Hub
	out    []received
	placed []string
	cur    *spill
	held   int64
}

func (s *packetSink) Attachment(i int) (io.WriteCloser, error) {
	if i >= MaxAttachments {
		return nil, invalid("AttachmentEncoded", "more than %d attachments", MaxAttachments)
	}
	s.cur = &spill{s: s, i: i}
	return s.cur, nil
}

// spill keeps one attachment's bytes in memory up to the inline limit,
// then in a body file.
type spill struct {
	s    *packetSink
	i    int
	buf  bytes.Buffer
	fw   *store.FileWriter
	size int64
}

func (w *spill) Write(p []byte) (int, error) {
	h := w.s.h
	if w.size += int64(len(p)); w.size > h.cfg.MaxAttachmentSize {
		return 0, invalid(fmt.Sprintf("AttachmentEncoded/Attachment[%d]", w.i+1), "more than %d bytes, the limit for an attachment", h.cfg.MaxAttachmentSize)
	}
	if w.fw == nil {
		lim := h.cfg.Limits.UploadMemory
		if w.size <= h.cfg.InlineLimit && (lim == 0 || w.s.held+w.size <= lim) {
			return w.buf.Write(p)
		}
		fw, err := h.bodies.create()
		if err != nil {
			return 0, h.storeErr(err)
		}
		w.fw = fw
		if err := fw.Give(bytes.Clone(w.buf.Bytes())); err != nil {
			return 0, h.storeErr(err)
		}
		w.buf = bytes.Buffer{}
	}
	if _, err := w.fw.Write(p); err != nil {
		return 0, h.storeErr(err)
	}
	return len(p), nil
}

// Close keeps the attachment: in memory, or its file placed in the blob store.
func (w *spill) Close() error {
	s := w.s
	for len(s.out) <= w.i {
		s.out = append(s.out, received{})
	}
	if w.fw == nil {
		b := bytes.Clone(w.buf.Bytes())
		s.held += int64(len(b))
		s.out[w.i] = received{sum: hex.EncodeToString(sha256Of(b)), inline: b}
		return nil
	}
	sum, err := s.h.bodies.commit(s.ctx, w.fw)
	if err != nil {
		return s.h.storeErr(err)
	}
	s.placed = append(s.placed, sum)
	s.out[w.i] = received{sum: sum, file: true}
	return nil
}

// Abort drops an attachment whose payload was broken.
func (w *spill) Abort() {
	if w.fw != nil {
		w.fw.Abort()
		w.fw = nil
	}
}

// abort removes the files of attachments not placed yet.
func (s *packetSink) abort() {
	if s.cur != nil && s.cur.fw != nil {
		s.cur.fw.Abort()
	}
}

// packed reports whether attachment i is a ZIP of one file under another
// name (docs/edxml.md).
func (s *packetSink) packed(i int, a edxml.Attachment) *PackedFile {
	r := s.out[i]
	var ra io.ReaderAt
	if r.file {
		f, err := s.h.bodies.open(r.sum)
		if err != nil {
			return nil
		}
		defer f.Close()
		ra = f
	} else {
		ra = bytes.NewReader(r.inline)
	}
	name, size, ok := edxml.Packed(ra, a.Size, a.AttachmentName)
	if !ok {
		return nil
	}
	return &PackedFile{Name: name, Size: size}
}

// checkFrom: a packet's From must be the caller's agency or an alias of it.
func (h *Hub) checkFrom(ctx context.Context, p Principal, el, code string) error {
	got, err := h.ResolveCode(ctx, el, code)
	if err != nil {
		return err
	}
	if got != p.Name {
		return newErr(ErrPermission, "", "%s %q is not the caller's agency %s", el, code, p.Name)
	}
	return nil
}

// packetRecipients resolves the packet's To codes (or the ones given
// instead), each a registered agency or an alias of one.
func (h *Hub) packetRecipients(ctx context.Context, pk *edxml.Packet, given []string) ([]string, error) {
	if len(given) > 0 {
		out := make([]string, 0, len(given))
		for _, c := range given {
			code, err := h.ResolveCode(ctx, "recipients", c)
			if err != nil {
				return nil, err
			}
			out = append(out, code)
		}
		return out, nil
	}
	if len(pk.Header.To) == 0 {
		return nil, invalid("To", "the packet names no recipient")
	}
	out := make([]string, 0, len(pk.Header.To))
	for _, to := range pk.Header.To {
		code, err := h.ResolveCode(ctx, "To/OrganId", to.OrganID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out, nil
}

// target is the document a revoke, update or replace packet acts on, or
// a status packet reports on: named by its sender's code (or an alias)
// and its edXML DocumentId.
func (h *Hub) target(ctx context.Context, el string, ref edxml.ResponseFor) (Document, error) {
	sender, err := h.ResolveCode(ctx, el+"/OrganId", ref.OrganID)
	if err != nil {
		return Document{}, err
	}
	var d Document
	err = h.st.View(ctx, func(tx store.Tx) error {
		id, err := tx.Get(store.BucketRefs, pairKey(sender, ref.DocumentID))
		if errors.Is(err, store.ErrNotFound) {
			return newErr(ErrNotFound, el+"/DocumentId", "%q is not a document sent by %s", ref.DocumentID, sender)
		}
		if err != nil {
			return err
		}
		return getRecord(tx, store.BucketDocuments, id, &d)
	})
	return d, err
}

// firstRef is the first ResponseFor that names a document.
func firstRef(pk *edxml.Packet) (edxml.ResponseFor, bool) {
	for _, r := range pk.Header.ResponseFor {
		if strings.TrimSpace(r.DocumentID) != "" {
			return r, true
		}
	}
	return edxml.ResponseFor{}, false
}

// packetOriginal finds the document an update (ResponseFor) or a replace
// (ReplacementInfoList, else ResponseFor) packet acts on: one the caller sent.
func (h *Hub) packetOriginal(ctx context.Context, p Principal, pk *edxml.Packet, b BusinessType) (string, error) {
	el := "ResponseFor"
	ref, ok := firstRef(pk)
	if b == BusinessReplace && pk.Trace != nil && pk.Trace.Business != nil {
		for _, r := range pk.Trace.Business.Replacements {
			if strings.TrimSpace(r.DocumentID) != "" {
				el, ref, ok = "ReplacementInfo", edxml.ResponseFor{OrganID: p.Name, DocumentID: r.DocumentID}, true
				break
			}
		}
	}
	if !ok {
		return "", invalid("ResponseFor", "an update or replace packet must name the document it acts on")
	}
	d, err := h.target(ctx, el, ref)
	if err != nil {
		return "", err
	}
	if d.Sender != p.Name {
		return "", invalid(el+"/OrganId", "%q: an update or replacement acts on a document of its own sender", ref.OrganID)
	}
	return d.ID, nil
}

// revokePacket recalls the document a revoke packet names.
func (h *Hub) revokePacket(ctx context.Context, p Principal, pk *edxml.Packet, hdr Header, res *PacketResult) error {
	ref, ok := firstRef(pk)
	if !ok {
		return invalid("ResponseFor", "a revoke packet must name the document it revokes")
	}
	d, err := h.target(ctx, "ResponseFor", ref)
	if err != nil {
		return err
	}
	reason := ""
	if b := pk.Trace.Business; b != nil {
		reason = strings.TrimSpace(b.Reason)
	}
	if reason == "" {
		reason = hdr.Subject
	}
	if reason == "" {
		return invalid("Bussiness/BussinessDocReason", "a revoke packet must give its reason")
	}
	return h.recallPacket(ctx, p, d, reason, res)
}

// recallPacket recalls d for a packet. A packet sent again (the SDK
// retries) finds it recalled already: that is its first answer, not an
// error.
func (h *Hub) recallPacket(ctx context.Context, p Principal, d Document, reason string, res *PacketResult) error {
	w, a, err := h.Recall(ctx, p, d.ID, reason)
	if errors.Is(err, ErrPrecondition) && d.Recalled != nil {
		w, a, err = nil, nil, nil
	}
	if err != nil {
		return err
	}
	res.Recall, res.DocID = &RecallResult{Withdrawn: w, Asked: a}, d.ID
	return nil
}

// statusPacket records a status packet: a recipient's report, or the
// sender's recall (13).
func (h *Hub) statusPacket(ctx context.Context, p Principal, pk *edxml.Packet, res *PacketResult) error {
	st := pk.Status
	if len(pk.Header.ResponseFor) == 0 {
		return invalid("ResponseFor", "a status packet must name the document it reports on")
	}
	code, ref, staff, sp := statusOf(pk)
	switch code {
	case StatusRecall:
		// The sender asks: ResponseFor names the recipient asked, and the
		// document is the caller's own.
		if _, err := h.ResolveCode(ctx, "ResponseFor/OrganId", ref.OrganID); err != nil {
			return err
		}
		d, err := h.target(ctx, "ResponseFor", edxml.ResponseFor{OrganID: p.Name, DocumentID: ref.DocumentID})
		if err != nil {
			return err
		}
		reason := strings.TrimSpace(st.Description)
		if reason == "" {
			return invalid("Description", "a recall (13) must give its reason")
		}
		return h.recallPacket(ctx, p, d, reason, res)
	case StatusArrived:
		d, err := h.target(ctx, "ResponseFor", ref)
		if err != nil {
			return err
		}
		rep, err := h.arrivedPacket(ctx, p, d)
		if err != nil {
			return err
		}
		res.Status, res.DocID = &rep, d.ID
		return nil
	}
	if !code.Known() {
		return invalid("StatusCode", "%q is not a status code in use (01-06, 13, 15, 16; 07-12 and 14 are not used)", st.Code)
	}
	d, err := h.target(ctx, "ResponseFor", ref)
	if err != nil {
		return err
	}
	rep, err := h.ReportStatus(ctx, p, StatusRequest{DocID: d.ID, Code: code, Reason: st.Description, Staff: staff, Packet: sp})
	if errors.Is(err, ErrPrecondition) {
		// The same packet sent again (the SDK retries): the report it
		// made is its answer.
		if first, ok := h.reported(ctx, d.ID, p.Name, code, sp); ok {
			rep, err = first, nil
		}
	}
	if err != nil {
		return err
	}
	res.Status, res.DocID = &rep, d.ID
	return nil
}

// reported returns recipient's latest report of code on a document when
// it is the latest step of its kind and came from the same status packet.
func (h *Hub) reported(ctx context.Context, docID, recipient string, code Status, sp *StatusPacket) (StatusReport, bool) {
	var d Delivery
	if err := h.st.View(ctx, func(tx store.Tx) error {
		return getRecord(tx, store.BucketDeliveries, pairKey(docID, recipient), &d)
	}); err != nil {
		return StatusReport{}, false
	}
	latest := d.Status
	if code == StatusRecallAccepted || code == StatusRecallRefused {
		latest = Status(d.Recall)
	}
	if latest != code {
		return StatusReport{}, false
	}
	for i := len(d.Steps) - 1; i >= 0; i-- {
		st := d.Steps[i]
		if st.Code != code {
			continue
		}
		if st.Packet == nil || !samePacket(st.Packet, sp) {
			return StatusReport{}, false
		}
		return StatusReport{DocID: docID, Recipient: recipient, Code: code, Reason: st.Reason, Staff: st.Staff, Time: st.Time, Packet: st.Packet}, true
	}
	return StatusReport{}, false
}

// samePacket compares what two status packets said.
func samePacket(a, b *StatusPacket) bool {
	sa, sb := a.Staff, b.Staff
	if (sa == nil) != (sb == nil) || sa != nil && *sa != *sb {
		return false
	}
	return a.From == b.From && a.Timestamp == b.Timestamp && a.ResponseFor == b.ResponseFor && a.Description == b.Description
}

// statusOf reads what a status packet says: its code, the document it
// reports on, the staff who handled it, and the rest as kept.
func statusOf(pk *edxml.Packet) (code Status, ref edxml.ResponseFor, staff string, sp *StatusPacket) {
	st := pk.Status
	if len(pk.Header.ResponseFor) > 0 {
		ref = pk.Header.ResponseFor[0]
	}
	if st.Staff != nil {
		staff = strings.TrimSpace(st.Staff.Staff)
	}
	sp = &StatusPacket{From: pk.Header.From, Staff: st.Staff, Timestamp: st.Timestamp, ResponseFor: ref, Description: st.Description}
	return Status(strings.TrimSpace(st.Code)), ref, staff, sp
}

// arrivedPacket takes a status packet 01, which the hub records itself
// when a recipient acknowledges arrival: it acknowledges the arrival if
// that is still waiting, and is a no-op once it is recorded.
func (h *Hub) arrivedPacket(ctx context.Context, p Principal, d Document) (StatusReport, error) {
	var dl Delivery
	err := h.st.View(ctx, func(tx store.Tx) error {
		if _, r, err := visible(tx, p, d.ID); err != nil {
			return err
		} else if r != roleRecipient {
			return newErr(ErrPermission, "", "only the recipients of document %s report its status", d.ID)
		}
		return getRecord(tx, store.BucketDeliveries, pairKey(d.ID, p.Name), &dl)
	})
	if err != nil {
		return StatusReport{}, err
	}
	if dl.Status == StatusNone && dl.QueueSeq != 0 {
		if _, err := h.Acknowledge(ctx, p, []uint64{dl.QueueSeq}); err != nil {
			return StatusReport{}, err
		}
	}
	rep := StatusReport{DocID: d.ID, Recipient: p.Name, Code: StatusArrived}
	if dl.Delivered != nil {
		rep.Time = *dl.Delivered
	} else {
		rep.Time = h.now()
	}
	return rep, nil
}

// packetErr names the packet's elements in the errors of a send made
// from a packet, where the native call names its fields.
func packetErr(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	el, ok := packetFields[strings.SplitN(e.Field, "[", 2)[0]]
	if !ok {
		return err
	}
	return &Error{Kind: e.Kind, Field: el, Msg: e.Msg}
}

// packetFields names the element of each header field.
var packetFields = map[string]string{
	"reference": "DocumentId", "number": "Code/CodeNumber", "notation": "Code/CodeNotation",
	"document_type": "DocumentType/TypeName", "subject": "Subject", "content": "Content",
	"promulgation_place": "PromulgationInfo/Place", "promulgation_date": "PromulgationInfo/PromulgationDate",
	"signer.competence": "SignerInfo/Competence", "signer.position": "SignerInfo/Position",
	"signer.full_name": "SignerInfo/FullName", "priority": "OtherInfo/Priority", "due_date": "DueDate",
	"steering_type": "SteeringType", "to_places": "ToPlaces/Place", "recipients": "To/OrganId",
	"attachments": "AttachmentEncoded/Attachment",
}
