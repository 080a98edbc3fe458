package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/internal/leader"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// ChunkSize is the size of attachment chunks on the wire, far below
// gRPC's 4 MiB message limit.
const ChunkSize = 256 << 10

// Attachment is one file to send.
type Attachment struct {
	// Name is the file name the recipients see, e.g. "quyet-dinh.pdf".
	Name string
	// MediaType is the MIME type; empty means application/octet-stream.
	MediaType string
	// Description is optional free text.
	Description string
	// Body yields the bytes. If it is an io.ReadSeeker (an *os.File, a
	// bytes.Reader) the SDK reads it from its current offset and can retry;
	// otherwise it is first copied to a temporary file. A body of more than
	// ChunkSize bytes is hashed as it is uploaded (its digest follows its
	// chunks); a smaller one is hashed first, so its digest is in the header.
	Body io.Reader
}

// SendOption changes one Send.
type SendOption func(*sendOptions)

type sendOptions struct {
	progress func(sent, total int64)
	attempts int
}

// WithProgress calls fn as attachment bytes are uploaded.
func WithProgress(fn func(sent, total int64)) SendOption {
	return func(o *sendOptions) { o.progress = fn }
}

// WithAttempts sets how many times Send tries when the hub is unavailable
// (default DefaultAttempts). Retries are safe: they reuse the same
// reference, so the hub answers a retry of an accepted send with the
// first receipt.
func WithAttempts(n int) SendOption { return func(o *sendOptions) { o.attempts = n } }

// body is an attachment ready to upload: seekable, with known size. digest
// is nil for a large seekable body: it is hashed while it is uploaded and
// its digest follows its last chunk (AttachmentDigest), so a large file is
// read once per attempt, not twice.
type body struct {
	r      *offsetSeeker
	size   int64
	digest []byte
	tmp    string
}

func prepare(a Attachment) (*body, error) {
	b := &body{}
	rs, ok := a.Body.(io.ReadSeeker)
	if !ok {
		// Copy to a temporary file, so a retry can read it again; hash on
		// the way, since the bytes pass by anyway.
		f, err := os.CreateTemp("", "ndxp-upload-*")
		if err != nil {
			return nil, err
		}
		b.tmp = f.Name()
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), a.Body)
		if err != nil {
			f.Close()
			os.Remove(b.tmp)
			return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
		}
		b.r, b.size, b.digest = &offsetSeeker{rs: f}, n, h.Sum(nil)
		return b, nil
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	b.r = &offsetSeeker{rs: rs, base: start}
	known := false // the size, from the end
	if end, err := rs.Seek(0, io.SeekEnd); err == nil {
		b.size, known = end-start, true
		if err := b.r.rewind(); err != nil {
			return nil, err
		}
		if b.size > ChunkSize {
			return b, nil // hashed while uploading
		}
	} else if err := b.r.rewind(); err != nil {
		return nil, err
	}
	// Small, or a reader that cannot tell its end: read it through once
	// for the size and the digest.
	h := sha256.New()
	n, err := hashBody(h, rs, b.size, known)
	if err != nil {
		return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
	}
	b.size, b.digest = n, h.Sum(nil)
	return b, nil
}

// hashBody copies r into h. Readers that hand over their bytes directly
// (bytes.Reader, strings.Reader) need no buffer; for others io.Copy would
// allocate and clear 32 KiB per call, more than preparing a small
// attachment costs otherwise, so a small body of known size gets a buffer
// of its size.
func hashBody(h hash.Hash, r io.Reader, size int64, known bool) (int64, error) {
	switch r.(type) {
	case *bytes.Reader, *strings.Reader:
		return io.Copy(h, r)
	}
	if !known || size >= 32<<10 {
		return io.Copy(h, r)
	}
	// size+1: never empty, which CopyBuffer refuses. struct{io.Reader}
	// hides a WriteTo (os.File's) that would allocate its own buffer.
	return io.CopyBuffer(h, struct{ io.Reader }{r}, make([]byte, size+1))
}

func (b *body) close() {
	if b.tmp != "" {
		if c, ok := b.r.rs.(io.Closer); ok {
			c.Close()
		}
		os.Remove(b.tmp)
	}
}

// offsetSeeker makes a reader that started mid-stream rewind to its start.
type offsetSeeker struct {
	rs   io.ReadSeeker
	base int64
}

