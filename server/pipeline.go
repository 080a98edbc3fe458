package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Bounds of a SendDocuments stream.
const (
	// maxPipelined is the most documents of one stream the hub works on
	// at once; the next waits, and with it the stream (flow control).
	maxPipelined = 1024
	// maxInlineAttachment and maxInlineDocument bound the bytes a
	// document carries in its header message (AttachmentInfo.content).
	maxInlineAttachment = 64 << 10
	maxInlineDocument   = 1 << 20
	// maxPipelinedBytes bounds the inline bytes of one stream's documents
	// in flight, so a window of large headers cannot hold much memory.
	maxPipelinedBytes = 8 << 20
)

// pipelined is one document of a SendDocuments stream, answered in order.
type pipelined struct {
	done  chan struct{}
	resp  *ndxpv1.SendDocumentsResponse
	end   error // ends the stream instead of answering (UNAVAILABLE)
	bytes int64 // inline bytes held until answered
}

// SendDocuments reads documents on its own goroutine, each stored by
// hub.Send on a goroutine of its own so that many share a group commit,
// and answers them here in the order they came.
func (e *exchangeService) SendDocuments(stream grpc.BidiStreamingServer[ndxpv1.SendDocumentsRequest, ndxpv1.SendDocumentsResponse]) error {
	ctx := stream.Context()
	r := &pipeReader{e: e, stream: stream, ctx: ctx, p: principalFrom(ctx),
		queue: make(chan *pipelined, maxPipelined), readErr: make(chan error, 1), mem: newByteBudget(maxPipelinedBytes)}
	go func() {
		defer close(r.queue)
		r.readErr <- r.run()
	}()
	for {
		d, err := r.next()
		if d == nil {
			return err
		}
		select {
		case <-d.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if d.end != nil {
			return d.end
		}
		if err := stream.Send(d.resp); err != nil {
			return err
		}
		r.mem.release(d.bytes)
	}
}

// next returns the next document to answer, or nil and how the stream
// ends. The reader may be blocked in Recv, so a revocation or a drain
// ends the stream here; documents already queued are answered first.
func (r *pipeReader) next() (*pipelined, error) {
	select {
	case d, ok := <-r.queue:
		return r.took(d, ok)
	default:
	}
	select {
	case d, ok := <-r.queue:
		return r.took(d, ok)
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	case <-r.e.hub.Drained():
		// An idle stream must not hold up a graceful stop; documents
		// still coming would be refused anyway.
		return nil, status.Error(codes.Unavailable, "the hub is shutting down; retry shortly")
	}
}

func (r *pipeReader) took(d *pipelined, ok bool) (*pipelined, error) {
	if !ok {
		return nil, <-r.readErr
	}
	return d, nil
}

// pipeReader takes a SendDocuments stream's messages apart.
type pipeReader struct {
	e       *exchangeService
	stream  grpc.BidiStreamingServer[ndxpv1.SendDocumentsRequest, ndxpv1.SendDocumentsResponse]
	ctx     context.Context
	p       hub.Principal
	queue   chan *pipelined
	readErr chan error // how the reader ended, once queue is closed
	mem     *byteBudget
	open    *chunkFeed // the document whose chunks are coming
}

func (r *pipeReader) run() (err error) {
	defer func() {
		if r.open != nil {
			// A stream that ends inside a document ends its upload as
			// SendDocument's would: incomplete unless every byte came.
			if err == nil {
				r.open.finish(io.EOF)
			} else {
				r.open.finish(err)
			}
		}
	}()
	for {
		msg, err := r.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch part := msg.GetPart().(type) {
		case *ndxpv1.SendDocumentsRequest_Header:
			if r.open != nil {
				return invalidField("end", "a header came before the end of the document sent in chunks before it")
			}
			if err := r.begin(part.Header); err != nil {
				return err
			}
		case *ndxpv1.SendDocumentsRequest_Chunk, *ndxpv1.SendDocumentsRequest_Digest:
			if r.open == nil {
				return invalidField("chunk", "a chunk or digest came with no document sent in chunks open")
			}
			c, cerr := uploadChunk(msg.GetChunk(), msg.GetDigest())
			if cerr != nil {
				r.open.finish(cerr) // the document fails; its remaining chunks are dropped
				continue
			}
			r.open.put(c)
		case *ndxpv1.SendDocumentsRequest_End:
			if r.open == nil {
				return invalidField("end", "an end came with no document sent in chunks open")
			}
			r.open.finish(io.EOF)
			r.open = nil
		default:
			return invalidField("part", "a message with no part")
		}
	}
}

// begin starts one document: queued for its answer first, so answers keep
// the order of the stream, then stored on a goroutine of its own.
func (r *pipeReader) begin(h *ndxpv1.DocumentHeader) error {
	inline, chunked, inErr := inlineChunks(h)
	d := &pipelined{done: make(chan struct{}), bytes: inlineBytes(inline)}
	if err := r.mem.acquire(r.ctx, d.bytes); err != nil {
		return err
	}
	select {
	case r.queue <- d:
	case <-r.ctx.Done():
		r.mem.release(d.bytes)
		return r.ctx.Err()
	}
	if inErr == nil {
		inErr = r.e.hub.CheckHeaderSize(proto.Size(h))
	}
	var src hub.ChunkSource = &inline
	if chunked {
		feed := newChunkFeed()
		r.open, src = feed, feed
	}
	if inErr != nil {
		if r.open != nil {
			r.open.stop() // its chunks, up to its end, are dropped
		}
		r.answer(d, hub.Receipt{}, inErr)
		return nil
	}
	hdr := headerFromProto(h)
	go func() {
		rc, err := r.e.hub.Send(r.ctx, r.p, hdr, src)
		if f, ok := src.(*chunkFeed); ok {
			f.stop() // a Send that answered early drops the chunks still coming
		}
		r.answer(d, rc, err)
	}()
	return nil
}

// answer completes d with a receipt or a refusal. A refusal of the
// caller rather than the document (PERMISSION_DENIED: an admin
// credential; a revocation), or of the moment (UNAVAILABLE: the hub is
// going away or no longer leads) ends the stream instead: every later
// document would meet it too.
func (r *pipeReader) answer(d *pipelined, rc hub.Receipt, err error) {
	defer close(d.done)
	if err == nil {
		d.resp = &ndxpv1.SendDocumentsResponse{Result: &ndxpv1.SendDocumentsResponse_Receipt{Receipt: &ndxpv1.SendDocumentResponse{
			DocumentId: rc.ID, Reference: rc.Reference, AcceptTime: timestamppb.New(rc.Accepted),
			Recipients: rc.Recipients, Duplicate: rc.Duplicate,
		}}}
		return
	}
	st := status.Convert(toStatus(r.e.log, "/ndxp.v1.ExchangeService/SendDocuments", err))
	switch st.Code() {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded, codes.Unauthenticated, codes.PermissionDenied:
		d.end = st.Err()
		return
	}
	pb := st.Proto()
	d.resp = &ndxpv1.SendDocumentsResponse{Result: &ndxpv1.SendDocumentsResponse_Error{Error: &ndxpv1.DocumentError{
		Code: pb.GetCode(), Message: pb.GetMessage(), Details: pb.GetDetails(),
	}}}
}

// inlineChunks takes the attachments' bytes out of a SendDocuments
// header: chunked says some attachment's bytes follow as chunks instead.
// Content is all or nothing: a header that carries some bytes and not
// others is refused, as are bytes over the bounds.
func inlineChunks(h *ndxpv1.DocumentHeader) (inline hub.Chunks, chunked bool, err error) {
	var total, missing int
	for i, a := range h.GetAttachments() {
		b := a.GetContent()
		switch {
		case len(b) > maxInlineAttachment:
			err = invalidField("attachments.content", "attachment %d: %d bytes inline, the limit is %d; send it in chunks", i, len(b), maxInlineAttachment)
		case len(b) == 0 && a.GetSize() > 0:
			missing++
		case len(b) > 0:
			inline = append(inline, hub.Chunk{Index: i, Data: b})
		}
		total += len(b)
		a.Content = nil
	}
	switch {
	case err != nil:
	case total > maxInlineDocument:
		err = invalidField("attachments.content", "%d bytes inline, the limit is %d a document; send the larger attachments in chunks", total, maxInlineDocument)
	case missing > 0 && len(inline) > 0:
		err = invalidField("attachments.content", "%d attachments carry their bytes and %d do not: send all inline or all in chunks", len(inline), missing)
	}
	return inline, missing > 0 && len(inline) == 0, err
}

func inlineBytes(c hub.Chunks) (n int64) {
	for _, ch := range c {
		n += int64(len(ch.Data))
	}
	return n
}

// chunkFeed hands the chunks of the document being read to its Send.
// Only the reader calls put and finish; the Send calls Next and stop.
type chunkFeed struct {
	ch       chan hub.Chunk
	stopped  chan struct{}
	stopOnce sync.Once
	ended    bool  // finish was called
	err      error // after ch is closed: io.EOF, or why the document failed
}

func newChunkFeed() *chunkFeed {
	return &chunkFeed{ch: make(chan hub.Chunk), stopped: make(chan struct{})}
}

// Next returns the next chunk, or how the document ended.
func (f *chunkFeed) Next() (hub.Chunk, error) {
	if c, ok := <-f.ch; ok {
		return c, nil
	}
	return hub.Chunk{}, f.err
}

// put waits for the Send to take c, unless it has finished.
func (f *chunkFeed) put(c hub.Chunk) {
	if f.ended {
		return
	}
	select {
	case f.ch <- c:
	case <-f.stopped:
	}
}

// finish ends the document's chunks with err (io.EOF: complete).
func (f *chunkFeed) finish(err error) {
	if !f.ended {
		f.ended, f.err = true, err
		close(f.ch)
	}
}

// stop tells the reader the Send needs no more chunks.
func (f *chunkFeed) stop() { f.stopOnce.Do(func() { close(f.stopped) }) }

// byteBudget bounds bytes held at once; acquire waits for room. It has
// one waiter, the stream's reader, so one pending wake-up is enough.
type byteBudget struct {
	mu    sync.Mutex
	left  int64
	freed chan struct{}
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{left: n, freed: make(chan struct{}, 1)}
}

func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.left >= n {
			b.left -= n
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// Receive runs a subscription whose acknowledgements come on the same
// stream: they are recorded by a goroutine of their own in batches,
// whatever arrived while the last batch committed going in the next.
func (e *exchangeService) Receive(stream grpc.BidiStreamingServer[ndxpv1.ReceiveRequest, ndxpv1.ReceiveResponse]) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return invalidField("open", "the stream carried no open message")
	}
	if err != nil {
		return err
	}
	req := first.GetOpen()
	if req == nil {
		return invalidField("open", "the first message of Receive must open the subscription")
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	p := principalFrom(ctx)
	acks := newAckBatcher(func(seqs []uint64) error {
		_, err := e.hub.Acknowledge(ctx, p, seqs)
		return err
	})
	// The reader ends the subscription when the caller closes its side
	// (once its acknowledgements are in) or an acknowledgement fails.
	closed := errors.New("closed by the caller")
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					if ferr := acks.close(); ferr != nil {
						cancel(ferr)
						return
					}
					cancel(closed)
					return
				}
				acks.close()
				cancel(err)
				return
			}
			seqs := msg.GetAcknowledge().GetSequences()
			if len(seqs) > hub.MaxAckBatch {
				cancel(invalidField("acknowledge.sequences", "%d sequences, the limit is %d", len(seqs), hub.MaxAckBatch))
				acks.close()
				return
			}
			if err := acks.add(seqs); err != nil {
				cancel(err)
				return
			}
		}
	}()
	opts := hub.SubscribeOptions{Window: int(req.GetWindow()), AckDeadline: time.Duration(req.GetAckDeadlineSeconds()) * time.Second}
	err = e.hub.Subscribe(ctx, p, opts, func(push hub.Push) error {
		if push.CaughtUp {
			return stream.Send(&ndxpv1.ReceiveResponse{Message: &ndxpv1.ReceiveResponse_CaughtUp{
				CaughtUp: &ndxpv1.CaughtUp{Time: timestamppb.New(push.Time)},
			}})
		}
		return stream.Send(&ndxpv1.ReceiveResponse{Message: &ndxpv1.ReceiveResponse_Event{Event: eventToProto(push)}})
	})
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, closed):
		return nil
	case cause != nil && !errors.Is(cause, context.Canceled):
		return cause
	}
	return err
}

