package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound what one caller may hold of the hub at once, so that no
// single agency system, badly written or hostile, can take the hub from
// the others (docs/security.md lists each with its default). A zero field
// means no limit.
type Limits struct {
	// Uploads, Fetches, Watches and Backups cap one caller's concurrent
	// streams of each kind (SendDocument, FetchAttachment, WatchSnapshot,
	// Backup). An agency holds one subscription: a newer one takes over.
	Uploads int
	Fetches int
	Watches int
	Backups int
	// UploadIdle aborts an upload that sends no message for this long and
	// removes its temporary file.
	UploadIdle time.Duration
	// UploadMemory bounds the attachment bytes one upload holds in memory;
	// small bodies past it are written to a file like large ones.
	UploadMemory int64
	// HeaderBytes bounds a document header as encoded on the wire.
	HeaderBytes int
	// ListBytes bounds a page of a document list by its stored size, on
	// top of the page size in documents.
	ListBytes int
	// SendRate is each sender's sustained documents a second, SendBurst
	// how many it may send at once after a quiet spell (a token bucket).
	SendRate  float64
	SendBurst int
	// SenderQuota and RecipientQuota bound the stored bytes waiting for
	// delivery: a document counts, header and attachments, once for each
	// recipient that has not acknowledged it, against its sender and
	// against that recipient.
	SenderQuota    int64
	RecipientQuota int64
}

// DefaultLimits are generous for an agency's document system (the whole
// country exchanged about 200,000 documents a month at its 2020 peaks) and
// small against the hub's memory, descriptors and disk.
func DefaultLimits() Limits {
	return Limits{
		Uploads:        16,
		Fetches:        16,
		Watches:        8,
		Backups:        2,
		UploadIdle:     30 * time.Second,
		UploadMemory:   1 << 20,
		HeaderBytes:    256 << 10,
		ListBytes:      4 << 20,
		SendRate:       50,
		SendBurst:      500,
		SenderQuota:    16 << 30,
		RecipientQuota: 16 << 30,
	}
}

func (l Limits) validate() error {
	for name, v := range map[string]int64{
		"Uploads": int64(l.Uploads), "Fetches": int64(l.Fetches), "Watches": int64(l.Watches), "Backups": int64(l.Backups),
		"UploadIdle": int64(l.UploadIdle), "UploadMemory": l.UploadMemory, "HeaderBytes": int64(l.HeaderBytes),
		"ListBytes": int64(l.ListBytes), "SendBurst": int64(l.SendBurst), "SenderQuota": l.SenderQuota, "RecipientQuota": l.RecipientQuota,
	} {
		if v < 0 {
			return fmt.Errorf("hub config: Limits.%s is negative", name)
		}
	}
	if l.SendRate < 0 || math.IsNaN(l.SendRate) {
		return errors.New("hub config: Limits.SendRate is negative")
	}
	if l.SendRate > 0 && l.SendBurst == 0 {
		return errors.New("hub config: Limits.SendBurst must be positive with a SendRate")
	}
	return nil
}

// Limit names a limit in refusals and in the ndxp_limit_refusals_total metric.
type Limit int

// The limits, in the order of LimitNames.
const (
	LimitUploads Limit = iota
	LimitFetches
	LimitWatches
	LimitBackups
	LimitUploadIdle
	LimitHeaderBytes
	LimitSendRate
	LimitSenderQuota
	LimitRecipientQuota
	LimitConnections // counted by the transport (server/), before TLS
	numLimits
)

// LimitNames are the metric labels of the limits.
var LimitNames = [numLimits]string{
	"uploads", "fetches", "watches", "backups", "upload_idle", "header_bytes",
	"send_rate", "sender_quota", "recipient_quota", "connections",
}

func (l Limit) String() string { return LimitNames[l] }

// Refused counts a refusal by a limit enforced outside the hub.
func (h *Hub) Refused(l Limit) { h.metrics.Refusals[l].Add(1) }

// refuse counts and words a refusal: ResourceExhausted, naming the limit
// and its value so an agency's operator knows what was hit.
func (h *Hub) refuse(l Limit, format string, args ...any) error {
	h.Refused(l)
	return newErr(ErrExhausted, "", "limit %s: %s", l, fmt.Sprintf(format, args...))
}