func (o *offsetSeeker) Read(p []byte) (int, error) { return o.rs.Read(p) }
func (o *offsetSeeker) rewind() error {
	_, err := o.rs.Seek(o.base, io.SeekStart)
	return err
}

// NewReference makes a reference for a document that has no number yet,
// in the edXML DocumentId form; Send uses it when the header has neither.
func NewReference(sender string, t time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s,%s,%s/NDXP", sender, t.Format("2006/01/02"), hex.EncodeToString(b[:]))
}

// Send uploads a document with its attachments and returns the hub's
// receipt once the document is durable. The header's attachments are
// filled in from atts. If the header has no reference and no number, a
// reference is made so that retries stay idempotent.
//
// Sends from many goroutines share the client's one SendDocuments stream
// when their documents are small (each attachment at most 64 KiB, 1 MiB
// in all, no WithProgress): up to WithPipeline's window of them are in
// flight at once and share the hub's group commits. Larger documents go
// on a SendDocument stream of their own, in chunks.
func (c *Client) Send(ctx context.Context, h *ndxpv1.DocumentHeader, atts []Attachment, opts ...SendOption) (*ndxpv1.SendDocumentResponse, error) {
	o := sendOptions{attempts: DefaultAttempts}
	for _, f := range opts {
		f(&o)
	}
	if o.attempts < 1 {
		o.attempts = 1
	}
	if h == nil {
		return nil, errors.New("send: no header")
	}
	h = proto.Clone(h).(*ndxpv1.DocumentHeader)
	if h.Reference == "" && h.Number == "" && c.Code() != "" {
		h.Reference = NewReference(c.Code(), time.Now())
	}
	// The hub derives a missing reference from number, notation and date;
	// fix the date here so that a retry after midnight keeps the same
	// reference and stays idempotent.
	if h.Reference == "" && h.PromulgationDate == "" {
		h.PromulgationDate = time.Now().Format("2006-01-02")
	}
	bodies := make([]*body, 0, len(atts))
	defer func() {
		for _, b := range bodies {
			b.close()
		}
	}()
	h.Attachments = h.Attachments[:0]
	var total int64
	for _, a := range atts {
		b, err := prepare(a)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
		mt := a.MediaType
		if mt == "" {
			mt = "application/octet-stream"
		}
		h.Attachments = append(h.Attachments, &ndxpv1.AttachmentInfo{
			Name: a.Name, MediaType: mt, Description: a.Description, Size: b.size, Sha256: b.digest,
		})
		total += b.size
	}
	if c.pipe != nil && !c.pipe.off.Load() && o.progress == nil && pipelinable(bodies, total) {
		if err := inline(h, bodies); err != nil {
			return nil, err
		}
		resp, err := retrying(ctx, o.attempts, func(int) (*ndxpv1.SendDocumentResponse, error) {
			return c.pipe.send(ctx, h)
		})
		if !errors.Is(err, errNoPipeline) {
			return resp, err
		}
		uninline(h)
	}
	return retrying(ctx, o.attempts, func(int) (*ndxpv1.SendDocumentResponse, error) {
		return c.sendOnce(ctx, h, bodies, total, o.progress)
	})
}

// DefaultAttempts is how many times a send is tried. Backing off from
// 0.1 s and doubling, 8 attempts wait 6 to 13 s in all: a hub restart, or
// a cluster electing a new leader (a few seconds), passes unnoticed.
const DefaultAttempts = 8

// retrying makes a call up to attempts times while it fails with a
// retryable error, backing off in between; a call told its attempt number
// can rewind what it sends.
func retrying[T any](ctx context.Context, attempts int, call func(attempt int) (T, error)) (T, error) {
	var zero T
	var lastErr error
	backoff := newBackoff()
	quick := false
	// A retry at once at the leader a node named does not count as an
	// attempt: the attempts' backoff is what rides out an election, and
	// nodes naming a leader that has just lost its place would otherwise
	// use them up in moments. Two retries at once never follow each other.
	for attempt, calls := 0, 0; attempt < attempts; calls++ {
		if quick = atOnce(lastErr, quick); calls > 0 && !quick {
			if err := backoff.wait(ctx); err != nil {
				return zero, lastErr
			}
		}
		if !quick {
			attempt++
		}
		resp, err := call(calls)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retryable(err) || ctx.Err() != nil {
			return zero, err
		}
	}
	return zero, lastErr
}