// ackBatcher records acknowledgements on a goroutine of its own, in
// batches of at most hub.MaxAckBatch. The goroutine runs only while
// acknowledgements wait: tens of thousands of idle subscriptions hold
// none.
type ackBatcher struct {
	record  func([]uint64) error
	mu      sync.Mutex
	pending []uint64
	err     error
	running chan struct{} // closed when the current goroutine ends; nil if none runs
}

func newAckBatcher(record func([]uint64) error) *ackBatcher {
	return &ackBatcher{record: record}
}

// add queues seqs; it returns the error that stopped the batcher, if any.
func (a *ackBatcher) add(seqs []uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.pending = append(a.pending, seqs...)
	if a.running == nil {
		a.running = make(chan struct{})
		go a.loop(a.running)
	}
	return nil
}

// loop records batches until none waits.
func (a *ackBatcher) loop(done chan struct{}) {
	defer close(done)
	for {
		a.mu.Lock()
		batch := a.pending[:min(len(a.pending), hub.MaxAckBatch)]
		if len(batch) == 0 {
			a.pending, a.running = nil, nil
			a.mu.Unlock()
			return
		}
		a.pending = a.pending[len(batch):]
		a.mu.Unlock()
		if err := a.record(batch); err != nil {
			a.mu.Lock()
			a.err, a.pending, a.running = err, nil, nil
			a.mu.Unlock()
			return
		}
	}
}

// close waits for what is queued to be recorded; it returns the first
// error. Nothing may be added afterwards.
func (a *ackBatcher) close() error {
	a.mu.Lock()
	running := a.running
	a.mu.Unlock()
	if running != nil {
		<-running
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