// StreamKind is a kind of long call with its own per-caller cap.
type StreamKind int

// Stream kinds. StreamOther is held for revocation but not capped.
const (
	StreamOther StreamKind = iota
	StreamUpload
	StreamFetch
	StreamWatch
	StreamBackup
	StreamSubscribe
)

// grants are the open streams of every caller: each is counted against
// its caller's cap for its kind and ended at once when the caller's
// credential is revoked or its agency suspended, with the reason as the
// stream's status.
type grants struct {
	mu     sync.Mutex
	next   uint64
	open   map[uint64]grant
	counts map[grantKey]int
}

type grant struct {
	p    Principal
	kind StreamKind
	end  context.CancelCauseFunc
}

type grantKey struct {
	name  string
	admin bool
	kind  StreamKind
}

// BeginStream counts a stream of kind against p's cap and returns the
// context the stream must run under: it ends when the credential is
// revoked, the agency suspended, or parent ends. done must be called when
// the stream ends.
func (h *Hub) BeginStream(parent context.Context, p Principal, kind StreamKind) (ctx context.Context, done func(), err error) {
	max, l := h.streamCap(kind)
	key := grantKey{name: p.Name, admin: p.Admin, kind: kind}
	g := &h.grants
	g.mu.Lock()
	if max > 0 && g.counts[key] >= max {
		g.mu.Unlock()
		return nil, nil, h.refuse(l, "%s already has %d %s open, the most one caller may", p, max, streamNames[kind])
	}
	if g.open == nil {
		g.open, g.counts = map[uint64]grant{}, map[grantKey]int{}
	}
	ctx, cancel := context.WithCancelCause(parent)
	g.next++
	id := g.next
	g.open[id] = grant{p: p, kind: kind, end: cancel}
	g.counts[key]++
	g.mu.Unlock()
	var once sync.Once
	done = func() {
		once.Do(func() {
			g.mu.Lock()
			delete(g.open, id)
			if g.counts[key]--; g.counts[key] == 0 {
				delete(g.counts, key)
			}
			g.mu.Unlock()
			cancel(nil)
		})
	}
	// A revocation or suspension marks the credential or agency first and
	// then ends the streams it finds: one that came between the caller's
	// authentication and this registration is refused here.
	if err := h.stillGranted(p); err != nil {
		done()
		return nil, nil, err
	}
	return ctx, done, nil
}

// stillGranted checks again what Authenticate checked of p.
func (h *Hub) stillGranted(p Principal) error {
	h.mu.RLock()
	revoked := h.revoked[p.Serial]
	e, registered := h.index[p.Name]
	h.mu.RUnlock()
	switch {
	case revoked:
		return newErr(ErrUnauthenticated, "", "credential %s has been revoked", p.Serial)
	case p.Admin:
		return nil
	case !registered:
		return newErr(ErrUnauthenticated, "", "agency %s is not registered", p.Name)
	case e.suspended:
		return newErr(ErrPermission, "", "agency %s is suspended", p.Name)
	}
	return nil
}

// streamNames say what a refusal counts.
var streamNames = map[StreamKind]string{
	StreamUpload: "uploads (SendDocument)", StreamFetch: "attachment fetches (FetchAttachment)",
	StreamWatch: "watch streams", StreamBackup: "backups",
}

func (h *Hub) streamCap(kind StreamKind) (int, Limit) {
	l := h.cfg.Limits
	switch kind {
	case StreamUpload:
		return l.Uploads, LimitUploads
	case StreamFetch:
		return l.Fetches, LimitFetches
	case StreamWatch:
		return l.Watches, LimitWatches
	case StreamBackup:
		return l.Backups, LimitBackups
	}
	return 0, 0
}

// endStreams ends every open stream whose caller matches, with cause as
// its status. It returns how many it ended.
func (h *Hub) endStreams(match func(Principal) bool, cause error) int {
	g := &h.grants
	g.mu.Lock()
	var ends []context.CancelCauseFunc
	for _, gr := range g.open {
		if match(gr.p) {
			ends = append(ends, gr.end)
		}
	}
	g.mu.Unlock()
	for _, end := range ends {
		end(cause)
	}
	return len(ends)
}

