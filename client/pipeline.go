package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// DefaultPipeline is the most documents a Client has in flight on its
// SendDocuments stream (WithPipeline).
const DefaultPipeline = 256

// Bounds of a document sent in one message on the pipeline: larger ones
// go on a SendDocument stream of their own, in chunks.
const (
	pipeAttachment = 64 << 10
	pipeDocument   = 1 << 20
)

// WithPipeline sets how many small documents concurrent Sends keep in
// flight on the client's one SendDocuments stream (default
// DefaultPipeline, at most 1024); 0 sends each document on a stream of its
// own. Receipts mean the same either way: the document is durable.
func WithPipeline(window int) Option {
	return func(o *options) { o.pipeline = min(max(window, 0), 1024) }
}

// pipeline sends small documents on one SendDocuments stream, many in
// flight: each Send waits for its own answer, which comes in order.
type pipeline struct {
	c      *Client
	tokens chan struct{} // one per document in flight
	off    atomic.Bool   // the hub does not offer SendDocuments

	mu     sync.Mutex
	cur    *pipeStream
	closed bool
}

func newPipeline(c *Client, window int) *pipeline {
	return &pipeline{c: c, tokens: make(chan struct{}, window)}
}

// pipeStream is one SendDocuments stream and the Sends waiting on it.
type pipeStream struct {
	p      *pipeline
	stream ndxpv1.ExchangeService_SendDocumentsClient
	cancel context.CancelFunc

	sendMu  sync.Mutex // one header at a time, registered in order
	mu      sync.Mutex
	waiting []*pipeCall
	err     error // set once the stream is broken

	received chan struct{} // closed when receive returns
}

type pipeCall struct {
	done chan struct{}
	resp *ndxpv1.SendDocumentResponse
	err  error
}

// errNoPipeline says the hub predates SendDocuments.
var errNoPipeline = errors.New("the hub does not offer SendDocuments")

// send sends one document whose attachments' bytes are in h (content)
// and waits for its answer.
func (p *pipeline) send(ctx context.Context, h *ndxpv1.DocumentHeader) (*ndxpv1.SendDocumentResponse, error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	ps, err := p.stream()
	if err != nil {
		<-p.tokens
		return nil, err
	}
	call := &pipeCall{done: make(chan struct{})}
	ps.sendMu.Lock()
	if !ps.enqueue(call) {
		ps.sendMu.Unlock()
		<-call.done
		return call.resp, call.err
	}
	err = ps.stream.Send(&ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Header{Header: h}})
	ps.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF: the stream ended, and Recv has why.
		ps.fail(err)
	}
	select {
	case <-call.done:
		return call.resp, call.err
	case <-ctx.Done():
		// The document may still be stored; a retry with the same
		// reference gets its receipt. Its slot frees when it is answered.
		// A status, as a stream's own calls give: Canceled or
		// DeadlineExceeded, not Unknown.
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// stream returns the open stream, opening one when there is none.
func (p *pipeline) stream() (*pipeStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, status.Error(codes.Canceled, "the client is closed")
	}
	if p.cur != nil {
		return p.cur, nil
	}
	// Not the caller's context: the stream serves every caller.
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := p.c.Exchange.SendDocuments(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	ps := &pipeStream{p: p, stream: stream, cancel: cancel, received: make(chan struct{})}
	p.cur = ps
	go ps.receive()
	return ps, nil
}

// enqueue registers call to be answered next after those waiting; on a
// broken stream it answers call at once and returns false.
func (ps *pipeStream) enqueue(call *pipeCall) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.err != nil {
		ps.answer(call, nil, ps.err)
		return false
	}
	ps.waiting = append(ps.waiting, call)
	return true
}

// receive answers the waiting Sends in order until the stream breaks.
func (ps *pipeStream) receive() {
	defer close(ps.received)
	for {
		resp, err := ps.stream.Recv()
		if err != nil {
			ps.fail(err)
			return
		}
		ps.mu.Lock()
		if len(ps.waiting) == 0 {
			ps.mu.Unlock()
			ps.fail(status.Error(codes.Internal, "the hub answered a document that was not sent"))
			return
		}
		call := ps.waiting[0]
		ps.waiting = ps.waiting[1:]
		if e := resp.GetError(); e != nil {
			ps.answer(call, nil, status.ErrorProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()}))
		} else {
			ps.answer(call, resp.GetReceipt(), nil)
		}
		ps.mu.Unlock()
	}
}

// answer completes call and frees its slot; ps.mu is held.
func (ps *pipeStream) answer(call *pipeCall, resp *ndxpv1.SendDocumentResponse, err error) {
	call.resp, call.err = resp, err
	close(call.done)
	<-ps.p.tokens
}

// fail answers every waiting Send with err (they retry, on a new stream)
// and retires the stream.
func (ps *pipeStream) fail(err error) {
	switch {
	case errors.Is(err, io.EOF):
		err = status.Error(codes.Unavailable, "the hub ended the SendDocuments stream; retry")
	case status.Code(err) == codes.Unimplemented:
		ps.p.off.Store(true)
		err = errNoPipeline
	}
	ps.mu.Lock()
	if ps.err == nil {
		ps.err = err
	}
	waiting := ps.waiting
	ps.waiting = nil
	for _, call := range waiting {
		ps.answer(call, nil, ps.err)
	}
	ps.mu.Unlock()
	ps.p.mu.Lock()
	if ps.p.cur == ps {
		ps.p.cur = nil
	}
	ps.p.mu.Unlock()
	ps.cancel()
}

// close ends the stream once the documents in flight are answered (for
// at most the client's timeout); Sends that come later get an error.
func (p *pipeline) close() {
	p.mu.Lock()
	p.closed = true
	ps := p.cur
	p.mu.Unlock()
	if ps == nil {
		return
	}
	ps.sendMu.Lock()
	err := ps.stream.CloseSend()
	ps.sendMu.Unlock()
	if err == nil {
		t := time.NewTimer(p.c.timeout)
		defer t.Stop()
		select {
		case <-ps.received:
		case <-t.C:
		}
	}
	ps.fail(status.Error(codes.Canceled, "the client is closed"))
}

// pipelinable reports whether a document's bodies fit in one message.
func pipelinable(bodies []*body, total int64) bool {
	if total > pipeDocument {
		return false
	}
	for _, b := range bodies {
		if b.size > pipeAttachment || b.digest == nil {
			return false
		}
	}
	return true
}

// inline puts the attachments' bytes into h (its attachments are the
// Send's own).
func inline(h *ndxpv1.DocumentHeader, bodies []*body) error {
	for i, a := range h.Attachments {
		b := bodies[i]
		if err := b.r.rewind(); err != nil {
			return err
		}
		a.Content = make([]byte, b.size)
		if _, err := io.ReadFull(b.r, a.Content); err != nil {
			return err
		}
	}
	return nil
}

// uninline takes them out again, for a hub without SendDocuments.
func uninline(h *ndxpv1.DocumentHeader) {
	for _, a := range h.Attachments {
		a.Content = nil
	}
}