func (c *Client) sendOnce(ctx context.Context, h *ndxpv1.DocumentHeader, bodies []*body, total int64, progress func(int64, int64)) (*ndxpv1.SendDocumentResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Exchange.SendDocument(ctx)
	if err != nil {
		return nil, err
	}
	// A send returns early (io.EOF) when the hub answers a retry from the
	// header alone; CloseAndRecv then has the receipt or the error.
	if err := stream.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Header{Header: h}}); err != nil {
		if err == io.EOF {
			return stream.CloseAndRecv()
		}
		return nil, err
	}
	// A buffer no larger than the largest attachment: small documents do
	// not pay for clearing a full chunk each.
	size := int64(1)
	for _, b := range bodies {
		size = max(size, b.size)
	}
	// Two buffers: while one is being sent, a large body's digest is
	// computed over it on another goroutine, and the next piece is read
	// into the other.
	bufs := [2][]byte{make([]byte, min(size, ChunkSize))}
	var sent int64
	for i, b := range bodies {
		if err := b.r.rewind(); err != nil {
			return nil, err
		}
		var off int64
		var hasher *pipeHasher
		if b.digest == nil {
			hasher = newPipeHasher()
			defer hasher.stop()
			if bufs[1] == nil {
				bufs[1] = make([]byte, len(bufs[0]))
			}
		}
		for k := 0; ; k ^= 1 {
			buf := bufs[0]
			if hasher != nil {
				buf = bufs[k]
			}
			n, rerr := io.ReadFull(b.r, buf)
			if n > 0 {
				if hasher != nil {
					hasher.add(buf[:n])
				}
				err := stream.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Chunk{
					Chunk: &ndxpv1.AttachmentChunk{Index: int32(i), Offset: off, Data: buf[:n]},
				}})
				if err == io.EOF {
					return stream.CloseAndRecv()
				}
				if err != nil {
					return nil, err
				}
				off += int64(n)
				sent += int64(n)
				if progress != nil {
					progress(sent, total)
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return nil, rerr
			}
		}
		if off != b.size {
			return nil, fmt.Errorf("attachment %d changed while sending: read %d bytes, expected %d", i, off, b.size)
		}
		if hasher != nil {
			err := stream.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Digest{
				Digest: &ndxpv1.AttachmentDigest{Index: int32(i), Sha256: hasher.sum()},
			}})
			if err == io.EOF {
				return stream.CloseAndRecv()
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return stream.CloseAndRecv()
}

// pipeHasher computes a SHA-256 on its own goroutine. At most one buffer
// is with it at a time: add waits until the previous one is hashed, so the
// caller may reuse a buffer once it has handed over the next one.
type pipeHasher struct {
	h       hash.Hash
	in      chan []byte
	done    chan struct{}
	pending bool
	stopped bool
}

func newPipeHasher() *pipeHasher {
	p := &pipeHasher{h: sha256.New(), in: make(chan []byte), done: make(chan struct{})}
	go func() {
		for b := range p.in {
			p.h.Write(b)
			p.done <- struct{}{}
		}
	}()
	return p
}

func (p *pipeHasher) wait() {
	if p.pending {
		<-p.done
		p.pending = false
	}
}

func (p *pipeHasher) add(b []byte) {
	p.wait()
	p.in <- b
	p.pending = true
}

// stop ends the goroutine; it is safe to call more than once.
func (p *pipeHasher) stop() {
	p.wait()
	if !p.stopped {
		p.stopped = true
		close(p.in)
	}
}

// sum returns the digest of everything added.
func (p *pipeHasher) sum() []byte {
	p.stop()
	return p.h.Sum(nil)
}

// atOnce reports whether a retry after err goes without a backoff: err
// named the cluster's leader, where the router now sends calls. The
// previous retry must not have gone at once too (quick), so that nodes
// naming each other while leadership changes cannot spin a loop.
func atOnce(err error, quick bool) bool {
	_, hinted := leader.Hint(err)
	return hinted && !quick
}

// retryable reports errors after which the same call may succeed later:
// the hub restarting, a broken connection, or a shutdown telling us to retry.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// Fetch streams attachment index of a document into w and returns the
// number of bytes written. It verifies the SHA-256 digest declared by the
// sender, resuming from where it stopped if the connection breaks.
func (c *Client) Fetch(ctx context.Context, documentID string, index int, w io.Writer) (int64, error) {
	doc, err := c.Document(ctx, documentID)
	if err != nil {
		return 0, err
	}
	return c.FetchAttachment(ctx, doc, index, w)
}