// senders holds each sender's token bucket.
type senders struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allowSend takes one document from the sender's bucket.
func (h *Hub) allowSend(sender string) error {
	l := h.cfg.Limits
	if l.SendRate == 0 {
		return nil
	}
	s := &h.senders
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*rate.Limiter{}
	}
	lim := s.m[sender]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.SendRate), l.SendBurst)
		s.m[sender] = lim
	}
	s.mu.Unlock()
	r := lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return h.refuse(LimitSendRate, "agency %s may send %g documents a second (bursts of %d); retry in %s",
			sender, l.SendRate, l.SendBurst, d.Round(time.Millisecond))
	}
	return nil
}

// checkQuotas refuses a document of size bytes when it would take its
// sender or any recipient past their quota of bytes waiting for delivery.
func (h *Hub) checkQuotas(sender string, recipients []string, size int64) error {
	l := h.cfg.Limits
	if l.SenderQuota == 0 && l.RecipientQuota == 0 {
		return nil
	}
	bySender, byRecipient := h.backlog.waitingBytes(sender, recipients)
	if l.SenderQuota > 0 && bySender+size*int64(len(recipients)) > l.SenderQuota {
		return h.refuse(LimitSenderQuota, "agency %s has %d bytes waiting for delivery; with this document (%d bytes to %d recipients) it would pass its quota of %d",
			sender, bySender, size, len(recipients), l.SenderQuota)
	}
	if l.RecipientQuota > 0 {
		for i, r := range recipients {
			if byRecipient[i]+size > l.RecipientQuota {
				return h.refuse(LimitRecipientQuota, "recipient %s has %d bytes waiting for it; with this document (%d bytes) it would pass its quota of %d",
					r, byRecipient[i], size, l.RecipientQuota)
			}
		}
	}
	return nil
}

// refusalCounts is where Metrics keeps refusals by limit.
type refusalCounts [numLimits]atomic.Int64

// idleSource ends an upload whose sender goes quiet. A transport's Next
// blocks until the next message comes, so it runs in a goroutine of its
// own while the upload waits for it, for the idle limit, or for the end of
// ctx (the caller gone, its credential revoked).
type idleSource struct {
	ctx   context.Context
	src   ChunkSource
	idle  time.Duration
	h     *Hub
	ask   chan struct{}
	res   chan chunkResult
	done  chan struct{}
	timer *time.Timer
}

type chunkResult struct {
	c   Chunk
	err error
}

// watchIdle wraps src with the upload idle limit; stop must be called when
// the upload ends. Without a limit src is returned as it is.
func (h *Hub) watchIdle(ctx context.Context, src ChunkSource) (ChunkSource, func()) {
	idle := h.cfg.Limits.UploadIdle
	if idle <= 0 {
		return src, func() {}
	}
	s := &idleSource{ctx: ctx, src: src, idle: idle, h: h, ask: make(chan struct{}, 1),
		res: make(chan chunkResult), done: make(chan struct{}), timer: time.NewTimer(idle)}
	go func() {
		for {
			select {
			case <-s.ask:
			case <-s.done:
				return
			}
			c, err := s.src.Next()
			select {
			case s.res <- chunkResult{c, err}:
			case <-s.done:
				return // the transport ends the stream, and with it a blocked Next
			}
		}
	}()
	var once sync.Once
	return s, func() { once.Do(func() { close(s.done); s.timer.Stop() }) }
}

func (s *idleSource) Next() (Chunk, error) {
	s.ask <- struct{}{}
	s.timer.Reset(s.idle)
	select {
	case r := <-s.res:
		return r.c, r.err
	case <-s.timer.C:
		return Chunk{}, s.h.refuse(LimitUploadIdle, "no message of the upload came for %s; it was aborted", s.idle)
	case <-s.ctx.Done():
		if c := context.Cause(s.ctx); c != nil {
			return Chunk{}, c
		}
		return Chunk{}, s.ctx.Err()
	}
}

// CheckHeaderSize refuses a document header of n bytes as the transport
// received it, past Limits.HeaderBytes.
func (h *Hub) CheckHeaderSize(n int) error {
	if max := h.cfg.Limits.HeaderBytes; max > 0 && n > max {
		return h.refuse(LimitHeaderBytes, "the document header is %d bytes encoded, the limit is %d", n, max)
	}
	return nil
}