// FetchAttachment is Fetch for a document already at hand, such as the one
// in a pushed event: small attachments travel inside the event, so they
// are written (after the digest check) without a call to the hub.
func (c *Client) FetchAttachment(ctx context.Context, doc *ndxpv1.Document, index int, w io.Writer) (int64, error) {
	documentID := doc.GetId()
	atts := doc.GetHeader().GetAttachments()
	if index < 0 || index >= len(atts) {
		return 0, fmt.Errorf("document %s has no attachment %d", documentID, index)
	}
	info := atts[index]
	if b := info.GetContent(); len(b) > 0 || info.GetSize() == 0 {
		if int64(len(b)) != info.GetSize() {
			return 0, fmt.Errorf("attachment %s: %d bytes in the event, the sender declared %d", info.GetName(), len(b), info.GetSize())
		}
		if sum := sha256.Sum256(b); string(sum[:]) != string(info.GetSha256()) {
			return 0, fmt.Errorf("attachment %s: SHA-256 %x differs from the sender's %x", info.GetName(), sum, info.GetSha256())
		}
		n, err := w.Write(b)
		return int64(n), err
	}
	h := sha256.New()
	var got int64
	backoff := newBackoff()
	for {
		n, err := c.fetchFrom(ctx, documentID, index, got, io.MultiWriter(w, h))
		got += n
		if err == nil {
			break
		}
		if !retryable(err) || ctx.Err() != nil {
			return got, err
		}
		if werr := backoff.wait(ctx); werr != nil {
			return got, err
		}
	}
	if got != info.GetSize() {
		return got, fmt.Errorf("attachment %s: received %d bytes, the sender declared %d", info.GetName(), got, info.GetSize())
	}
	if sum := h.Sum(nil); string(sum) != string(info.GetSha256()) {
		return got, fmt.Errorf("attachment %s: SHA-256 %x differs from the sender's %x", info.GetName(), sum, info.GetSha256())
	}
	return got, nil
}

func (c *Client) fetchFrom(ctx context.Context, documentID string, index int, offset int64, w io.Writer) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Exchange.FetchAttachment(ctx, &ndxpv1.FetchAttachmentRequest{DocumentId: documentID, Index: int32(index), Offset: offset})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		ch := resp.GetChunk()
		if ch.GetOffset() != offset+n {
			return n, fmt.Errorf("fetch: chunk at offset %d, expected %d", ch.GetOffset(), offset+n)
		}
		m, err := w.Write(ch.GetData())
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

// Document returns a document's header and attachment descriptions.
func (c *Client) Document(ctx context.Context, documentID string) (*ndxpv1.Document, error) {
	resp, err := c.Exchange.GetDocument(ctx, &ndxpv1.GetDocumentRequest{DocumentId: documentID})
	if err != nil {
		return nil, err
	}
	return resp.GetDocument(), nil
}

// Status is a status report on a document the caller received.
type Status struct {
	DocumentID string
	// Code is 02-06 (docs/domain.md), or 15/16 to answer a recall.
	Code string
	// Reason is required with 02 (refused) and 16 (recall refused).
	Reason string
	// Staff names who handled the document; optional.
	Staff string
}

// Report records a status of a document the caller received; the hub
// pushes it to the sender.
func (c *Client) Report(ctx context.Context, s Status) (*ndxpv1.StatusReport, error) {
	resp, err := c.Exchange.ReportStatus(ctx, &ndxpv1.ReportStatusRequest{DocumentId: s.DocumentID, Code: s.Code, Reason: s.Reason, Staff: s.Staff})
	if err != nil {
		return nil, err
	}
	return resp.GetStatus(), nil
}

// Recall recalls a document the caller sent (status 13).
func (c *Client) Recall(ctx context.Context, documentID, reason string) (*ndxpv1.RecallDocumentResponse, error) {
	return c.Exchange.RecallDocument(ctx, &ndxpv1.RecallDocumentRequest{DocumentId: documentID, Reason: reason})
}

// Trace returns the hand-overs and statuses of a document that the caller may see.
func (c *Client) Trace(ctx context.Context, documentID string) (*ndxpv1.GetTraceResponse, error) {
	return c.Exchange.GetTrace(ctx, &ndxpv1.GetTraceRequest{DocumentId: documentID})
}
